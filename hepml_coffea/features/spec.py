"""FeatureSpec: a declarative, JSON-serialisable list of features → a fixed-order float32 table.

The same spec is written by ``run`` next to the training tables, stored in each model card and
checked at inference (:meth:`FeatureSpec.check_compatible`), so a model never sees columns in a
different order or with a different padding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.features.registry import Feature, get_feature

SPEC_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered list of registered feature names with their pad values.

    Parameters
    ----------
    names : sequence of str
        Registered feature names (see :func:`~hepml_coffea.features.registered_features`), in the
        table's column order.
    pads : mapping of str to float, optional
        Per-feature pad values overriding the registry defaults (see the padding rule in
        :mod:`hepml_coffea.features.registry`).

    Raises
    ------
    ConfigError
        If a name is unknown (the message lists the registered ones), repeated, or a pad is given
        for a feature not in ``names``.
    """

    names: tuple[str, ...]
    pads: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        if not names:
            msg = "A FeatureSpec needs at least one feature name; got an empty list."
            raise ConfigError(msg)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            msg = f"Features listed more than once: {dup}; list each feature once."
            raise ConfigError(msg)
        feats = [get_feature(n) for n in names]  # raises for unknown names
        extra = set(self.pads) - set(names)
        if extra:
            msg = f"Pad values given for features not in the spec: {sorted(extra)}."
            raise ConfigError(msg)
        resolved = {f.name: float(self.pads.get(f.name, f.pad)) for f in feats}
        if not all(np.isfinite(v) for v in resolved.values()):
            msg = f"Pad values must be finite (estimators reject NaN/inf); got {resolved}."
            raise ConfigError(msg)
        object.__setattr__(self, "pads", resolved)

    # -- evaluation ---------------------------------------------------------------------------------
    @property
    def features(self) -> list[Feature]:
        """The registered :class:`Feature` objects, in order."""
        return [get_feature(n) for n in self.names]

    @property
    def n_features(self) -> int:
        return len(self.names)

    def compute_columns(self, objects: Any) -> dict[str, np.ndarray]:
        """Each feature as a float64 array of shape (n_events,), padded, keyed by name, in order."""
        return {f.name: f.compute(objects, self.pads[f.name]) for f in self.features}

    def compute(self, objects: Any) -> np.ndarray:
        """The feature table: float32 array of shape (n_events, n_features), no NaN."""
        cols = self.compute_columns(objects)
        if not cols:
            return np.empty((len(objects), 0), np.float32)
        return np.column_stack(list(cols.values())).astype(np.float32)

    # -- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"version": 1, "dtype": "float32", "features": [{"name", "pad", "label", "unit"}, ...]}``."""
        return {
            "version": SPEC_VERSION,
            "dtype": "float32",
            "features": [
                {"name": f.name, "pad": self.pads[f.name], "label": f.label, "unit": f.unit}
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; also accepts a plain list of names."""
        if isinstance(data, (list, tuple)):
            return cls(tuple(data))
        version = data.get("version")
        if version != SPEC_VERSION:
            msg = f"Feature spec version {version!r} is not supported; this hepml-coffea reads version {SPEC_VERSION}."
            raise ConfigError(msg)
        dtype = data.get("dtype", "float32")
        if dtype != "float32":
            msg = f"Feature spec dtype {dtype!r} is not supported; feature tables are 'float32'."
            raise ConfigError(msg)
        items = data.get("features", [])
        names = tuple(it["name"] if isinstance(it, Mapping) else it for it in items)
        pads = {it["name"]: it["pad"] for it in items if isinstance(it, Mapping) and "pad" in it}
        return cls(names, pads)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_config(cls, features: Iterable[str] | Mapping[str, Any]) -> FeatureSpec:
        """From an analysis config's ``features`` value: a list of names, or a table with
        ``names`` and optional ``pads``."""
        if isinstance(features, Mapping):
            return cls(tuple(features.get("names", ())), dict(features.get("pads", {})))
        return cls(tuple(features))

    def check_compatible(self, other: FeatureSpec, what: str = "the model") -> None:
        """Raise :class:`ModelError` unless ``other`` has the same names, order, pads and dtype.

        ``self`` is the spec the features are computed with (the analysis'), ``other`` the one
        ``what`` (e.g. a model) was trained on. The one-line message names the first difference:
        features missing or unexpected, a feature at another position, or another pad value.
        """
        detail = self._difference(other, what)
        if detail:
            msg = (
                f"The feature spec of {what} differs from the analysis' ({detail}); apply it with "
                "the analysis configuration (features, pads) it was trained with, or re-train it."
            )
            raise ModelError(msg)

    def _difference(self, other: FeatureSpec, what: str) -> str:
        """A short description of the first difference to ``other`` ("" when equal)."""
        missing = [n for n in other.names if n not in self.names]
        extra = [n for n in self.names if n not in other.names]
        if missing or extra:
            return f"missing {missing}, unexpected {extra}"
        for i, (mine, theirs) in enumerate(zip(self.names, other.names, strict=True)):
            if mine != theirs:
                return (
                    f"different order: feature {i} is {theirs!r} in {what} but {mine!r} in the "
                    "analysis"
                )
        for n in self.names:
            if self.pads[n] != other.pads[n]:
                return (
                    f"different pad values: {n!r} pads with {other.pads[n]!r} in {what} but "
                    f"{self.pads[n]!r} in the analysis"
                )
        return ""
