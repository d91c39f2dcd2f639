"""The processing engine: run a coffea processor over a fileset on an executor, in bounded memory.

:func:`run_processor` is a thin layer over :class:`coffea.processor.Runner`:

1. the fileset is validated (:func:`hepml_coffea.filesets.load_fileset`) and every file is opened
   once (:func:`~hepml_coffea.processing.inputs.inspect_files`) so bad inputs give a one-line
   error, or are skipped and reported;
2. Σ genWeight of each simulated dataset's readable files (``Runs`` trees) is injected into the
   dataset metadata as ``sumw`` (:mod:`~hepml_coffea.processing.normalisation`);
3. coffea chunks the good files (``Runner.preprocess``, seeded with the metadata of step 1, so it
   opens nothing again) and the chunks are run in *batches* of work items. After each batch the
   rows of the training tables are handed to ``table_sink`` and dropped, while everything else
   is accumulated per dataset. Memory is bounded by the batch size, not the number of events;
4. with ``skip_bad_files``, a dataset that lost chunks is renormalised to exactly what was
   processed (see :mod:`~hepml_coffea.processing.normalisation`).

Errors raised by the processor (``HepmlError``) and read errors inside a chunk come back from
the workers as data (:func:`~hepml_coffea.processing.execution.guarded_class`), because
exception chains do not survive pickling back from loky or Dask workers; the engine re-raises
the original one-line error in the calling process, for every executor.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml_coffea.errors import InputFileError
from hepml_coffea.processing import interrupt
from hepml_coffea.processing.execution import (
    ERRORS,
    FAILED,
    SUMW,
    guarded_class,
    quiet_coffea,
    unfreeze,
    unwrap,
)
from hepml_coffea.processing.execution import executor as executor_for
from hepml_coffea.processing.execution import uproot_options as uproot_options_for
from hepml_coffea.processing.inputs import BadFile, FileInfo
from hepml_coffea.processing.normalisation import Normalisation, prepare, renormalise
from hepml_coffea.processing.options import EXECUTORS, ExecutionOptions

__all__ = ["EXECUTORS", "ExecutionOptions", "RunResult", "run_processor"]

TableSink = Callable[[str, dict[str, np.ndarray]], None]
BY_DATASET = "__hepml_by_dataset__"


# --------------------------------------------------------------------------- results
@dataclass
class RunResult:
    """What :func:`run_processor` returns.

    Attributes
    ----------
    output : dict
        The processor's accumulated output (after ``postprocess``). For processors following
        the hepml-coffea contract every dataset of the fileset appears, with zero events if it
        had no processable file, and ``table`` maps column → one array when no ``table_sink``
        was given (empty otherwise).
    files : list of FileInfo
        Files that were processed.
    skipped : list of BadFile
        Files (and, kind ``"unreadable_chunk"``, chunks) skipped or contributing nothing.
    events : dict
        Per dataset: ``in_fileset`` (Σ entries of readable files), ``processed``,
        ``skipped`` (entries of skipped readable files/chunks), ``not_requested``
        (left out by ``max_chunks``), ``unreadable_files`` (files whose size is unknown).
    metadata : dict
        The fileset metadata per dataset, including the injected ``sumw``.
    settings : dict
        Executor settings used (:meth:`ExecutionOptions.to_dict`).
    normalisation : Normalisation
        How simulation was normalised, and the factor applied to datasets that lost chunks.
    n_chunks : int
        Chunks processed.
    wall_time : float
        Seconds.
    """

    output: dict
    files: list[FileInfo] = field(default_factory=list)
    skipped: list[BadFile] = field(default_factory=list)
    events: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    normalisation: Normalisation = field(default_factory=Normalisation)
    n_chunks: int = 0
    wall_time: float = 0.0

    def accounting(self) -> dict:
        """Event accounting: processed + skipped (+ left out by max_chunks) == in fileset."""
        keys = ("in_fileset", "processed", "skipped", "not_requested", "unreadable_files")
        tot = {k: sum(v[k] for v in self.events.values()) for k in keys}
        balanced = all(
            v["processed"] + v["skipped"] + v["not_requested"] == v["in_fileset"]
            for v in self.events.values()
        )
        return {
            "balanced": balanced,
            "rule": "processed + skipped + not_requested == in_fileset (entries of readable files)",
            **tot,
            "per_dataset": self.events,
        }


# --------------------------------------------------------------------------- batches
def batches(chunks: list, slots: int, size: int | None = None) -> list[list]:
    """Split the work items into batches of nearly equal size for ``Runner.run`` calls.

    Without ``size``, a batch holds about 4 chunks per parallel slot, and every batch (when
    there are enough chunks) more than 2 per slot: Dask places a smaller group of tasks on the
    one worker holding coffea's serialised processor instead of spreading it ("root-ish" tasks
    are spread, others follow their dependencies).
    """
    n = len(chunks)
    if n == 0:
        return []
    if size is not None:
        return [chunks[i : i + size] for i in range(0, n, size)]
    n_batches = max(1, min(round(n / (4 * slots)), n // (2 * slots + 1)))
    bounds = np.linspace(0, n, n_batches + 1).round().astype(int)
    return [chunks[a:b] for a, b in itertools.pairwise(bounds)]


def _slots(exe: Any, opts: ExecutionOptions) -> int:
    """How many chunks run at once: Dask's total worker threads, else ``workers`` (1 iterative)."""
    if opts.executor == "iterative":
        return 1
    client = getattr(exe, "client", None)
    if client is not None:
        info = client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))
    return opts.workers


