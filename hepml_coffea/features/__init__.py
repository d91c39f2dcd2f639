"""Physics features as registered pure functions, and the declarative :class:`FeatureSpec`."""

from __future__ import annotations

from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.registry import (
    Feature,
    get_feature,
    register_feature,
    registered_features,
)
from hepml_coffea.features.spec import SPEC_VERSION, FeatureSpec

__all__ = [
    "SPEC_VERSION",
    "EventObjects",
    "Feature",
    "FeatureSpec",
    "get_feature",
    "register_feature",
    "registered_features",
]
