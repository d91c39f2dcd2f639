"""How chunks run: coffea executors, the guarded processor, and per-chunk hygiene.

- :func:`executor` builds coffea's Iterative/Futures/Dask executor (a ``LocalCluster`` of
  single-threaded worker processes, or a client of an existing scheduler);
- :func:`guarded_class` wraps a processor so that user errors (``HepmlError``) and read errors
  of a chunk come back as *data*: exception chains do not survive pickling back from loky or
  Dask workers, and coffea wraps what it sees in a generic ``Exception``;
- :func:`collect_garbage` frees the previous chunk's arrays before each chunk.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator
from typing import Any

from hepml_coffea.errors import HepmlError, MissingBranchError

ERRORS = "__hepml_errors__"
FAILED = "__hepml_failed_chunks__"

# --------------------------------------------------------------------------- worker side
_FROZEN = False


def collect_garbage() -> None:
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


def unfreeze() -> None:
    global _FROZEN
    if _FROZEN:
        gc.unfreeze()
        _FROZEN = False


def read_errors() -> tuple[type[BaseException], ...]:
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


def guarded_class():
    from coffea.processor import ProcessorABC

    class GuardedProcessor(ProcessorABC):
        """Run ``inner.process``; return user errors and read errors as data (see module doc)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __setstate__(self, state: dict) -> None:
            # unpickled in a worker before coffea builds the chunk's NanoEvents
            ignore_schema_notes()
            self.__dict__.update(state)

        def process(self, events):
            collect_garbage()
            try:
                return self.inner.process(events)
            except HepmlError as exc:
                return {ERRORS: [exc]}
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
                return {ERRORS: [MissingBranchError(msg)]}
            except read_errors() as exc:
                md = events.metadata
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                chunk = (md["dataset"], md["filename"], md["entrystart"], md["entrystop"], reason)
                return {FAILED: [chunk]}

        def postprocess(self, accumulator):
            return accumulator

    return GuardedProcessor


# --------------------------------------------------------------------------- executors
@contextlib.contextmanager
def executor(name: str, workers: int, scheduler: str | None, progress: bool) -> Iterator[Any]:
    from coffea import processor

    if name == "iterative":
        yield processor.IterativeExecutor(status=False, retries=0)
    elif name == "futures":
        import loky

        pool = loky.get_reusable_executor(max_workers=workers)
        yield processor.FuturesExecutor(pool=pool, workers=workers, status=False, retries=0)
    else:
        from distributed import Client

        with contextlib.ExitStack() as stack:
            if scheduler:
                client = stack.enter_context(Client(scheduler))
            else:
                cluster = stack.enter_context(local_cluster(workers))
                client = stack.enter_context(Client(cluster))
            yield processor.DaskExecutor(client=client, status=False, retries=0)


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes.

    Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to its workers so that they hand freed
    memory back to the OS. Setting it also switches off glibc's dynamic mmap threshold, so every
    large temporary array of columnar code becomes a fresh ``mmap`` that page-faults: the
    ``ttbar_ljets`` processor ran 1.5× slower per chunk in such a worker than in the calling
    process. Our workers leave glibc's default (memory stays bounded by the chunk size; a
    ``MALLOC_TRIM_THRESHOLD_`` exported by the user still reaches them), and the nanny's habit of
    writing its variables into this process' environment is undone, so that later subprocesses
    (loky workers) do not inherit them.
    """
    import os

    import dask
    from distributed import LocalCluster

    before = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            return LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
    finally:
        os.environ.clear()
        os.environ.update(before)


@contextlib.contextmanager
def quiet_coffea() -> Iterator[None]:
    """coffea's futures watcher draws a rich bar even with status=False; we draw our own."""
    from coffea import util

    console = getattr(util, "coffea_console", None)
    old = getattr(console, "quiet", None)
    if console is not None:
        console.quiet = True
    try:
        with warnings.catch_warnings():
            ignore_schema_notes()
            yield
    finally:
        if console is not None:
            console.quiet = old


def ignore_schema_notes() -> None:
    """Hide NanoAODSchema's notes on cross-references absent from a NanoAOD version.

    They are repeated for every chunk, are harmless, and drown the progress bar.
    """
    for text in ("Missing cross-reference index", r"Branch \S+ already exists but its values"):
        warnings.filterwarnings("ignore", message=text, category=RuntimeWarning)


def unwrap(exc: BaseException) -> BaseException | None:
    """The first HepmlError in an exception's cause/context chain, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HepmlError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def uproot_options(files: list) -> dict:
    """Options for coffea's ``uproot.open``: memory-mapped reads when every file is local.

    NanoEvents fetches one branch at a time; through uproot's default fsspec source each fetch
    is a round trip to an asyncio thread, while a memory map serves it directly.
    """
    import uproot

    if files and all("://" not in f.path for f in files):
        return {"handler": uproot.source.file.MemmapSource}
    return {}