# --------------------------------------------------------------------------- engine
def run_processor(
    processor: Any,
    fileset: Mapping | str | os.PathLike,
    options: ExecutionOptions | None = None,
    *,
    table_sink: TableSink | None = None,
    upload: Sequence[str | os.PathLike] = (),
    inject_sumw: bool = True,
    require_xsec: bool = False,
    **option_kwargs: Any,
) -> RunResult:
    """Run a coffea processor over a fileset with coffea's ``Runner``.

    Parameters
    ----------
    processor : coffea.processor.ProcessorABC
        Any picklable processor. Processors following the hepml-coffea contract return
        ``{dataset: {"n_events", "cutflow", "hists", "table"}}``; their tables are streamed.
    fileset : dict or path
        Coffea fileset, or the path of its JSON (relative paths are relative to it).
    options : ExecutionOptions, optional
        Executor settings; alternatively give its fields as keyword arguments.
    table_sink : callable, optional
        ``table_sink(dataset, {column: array})`` receives each batch's table rows; the rows
        are not kept. Without it, tables are concatenated in memory into the result.
    upload : sequence of path
        Folders to unpack on every Dask worker (e.g. model folders).
    inject_sumw : bool
        Compute Σ genWeight of each simulated dataset and pass it as metadata ``sumw``.
    require_xsec : bool
        Require metadata ``xsec`` for simulation (analyses that normalise it).

    Returns
    -------
    RunResult
    """
    opts = options if options is not None else ExecutionOptions(**option_kwargs)
    tic = time.perf_counter()
    with interrupt.interruptible():
        prep = prepare(fileset, opts, inject_sumw=inject_sumw, require_xsec=require_xsec)
        state = _State(list(prep.fileset))
        with executor_for(opts.executor, opts.workers, opts.scheduler, opts.progress) as exe:
            with quiet_coffea():
                if upload and getattr(exe, "client", None) is not None:
                    from hepml_coffea.processing.inference import upload_models

                    upload_models(exe.client, [os.fspath(p) for p in upload])
                _run_batches(processor, prep, opts, exe, state, table_sink)
        interrupt.check()
        norm = renormalise(prep, state.sumw, state.failed, opts)
        per_ds = {ds: norm.scale(ds, out) for ds, out in state.by_dataset.items()}
    total = _merge(per_ds, processor, prep.fileset, state.tables, norm)
    return RunResult(
        output=total,
        files=prep.good,
        skipped=[*prep.bad, *state.skipped],
        events=_event_counts(prep, state),
        metadata=prep.metadata,
        settings=opts.to_dict(),
        normalisation=norm,
        n_chunks=state.n_chunks,
        wall_time=time.perf_counter() - tic,
    )


