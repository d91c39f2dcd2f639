"""A run's output folder, committed as a whole.

:func:`output_folder` yields a temporary folder beside ``--out`` (``.NAME.tmp-PID``); every
output is written there, and only when the block finishes is it renamed to ``--out`` (an earlier
run's folder is moved aside and deleted). An interrupted, killed or failed run therefore never
leaves a folder that looks finished, and never mixes new tables with an old ``run.json``.

- A lock file (``.NAME.lock`` beside ``--out``, ``fcntl.flock``) makes a second run into the same
  ``--out`` fail at once with a clear error; the kernel releases it when a run dies, even by
  SIGKILL.
- Leftovers of killed runs (``.NAME.tmp-PID`` folders, ``.*.partial-PID`` files) whose process
  is gone are removed.
- ``--out`` must not be a file, and an existing non-empty folder is replaced only if it is an
  earlier output of hepml-coffea (it holds ``run.json``), so a mistyped ``--out ~`` cannot wipe
  a home folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from hepml_coffea.errors import OutputError
from hepml_coffea.processing import interrupt

__all__ = ["check_out", "output_folder"]

MARKER = "run.json"
_PID = re.compile(r"\.(?:tmp|old|partial)-(\d+)$")


def check_out(out: str | os.PathLike) -> Path:
    """Refuse an ``--out`` that is a file, or a non-empty folder that is not an earlier output.

    Called before any work.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        msg = f"--out {out} is a file; give a folder (it is created)."
        raise OutputError(msg)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        msg = (
            f"--out {out} is a non-empty folder that is not an output of hepml-coffea (no "
            f"{MARKER}); give a new or empty folder, it is replaced as a whole."
        )
        raise OutputError(msg)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(out: Path) -> list[Path]:
    """Remove temporary folders and partial files of dead runs of ``out``; return them."""
    removed = []
    candidates = list(out.parent.glob(f".{out.name}.*-*"))
    if out.is_dir():
        candidates += [p for p in out.rglob(".*.partial-*")]
    for p in candidates:
        m = _PID.search(p.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    path = out.parent / f".{out.name}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = f"cannot create {path} ({exc.strerror}); choose another --out."
        raise OutputError(msg) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            msg = (
                f"another run (PID {other}) is writing to --out {out}; wait for it to finish, "
                "or choose another --out."
            )
            raise OutputError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def output_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out`` as a whole (see module doc)."""
    out = check_out(out).absolute()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the folder of --out {out}: {exc.strerror}; choose another --out."
        raise OutputError(msg) from None
    with _lock(out), interrupt.interruptible():  # Ctrl-C while writing is never swallowed
        clean_leftovers(out)
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
            interrupt.check()
            _commit(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _commit(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
