"""CMS-style plots (mplhep) of histograms and evaluation results.

Functions take :mod:`hist` objects and arrays (never processors, and they compute no
statistics: those come from :mod:`hepml_coffea.evaluation`), draw on ``ax=`` (a new figure if
None) and return the Axes (``data_mc`` returns the main and ratio Axes). Each plot carries the
CMS label: ``lumi`` in fb⁻¹ (shown in pb⁻¹ below 1 fb⁻¹), ``status`` (the text after "CMS")
and ``com`` (√s in TeV); see :class:`LabelOptions`.
"""

from __future__ import annotations

from hepml_coffea.plotting.cutflow import cutflow
from hepml_coffea.plotting.diagnostics import (
    class_metrics,
    confusion_matrix,
    correlation_matrix,
    feature_importance,
    learning_curve,
    response_resolution,
    significance_scan,
)
from hepml_coffea.plotting.ml import overtraining, roc_curves, score_distributions
from hepml_coffea.plotting.stack import data_mc, hist_arrays, poisson_interval
from hepml_coffea.plotting.style import (
    LabelOptions,
    cms_label,
    format_lumi,
    legend_headroom,
    new_axes,
    new_ratio_axes,
    savefig,
    use_cms_style,
)

__all__ = [
    "LabelOptions",
    "class_metrics",
    "cms_label",
    "confusion_matrix",
    "correlation_matrix",
    "cutflow",
    "data_mc",
    "feature_importance",
    "format_lumi",
    "hist_arrays",
    "learning_curve",
    "legend_headroom",
    "new_axes",
    "new_ratio_axes",
    "overtraining",
    "poisson_interval",
    "response_resolution",
    "roc_curves",
    "savefig",
    "score_distributions",
    "significance_scan",
    "use_cms_style",
]
