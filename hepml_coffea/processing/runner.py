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
   therefore bounded by the batch size, not by the number of events.

Errors raised by the processor (``HepmlError``, e.g. ``MissingBranchError``) and read errors
inside a chunk are returned by a wrapping processor as data rather than raised, because
exception chains do not survive pickling back from loky or Dask workers; the engine re-raises
the original one-line error in the calling process, for every executor.
"""

from __future__ import annotations

import contextlib
import gc
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, HepmlError, InputFileError, MissingBranchError
from hepml_coffea.processing.inputs import BadFile, FileInfo, inspect_files

__all__ = ["EXECUTORS", "RunResult", "run_processor"]

EXECUTORS = ("iterative", "futures", "dask")
_ERRORS = "__hepml_errors__"
_FAILED = "__hepml_failed_chunks__"

TableSink = Callable[[str, dict[str, np.ndarray]], None]


# --------------------------------------------------------------------------- worker side
_FROZEN = False


def _collect_garbage() -> None:
    """Free the previous chunk's arrays before reading the next one.

    NanoEvents and awkward build reference cycles, so a chunk's arrays linger until Python's
    rare full collection and the peak memory grows with the number of chunks instead of staying
    at one chunk's. A full collection costs ~0.1 s on a heap with coffea imported, so the
    long-lived objects are first moved out of the collector's sight with ``gc.freeze`` (once per
    process; :func:`run_processor` unfreezes its own process at the end); then each collection
    only scans what the last chunk made.
    """
    global _FROZEN
    if not _FROZEN:
        gc.collect()
        gc.freeze()
        _FROZEN = True
    gc.collect()


def _unfreeze() -> None:
    global _FROZEN
    if _FROZEN:
        gc.unfreeze()
        _FROZEN = False


def _read_errors() -> tuple[type[BaseException], ...]:
    import lzma
    import zlib

    import uproot

    errors = [OSError, EOFError, zlib.error, lzma.LZMAError]
    errors.append(uproot.deserialization.DeserializationError)
    try:  # uproot decompresses ZSTD/LZ4 (and more) with cramjam
        import cramjam

        errors.append(cramjam.DecompressionError)
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    return tuple(errors)


def _guarded_class():
    from coffea.processor import ProcessorABC

    class GuardedProcessor(ProcessorABC):
        """Run ``inner.process``; return user errors and read errors as data (see module doc)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __setstate__(self, state: dict) -> None:
            # unpickled in a worker before coffea builds the chunk's NanoEvents
            _ignore_schema_notes()
            self.__dict__.update(state)

        def process(self, events):
            _collect_garbage()
            try:
                return self.inner.process(events)
            except HepmlError as exc:
                return {_ERRORS: [exc]}
            except KeyError as exc:  # uproot.KeyInFileError: a branch absent from the file
                import uproot

                if not isinstance(exc, uproot.KeyInFileError):
                    raise
                md = events.metadata
                msg = (
                    f"Branch {exc.key!r} is missing from {md.get('filename')} (dataset "
                    f"{md.get('dataset')!r}); choose an available branch in the analysis config "
                    "(--set KEY=BRANCH) or fix the input."
                )
                return {_ERRORS: [MissingBranchError(msg)]}
            except _read_errors() as exc:
                md = events.metadata
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                chunk = (md["dataset"], md["filename"], md["entrystart"], md["entrystop"], reason)
                return {_FAILED: [chunk]}

        def postprocess(self, accumulator):
            return accumulator

    return GuardedProcessor


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


# --------------------------------------------------------------------------- executors
@contextlib.contextmanager
def _executor(name: str, workers: int, scheduler: str | None, progress: bool) -> Iterator[Any]:
    from coffea import processor

    if name == "iterative":
        yield processor.IterativeExecutor(status=False, retries=0)
    elif name == "futures":
        import loky

        pool = loky.get_reusable_executor(max_workers=workers)
        yield processor.FuturesExecutor(pool=pool, workers=workers, status=False, retries=0)
    else:
        from distributed import Client, LocalCluster

        with contextlib.ExitStack() as stack:
            if scheduler:
                client = stack.enter_context(Client(scheduler))
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=40,
                    )
                )
                client = stack.enter_context(Client(cluster))
            yield processor.DaskExecutor(client=client, status=False, retries=0)


@contextlib.contextmanager
def _quiet_coffea() -> Iterator[None]:
    """coffea's futures watcher draws a rich bar even with status=False; we draw our own."""
    from coffea import util

    console = getattr(util, "coffea_console", None)
    old = getattr(console, "quiet", None)
    if console is not None:
        console.quiet = True
    try:
        with warnings.catch_warnings():
            _ignore_schema_notes()
            yield
    finally:
        if console is not None:
            console.quiet = old


def _ignore_schema_notes() -> None:
    """Hide NanoAODSchema's notes on cross-references absent from a NanoAOD version.

    They are repeated for every chunk, are harmless, and drown the progress bar.
    """
    for text in ("Missing cross-reference index", r"Branch \S+ already exists but its values"):
        warnings.filterwarnings("ignore", message=text, category=RuntimeWarning)


def _unwrap(exc: BaseException) -> BaseException | None:
    """The first HepmlError in an exception's cause/context chain, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HepmlError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


# --------------------------------------------------------------------------- engine
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
        Chunks per ``Runner.run`` call (default ``max(4, 4 * workers)``; 4 for iterative).
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
    batch = batch_chunks or (4 if executor == "iterative" else max(4, 4 * workers))
    settings = {
        "executor": executor,
        "workers": workers if executor != "iterative" else 1,
        "chunksize": chunksize,
        "scheduler": scheduler,
        "skip_bad_files": skip_bad_files,
        "max_chunks": max_chunks,
        "batch_chunks": batch,
    }
    guarded = _guarded_class()(processor)
    total: dict = {}
    tables: dict[str, dict[str, list[np.ndarray]]] = {}
    processed_events: dict[str, int] = dict.fromkeys(fileset, 0)
    n_chunks = 0

    from tqdm.auto import tqdm

    with _executor(executor, workers, scheduler, progress) as exe, _quiet_coffea():
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
        uproot_options = _uproot_options(good)
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
            for i in range(0, len(chunks), batch):
                items = chunks[i : i + batch]
                try:
                    wrapped = runner.run(items, guarded, uproot_options=uproot_options)
                except Exception as exc:
                    user = _unwrap(exc)
                    if user is not None:
                        raise user from None
                    raise
                out = wrapped["out"] or {}
                errors = out.pop(_ERRORS, [])
                if errors:
                    raise errors[0]
                failed = out.pop(_FAILED, [])
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
            _unfreeze()  # iterative: chunks ran in this process

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


def _uproot_options(files: list[FileInfo]) -> dict:
    """Options for coffea's ``uproot.open``: memory-mapped reads when every file is local.

    NanoEvents fetches one branch at a time; through uproot's default fsspec source each fetch
    is a round trip to an asyncio thread, while a memory map serves it directly.
    """
    import uproot

    if files and all("://" not in f.path for f in files):
        return {"handler": uproot.source.file.MemmapSource}
    return {}
