"""How a run is executed: one :class:`ExecutionOptions` from the command line to the engine."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from hepml_coffea.errors import ConfigError

__all__ = ["EXECUTORS", "ExecutionOptions"]

#: The coffea executors hepml-coffea runs on.
EXECUTORS = ("iterative", "futures", "dask")


@dataclass(frozen=True)
class ExecutionOptions:
    """Executor settings of a run (``run``, ``apply``, ``demo`` and :func:`run_processor`).

    Attributes
    ----------
    executor : {"iterative", "futures", "dask"}
        ``futures`` uses ``workers`` loky processes; ``dask`` starts a ``LocalCluster`` of
        ``workers`` single-threaded processes, or connects to ``scheduler``.
    workers : int
        Worker processes for futures/dask.
    chunksize : int
        Target events per chunk.
    scheduler : str or None
        ``tcp://HOST:PORT`` of a running Dask scheduler (implies ``executor="dask"``).
    skip_bad_files : bool
        Skip unreadable files and chunks (listed in ``report.json``) instead of failing.
    max_chunks : int or None
        Process at most this many chunks per dataset.
    progress : bool
        Show a progress bar.
    timeout : float
        Seconds before a remote (``root://``, ``http(s)://``) read gives up.
    retries : int
        Extra attempts of a chunk of a remote file whose read failed.
    batch_chunks : int or None
        Chunks per ``Runner.run`` call (default about 4 per parallel slot).
    """

    executor: str = "iterative"
    workers: int = 2
    chunksize: int = 100_000
    scheduler: str | None = None
    skip_bad_files: bool = False
    max_chunks: int | None = None
    progress: bool = True
    timeout: float = 30.0
    retries: int = 2
    batch_chunks: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler and self.executor != "dask":
            object.__setattr__(self, "executor", "dask")
        if self.executor not in EXECUTORS:
            msg = f"executor must be one of {EXECUTORS}; got {self.executor!r}."
            raise ConfigError(msg)
        ints = {"workers": self.workers, "chunksize": self.chunksize}
        if self.max_chunks is not None:
            ints["max_chunks"] = self.max_chunks
        if self.batch_chunks is not None:
            ints["batch_chunks"] = self.batch_chunks
        for key, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{key} must be a positive integer; got {value!r}."
                raise ConfigError(msg)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            msg = f"retries must be an integer >= 0; got {self.retries!r}."
            raise ConfigError(msg)
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            msg = f"timeout must be a number of seconds > 0; got {t!r}."
            raise ConfigError(msg)

    @property
    def timeout_s(self) -> int:
        """``timeout`` as whole seconds (the XRootD client takes an integer)."""
        return max(1, math.ceil(self.timeout))

    @property
    def parallel_workers(self) -> int:
        """Workers actually used (1 for the iterative executor)."""
        return 1 if self.executor == "iterative" else self.workers

    def to_dict(self) -> dict[str, Any]:
        """The settings as recorded in ``run.json`` (``workers`` as actually used)."""
        d = asdict(self)
        d["workers"] = self.parallel_workers
        d.pop("progress")
        return d