@dataclass
class _State:
    """What the batches accumulate."""

    datasets: list[str]
    by_dataset: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    sumw: dict[str, float] = field(default_factory=dict)
    failed: list[BadFile] = field(default_factory=list)
    skipped: list[BadFile] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    n_chunks: int = 0


def _run_batches(processor, prep, opts: ExecutionOptions, exe, state: _State, table_sink) -> None:
    from coffea import processor as cp
    from coffea.processor import accumulate
    from tqdm.auto import tqdm

    from hepml_coffea.processing.inputs import BadFile

    runner = cp.Runner(
        executor=exe,
        chunksize=opts.chunksize,
        maxchunks=opts.max_chunks,
        metadata_cache=prep.cache,
        schema=_nanoaod_schema(),
        skipbadfiles=False,
    )
    chunks = list(runner.preprocess(prep.good_fileset)) if prep.good_fileset else []
    chunks = [c for c in chunks if len(c) > 0]
    state.requested = dict.fromkeys(state.datasets, 0)
    state.processed = dict.fromkeys(state.datasets, 0)
    for c in chunks:
        state.requested[c.dataset] += len(c)
    guarded = _by_dataset_class()(guarded_class()(processor, opts.retries))
    uproot_options = {**uproot_options_for(prep.good), **_remote_options(prep.good, opts)}
    bar = tqdm(
        total=sum(len(c) for c in chunks),
        unit="ev",
        unit_scale=True,
        desc=f"Processing ({opts.executor})",
        disable=not opts.progress,
        leave=False,
    )
    try:
        for items in batches(chunks, _slots(exe, opts), opts.batch_chunks):
            interrupt.check()
            try:
                wrapped = runner.run(items, guarded, uproot_options=uproot_options)
            except Exception as exc:
                user = unwrap(exc)
                if user is not None:
                    raise user from None
                raise
            interrupt.check()
            out = wrapped["out"] or {}
            errors = out.pop(ERRORS, [])
            if errors:
                raise errors[0]
            failed_keys = set()
            for ds, path, start, stop, reason in out.pop(FAILED, []):
                failed_keys.add((path, start, stop))
                if not opts.skip_bad_files:
                    msg = (
                        f"Input file {path} (dataset {ds!r}) cannot be read in entries "
                        f"{start}-{stop}: {reason}. Replace the file, or pass --skip-bad-files "
                        "to skip it and list it in report.json."
                    )
                    raise InputFileError(" ".join(msg.split()))
                tree = next(c.treename for c in items if c.filename == path)
                reason = f"entries {start}-{stop}: {reason}"
                bad = BadFile(
                    ds, path, tree, "unreadable_chunk", reason, stop - start, (start, stop)
                )
                state.skipped.append(bad)
                state.failed.append(bad)
            for ds, s in out.pop(SUMW, {}).items():
                state.sumw[ds] = state.sumw.get(ds, 0.0) + s
            done = {(c.filename, c.entrystart, c.entrystop) for c in wrapped["processed"]}
            for c in items:
                key = (c.filename, c.entrystart, c.entrystop)
                if key not in done:
                    msg = f"Chunk {c.filename} [{c.entrystart}, {c.entrystop}) returned no result."
                    raise RuntimeError(msg)
                if key not in failed_keys:
                    state.processed[c.dataset] += len(c)
            for ds, result in out.get(BY_DATASET, {}).items():
                _take_tables(ds, result, state, table_sink)
                state.by_dataset[ds] = accumulate([state.by_dataset.get(ds, {}), result])
            state.n_chunks += len(items)
            bar.update(sum(len(c) for c in items))
    finally:
        bar.close()
        unfreeze()  # iterative: chunks ran in this process


