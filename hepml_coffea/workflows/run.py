"""The ``run`` step: a processor over a fileset → histograms, cutflow, tables, report.

``run`` takes an analysis (``ttbar_ljets``, an analysis folder) or any coffea processor
(``path/to/module.py:ClassName``). Outputs in ``DIR``, committed as a whole (written to a
temporary folder beside it and renamed, see :mod:`hepml_coffea.workflows.folder`):

- ``histograms.root`` — every ``hist.Hist`` of the output; ``StrCategory`` axes split into one
  TH1 per category combination, e.g. ``m_jjb/SR/ttbar/JESUp``; ``histograms.json`` — the same
  histograms unsplit, losslessly (``uhi.io.json``);
- ``output.json`` — every number (and string, set) of the output, at its dictionary path;
- ``columns/*.parquet`` — array / ``column_accumulator`` leaves of a processor's output;
- ``cutflow.json`` — ``{dataset: {cut: {"events": int, "weighted": float}}}`` (analyses);
- ``features/DATASET.parquet`` and ``.root`` — training tables of analyses with a feature spec;
- ``report.json`` — skipped files and chunks, event accounting, how simulation was normalised;
- ``run.json`` — written last: analysis or processor, config, dataset metadata (incl.
  ``sumw``), executor settings, event counts, wall time, lumi, outputs.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hepml_coffea.errors import ConfigError
from hepml_coffea.processing.options import ExecutionOptions
from hepml_coffea.workflows.folder import check_out, output_folder
from hepml_coffea.workflows.outputs import (
    TableWriter,
    safe_name,
    write_histograms,
    write_json,
    write_uhi_json,
)
from hepml_coffea.workflows.saving import save_generic

__all__ = ["is_processor_spec", "run_analysis", "run_custom_processor"]


def is_processor_spec(text: str | os.PathLike) -> bool:
    """Whether ``text`` names a processor (``path/to/module.py:ClassName``), not an analysis."""
    file, sep, cls = str(text).rpartition(":")
    return bool(sep) and file.endswith(".py") and cls.isidentifier()


def run_analysis(
    analysis: str | os.PathLike,
    fileset: str | os.PathLike | dict,
    out: str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    options: ExecutionOptions | None = None,
    models: Sequence[str | os.PathLike] = (),
    finalize: Callable[[Path], Any] | None = None,
    table_formats: Sequence[str] = ("parquet", "root"),
    **option_kwargs: Any,
) -> str:
    """Run an analysis (or, given ``module.py:Class``, any processor) and write ``out``.

    Parameters
    ----------
    analysis : str or path
        Analysis name (``ttbar_ljets``, ``dimuon``), folder holding ``config.toml``, or
        ``path/to/module.py:ClassName`` of any coffea processor (see
        :func:`run_custom_processor`).
    fileset : path or dict
        Coffea fileset JSON (or the dict itself).
    out : path
        Output folder (replaced as a whole when the run succeeds).
    overrides : sequence of str
        ``key=value`` configuration overrides (``--set``).
    options : ExecutionOptions, optional
        Executor settings; alternatively its fields as keyword arguments.
    models : sequence of path
        Model folders to attach (the ``apply`` step); each adds ``score_<model>`` columns and
        histograms. Their cards are read and checked here, before any event is read.
    finalize : callable, optional
        ``finalize(tmp_folder)`` writes more outputs (e.g. friend trees) before the folder is
        committed.
    table_formats : sequence of {"parquet", "root", "csv", "hdf5"}
        Formats of the training tables ``features/DATASET.*`` (``--table-format``); see
        :func:`hepml_coffea.workflows.tables.export_tables`.

    Returns
    -------
    str
        A short human summary of what ran and what was written.
    """
    opts = options if options is not None else ExecutionOptions(**option_kwargs)
    if is_processor_spec(analysis):
        if models or overrides:
            msg = (
                "--model and --set apply to analyses, not to a processor given as module.py:Class."
            )
            raise ConfigError(msg)
        return run_custom_processor(str(analysis), fileset, out, options=opts)
    from hepml_coffea.config import load_analysis
    from hepml_coffea.filesets import load_fileset
    from hepml_coffea.processing.registry import processor_class
    from hepml_coffea.processing.runner import run_processor
    from hepml_coffea.workflows.tables import check_table_formats, export_tables

    check_out(out)
    fs = load_fileset(fileset, require_xsec=True)
    overrides = [*overrides, *_fileset_lumi(fs, overrides)]
    cfg = load_analysis(analysis, overrides=list(overrides))
    config = cfg.to_dict()
    scorers = _scorers(models, cfg)
    proc = processor_class(cfg)(config, models=scorers)
    spec = getattr(proc, "feature_spec", None)
    cut_names = list(getattr(proc, "cut_names", ()) or ())
    for ds in fs:
        safe_name(ds, "dataset")

    formats = check_table_formats(table_formats)
    with (
        output_folder(out) as tmp,
        TableWriter(tmp / "features", root="root" in formats) as writer,
    ):
        result = run_processor(
            proc,
            fs,
            opts,
            table_sink=writer.append if spec is not None else _drop,
            upload=[s.model_dir for s in scorers],
            require_xsec=True,
        )
        writer.scale(result.normalisation.factors)
        tables = export_tables(writer.commit(), formats)
        cutflows = {
            ds: _ordered(res.get("cutflow", {}), cut_names)
            for ds, res in result.output.items()
            if ds in fs and isinstance(res, dict)
        }
        write_json(tmp / "cutflow.json", cutflows)
        outputs = _write_common(tmp, result)
        datasets = _datasets(result)
        for ds in datasets:
            datasets[ds]["n_events_processor"] = int(result.output.get(ds, {}).get("n_events", 0))
            datasets[ds]["selected_rows"] = writer.rows.get(ds, 0)
        features = sorted(os.path.relpath(p, tmp) for p in tables)
        run_info: dict[str, Any] = {
            "analysis": cfg.name,
            "analysis_path": str(cfg.path),
            "overrides": list(overrides),
            "config": config,
            "lumi": config.get("lumi"),
            "cut_names": cut_names,
            "feature_names": list(spec.names)
            if spec is not None and hasattr(spec, "names")
            else None,
            "fileset": os.fspath(fileset) if not isinstance(fileset, dict) else None,
            "datasets": datasets,
            "executor": result.settings,
            "n_chunks": result.n_chunks,
            "wall_time_s": round(result.wall_time, 3),
            "events_balanced": result.accounting()["balanced"],
            "normalisation": result.normalisation.method,
            "outputs": {**outputs, "cutflow": "cutflow.json", "features": features},
            "versions": _versions(),
        }
        lumi_info = processed_luminosity_of(result)
        if lumi_info:
            run_info["processed_luminosity"] = lumi_info
        if scorers:
            run_info["score_cuts"] = {s.name: s.score_cut for s in scorers}
            run_info["models"] = {
                s.name: {
                    "model_dir": s.model_dir,
                    "score_cut": s.score_cut,
                    "signal_column": s.signal_column,
                    "score_range": list(s.score_range),
                    "kfold": bool(s.folds),
                    "honest": s.honesty,
                }
                for s in scorers
            }
        if finalize is not None:
            finalize(tmp)
        write_json(tmp / "run.json", run_info)
    text = _summary(cfg.name, result, Path(out), len(tables))
    for ds, lum in (run_info.get("processed_luminosity") or {}).items():
        value = lum["luminosity_pb"]
        text += f"; {ds}: {lum['lumi_sections']:,} lumi sections pass the lumi mask" + (
            f" ({value:.4g} pb^-1)" if value is not None else ""
        )
    return text


def run_custom_processor(
    spec: str,
    fileset: str | os.PathLike | dict,
    out: str | os.PathLike,
    *,
    options: ExecutionOptions | None = None,
    **option_kwargs: Any,
) -> str:
    """Run any coffea ``ProcessorABC`` named ``path/to/module.py:ClassName`` over a fileset.

    The class is instantiated without arguments. Its module is imported by path and pickled by
    value, so futures and Dask workers that do not share the working directory run it (and
    features it registers with ``register_feature``). The output is saved whatever its nesting
    (see the module doc); an output that cannot be saved is a one-line error naming its key
    path and type.
    """
    from coffea.processor import ProcessorABC

    from hepml_coffea.filesets import load_fileset
    from hepml_coffea.processing.registry import import_by_path
    from hepml_coffea.processing.runner import run_processor

    opts = options if options is not None else ExecutionOptions(**option_kwargs)
    file, _, cls_name = spec.rpartition(":")
    check_out(out)
    module = import_by_path(file, what="processor module")
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type) or not issubclass(cls, ProcessorABC):
        msg = f"{file} defines no coffea ProcessorABC subclass {cls_name!r}; give module.py:ClassName."
        raise ConfigError(msg)
    try:
        proc = cls()
    except TypeError as exc:
        msg = f"{spec}: the processor must be constructible without arguments ({exc})."
        raise ConfigError(msg) from None
    fs = load_fileset(fileset)
    with output_folder(out) as tmp:
        result = run_processor(proc, fs, opts)
        outputs = _write_common(tmp, result)
        outputs.update(save_generic(result.output, tmp))
        run_info = {
            "processor": spec,
            "fileset": os.fspath(fileset) if not isinstance(fileset, dict) else None,
            "datasets": _datasets(result),
            "executor": result.settings,
            "n_chunks": result.n_chunks,
            "wall_time_s": round(result.wall_time, 3),
            "events_balanced": result.accounting()["balanced"],
            "normalisation": result.normalisation.method,
            "outputs": outputs,
            "versions": _versions(),
        }
        write_json(tmp / "run.json", run_info)
    return _summary(cls_name, result, Path(out), 0)


def _write_common(tmp: Path, result: Any) -> dict[str, Any]:
    """histograms.root/.json and report.json; the outputs' names for run.json."""
    write_histograms(tmp / "histograms.root", result.output)
    write_uhi_json(tmp / "histograms.json", result.output)
    report = {
        "skip_bad_files": result.settings.get("skip_bad_files"),
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
        "normalisation": result.normalisation.to_dict(),
        "accounting": result.accounting(),
    }
    write_json(tmp / "report.json", report)
    return {
        "histograms": "histograms.root",
        "histograms_json": "histograms.json",
        "report": "report.json",
    }


