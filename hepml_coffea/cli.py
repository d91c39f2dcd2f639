"""The ``hepml-coffea`` command line: parse arguments, call the library, nothing else.

Only argparse and the standard library are imported at module level so that
``hepml-coffea --help`` answers in well under a second. Each subcommand imports the
library parts it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from hepml_coffea.cli_commands import (  # the subcommands' handlers
    _cmd_apply,
    _cmd_demo,
    _cmd_evaluate,
    _cmd_fit,
    _cmd_generate,
    _cmd_ml_physics,
    _cmd_plot,
    _cmd_run,
    _cmd_train,
)
from hepml_coffea.processing.options import EXECUTORS  # no heavy imports (standard library)

COMPRESSIONS = ("lzma", "zstd", "zlib", "lz4")


def _quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up log noise unless the user asked for it.

    ``TF_CPP_MIN_LOG_LEVEL`` is left to :mod:`hepml_coffea.estimators._keras`, which also hides
    the lines TF 2.21 prints before its logging starts, unless the user set the variable.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# --------------------------------------------------------------------------- handlers
def _add_executor_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="iterative",
        help="coffea executor (default: %(default)s)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes for futures/dask (default: %(default)s)",
    )
    g.add_argument(
        "--chunksize", type=int, default=100_000, help="events per chunk (default: %(default)s)"
    )
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        default=None,
        help="address of an existing Dask scheduler (implies --executor dask)",
    )
    g.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip unreadable files and list them with the reason in DIR/report.json",
    )
    g.add_argument(
        "--max-chunks",
        type=int,
        default=None,
        help="process at most this many chunks per dataset (testing)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds before a remote (root://, http://) read gives up (default: %(default)s)",
    )
    g.add_argument(
        "--retries",
        type=int,
        default=2,
        help="extra attempts of a chunk whose remote read failed (default: %(default)s)",
    )


def _add_label_options(p: argparse.ArgumentParser) -> None:
    """``--cms-label`` and ``--com`` of the plots (plot, evaluate)."""
    p.add_argument(
        "--cms-label",
        "--status",
        dest="cms_label",
        default=None,
        help='text after "CMS", e.g. "Private Work", "Open Data" (default: "Preliminary" with '
        'collision data; generated pseudo-data and MC-only plots say "Simulation")',
    )
    p.add_argument(
        "--com",
        type=float,
        default=13.0,
        help="centre-of-mass energy in TeV (default: 13; 13.6 for Run 3)",
    )


def _add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override an analysis configuration key, e.g. --set btag.threshold=0.5 (repeatable)",
    )


def _add_global_options(p: argparse.ArgumentParser, default: object) -> None:
    """``--debug`` and ``-q``, accepted before and after the subcommand."""
    p.add_argument(
        "--debug", action="store_true", default=default, help="show full tracebacks on errors"
    )
    p.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from hepml_coffea import __version__
    from hepml_coffea.workflows.train import MODEL_KINDS  # numpy only (~0.1 s)

    parser = argparse.ArgumentParser(
        prog="hepml-coffea",
        description="CMS NanoAOD → columnar selection → ML event classification → CMS-style plots.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, default=False)
    # the same options after the subcommand (`hepml-coffea run ... -q`): SUPPRESS keeps a
    # subcommand's unset option from overwriting what was given before the subcommand
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_parser = sub.add_parser

    def add_parser(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return _add_parser(name, parents=[common], **kwargs)  # type: ignore[arg-type]

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser(
        "generate", help="write NanoAOD-schema ROOT files and a coffea fileset (offline)"
    )
    p.add_argument("--out", default="generated", help="output folder (default: %(default)s)")
    p.add_argument(
        "--events", type=int, default=100_000, help="MC events per process (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed; same seed, same bytes (default: %(default)s)",
    )
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default="lzma",
        help="ROOT compression (default: %(default)s)",
    )
    p.add_argument(
        "--compression-level",
        type=int,
        default=None,
        help="compression level (default: algorithm's CMS default)",
    )
    p.add_argument(
        "--events-per-file",
        type=int,
        default=None,
        help="split each process into files of this size",
    )
    p.add_argument(
        "--processes", nargs="+", default=None, help="processes to generate (default: all)"
    )
    p.add_argument(
        "--lumi", type=float, default=None, help="integrated luminosity of the pseudo-data in pb^-1"
    )
    p.add_argument(
        "--negative-weight-fraction",
        type=float,
        default=None,
        help="fraction of ttbar events with negative genWeight",
    )
    p.add_argument(
        "--signal-strength",
        type=float,
        default=1.0,
        metavar="MU",
        help="pseudo-data: inject the signal (ttbar) at MU times its cross section "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--jes-shift",
        type=float,
        default=0.0,
        metavar="S",
        help="pseudo-data: shift jet pT by S sigma of jes_uncertainty in corrections.json, MET "
        "propagated (default: %(default)s)",
    )
    p.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="seed of the pseudo-data alone, for toys with the same simulation (default: --seed)",
    )
    p.add_argument(
        "--golden-drop-fraction",
        type=float,
        default=0.05,
        help="fraction of the pseudo-data's luminosity sections left out of golden.json "
        "(default: %(default)s)",
    )
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "run", help="run an analysis processor: cutflow, histograms, training tables"
    )
    p.add_argument(
        "analysis",
        help="analysis name (e.g. ttbar_ljets), path to an analysis folder, or any coffea "
        "processor as path/to/module.py:ClassName",
    )
    p.add_argument("--fileset", required=True, help="coffea fileset JSON")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--table-format",
        default="parquet,root",
        metavar="FMT[,FMT]",
        help="formats of the training tables DIR/features/DATASET.*: parquet, root, csv, hdf5 "
        "(comma-separated; default: %(default)s)",
    )
    _add_executor_options(p)
    _add_set_option(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("train", help="train a classifier on the training tables written by `run`")
    p.add_argument("analysis", help="analysis name or folder (labels, hyperparameters)")
    p.add_argument(
        "--features", required=True, help="folder with the training tables (DIR/features of `run`)"
    )
    p.add_argument(
        "--model", choices=MODEL_KINDS, default="bdt", help="model kind (default: %(default)s)"
    )
    p.add_argument("--out", required=True, help="model folder to write (model card + model files)")
    p.add_argument(
        "--multiclass",
        action="store_true",
        help="train one softmax output per class of the analysis' [classes] table (bdt/dnn)",
    )
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="train a regressor (bdt/dnn) of this table column instead of a classifier",
    )
    p.add_argument(
        "--columns",
        metavar="A,B,...",
        help="with --target: the input columns (default: the analysis' feature list)",
    )
    _add_set_option(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate", help="ROC/AUC, overtraining, significance scan ... of trained models"
    )
    p.add_argument("model_dir", nargs="+", help="model folder(s) written by `train`")
    p.add_argument("--features", required=True, help="folder with the training tables")
    p.add_argument("--out", required=True, help="output folder for JSON and plots")
    p.add_argument(
        "--no-learning-curve",
        action="store_true",
        help="skip the BDT learning curve (2 folds x 3 sizes on <= 4000 events by default)",
    )
    _add_label_options(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "apply", help="run an analysis with trained models attached: scores, friend trees"
    )
    p.add_argument("analysis", help="analysis name or folder")
    p.add_argument("--fileset", required=True, help="coffea fileset JSON")
    p.add_argument("--model", nargs="+", required=True, metavar="MODEL_DIR", help="model folder(s)")
    p.add_argument("--out", required=True, help="output folder")
    _add_executor_options(p)
    _add_set_option(p)
    p.set_defaults(func=_cmd_apply)

    p = sub.add_parser(
        "plot", help="make CMS-style plots from the saved outputs of run/apply/evaluate"
    )
    p.add_argument("dir", help="output folder of run, apply or evaluate")
    p.add_argument("--out", default=None, help="where to write PNGs (default: DIR/plots)")
    p.add_argument(
        "--lumi",
        type=float,
        default=None,
        help="luminosity label in pb^-1, like `generate --lumi` (default: from run.json)",
    )
    p.add_argument("--log", action="store_true", help="logarithmic y axes")
    _add_label_options(p)
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser(
        "ml-physics",
        help="train and measure the per-object models: jet-parton assignment, jet tagger, "
        "b-jet regression (docs/ml_physics.md)",
    )
    p.add_argument(
        "analysis", help="analysis name (e.g. ttbar_ljets) or path to an analysis folder"
    )
    p.add_argument("--fileset", required=True, help="coffea fileset JSON of simulated samples")
    p.add_argument("--out", required=True, help="folder for the models and ml_physics.json")
    p.add_argument(
        "--max-events", type=int, default=None, help="read at most this many events per file"
    )
    _add_set_option(p)
    p.set_defaults(func=_cmd_ml_physics)

    p = sub.add_parser(
        "demo",
        help="generate (or your --fileset) → run → train BDT+DNN → evaluate → apply → plot → fit → report",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    p.add_argument(
        "--fileset",
        default=None,
        help="your own coffea fileset JSON (default: generate samples offline)",
    )
    p.add_argument(
        "--analysis",
        default="ttbar_ljets",
        help="analysis name or folder (default: %(default)s)",
    )
    p.add_argument(
        "--events",
        type=int,
        default=None,
        help="events per generated MC process (default: 100000; unused with --fileset)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=["bdt", "dnn"],
        help="model kinds to train and apply; the first one's score is fitted (default: bdt dnn)",
    )
    p.add_argument(
        "--fit-observable",
        default=None,
        help="histogram to fit (default: score_<first model>)",
    )
    _add_set_option(p)
    p.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="futures",
        help="coffea executor (default: %(default)s)",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    p.add_argument(
        "--chunksize", type=int, default=100_000, help="events per chunk (default: %(default)s)"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "fit",
        help="profile-likelihood fit of the signal strength (pyhf): fit.json, workspace, plots",
    )
    p.add_argument("dir", help="output folder of run or apply (or a pyhf workspace.json)")
    p.add_argument("--observable", default=None, help="histogram to fit, e.g. score_bdt")
    p.add_argument("--out", required=True, help="output folder (fit.json, workspace.json, plots/)")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a [fit] setting, e.g. --set lumi_uncertainty=0.02 (repeatable)",
    )
    p.add_argument(
        "--lumi",
        type=float,
        default=None,
        help="luminosity label in pb^-1, like `generate --lumi` (default: from run.json)",
    )
    p.add_argument("--no-impacts", action="store_true", help="skip the impact ranking")
    p.add_argument("--no-limit", action="store_true", help="skip the CLs upper limit")
    p.set_defaults(func=_cmd_fit)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hepml-coffea`` console script."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    if args.debug:
        return func(args)
    try:
        return func(args)
    except KeyboardInterrupt:
        print("hepml-coffea: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback; --debug shows it
        name = "error" if _is_user_error(exc) else type(exc).__name__
        msg = " ".join(str(exc).split()) or repr(exc)
        print(
            f"hepml-coffea {args.command}: {name}: {msg} (use --debug for the traceback)",
            file=sys.stderr,
        )
        return 2 if _is_user_error(exc) else 1


def _is_user_error(exc: BaseException) -> bool:
    from hepml_coffea.errors import HepmlError

    return isinstance(exc, HepmlError)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