def _by_dataset_class():
    """Wrap the guarded processor's output as ``{BY_DATASET: {dataset: output}}``.

    coffea accumulates a batch's chunks into one output; keyed by dataset, the engine can
    renormalise one dataset's share (lost chunks) whatever the processor's output nesting.
    """
    from coffea.processor import ProcessorABC

    class ByDataset(ProcessorABC):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def process(self, events):
            out = self.inner.process(events)
            if not isinstance(out, dict) or not out:
                return {BY_DATASET: {events.metadata["dataset"]: out}} if out is not None else {}
            special = {k: out[k] for k in (ERRORS, FAILED, SUMW) if k in out}
            rest = {k: v for k, v in out.items() if k not in special}
            return {**special, BY_DATASET: {events.metadata["dataset"]: rest}}

        def postprocess(self, accumulator):
            return accumulator

    return ByDataset


def _take_tables(ds: str, result: Any, state: _State, table_sink: TableSink | None) -> None:
    """Pop the contract's ``result[ds]["table"]`` rows: to the sink, or kept for the result."""
    inner = result.get(ds) if isinstance(result, dict) else None
    if not isinstance(inner, dict):
        return
    table = inner.pop("table", None) or {}
    if not table:
        return
    rows = {col: _concat(v) for col, v in table.items()}
    if table_sink is not None:
        table_sink(ds, rows)
    else:
        for col, arr in rows.items():
            state.tables.setdefault(ds, {}).setdefault(col, []).append(arr)


def _merge(
    per_ds: dict, processor: Any, datasets: Mapping, tables: dict, norm: Normalisation
) -> dict:
    from coffea.processor import accumulate

    total = accumulate([per_ds[ds] for ds in datasets if ds in per_ds]) if per_ds else {}
    total = total if total is not None else {}
    if hasattr(processor, "postprocess"):
        post = processor.postprocess(total)
        total = post if post is not None else total
    if not isinstance(total, dict) or not _follows_contract(processor, total, datasets):
        return total
    cut_names = tuple(getattr(processor, "cut_names", ()) or ())
    for ds in datasets:
        res = total.setdefault(ds, {})
        res.setdefault("n_events", 0)
        res.setdefault("cutflow", {c: {"events": 0, "weighted": 0.0} for c in cut_names})
        res.setdefault("hists", {})
        cols = {col: np.concatenate(v) for col, v in tables.get(ds, {}).items()}
        res["table"] = norm.scale_table(ds, cols)
    return {**{ds: total[ds] for ds in datasets}, **total}  # fileset order, not arrival order


def _follows_contract(processor: Any, total: dict, datasets: Mapping) -> bool:
    """Whether the output is keyed by dataset with the hepml contract (``cutflow``/``table``)."""
    if getattr(processor, "cut_names", None) is not None:
        return True
    return any(isinstance(total.get(ds), dict) and "cutflow" in total[ds] for ds in datasets)


def _concat(value: Any) -> np.ndarray:
    if isinstance(value, list):
        return np.concatenate([np.asarray(v) for v in value]) if value else np.asarray([])
    return np.asarray(value)


def _nanoaod_schema():
    from coffea.nanoevents import NanoAODSchema

    return NanoAODSchema


def _remote_options(files: list[FileInfo], opts: ExecutionOptions) -> dict:
    return {"timeout": opts.timeout_s} if any("://" in f.path for f in files) else {}


def _event_counts(prep, state: _State) -> dict:
    """Per-dataset event counts, each from its own source (file metadata, chunks, results)."""
    skipped = [*prep.bad, *state.skipped]
    counts = {}
    for ds in state.datasets:
        readable = sum(f.num_entries for f in prep.good if f.dataset == ds)
        in_fs = readable + sum(
            b.num_entries or 0 for b in skipped if b.dataset == ds and b.kind == "empty"
        )
        counts[ds] = {
            "in_fileset": in_fs,
            "processed": state.processed.get(ds, 0),
            "skipped": sum(b.num_entries or 0 for b in skipped if b.dataset == ds),
            "not_requested": readable - state.requested.get(ds, 0),
            "unreadable_files": sum(
                1 for b in skipped if b.dataset == ds and b.num_entries is None
            ),
        }
    return counts
