"""hepml-coffea: CMS NanoAOD → columnar selection → ML event classification → CMS-style plots.

The top-level import is deliberately light: heavy libraries (coffea, TensorFlow, xgboost)
are imported inside the subpackages that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
