"""Processor base classes and running them on coffea executors (iterative, futures, Dask).

``run_processor`` and ``RunResult`` (from :mod:`hepml_coffea.processing.runner`) are resolved
lazily so that importing this package does not import coffea.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_processor": "hepml_coffea.processing.runner",
    "RunResult": "hepml_coffea.processing.runner",
    "ExecutionOptions": "hepml_coffea.processing.options",
    "EXECUTORS": "hepml_coffea.processing.options",
    "check_physical": "hepml_coffea.processing.validation",
    "check_finite": "hepml_coffea.processing.validation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