def processed_luminosity_of(result: Any) -> dict[str, dict[str, Any]]:
    """Per data dataset: the (run, lumi) sections that passed the lumi mask and their luminosity.

    The luminosity (pb⁻¹) is summed from a brilcalc ``--byls`` CSV: the dataset's metadata
    ``lumi_csv`` (relative to its first file), else a ``lumi.csv`` beside its first file (as
    ``generate`` writes it); ``None`` where there is neither.
    """
    from hepml_coffea.selection.events import processed_luminosity

    out: dict[str, dict[str, Any]] = {}
    for ds, meta in result.metadata.items():
        sections = (result.output.get(ds) or {}).get("lumi_sections")
        if not meta.get("is_data") or sections is None:
            continue
        files = [f.path for f in result.files if f.dataset == ds]
        csv: Path | None = None
        if files and "://" not in files[0]:
            base = Path(files[0]).parent
            csv = base / str(meta.get("lumi_csv", "lumi.csv"))
        lumi = processed_luminosity(sections, csv) if csv is not None and csv.is_file() else None
        out[ds] = {
            "lumi_sections": len(set(sections)),
            "luminosity_pb": lumi,
            "lumi_csv": str(csv) if lumi is not None else None,
        }
    return out


def _datasets(result: Any) -> dict[str, dict]:
    return {
        ds: {
            **meta,
            "files": [f.path for f in result.files if f.dataset == ds],
            "events": result.events[ds],
        }
        for ds, meta in result.metadata.items()
    }


