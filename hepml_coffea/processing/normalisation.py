"""Inputs and normalisation of a run: which files are read, and Σ genWeight of what was processed.

Simulation is weighted ``genWeight · xsec · lumi / sumw``, where ``sumw`` (injected into the
dataset metadata before processing) is Σ genWeight of the dataset's readable files, from their
``Runs`` trees. A file skipped before processing is therefore left out of ``sumw`` too.

A *chunk* that fails while being processed (``--skip-bad-files``) is only known afterwards. Its
events were counted in ``sumw``, so the dataset's weights are too small by the fraction of the
dataset's ``Events`` genWeight that was lost. The engine then multiplies the dataset's share of
the output by

    factor = (S_processed + S_skipped) / S_processed

where ``S`` are Σ genWeight over the ``Events`` entries processed (summed per chunk by the
workers) and skipped (read back from the skipped entries' ``genWeight`` alone). This equals
normalising to Σ genWeight of exactly the processed events, also for skimmed files
(``sumw · S_processed / (S_processed + S_skipped)``). If the skipped entries' ``genWeight``
cannot be read either, the run refuses with a one-line error. What was done is recorded in
``report.json`` (``normalisation``).

Scaled are: ``hist.Hist`` contents (variances by factor²), float numbers, and array columns
named ``weight*``; counts (integers) are not.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml_coffea.errors import InputFileError, MissingBranchError
from hepml_coffea.filesets import file_genweight_sum, load_fileset
from hepml_coffea.processing.inputs import BadFile, FileInfo, inspect_files
from hepml_coffea.processing.options import ExecutionOptions

__all__ = ["Normalisation", "Prepared", "prepare", "renormalise", "scale_output"]


@dataclass
class Prepared:
    """A validated fileset split into good and bad files, with coffea's chunking seed."""

    fileset: dict
    good: list[FileInfo]
    bad: list[BadFile]
    metadata: dict
    good_fileset: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)


