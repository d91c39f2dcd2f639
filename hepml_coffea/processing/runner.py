"""The processing engine: run a coffea processor over a fileset on an executor, in bounded memory.

:func:`run_processor` is a thin layer over :class:`coffea.processor.Runner`:

1. the fileset is validated (:func:`hepml_coffea.datasets.load_fileset`) and every file is
   opened once (:func:`~hepml_coffea.processing.inputs.inspect_files`) so bad inputs give a
   one-line error, or are skipped and reported;
2. Σ genWeight of each MC dataset (:func:`hepml_coffea.datasets.sum_genweights`) is injected
   into the dataset metadata as ``sumw``;
3. coffea chunks the good files (``Runner.preprocess``, seeded with the metadata of step 1, so it
   opens nothing again) and the chunks are run in *batches* of work items (``Runner.run``
   accepts a list of ``WorkItem``). After each batch the rows of the training tables are handed
   to ``table_sink`` and dropped, while histograms and cutflows are accumulated. Memory is
   therefore bounded by the batch size, not by the number of events. A batch holds about 4
   chunks per worker thread (:func:`batches`), so on a large Dask cluster the calling process
   holds the table rows of ~4 chunks per worker at a time; pass ``batch_chunks`` to lower it.

Errors raised by the processor (``HepmlError``, e.g. ``MissingBranchError``) and read errors
inside a chunk are returned by a wrapping processor as data rather than raised, because
exception chains do not survive pickling back from loky or Dask workers; the engine re-raises
the original one-line error in the calling process, for every executor.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, InputFileError
from hepml_coffea.processing.execution import (
    ERRORS,
    FAILED,
    guarded_class,
    quiet_coffea,
    unfreeze,
    unwrap,
)
from hepml_coffea.processing.execution import executor as executor_for
from hepml_coffea.processing.execution import uproot_options as uproot_options_for
from hepml_coffea.processing.inputs import BadFile, FileInfo, inspect_files

__all__ = ["EXECUTORS", "RunResult", "run_processor"]

EXECUTORS = ("iterative", "futures", "dask")

TableSink = Callable[[str, dict[str, np.ndarray]], None]


# --------------------------------------------------------------------------- results
@dataclass
class RunResult:
    """What :func:`run_processor` returns.

    Attributes
    ----------
    output : dict
        ``{dataset: {"n_events": int, "cutflow": {...}, "hists": {...}, "table": {...}}}``
        accumulated over all chunks. ``table`` maps column → one concatenated ``np.ndarray``
        when no ``table_sink`` was given, and is empty otherwise (rows went to the sink).
        Every dataset of the fileset appears, with zero events if it had no processable file.
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
        Executor settings used.
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
    n_chunks: int = 0
    wall_time: float = 0.0

    def accounting(self) -> dict:
        """Event accounting: processed + skipped (+ left out by max_chunks) == in fileset."""
        tot = {
            k: sum(v[k] for v in self.events.values())
            for k in ("in_fileset", "processed", "skipped", "not_requested", "unreadable_files")
        }
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


# --------------------------------------------------------------------------- engine
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


def _slots(exe: Any, executor: str, workers: int) -> int:
    """How many chunks run at once: Dask's total worker threads, else ``workers`` (1 iterative)."""
    if executor == "iterative":
        return 1
    client = getattr(exe, "client", None)
    if client is not None:
        info = client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))
    return workers


def _prepare(fileset, skip_bad_files: bool, inject_sumw: bool):
    from hepml_coffea.datasets import load_fileset, sum_genweights

    fileset = load_fileset(fileset, check_files=False)  # files are checked by inspect_files
    good, bad = inspect_files(fileset)
    for b in bad:
        if b.kind == "empty" and not skip_bad_files:
            warnings.warn(
                f"Input file {b.path} (dataset {b.dataset!r}) has zero events in tree "
                f"{b.treename!r}; it contributes nothing (pass --skip-bad-files to list it in "
                "report.json, or remove it from the fileset).",
                stacklevel=3,
            )
        elif not skip_bad_files:
            raise b.error()
    metadata = {}
    for ds, entry in fileset.items():
        meta = dict(entry.get("metadata", {}))
        if inject_sumw and not meta.get("is_data", False):
            readable = [f.path for f in good if f.dataset == ds]
            empty = [b.path for b in bad if b.dataset == ds and b.kind == "empty"]
            sumw = float(sum_genweights(readable)) if readable else None
            if empty:  # a skim may keep no event but its Runs sums still count
                with warnings.catch_warnings():  # no Runs sums: Σ genWeight of 0 events is 0
                    warnings.simplefilter("ignore")
                    sumw = (sumw or 0.0) + float(sum_genweights(empty))
            meta["sumw"] = sumw
        metadata[ds] = meta
    return fileset, good, bad, metadata


