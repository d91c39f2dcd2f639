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
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from hepml_coffea.errors import BadValueError, HepmlError, MissingBranchError
from hepml_coffea.processing.validation import check_finite, check_physical

ERRORS = "__hepml_errors__"
FAILED = "__hepml_failed_chunks__"
SUMW = "__hepml_sumw__"

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
    """Exception types that mean "this chunk's bytes could not be read or decoded"."""
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


#: Code whose exceptions are read errors: uproot reading, NanoEvents building the arrays, and
#: awkward materialising a lazily read buffer (e.g. corrupt ``nJet`` counts).
_READING_CODE = ("/uproot/", "/coffea/nanoevents/", "/awkward/_nplikes/virtual.py", "/fsspec")


def is_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from reading the input (not from the processor's own logic).

    Decompression failures (LZ4 checksum, ZSTD "negative dimensions", ...) are ``ValueError`` or
    ``TypeError``; they count as read errors when raised inside uproot, NanoEvents or awkward's
    materialisation of a lazily read buffer.
    """
    if isinstance(exc, read_errors()):
        return True
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if any(part in name for part in _READING_CODE):
            return True
        tb = tb.tb_next
    return False


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def guarded_class():
    from coffea.processor import ProcessorABC

    class GuardedProcessor(ProcessorABC):
        """Run ``inner.process``; return user errors and read errors as data (see module doc).

        Per chunk it also returns Σ genWeight of the chunk's simulated events (``SUMW``) and
        checks the output's table columns, weights and histogram sums for finiteness
        (:func:`~hepml_coffea.processing.validation.check_finite`). A chunk of a remote file
        whose read fails is tried ``retries`` more times.
        """

        def __init__(self, inner: Any, retries: int = 0) -> None:
            self.inner = inner
            self.retries = retries
            self.features = user_features()

        def __setstate__(self, state: dict) -> None:
            # unpickled in a worker before coffea builds the chunk's NanoEvents
            ignore_schema_notes()
            self.__dict__.update(state)
            register_user_features(state.get("features", []))

        def process(self, events):
            collect_garbage()
            md = events.metadata
            attempts = 1 + (self.retries if "://" in str(md.get("filename", "")) else 0)
            for attempt in range(attempts):
                try:
                    out = self.inner.process(events)
                    check_output(out, events)
                    return with_sumw(out, events)
                except BadValueError as exc:
                    return {FAILED: [_chunk(md, str(exc))]}
                except HepmlError as exc:
                    return {ERRORS: [exc]}
                except KeyError as exc:  # uproot.KeyInFileError: a branch absent from the file
                    import uproot

                    if not isinstance(exc, uproot.KeyInFileError):
                        raise
                    msg = (
                        f"Branch {exc.key!r} is missing from {md.get('filename')} (dataset "
                        f"{md.get('dataset')!r}); choose an available branch in the analysis "
                        "config (--set KEY=BRANCH) or fix the input."
                    )
                    return {ERRORS: [MissingBranchError(msg)]}
                except Exception as exc:
                    if not is_read_error(exc):
                        raise
                    if attempt + 1 < attempts:
                        time.sleep(min(2.0**attempt, 10.0))
                        continue
                    return {FAILED: [_chunk(md, _one_line(exc))]}
            raise AssertionError("unreachable")  # pragma: no cover

        def postprocess(self, accumulator):
            return accumulator

    return GuardedProcessor


def user_features() -> list:
    """Features registered by processor modules imported by path (``hepml_processors.*``).

    Such modules are pickled by value, so their module-level ``register_feature`` calls do not
    run again in a worker; the guarded processor carries these features and registers them
    there (:func:`register_user_features`).
    """
    import sys

    if "hepml_coffea.features.registry" not in sys.modules:
        return []
    from hepml_coffea.features.registry import registered_features
    from hepml_coffea.processing.registry import PACKAGE

    return [
        f
        for f in registered_features().values()
        if str(getattr(f.func, "__module__", "")).startswith(PACKAGE + ".")
    ]


def register_user_features(features: list) -> None:
    """Register in this (worker) process the features of :func:`user_features`."""
    if not features:
        return
    from hepml_coffea.features.registry import register_feature, registered_features

    known = registered_features()
    for f in features:
        if f.name not in known:
            register_feature(f.name, f.label, f.bins, f.pad, f.unit, f.integer)(f.func)


def _chunk(md: Mapping, reason: str) -> tuple:
    return (md["dataset"], md["filename"], md["entrystart"], md["entrystop"], reason)


def with_sumw(out: Any, events: Any) -> Any:
    """Add Σ genWeight of the chunk (simulation only) to the output under ``SUMW``."""
    md = events.metadata
    if md.get("is_data", False) or "genWeight" not in getattr(events, "fields", ()):
        return out
    import awkward as ak
    import numpy as np

    s = float(np.sum(ak.to_numpy(events.genWeight), dtype=np.float64))
    if out is None:
        out = {}
    if isinstance(out, dict):
        out = {**out, SUMW: {md["dataset"]: s}}
    return out


def check_output(out: Any, events: Any) -> None:
    """Finiteness of every float column, weight and histogram sum a chunk returns."""
    import hist
    import numpy as np

    columns: dict[str, Any] = {}
    for path, leaf in iter_leaves(out):
        if isinstance(leaf, hist.Hist):
            columns[path] = np.asarray(leaf.values(flow=True))
        elif hasattr(leaf, "value") and isinstance(getattr(leaf, "value", None), np.ndarray):
            columns[path] = leaf.value  # coffea column_accumulator
        elif isinstance(leaf, np.ndarray):
            columns[path] = leaf
    try:
        check_finite(columns, what="output", events=events)
    except BadValueError:
        check_physical(events)  # names the corrupt input branch where it is a known one
        raise


def iter_leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dict path joined by "/", leaf)`` for every non-mapping value of a nested output.

    Lists of arrays (the table contract's ``{column: [array]}``) yield each array.
    """
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_leaves(value, f"{path}/{key}" if path else str(key))
    elif isinstance(obj, list) and obj and all(hasattr(v, "dtype") for v in obj):
        for value in obj:
            yield path, value
    else:
        yield path, obj


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
    old_jupyter = getattr(console, "is_jupyter", None)
    if console is not None:
        console.quiet = True
        # in a notebook, rich's live display would still show an empty ipywidgets `Output()`
        console.is_jupyter = False
    try:
        with warnings.catch_warnings():
            ignore_schema_notes()
            yield
    finally:
        if console is not None:
            console.quiet = old
            console.is_jupyter = old_jupyter


def ignore_schema_notes() -> None:
    """Hide NanoAODSchema's notes on cross-references absent from a NanoAOD version.

    They are repeated for every chunk, are harmless, and drown the progress bar.
    """
    for text in ("Missing cross-reference index", r"Branch \S+ already exists but its values"):
        warnings.filterwarnings("ignore", message=text, category=RuntimeWarning)


def unwrap(exc: BaseException) -> BaseException | None:
    """The first HepmlError in an exception's cause/context chain, if any."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, HepmlError):
            return current
        current = current.__cause__ or current.__context__
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
