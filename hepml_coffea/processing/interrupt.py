"""Ctrl-C that always stops a run.

uproot closes files in ``__del__``; a ``KeyboardInterrupt`` raised while the garbage collector
runs such a finaliser is printed as "Exception ignored in ..." and lost, and the run went on to
exit 0 in about one Ctrl-C of four. :func:`interruptible` installs a SIGINT handler that records
the interrupt *and* raises it; :func:`check` re-raises a recorded interrupt, and the engine calls
it between batches and before any output is committed, so a swallowed interrupt still stops the
run (exit 130 from the command line) before anything looks finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["check", "interruptible"]

_INTERRUPTED = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def check() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived (even if its exception was swallowed)."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT is recorded and raised; the record is checked on leaving.

    Nested use keeps the outer handler. Outside the main thread it does nothing (signals are
    only delivered to the main thread).
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is _handler
    ):
        yield
        return
    _INTERRUPTED.clear()
    old = signal.signal(signal.SIGINT, _handler)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, old)
        _INTERRUPTED.clear()
