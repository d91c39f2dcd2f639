"""The ``[systematics]`` table of an analysis configuration, parsed once into dataclasses.

Example (``analyses/ttbar_ljets/config.toml``; every key can be changed with ``--set``)::

    [systematics]
    corrections = ""        # correctionlib JSON; "" = the dataset metadata's "corrections"
    shapes = ["jes", "jer"] # shape variations re-run per chunk: "jes", "jer"
    jes = "jes_uncertainty" # correctionlib key (abseta, pt) -> relative 1σ, or a number
    jer_resolution = "jer_resolution"  # relative pT resolution: correction (abseta, pt) or number
    jer_sf = "jer_sf"       # JER scale factor: correction (systematic, abseta) or "nom,up,down"
    jer_method = "stochastic"  # "stochastic" or "hybrid" (generator-jet matched, else stochastic)
    met_jet_pt_min = 15.0   # jets above this pT (GeV) enter the MET propagation
    weights = ["pileup", "muon_sf", "scale", "isr", "fsr"]   # weight variations to fill
    observables = ["*"]     # fnmatch patterns of the observables that get variation histograms

    [systematics.definitions.pileup]   # one table per weight name
    kind = "correction"                # a correctionlib correction(systematic, *inputs)
    correction = "pileup_weight"
    branch = "Pileup_nTrueInt"         # event-level input ...
    [systematics.definitions.muon_sf]
    kind = "correction"
    correction = "muon_sf"
    object = "muons"                   # ... or a product over the selected objects,
    inputs = ["abseta", "pt"]          #     with these fields ("abseta" = |eta|);
                                       #     mask = "is_b": only objects with that field true
    [systematics.definitions.isr]
    kind = "index"                     # per-event vector branch of weights relative to nominal
    branch = "PSWeight"
    up = 0
    down = 2
    [systematics.definitions.scale]
    kind = "envelope"                  # up/down = max/min over these entries
    branch = "LHEScaleWeight"
    indices = [0, 1, 3, 5, 7, 8]

Variation names are ``nominal``, ``<name>Up`` and ``<name>Down``: ``JESUp``, ``JERDown``, and the
weight names as written (``pileupUp``, ``isrDown``...).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hepml_coffea.errors import ConfigError

SHAPES = {"jes": "JES", "jer": "JER"}
"""Known shape systematics → the prefix of their variation names."""
KINDS = ("correction", "index", "envelope")


@dataclass(frozen=True)
class WeightDef:
    """How to compute one weight systematic (see the module docstring)."""

    name: str
    kind: str
    correction: str = ""
    branch: str = ""
    object: str = ""
    inputs: tuple[str, ...] = ()
    mask: str = ""
    up: int = 0
    down: int = 0
    indices: tuple[int, ...] = ()


@dataclass(frozen=True)
class ShapeVariation:
    """One pass of the shape loop: ``name`` (``nominal``, ``JESUp``...), systematic and direction."""

    name: str
    systematic: str = ""  # "" (nominal), "jes" or "jer"
    direction: int = 0  # +1 up, -1 down


NOMINAL = ShapeVariation("nominal")


@dataclass(frozen=True)
class SystematicsConfig:
    """The parsed ``[systematics]`` table (empty: no variations, nominal only)."""

    corrections: str = ""
    shapes: tuple[str, ...] = ()
    jes: str | float = 0.0
    jer_resolution: str | float = 0.1
    jer_sf: str | tuple[float, float, float] = (1.0, 1.1, 0.9)
    jer_method: str = "stochastic"
    met_jet_pt_min: float = 15.0
    weights: tuple[WeightDef, ...] = ()
    observables: tuple[str, ...] = ("*",)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SystematicsConfig:
        """Parse ``config["systematics"]`` (absent: no systematics).

        Raises
        ------
        ConfigError
            Naming the key for an unknown shape, a weight without a definition, or a bad kind.
        """
        table = config.get("systematics") or {}
        shapes = tuple(str(s) for s in table.get("shapes", ()))
        for s in shapes:
            if s not in SHAPES:
                msg = (
                    f"systematics.shapes: unknown shape systematic {s!r}; known: {sorted(SHAPES)}."
                )
                raise ConfigError(msg)
        defs = table.get("definitions", {}) or {}
        weights = []
        for name in table.get("weights", ()):
            if name not in defs:
                msg = (
                    f"systematics.weights names {name!r} but there is no [systematics.definitions."
                    f"{name}] table; add one or remove it with --set systematics.weights=[...]."
                )
                raise ConfigError(msg)
            weights.append(_weight_def(str(name), defs[name]))
        return cls(
            corrections=str(table.get("corrections", "")),
            shapes=shapes,
            jes=number_or_key(table.get("jes", 0.0)),
            jer_resolution=number_or_key(table.get("jer_resolution", 0.1)),
            jer_sf=_jer_sf(table.get("jer_sf", (1.0, 1.1, 0.9))),
            jer_method=_jer_method(table.get("jer_method", "stochastic")),
            met_jet_pt_min=float(table.get("met_jet_pt_min", 15.0)),
            weights=tuple(weights),
            observables=tuple(table.get("observables", ("*",))),
        )

    def shape_variations(self) -> list[ShapeVariation]:
        """``nominal`` followed by ``<SHAPE>Up``, ``<SHAPE>Down`` for each configured shape."""
        out = [NOMINAL]
        for s in self.shapes:
            out += [
                ShapeVariation(f"{SHAPES[s]}Up", s, +1),
                ShapeVariation(f"{SHAPES[s]}Down", s, -1),
            ]
        return out

    def weight_variations(self) -> list[str]:
        """``<name>Up``, ``<name>Down`` of every configured weight systematic."""
        return [f"{w.name}{d}" for w in self.weights for d in ("Up", "Down")]

    def varied(self, observable: str) -> bool:
        """Whether ``observable`` gets histograms of the variations (``observables`` patterns)."""
        return any(fnmatch.fnmatchcase(observable, p) for p in self.observables)

    def object_fields(self, obj: str) -> list[str]:
        """Fields of object ``obj`` the weight definitions need beyond pt/eta/abseta."""
        return sorted(
            {
                f
                for w in self.weights
                if w.object == obj
                for f in (*w.inputs, *([w.mask] if w.mask else []))
                if f not in ("pt", "eta", "abseta", "phi", "mass", "is_b", "btag")
            }
        )


def number_or_key(value: Any) -> str | float:
    """A number (also given as a string, e.g. by ``--set``) or the name of a correction."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return str(value)


