"""The statistical result: HistFactory workspaces from the analysis histograms, and pyhf inference.

- :mod:`~hepml_coffea.statistics.templates` reads ``<observable>/<region>/<process>/<variation>``
  histograms;
- :mod:`~hepml_coffea.statistics.model` builds the pyhf workspace (signal strength, luminosity,
  MC statistics, systematics as normsys + histosys with pruning);
- :mod:`~hepml_coffea.statistics.inference` fits it, and computes the discovery significance,
  the CLs upper limit and the impacts.
"""

from __future__ import annotations

from hepml_coffea.statistics.inference import (
    FitParameters,
    Impact,
    fit_parameters,
    impacts,
    significance,
    upper_limit,
)
from hepml_coffea.statistics.model import FitConfig, PruningEntry, build_workspace
from hepml_coffea.statistics.templates import NOMINAL, Templates, read_templates

__all__ = [
    "NOMINAL",
    "FitConfig",
    "FitParameters",
    "Impact",
    "PruningEntry",
    "Templates",
    "build_workspace",
    "fit_parameters",
    "impacts",
    "read_templates",
    "significance",
    "upper_limit",
]
