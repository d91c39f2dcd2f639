"""Offline NanoAOD-schema event generator and coffea filesets.

- :func:`generate` writes ttbar (semileptonic, the signal), W+jets, single top, Drell–Yan and
  pseudo-data as NanoAOD-layout ROOT files plus a ``fileset.json``, the correctionlib
  ``corrections.json`` the pseudo-data agree with, and the pseudo-data's ``golden.json`` and
  ``lumi.csv`` (see docs/generator.md);
- :func:`load_fileset` validates a fileset (generated or real) and returns absolute paths;
- :func:`sum_genweights` gives Σ genWeight of a dataset for the MC normalisation.
"""

from __future__ import annotations

from hepml_coffea.datasets.fileset import load_fileset, sum_genweights
from hepml_coffea.datasets.generator import default_lumi, generate
from hepml_coffea.datasets.processes import (
    ALTERNATIVE_PROCESSES,
    MC_PROCESSES,
    PROCESSES,
    Process,
)

__all__ = [
    "ALTERNATIVE_PROCESSES",
    "MC_PROCESSES",
    "PROCESSES",
    "Process",
    "default_lumi",
    "generate",
    "load_fileset",
    "sum_genweights",
]