def _jer_sf(value: Any) -> str | tuple[float, float, float]:
    """``jer_sf``: a correction name, or three numbers (nominal, up, down) as a list or "a,b,c"."""
    if isinstance(value, str):
        parts = value.strip("[] ").split(",")
        if len(parts) == 1:
            return value
        value = parts
    try:
        nom, up, down = (float(v) for v in value)
    except (TypeError, ValueError):
        msg = f"systematics.jer_sf must name a correction or give 3 numbers (nominal, up, down); got {value!r}."
        raise ConfigError(msg) from None
    return (nom, up, down)


def _jer_method(value: Any) -> str:
    if value not in ("stochastic", "hybrid"):
        msg = f"systematics.jer_method must be 'stochastic' or 'hybrid'; got {value!r}."
        raise ConfigError(msg)
    return str(value)


def _weight_def(name: str, d: Mapping[str, Any]) -> WeightDef:
    kind = str(d.get("kind", ""))
    key = f"systematics.definitions.{name}"
    if kind not in KINDS:
        msg = f"{key}.kind must be one of {list(KINDS)}; got {kind!r}."
        raise ConfigError(msg)
    if name.endswith(("Up", "Down")):
        msg = f"{key}: a weight name must not end in Up/Down (the variations get those suffixes)."
        raise ConfigError(msg)
    need = {
        "correction": ("correction",),
        "index": ("branch", "up", "down"),
        "envelope": ("branch", "indices"),
    }
    for k in need[kind]:
        if k not in d:
            msg = f"{key} (kind {kind!r}) needs the key {k!r}."
            raise ConfigError(msg)
    if kind == "correction" and bool(d.get("branch")) == bool(d.get("object")):
        msg = f"{key}: give either 'branch' (an event-level input) or 'object' + 'inputs'."
        raise ConfigError(msg)
    return WeightDef(
        name=name,
        kind=kind,
        correction=str(d.get("correction", "")),
        branch=str(d.get("branch", "")),
        object=str(d.get("object", "")),
        inputs=tuple(str(i) for i in d.get("inputs", ())),
        mask=str(d.get("mask", "")),
        up=int(d.get("up", 0)),
        down=int(d.get("down", 0)),
        indices=tuple(int(i) for i in d.get("indices", ())),
    )
