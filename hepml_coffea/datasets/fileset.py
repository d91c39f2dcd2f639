"""Fileset loading lives in :mod:`hepml_coffea.filesets` (apart from the generator).

Re-exported here so that ``from hepml_coffea.datasets import load_fileset`` keeps working.
"""

from __future__ import annotations

from hepml_coffea.filesets import load_fileset, sum_genweights

__all__ = ["load_fileset", "sum_genweights"]