@dataclass
class Normalisation:
    """How simulation was normalised (``report.json``'s ``normalisation``).

    Attributes
    ----------
    method : str
        ``"sumw of readable files"`` (nothing lost mid-file) or ``"rescaled to processed
        events"`` (a dataset lost chunks; its output was multiplied by ``factors``).
    factors : dict
        ``{dataset: factor}`` for datasets that lost chunks.
    detail : dict
        Per such dataset: Σ genWeight of processed and skipped entries, and ``sumw`` before and
        after.
    """

    method: str = "sumw of readable files"
    factors: dict[str, float] = field(default_factory=dict)
    detail: dict[str, dict] = field(default_factory=dict)

    def scale(self, dataset: str, output: Any) -> Any:
        """The dataset's share of the output, multiplied by its factor (if any)."""
        f = self.factors.get(dataset)
        return output if f is None else scale_output(output, f)

    def scale_table(self, dataset: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        f = self.factors.get(dataset)
        if f is None:
            return columns
        return {c: (v * f if c.startswith("weight") else v) for c, v in columns.items()}

    def to_dict(self) -> dict:
        return {"method": self.method, "factors": self.factors, "datasets": self.detail}


def scale_output(obj: Any, factor: float) -> Any:
    """A copy of a nested output with weighted quantities multiplied by ``factor``."""
    import hist

    if isinstance(obj, hist.Hist):
        if obj.storage_type in (
            hist.storage.Int64,
            hist.storage.AtomicInt64,
            hist.storage.Unlimited,
        ):
            return obj
        return obj * factor
    if isinstance(obj, Mapping):
        return {
            k: (
                v * factor
                if str(k).startswith("weight") and isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else scale_output(v, factor)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list) and obj and all(isinstance(v, np.ndarray) for v in obj):
        return obj
    if isinstance(obj, (float, np.floating)) and not isinstance(obj, bool):
        return type(obj)(obj * factor)
    return obj


def prepare(
    fileset: Any, opts: ExecutionOptions, *, inject_sumw: bool, require_xsec: bool
) -> Prepared:
    """Validate the fileset, inspect every file, inject ``sumw``; raise for bad files unless skipped."""
    from coffea.processor.executor import FileMeta

    fs = load_fileset(fileset, require_xsec=require_xsec)
    if any("://" in p for e in fs.values() for p in e["files"]):
        remote_environment(opts)
    good, bad = inspect_files(fs, timeout=opts.timeout_s)
    _warn_genweight(fs, good)
    for b in bad:
        if b.kind == "empty" and not opts.skip_bad_files:
            warnings.warn(
                f"Input file {b.path} (dataset {b.dataset!r}) has zero events in tree "
                f"{b.treename!r}; it contributes nothing (pass --skip-bad-files to list it in "
                "report.json, or remove it from the fileset).",
                stacklevel=4,
            )
        elif not opts.skip_bad_files:
            raise b.error()
    metadata = {}
    for ds, entry in fs.items():
        meta = dict(entry["metadata"])
        if inject_sumw and not meta.get("is_data", False) and meta.get("sumw") is None:
            meta["sumw"] = _dataset_sumw(ds, good, bad, opts)
        metadata[ds] = meta
    good = [f for f in good if not any(b.path == f.path and b.dataset == f.dataset for b in bad)]
    prep = Prepared(fs, good, bad, metadata)
    for f in good:
        meta = {k: v for k, v in metadata[f.dataset].items() if v is not None}
        prep.good_fileset.setdefault(f.dataset, {"files": {}, "metadata": meta})["files"][
            f.path
        ] = f.treename
        prep.cache[FileMeta(f.dataset, f.path, f.treename)] = {
            **meta,
            "numentries": f.num_entries,
            "uuid": f.uuid,
        }
    return prep


def remote_environment(opts: ExecutionOptions) -> None:
    """XRootD client settings so that ``--timeout`` holds (set unless the user set them).

    The client checks its timeouts every ``XRD_TIMEOUTRESOLUTION`` seconds (15 by default, so a
    3 s timeout took 15 s) and retries a refused connection ``XRD_CONNECTIONRETRY`` times;
    loky and Dask workers started afterwards inherit these variables.
    """
    os.environ.setdefault("XRD_TIMEOUTRESOLUTION", "1")
    os.environ.setdefault("XRD_CONNECTIONRETRY", "1")
    os.environ.setdefault("XRD_REQUESTTIMEOUT", str(opts.timeout_s))


def _dataset_sumw(ds: str, good: list[FileInfo], bad: list[BadFile], opts) -> float | None:
    """Σ genWeight of the dataset's readable (and empty) files; a file whose sums fail is bad."""
    total = 0.0
    found = False
    for f in [f for f in good if f.dataset == ds]:
        try:
            total += file_genweight_sum(f.path, f.treename, timeout=opts.timeout_s)
            found = True
        except MissingBranchError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split())[:160]
            reason = f"its Runs sums cannot be read ({type(exc).__name__}: {text})"
            b = BadFile(ds, f.path, f.treename, "no_sumw", reason)
            if not opts.skip_bad_files:
                raise b.error() from None
            bad.append(b)
    for b in [b for b in bad if b.dataset == ds and b.kind == "empty"]:
        with warnings.catch_warnings():  # a skim may keep no event but its Runs sums count
            warnings.simplefilter("ignore")
            try:
                total += file_genweight_sum(b.path, b.treename, timeout=opts.timeout_s)
                found = True
            except Exception:  # no Runs sums and no events: Σ genWeight of 0 events is 0
                pass
    return total if found else None


def _warn_genweight(fs: dict, good: list[FileInfo]) -> None:
    for ds, entry in fs.items():
        is_data = bool(entry["metadata"].get("is_data", False))
        files = [f for f in good if f.dataset == ds]
        if is_data and any(f.has_genweight for f in files):
            warnings.warn(
                f"dataset {ds!r} is marked is_data but its files have genWeight (simulation?); "
                "check metadata is_data in the fileset.",
                stacklevel=5,
            )
        elif not is_data and files and not all(f.has_genweight for f in files):
            warnings.warn(
                f"dataset {ds!r} is simulation (is_data false) but a file has no genWeight "
                '(collision data?); set metadata "is_data": true if it is data.',
                stacklevel=5,
            )


def renormalise(
    prep: Prepared, sumw: Mapping[str, float], failed: list[BadFile], opts: ExecutionOptions
) -> Normalisation:
    """The per-dataset factors for simulated datasets that lost chunks (see module doc)."""
    norm = Normalisation()
    lost: dict[str, list[BadFile]] = {}
    for b in failed:
        if not prep.metadata.get(b.dataset, {}).get("is_data", False):
            lost.setdefault(b.dataset, []).append(b)
    for ds, chunks in lost.items():
        processed = float(sumw.get(ds, 0.0))
        if processed == 0.0:
            continue  # nothing of the dataset was processed: nothing to scale
        skipped = sum(_skipped_genweight(b, opts) for b in chunks)
        factor = (processed + skipped) / processed
        before = prep.metadata[ds].get("sumw")
        norm.factors[ds] = factor
        norm.detail[ds] = {
            "genweight_processed": processed,
            "genweight_skipped": skipped,
            "sumw_fileset": before,
            "sumw_used": before / factor if before else None,
            "factor": factor,
        }
    if norm.factors:
        norm.method = "rescaled to processed events"
    return norm


def _skipped_genweight(b: BadFile, opts: ExecutionOptions) -> float:
    """Σ genWeight of a skipped chunk's entries, read from its ``genWeight`` branch alone."""
    import uproot

    assert b.entries is not None
    start, stop = b.entries
    try:
        remote = {"timeout": opts.timeout_s} if "://" in b.path else {}
        with uproot.open(b.path, **remote) as f:
            gw = f[b.treename]["genWeight"].array(entry_start=start, entry_stop=stop, library="np")
        if not np.all(np.isfinite(gw)):
            raise ValueError("non-finite genWeight")
        return float(np.sum(gw, dtype=np.float64))
    except Exception as exc:
        msg = (
            f"Input file {b.path} (dataset {b.dataset!r}): entries {start}-{stop} were skipped and "
            f"their genWeight cannot be read either ({type(exc).__name__}), so the dataset cannot "
            "be normalised to what was processed; remove the file from the fileset "
            f"({os.path.basename(b.path)})."
        )
        raise InputFileError(" ".join(msg.split())) from None