def _scorers(models: Sequence[str | os.PathLike], cfg: Any) -> list:
    """One lazily-loading scorer per model folder, checked against the analysis and with its
    score cut resolved (:func:`hepml_coffea.workflows.apply.make_scorers`)."""
    if not models:
        return []
    from hepml_coffea.workflows.apply import make_scorers

    scorers = make_scorers(models, cfg)
    for s in scorers:
        safe_name(s.name, "model")
    return scorers


def _fileset_lumi(fs: dict, overrides: Sequence[str]) -> list[str]:
    """``["lumi=<L>"]`` when the fileset records the data's luminosity and ``--set lumi`` is not given.

    MC is normalised to the luminosity of the data it is compared with; a fileset from
    ``hepml-coffea generate`` carries that number in every dataset's metadata (datasets that
    disagree are refused by :func:`~hepml_coffea.filesets.load_fileset`), and it takes
    precedence over the analysis' default. An explicit ``--set lumi=...`` wins over both.
    """
    if any(o.split("=", 1)[0].strip() == "lumi" for o in overrides):
        return []
    lumis = {m["metadata"]["lumi"] for m in fs.values() if "lumi" in m["metadata"]}
    return [f"lumi={float(lumis.pop())!r}"] if len(lumis) == 1 else []


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


def _summary(name: str, result: Any, out: Path, n_tables: int) -> str:
    acc = result.accounting()
    s = result.settings
    text = (
        f"{name}: {acc['processed']:,} events of {len(result.events)} datasets in "
        f"{result.n_chunks} chunks ({s['executor']}, {s['workers']} worker(s)) in "
        f"{result.wall_time:.1f} s → {out}/"
        + (f" (features/: {n_tables} files)" if n_tables else "")
    )
    if result.skipped:
        text += f"; {len(result.skipped)} bad file(s)/chunk(s) skipped or empty (see report.json)"
    if result.normalisation.factors:
        text += f"; simulation renormalised to the processed events ({', '.join(result.normalisation.factors)})"
    if acc["not_requested"]:
        text += f"; {acc['not_requested']:,} events left out by --max-chunks"
    return text
