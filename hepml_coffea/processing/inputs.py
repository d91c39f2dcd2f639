"""Checking the input files of a fileset before any processing: readable, right tree, events.

Every file of a fileset is opened once (in a few threads) and classified. A readable file gives
a :class:`FileInfo` (number of entries, ROOT UUID); a bad one gives a :class:`BadFile` with a
one-line reason. The engine uses the good files' metadata to seed coffea's chunking (so coffea
does not open them a second time) and the bad ones either to raise an
:class:`~hepml_coffea.errors.InputFileError` or, with ``skip_bad_files``, to list them in the
run report.

Bad-input policy (explicit, never silent)
-----------------------------------------
============================  ==============================  ===============================
case                          default                         ``skip_bad_files=True``
============================  ==============================  ===============================
missing file, or a folder      ``InputFileError``              skipped, listed in report
permission denied             ``InputFileError``              skipped, listed in report
remote server unreachable     ``InputFileError``              skipped, listed in report
not a ROOT file (corrupt)     ``InputFileError``              skipped, listed in report
truncated ROOT file           ``InputFileError``              skipped, listed in report
tree not in file              ``InputFileError``              skipped, listed in report
tree with zero entries        warning, contributes nothing    skipped, listed in report
============================  ==============================  ===============================

A file with zero events is valid ROOT (an empty skim is a legitimate outcome), so by default it
only warns; it still counts for the dataset's Σ genWeight through its ``Runs`` tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hepml_coffea.errors import InputFileError

__all__ = ["BadFile", "FileInfo", "inspect_files"]


@dataclass(frozen=True)
class FileInfo:
    """A readable input file.

    Attributes
    ----------
    dataset, path, treename : str
        Where the file belongs, its absolute path and the tree to read.
    num_entries : int
        Entries of the tree.
    uuid : bytes
        The file's ROOT UUID (16 bytes), as coffea's chunking expects.
    has_genweight : bool
        Whether the tree has a ``genWeight`` branch.
    """

    dataset: str
    path: str
    treename: str
    num_entries: int
    uuid: bytes
    has_genweight: bool = True


@dataclass(frozen=True)
class BadFile:
    """An input file that cannot be processed.

    Attributes
    ----------
    dataset, path, treename : str
        The file as named in the fileset.
    kind : str
        One of ``"missing"``, ``"unreadable"`` (permission), ``"unreachable"`` (remote),
        ``"corrupt"``, ``"truncated"``, ``"no_tree"``, ``"empty"``, ``"no_sumw"`` (its Runs
        sums cannot be read), ``"unreadable_chunk"``.
    reason : str
        One-line human explanation.
    num_entries : int or None
        Entries of the tree where the file could be read (``0`` for ``"empty"``), else None.
    entries : tuple of int, optional
        ``(start, stop)`` of an unreadable chunk.
    """

    dataset: str
    path: str
    treename: str
    kind: str
    reason: str
    num_entries: int | None = None
    entries: tuple[int, int] | None = None

    def error(self) -> InputFileError:
        """The one-line error raised for this file when bad files are not skipped."""
        fix = {
            "missing": "fix the path in the fileset",
            "unreadable": "fix the file's permissions",
            "unreachable": "check the server and the URL (--timeout, --retries)",
            "no_tree": "fix the tree name in the fileset ({path: TREE})",
            "empty": "remove it from the fileset",
        }.get(self.kind, "replace or re-download the file")
        msg = (
            f"Input file {self.path} (dataset {self.dataset!r}): {self.reason}. "
            f"{fix[0].upper()}{fix[1:]}, or pass --skip-bad-files (skip_bad_files=True) "
            "to skip it and list it in report.json."
        )
        return InputFileError(msg)


def _inspect_one(dataset: str, path: str, treename: str, timeout: float) -> FileInfo | BadFile:
    import uproot

    def bad(kind: str, reason: str, n: int | None = None) -> BadFile:
        return BadFile(dataset, path, treename, kind, reason, n)

    remote = "://" in path
    size = None
    if not remote:
        if not os.path.exists(path):
            return bad("missing", "file does not exist")
        if os.path.isdir(path):
            return bad("missing", "is a folder, not a ROOT file")
        try:
            size = os.path.getsize(path)
            header = _read_header(path)
        except OSError as exc:  # permission denied, I/O error
            return bad("unreadable", f"cannot be read ({exc.strerror or exc})")
        if header is None:
            return bad("corrupt", "not a ROOT file (wrong magic bytes; corrupt or not ROOT)")
        if header > size:
            return bad("truncated", f"truncated ROOT file ({size} of {header} bytes on disk)")
    try:
        file = uproot.open(path, **({"timeout": timeout} if remote else {}))
    except FileNotFoundError:
        return bad("missing", "file does not exist" if not remote else "not found on the server")
    except Exception as exc:  # uproot raises ValueError/OSError/DeserializationError
        text = " ".join(str(exc).split())
        if "not a ROOT file" in text:
            return bad("corrupt", "not a ROOT file (wrong magic bytes; corrupt or not ROOT)")
        if size is not None and _looks_truncated(text):
            return bad("truncated", f"truncated or damaged ROOT file ({size} bytes on disk)")
        if remote:
            return bad("unreachable", f"cannot be opened ({type(exc).__name__}: {text[:160]})")
        return bad("corrupt", f"cannot be opened as ROOT ({type(exc).__name__}: {text[:160]})")
    try:
        with file:
            try:
                tree = file[treename]
                n = int(tree.num_entries)
            except KeyError:
                keys = sorted({k.split(";")[0] for k in file.keys(recursive=False)})
                return bad("no_tree", f"has no tree {treename!r} (it holds {keys})")
            if n == 0:
                return bad("empty", f"tree {treename!r} has zero entries", 0)
            has_gw = "genWeight" in tree.keys()
            return FileInfo(dataset, path, treename, n, bytes(file.file.fUUID), has_gw)
    except Exception as exc:
        text = " ".join(str(exc).split())
        kind = "unreachable" if remote else "truncated"
        return bad(kind, f"damaged or unreadable ROOT file ({type(exc).__name__}: {text[:160]})")


def _read_header(path: str) -> int | None:
    """``fEND`` (the file's full length) from a ROOT header, or None if it is not ROOT."""
    import struct

    with open(path, "rb") as f:
        head = f.read(21)
    if len(head) < 16 or head[:4] != b"root":
        return None
    version = struct.unpack(">i", head[4:8])[0]
    if version >= 1_000_000 and len(head) >= 20:
        return int(struct.unpack(">q", head[12:20])[0])
    return int(struct.unpack(">i", head[12:16])[0])


def _looks_truncated(text: str) -> bool:
    words = ("truncat", "beyond", "past the end", "outside", "EOF", "too short", "fewer bytes")
    return any(w.lower() in text.lower() for w in words)


def inspect_files(
    fileset: dict, *, threads: int = 8, timeout: float = 30.0
) -> tuple[list[FileInfo], list[BadFile]]:
    """Open every file of a (validated, absolute-path) fileset and classify it.

    Parameters
    ----------
    fileset : dict
        Coffea-form fileset ``{dataset: {"files": {path: treename}, "metadata": {...}}}``.
    threads : int
        Files opened concurrently (I/O bound).
    timeout : float
        Seconds before opening a remote file gives up.

    Returns
    -------
    good : list of FileInfo
        Readable files with at least one entry, in fileset order.
    bad : list of BadFile
        Everything else (including empty trees), in fileset order.
    """
    jobs = [
        (dataset, str(path), str(tree))
        for dataset, entry in fileset.items()
        for path, tree in entry["files"].items()
    ]
    if not jobs:
        return [], []
    _import_remote_backends(path for _, path, _ in jobs)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        results = list(pool.map(lambda job: _inspect_one(job[0], job[1], job[2], timeout), jobs))
    good = [r for r in results if isinstance(r, FileInfo)]
    bad = [r for r in results if isinstance(r, BadFile)]
    return good, bad


def _import_remote_backends(paths: Iterable[str]) -> None:
    """Import the fsspec filesystems of the remote schemes once, in this thread.

    Two threads importing fsspec-xrootd (and the XRootD client bindings) at the same time
    crashed the interpreter (segmentation fault); after one import, concurrent opens are safe.
    """
    import fsspec

    for scheme in sorted({p.split("://", 1)[0] for p in paths if "://" in p}):
        try:
            fsspec.get_filesystem_class(scheme)
        except (ImportError, ValueError):
            pass  # uproot reports the unknown or uninstalled scheme per file, naming it
