"""The feature registry: named physics features with formula, units, binning and padding.

A feature is a pure function ``f(objects: EventObjects) -> array of shape (n_events,)`` that may
return ``None`` (missing value) where an object it needs is absent. :meth:`Feature.compute` turns
that into a float64 numpy array, replacing ``None`` and non-finite values by the feature's ``pad``
value — the **padding rule** (no NaN ever reaches an estimator):

* quantities that are ≥ 0 when defined (pT, masses, ΔR, HT, MET, MT, scores of b-tag
  discriminators in [0, 1], sphericity, aplanarity) pad with ``-1``;
* pseudorapidities pad with ``-5`` (outside every detector acceptance);
* the neutrino pz pads with ``0``;
* counts (``n_jets``, ``n_bjets``) are always defined.

Pads are chosen outside the physical range so a tree-based model can separate them; a
:class:`~hepml_coffea.features.spec.FeatureSpec` may override them per feature.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ConfigError

FeatureFunc = Callable[[Any], Any]


@dataclass(frozen=True)
class Feature:
    """A registered feature.

    Attributes
    ----------
    name : str
        Registry name (also the table column and histogram name).
    func : callable
        ``func(objects) -> array (n_events,)``, may contain ``None`` for missing objects.
    label : str
        Axis label with units, e.g. ``"Lepton $p_T$ [GeV]"``.
    bins : tuple of (int, float, float)
        Default regular binning ``(n, low, high)``; for integer features ``(n, low, high)`` gives
        an Integer axis from ``low`` to ``high``.
    pad : float
        Value for missing objects.
    unit : str
        ``"GeV"`` or ``""``.
    integer : bool
        Whether the feature is a count (histogrammed on an Integer axis).
    """

    name: str
    func: FeatureFunc
    label: str
    bins: tuple[int, float, float]
    pad: float = -1.0
    unit: str = ""
    integer: bool = False

    @property
    def doc(self) -> str:
        """The formula/definition (the function's docstring)."""
        return (self.func.__doc__ or "").strip()

    def compute(self, objects: Any, pad: float | None = None) -> np.ndarray:
        """Evaluate on ``objects``; returns float64 of shape (n_events,), padded, finite."""
        pad = self.pad if pad is None else pad
        out = self.func(objects)
        if isinstance(out, ak.Array):
            out = ak.to_numpy(ak.fill_none(out, pad), allow_missing=False)
        out = np.array(out, dtype=np.float64)  # a copy: ``out`` may be a shared intermediate
        if out.ndim != 1:
            msg = f"Feature {self.name!r} returned an array of shape {out.shape}; features must be one value per event."
            raise ValueError(msg)
        out[~np.isfinite(out)] = pad
        return out

    def axis(self) -> Any:
        """A ``hist`` axis with the default binning and label."""
        import hist

        n, lo, hi = self.bins
        if self.integer:
            return hist.axis.Integer(int(lo), int(hi), name=self.name, label=self.label)
        return hist.axis.Regular(int(n), float(lo), float(hi), name=self.name, label=self.label)


_REGISTRY: dict[str, Feature] = {}


def register_feature(
    name: str,
    label: str,
    bins: tuple[int, float, float],
    pad: float = -1.0,
    unit: str = "",
    integer: bool = False,
) -> Callable[[FeatureFunc], FeatureFunc]:
    """Decorator registering ``func`` as feature ``name`` (see :class:`Feature`)."""

    def deco(func: FeatureFunc) -> FeatureFunc:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            msg = f"A feature named {name!r} is already registered."
            raise ValueError(msg)
        n, lo, hi = bins
        _REGISTRY[name] = Feature(
            name, func, label, (int(n), float(lo), float(hi)), float(pad), unit, integer
        )
        return func

    return deco


def registered_features() -> dict[str, Feature]:
    """All registered features by name (registration order)."""
    _ensure_library()
    return dict(_REGISTRY)


def get_feature(name: str) -> Feature:
    """The registered feature ``name``.

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the registered ones.
    """
    _ensure_library()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        msg = f"Unknown feature {name!r}.{hint} Registered features: {', '.join(_REGISTRY)}."
        raise ConfigError(msg) from None


def _ensure_library() -> None:
    from hepml_coffea.features import library  # noqa: F401  (registers the built-in features)
