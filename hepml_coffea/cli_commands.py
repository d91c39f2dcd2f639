"""The handlers of the ``hepml-coffea`` subcommands: each parses nothing, calls the library.

Split from :mod:`hepml_coffea.cli` (the parser and ``main``). Only the standard library is
imported at module level, so ``hepml-coffea --help`` stays fast; each handler imports the library
parts it needs when it runs.
"""

from __future__ import annotations

import argparse


def _cmd_generate(args: argparse.Namespace) -> int:
    from hepml_coffea.datasets import generate

    fileset = generate(
        args.out,
        n_events=args.events,
        seed=args.seed,
        compression=args.compression,
        compression_level=args.compression_level,
        events_per_file=args.events_per_file,
        processes=args.processes,
        lumi=args.lumi,
        negative_weight_fraction=args.negative_weight_fraction,
        signal_strength=args.signal_strength,
        jes_shift=args.jes_shift,
        data_seed=args.data_seed,
        golden_drop_fraction=args.golden_drop_fraction,
        progress=not args.quiet,
    )
    print(f"wrote fileset {fileset}")
    return 0


def _executor_kwargs(args: argparse.Namespace) -> dict:
    from hepml_coffea.processing.options import ExecutionOptions

    options = ExecutionOptions(
        executor=args.executor,
        workers=args.workers,
        chunksize=args.chunksize,
        scheduler=args.scheduler,
        skip_bad_files=args.skip_bad_files,
        max_chunks=args.max_chunks,
        progress=not args.quiet,
        timeout=args.timeout,
        retries=args.retries,
    )
    return {"options": options}


def _cmd_run(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows import run_analysis

    summary = run_analysis(
        args.analysis,
        args.fileset,
        args.out,
        overrides=args.set,
        table_formats=args.table_format.split(","),
        **_executor_kwargs(args),
    )
    print(summary)
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows import apply_models

    summary = apply_models(
        args.analysis,
        args.fileset,
        args.model,
        args.out,
        overrides=args.set,
        **_executor_kwargs(args),
    )
    print(summary)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows import train_model

    summary = train_model(
        args.analysis,
        args.features,
        args.model,
        args.out,
        overrides=args.set,
        progress=not args.quiet,
        multiclass=args.multiclass,
        target=args.target,
        columns=args.columns.split(",") if args.columns else None,
    )
    print(summary)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hepml_coffea.plotting import LabelOptions
    from hepml_coffea.workflows import evaluate_models

    summary = evaluate_models(
        args.model_dir,
        args.features,
        args.out,
        progress=not args.quiet,
        learning_curves=not args.no_learning_curve,
        label=LabelOptions(status=args.cms_label, com=args.com),
    )
    print(summary)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows import plot_outputs

    written = plot_outputs(
        args.dir,
        out=args.out,
        lumi=args.lumi,
        status=args.cms_label,
        com=args.com,
        log=args.log,
        progress=not args.quiet,
    )
    folder = written[0].parent if written else args.out or f"{args.dir}/plots"
    print(f"wrote {len(written)} plots to {folder}")
    return 0


def _cmd_ml_physics(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows.ml_physics import format_report, train_ml_physics

    report = train_ml_physics(
        args.analysis, args.fileset, args.out, overrides=args.set, max_events=args.max_events
    )
    print(format_report(report, args.out))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows import run_demo

    report = run_demo(
        args.out,
        fileset=args.fileset,
        analysis=args.analysis,
        n_events=args.events,
        seed=args.seed,
        executor=args.executor,
        workers=args.workers,
        chunksize=args.chunksize,
        overrides=args.set,
        models=args.models,
        fit_observable=args.fit_observable,
        progress=not args.quiet,
    )
    print(f"demo finished: {report}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from hepml_coffea.workflows.fit import run_fit

    result = run_fit(
        args.dir,
        args.observable,
        args.out,
        overrides=args.set,
        impacts=not args.no_impacts,
        limit=not args.no_limit,
        lumi=None if args.lumi is None else args.lumi / 1000.0,  # run_fit takes fb^-1
    )
    print(result.summary())
    return 0


# --------------------------------------------------------------------------- parser
