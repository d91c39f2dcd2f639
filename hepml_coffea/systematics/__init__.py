"""Systematic variations: weight variations (coffea ``Weights`` from correctionlib and theory
branches) and shape variations of the jets (JES, JER, propagated to MET), declared in the
``[systematics]`` table of an analysis configuration."""

from __future__ import annotations

from hepml_coffea.systematics.config import (
    NOMINAL,
    ShapeVariation,
    SystematicsConfig,
    WeightDef,
)
from hepml_coffea.systematics.jets import (
    FlatJets,
    deterministic_normal,
    jer_factors,
    jes_factors,
    propagate_met,
)
from hepml_coffea.systematics.weights import build_weights, corrections_path, load_corrections

__all__ = [
    "NOMINAL",
    "FlatJets",
    "ShapeVariation",
    "SystematicsConfig",
    "WeightDef",
    "build_weights",
    "corrections_path",
    "deterministic_normal",
    "jer_factors",
    "jes_factors",
    "load_corrections",
    "propagate_met",
]
