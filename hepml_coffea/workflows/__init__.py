"""End-to-end steps that compose the library: run, train, evaluate, apply, plot, demo.

Each step is one function that the CLI calls; they are importable for notebooks and scripts too.
Attributes are resolved lazily so that importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_analysis": "hepml_coffea.workflows.run",
    "apply_models": "hepml_coffea.workflows.apply",
    "train_model": "hepml_coffea.workflows.train",
    "evaluate_models": "hepml_coffea.workflows.evaluate",
    "plot_outputs": "hepml_coffea.workflows.plot",
    "run_demo": "hepml_coffea.workflows.demo",
    "run_fit": "hepml_coffea.workflows.fit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
