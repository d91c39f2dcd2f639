"""The ``run`` step: an analysis' processor over a fileset → cutflow, histograms, training tables.

Outputs in ``DIR`` (each written under a temporary name and moved into place when complete;
``run.json`` is written last and marks a finished run):

- ``cutflow.json`` — ``{dataset: {cut: {"events": int, "weighted": float}}}`` in cut order;
- ``histograms.root`` — every histogram as ``DATASET/VARIABLE``;
- ``features/DATASET.parquet`` and ``features/DATASET.root`` (flat TTree ``Events``) for
  datasets with selected rows, when the processor has a feature spec; written incrementally;
- ``report.json`` — skipped files with reasons and the event accounting;
- ``run.json`` — analysis, resolved config, dataset metadata (incl. ``sumw``), executor
  settings, event counts, wall time, lumi, outputs.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepml_coffea.processing.outputs import TableWriter, write_histograms, write_json

__all__ = ["run_analysis"]


def run_analysis(
    analysis: str | os.PathLike,
    fileset: str | os.PathLike | dict,
    out: str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    executor: str = "iterative",
    workers: int = 2,
    chunksize: int = 100_000,
    scheduler: str | None = None,
    skip_bad_files: bool = False,
    max_chunks: int | None = None,
    progress: bool = True,
    models: Sequence[str | os.PathLike] = (),
) -> str:
    """Run an analysis over a fileset and write its outputs to ``out``.

    Parameters
    ----------
    analysis : str or path
        Analysis name (``ttbar_ljets``, ``dimuon``) or folder holding ``config.toml``.
    fileset : path or dict
        Coffea-form fileset JSON (or the dict itself).
    out : path
        Output folder (created).
    overrides : sequence of str
        ``key=value`` configuration overrides (``--set``).
    executor, workers, chunksize, scheduler, skip_bad_files, max_chunks, progress
        See :func:`hepml_coffea.processing.runner.run_processor`.
    models : sequence of path
        Model folders to attach (the ``apply`` step); each adds ``score_<model>`` columns and
        histograms. Their cards are read and checked here, before any event is read.

    Returns
    -------
    str
        A short human summary of what ran and what was written.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.processing.registry import processor_class
    from hepml_coffea.processing.runner import run_processor

    overrides = [*overrides, *_fileset_lumi(fileset, overrides)]
    cfg = load_analysis(analysis, overrides=list(overrides))
    config = cfg.to_dict()
    scorers = _scorers(models, cfg)
    proc = processor_class(cfg)(config, models=scorers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = getattr(proc, "feature_spec", None)
    cut_names = list(getattr(proc, "cut_names", ()) or ())

    with TableWriter(out / "features") as writer:
        result = run_processor(
            proc,
            fileset,
            executor=executor,
            workers=workers,
            chunksize=chunksize,
            scheduler=scheduler,
            skip_bad_files=skip_bad_files,
            max_chunks=max_chunks,
            progress=progress,
            table_sink=writer.append if spec is not None else _drop,
        )
        tables = writer.commit()
    _remove_stale_tables(out / "features", tables)

    cutflows = {
        ds: _ordered(res.get("cutflow", {}), cut_names) for ds, res in result.output.items()
    }
    hists = {ds: res.get("hists", {}) for ds, res in result.output.items()}
    write_histograms(out / "histograms.root", hists)
    write_json(out / "cutflow.json", cutflows)
    accounting = result.accounting()
    report = {
        "skip_bad_files": skip_bad_files,
        "skipped": [
            {
                "dataset": b.dataset,
                "file": b.path,
                "tree": b.treename,
                "kind": b.kind,
                "reason": b.reason,
                "events": b.num_entries,
            }
            for b in result.skipped
        ],
        "accounting": accounting,
    }
    write_json(out / "report.json", report)

    datasets = {}
    for ds, meta in result.metadata.items():
        datasets[ds] = {
            **meta,
            "files": [f.path for f in result.files if f.dataset == ds],
            "events": result.events[ds],
            "n_events_processor": int(result.output[ds].get("n_events", 0)),
            "selected_rows": writer.rows.get(ds, 0),
        }
    run_info: dict[str, Any] = {
        "analysis": cfg.name,
        "analysis_path": str(cfg.path),
        "overrides": list(overrides),
        "config": config,
        "lumi": config.get("lumi"),
        "cut_names": cut_names,
        "feature_names": list(spec.names) if spec is not None and hasattr(spec, "names") else None,
        "fileset": os.fspath(fileset) if not isinstance(fileset, dict) else None,
        "datasets": datasets,
        "executor": result.settings,
        "n_chunks": result.n_chunks,
        "wall_time_s": round(result.wall_time, 3),
        "events_balanced": accounting["balanced"],
        "outputs": {
            "cutflow": "cutflow.json",
            "histograms": "histograms.root",
            "report": "report.json",
            "features": sorted(os.path.relpath(p, out) for p in tables),
        },
        "versions": _versions(),
    }
    write_json(out / "run.json", run_info)
    return _summary(cfg.name, result, out, tables, accounting)


def _scorers(models: Sequence[str | os.PathLike], cfg: Any) -> list:
    """One lazily-loading scorer per model folder, checked against the analysis and with its
    score cut resolved (:func:`hepml_coffea.workflows.apply.make_scorers`)."""
    from hepml_coffea.workflows.apply import make_scorers

    return make_scorers(models, cfg)


def _fileset_lumi(fileset: Any, overrides: Sequence[str]) -> list[str]:
    """``["lumi=<L>"]`` when the fileset records one luminosity (its data's) and ``--set lumi`` is not given.

    MC is normalised to the luminosity of the data it is compared with; a fileset from
    ``hepml-coffea generate`` carries that number in every dataset's metadata, and it takes
    precedence over the analysis' default. An explicit ``--set lumi=...`` wins over both.
    """
    from hepml_coffea.datasets import load_fileset

    if any(o.split("=", 1)[0].strip() == "lumi" for o in overrides):
        return []
    lumis = {m["metadata"].get("lumi") for m in load_fileset(fileset, check_files=False).values()}
    lumis.discard(None)
    return [f"lumi={float(lumis.pop())!r}"] if len(lumis) == 1 else []


def _remove_stale_tables(folder: Path, written: list[Path]) -> None:
    """Delete training tables an earlier run left in ``folder`` that this run did not write.

    ``train`` reads every table of the folder; a table of a dataset that is no longer in the
    fileset (or no longer passes the selection) would otherwise be trained on silently.
    """
    if not folder.is_dir():
        return
    keep = {p.resolve() for p in written}
    stale = [
        p
        for p in folder.iterdir()
        if p.suffix in (".parquet", ".root")
        and not p.name.startswith(".")
        and p.resolve() not in keep
    ]
    for p in stale:
        p.unlink()
    if stale:
        names = ", ".join(sorted(p.name for p in stale))
        warnings.warn(
            f"Removed training tables of an earlier run from {folder}: {names}.", stacklevel=3
        )


def _drop(dataset: str, rows: dict) -> None:
    """Table sink of analyses without a feature spec: rows are not wanted."""


def _ordered(cutflow: dict, cut_names: list[str]) -> dict:
    order = [c for c in cut_names if c in cutflow] + [c for c in cutflow if c not in cut_names]
    return {
        c: {"events": int(cutflow[c]["events"]), "weighted": float(cutflow[c]["weighted"])}
        for c in order
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("hepml-coffea", "coffea", "uproot", "awkward", "hist"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # pragma: no cover
            pass
    return out


def _summary(name: str, result, out: Path, tables: list, accounting: dict) -> str:
    n = accounting["processed"]
    s = result.settings
    text = (
        f"{name}: {n:,} events of {len(result.output)} datasets in {result.n_chunks} chunks "
        f"({s['executor']}, {s['workers']} worker(s)) in {result.wall_time:.1f} s → {out}/ "
        f"[cutflow.json, histograms.root, run.json, report.json"
        + (f", features/ ({len(tables)} files)" if tables else "")
        + "]"
    )
    if result.skipped:
        text += f"; {len(result.skipped)} bad file(s)/chunk(s) skipped or empty (see report.json)"
    if accounting["not_requested"]:
        text += f"; {accounting['not_requested']:,} events left out by --max-chunks"
    return text