def run_processor(
    processor: Any,
    fileset: Mapping | str,
    *,
    executor: str = "iterative",
    workers: int = 2,
    chunksize: int = 100_000,
    scheduler: str | None = None,
    skip_bad_files: bool = False,
    max_chunks: int | None = None,
    progress: bool = True,
    table_sink: TableSink | None = None,
    batch_chunks: int | None = None,
    inject_sumw: bool = True,
) -> RunResult:
    """Run a coffea processor over a fileset with coffea's ``Runner``.

    Parameters
    ----------
    processor : coffea.processor.ProcessorABC
        Picklable processor following the hepml-coffea output contract.
    fileset : dict or path
        Coffea-form fileset, or the path of its JSON (relative paths are relative to it).
    executor : {"iterative", "futures", "dask"}
        ``futures`` uses ``workers`` loky processes; ``dask`` starts a ``LocalCluster`` of
        ``workers`` single-threaded processes, or connects to ``scheduler``.
    workers : int
        Worker processes for futures/dask.
    chunksize : int
        Target events per chunk.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler (implies ``executor="dask"``).
    skip_bad_files : bool
        Skip missing/corrupt/truncated/empty files, files without the tree and unreadable
        chunks, listing them in :attr:`RunResult.skipped`, instead of raising.
    max_chunks : int, optional
        Process at most this many chunks per dataset.
    progress : bool
        Show a tqdm bar (events).
    table_sink : callable, optional
        ``table_sink(dataset, {column: array})`` receives each batch's table rows; the rows
        are not kept. Without it, tables are concatenated in memory into the result.
    batch_chunks : int, optional
        Chunks per ``Runner.run`` call; default about 4 per parallel slot (see :func:`batches`).
    inject_sumw : bool
        Compute Σ genWeight of each MC dataset and pass it as metadata ``sumw``.

    Returns
    -------
    RunResult
    """
    from coffea import processor as cp
    from coffea.processor import accumulate
    from coffea.processor.executor import FileMeta

    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        msg = f"executor must be one of {EXECUTORS}; got {executor!r}."
        raise ConfigError(msg)
    if chunksize < 1 or workers < 1 or (max_chunks is not None and max_chunks < 1):
        msg = (
            f"chunksize, workers and max_chunks must be positive; got chunksize={chunksize}, "
            f"workers={workers}, max_chunks={max_chunks}."
        )
        raise ConfigError(msg)
    tic = time.perf_counter()
    fileset, good, bad, metadata = _prepare(fileset, skip_bad_files, inject_sumw)
    skipped = list(bad)

    # coffea chunking, seeded with our metadata so no file is opened again
    cache: dict = {}
    good_fileset: dict = {}
    for f in good:
        meta = {k: v for k, v in metadata[f.dataset].items() if v is not None}
        good_fileset.setdefault(f.dataset, {"files": {}, "metadata": meta})["files"][f.path] = (
            f.treename
        )
        cache[FileMeta(f.dataset, f.path, f.treename)] = {
            **meta,
            "numentries": f.num_entries,
            "uuid": f.uuid,
        }
    settings = {
        "executor": executor,
        "workers": workers if executor != "iterative" else 1,
        "chunksize": chunksize,
        "scheduler": scheduler,
        "skip_bad_files": skip_bad_files,
        "max_chunks": max_chunks,
        "batch_chunks": batch_chunks,
    }
    guarded = guarded_class()(processor)
    total: dict = {}
    tables: dict[str, dict[str, list[np.ndarray]]] = {}
    processed_events: dict[str, int] = dict.fromkeys(fileset, 0)
    n_chunks = 0

    from tqdm.auto import tqdm

    with executor_for(executor, workers, scheduler, progress) as exe, quiet_coffea():
        if executor == "dask" and getattr(processor, "models", None):
            from hepml_coffea.processing.inference import upload_models

            upload_models(exe.client, [m.model_dir for m in processor.models])
        runner = cp.Runner(
            executor=exe,
            chunksize=chunksize,
            maxchunks=max_chunks,
            metadata_cache=cache,
            schema=_nanoaod_schema(),
            skipbadfiles=False,
        )
        chunks = list(runner.preprocess(good_fileset)) if good_fileset else []
        chunks = [c for c in chunks if len(c) > 0]
        uproot_options = uproot_options_for(good)
        requested = dict.fromkeys(fileset, 0)
        for c in chunks:
            requested[c.dataset] += len(c)
        bar = tqdm(
            total=sum(len(c) for c in chunks),
            unit="ev",
            unit_scale=True,
            desc=f"Processing ({executor})",
            disable=not progress,
            leave=False,
        )
        try:
            for items in batches(chunks, _slots(exe, executor, workers), batch_chunks):
                try:
                    wrapped = runner.run(items, guarded, uproot_options=uproot_options)
                except Exception as exc:
                    user = unwrap(exc)
                    if user is not None:
                        raise user from None
                    raise
                out = wrapped["out"] or {}
                errors = out.pop(ERRORS, [])
                if errors:
                    raise errors[0]
                failed = out.pop(FAILED, [])
                failed_keys = set()
                for ds, path, start, stop, reason in failed:
                    failed_keys.add((path, start, stop))
                    if not skip_bad_files:
                        msg = (
                            f"Input file {path} (dataset {ds!r}) cannot be read in entries "
                            f"{start}-{stop}: {reason}. Replace the file, or pass "
                            "--skip-bad-files to skip it and list it in report.json."
                        )
                        raise InputFileError(msg)
                    tree = next(c.treename for c in items if c.filename == path)
                    skipped.append(
                        BadFile(
                            ds,
                            path,
                            tree,
                            "unreadable_chunk",
                            f"entries {start}-{stop}: {reason}",
                            stop - start,
                        )
                    )
                done = {(c.filename, c.entrystart, c.entrystop) for c in wrapped["processed"]}
                for c in items:
                    key = (c.filename, c.entrystart, c.entrystop)
                    if key not in done:
                        msg = f"Chunk {c.filename} [{c.entrystart}, {c.entrystop}) returned no result."
                        raise RuntimeError(msg)
                    if key not in failed_keys:
                        processed_events[c.dataset] += len(c)
                for ds, result in out.items():
                    table = result.pop("table", None) or {}
                    if table:
                        rows = {col: _concat(v) for col, v in table.items()}
                        if table_sink is not None:
                            table_sink(ds, rows)
                        else:
                            for col, arr in rows.items():
                                tables.setdefault(ds, {}).setdefault(col, []).append(arr)
                total = accumulate([total, out])
                n_chunks += len(items)
                bar.update(sum(len(c) for c in items))
        finally:
            bar.close()
            unfreeze()  # iterative: chunks ran in this process

    if hasattr(processor, "postprocess"):
        post = processor.postprocess(total)
        total = post if post is not None else total
    cut_names = tuple(getattr(processor, "cut_names", ()) or ())
    for ds in fileset:
        res = total.setdefault(ds, {})
        res.setdefault("n_events", 0)
        res.setdefault("cutflow", {c: {"events": 0, "weighted": 0.0} for c in cut_names})
        res.setdefault("hists", {})
        res["table"] = {col: np.concatenate(v) for col, v in tables.get(ds, {}).items()}
    total = {**{ds: total[ds] for ds in fileset}, **total}  # fileset order, not arrival order
    events = _event_counts(fileset, good, skipped, processed_events, requested)
    return RunResult(
        output=total,
        files=good,
        skipped=skipped,
        events=events,
        metadata=metadata,
        settings=settings,
        n_chunks=n_chunks,
        wall_time=time.perf_counter() - tic,
    )


def _concat(value: Any) -> np.ndarray:
    if isinstance(value, list):
        return np.concatenate([np.asarray(v) for v in value]) if value else np.asarray([])
    return np.asarray(value)


def _nanoaod_schema():
    from coffea.nanoevents import NanoAODSchema

    return NanoAODSchema


def _event_counts(fileset, good, skipped, processed, requested) -> dict:
    """Per-dataset event counts, each from its own source (file metadata, chunks, results)."""
    counts = {}
    for ds in fileset:
        readable = sum(f.num_entries for f in good if f.dataset == ds)
        in_fs = readable + sum(
            b.num_entries or 0 for b in skipped if b.dataset == ds and b.kind == "empty"
        )
        sk = sum(b.num_entries or 0 for b in skipped if b.dataset == ds)
        unknown = sum(1 for b in skipped if b.dataset == ds and b.num_entries is None)
        counts[ds] = {
            "in_fileset": in_fs,
            "processed": processed[ds],
            "skipped": sk,
            "not_requested": readable - requested[ds],
            "unreadable_files": unknown,
        }
    return counts
