"""CMS-style plots (mplhep) of histograms and evaluation results.

Functions take :mod:`hist` objects and arrays (never processors), draw on ``ax=`` (a new
figure if None) and return the Axes (``data_mc`` returns the main and ratio Axes). Each plot
carries the CMS label; the luminosity argument ``lumi`` is in fb⁻¹.
"""

from __future__ import annotations

from hepml_coffea.plotting.cutflow import cutflow
from hepml_coffea.plotting.diagnostics import (
    confusion_matrix,
    correlation_matrix,
    feature_importance,
    learning_curve,
    significance_scan,
)
from hepml_coffea.plotting.ml import overtraining, roc_curves, score_distributions
from hepml_coffea.plotting.stack import data_mc, poisson_interval
from hepml_coffea.plotting.style import cms_label, new_axes, new_ratio_axes, savefig, use_cms_style

__all__ = [
    "cms_label",
    "confusion_matrix",
    "correlation_matrix",
    "cutflow",
    "data_mc",
    "feature_importance",
    "learning_curve",
    "new_axes",
    "new_ratio_axes",
    "overtraining",
    "poisson_interval",
    "roc_curves",
    "savefig",
    "score_distributions",
    "significance_scan",
    "use_cms_style",
]
