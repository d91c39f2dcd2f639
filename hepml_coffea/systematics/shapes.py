"""Per-chunk driver of the jet shape variations: reads the jets once, gives factors per variation."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.systematics.config import ShapeVariation, SystematicsConfig
from hepml_coffea.systematics.jets import (
    FlatJets,
    Lookup,
    jer_factors,
    jes_factors,
    propagate_met,
)
from hepml_coffea.systematics.weights import correction, corrections_path, load_corrections

JER_SEED = 0x4A4552  # "JER": the seed of the deterministic smearing of unmatched jets


def _gen_pt(events: Any, counts: np.ndarray) -> np.ndarray:
    """pT of each jet's matched GenJet (NaN where unmatched or without generator information)."""
    n_jets = int(counts.sum())
    if "GenJet" not in events.fields or "genJetIdx" not in events.Jet.fields:
        return np.full(n_jets, np.nan)
    idx = ak.to_numpy(ak.flatten(events.Jet.genJetIdx, axis=1)).astype(np.int64)
    gen_counts = ak.to_numpy(ak.num(events.GenJet.pt, axis=1)).astype(np.int64)
    gen_pt = ak.to_numpy(ak.flatten(events.GenJet.pt, axis=1)).astype(np.float64)
    gen_start = np.cumsum(gen_counts) - gen_counts
    ev = np.repeat(np.arange(len(counts)), counts)
    ok = (idx >= 0) & (idx < gen_counts[ev])
    out = np.full(n_jets, np.nan)
    out[ok] = gen_pt[gen_start[ev[ok]] + idx[ok]]
    return out


class JetShapes:
    """The jet energy variations of one chunk (MC only).

    Parameters
    ----------
    events : NanoEventsArray
        One chunk; the ``Jet`` collection (pt, eta, phi; ``genJetIdx`` and ``GenJet`` if present),
        ``run`` and ``event`` are read once.
    syst : SystematicsConfig
    meta : mapping
        ``events.metadata`` (finds the correctionlib file).
    """

    def __init__(self, events: Any, syst: SystematicsConfig, meta: Mapping[str, Any]) -> None:
        self.syst = syst
        jet = events.Jet
        counts = ak.to_numpy(ak.num(jet.pt, axis=1)).astype(np.int64)
        self.jets = FlatJets(
            pt=ak.to_numpy(ak.flatten(jet.pt, axis=1)).astype(np.float64),
            eta=ak.to_numpy(ak.flatten(jet.eta, axis=1)).astype(np.float64),
            phi=ak.to_numpy(ak.flatten(jet.phi, axis=1)).astype(np.float64),
            counts=counts,
            run=ak.to_numpy(events.run),
            event=ak.to_numpy(events.event),
            gen_pt=_gen_pt(events, counts)
            if "jer" in syst.shapes and syst.jer_method == "hybrid"
            else np.full(int(counts.sum()), np.nan),
        )
        self._meta = dict(meta)
        self._cache: dict[str, np.ndarray | None] = {}

    def _lookup(self, value: str | float, key: str) -> Lookup | None:
        """``(abseta, pt) -> value``; None (with a warning) if the correction file is missing."""
        if isinstance(value, (int, float)):
            const = float(value)
            return lambda abseta, pt: np.full(len(pt), const)
        path = corrections_path(self.syst, self._meta)
        if path is None:
            msg = (
                f"Dataset {self._meta.get('dataset', '?')!r}: systematics.{key} = {value!r} names a "
                f"correctionlib correction but no correctionlib file is given, so this variation "
                f"equals the nominal; give one with --set systematics.corrections=<path.json> or a "
                f"number, e.g. --set systematics.{key}=0.02."
            )
            warnings.warn(msg, stacklevel=3)
            return None
        corr = correction(load_corrections(path), str(value), path)
        return lambda abseta, pt: np.asarray(corr.evaluate(abseta, pt), dtype=np.float64)

    def _jer_sf(self, direction: int) -> np.ndarray | None:
        """Per-jet JER scale factor (nominal 0, up +1, down -1); None if unavailable."""
        value = self.syst.jer_sf
        if isinstance(value, tuple):
            return np.full(len(self.jets.pt), value[{0: 0, 1: 1, -1: 2}[direction]])
        path = corrections_path(self.syst, self._meta)
        if path is None:
            self._lookup(value, "jer_sf")  # warns
            return None
        corr = correction(load_corrections(path), value, path)
        syst = {0: "nominal", 1: "up", -1: "down"}[direction]
        return np.asarray(corr.evaluate(syst, np.abs(self.jets.eta)), dtype=np.float64)

    def _jer(self, direction: int) -> np.ndarray | None:
        key = f"jer{direction}"
        if key not in self._cache:
            sf = self._jer_sf(direction)
            res = self._lookup(self.syst.jer_resolution, "jer_resolution")
            hybrid = self.syst.jer_method == "hybrid"
            self._cache[key] = (
                None
                if sf is None or res is None
                else jer_factors(self.jets, res, sf, seed=JER_SEED, hybrid=hybrid)
            )
        return self._cache[key]

    def factors(self, variation: ShapeVariation) -> np.ndarray | None:
        """Per-jet pT/mass factors of ``variation`` (None: the jets as reconstructed).

        With JER configured, every pass smears: the nominal and the JES passes with the nominal
        scale factor, ``JERUp``/``JERDown`` with theirs.
        """
        nominal = self._jer(0) if "jer" in self.syst.shapes else None
        if variation.systematic == "jer":
            return self._jer(variation.direction)
        if variation.systematic != "jes":
            return nominal
        if variation.name not in self._cache:
            unc = self._lookup(self.syst.jes, "jes")
            if unc is None:
                self._cache[variation.name] = nominal
            else:
                base = np.ones(len(self.jets.pt)) if nominal is None else nominal
                smeared = FlatJets(**{**self.jets.__dict__, "pt": self.jets.pt * base})
                f = base * jes_factors(smeared, unc, variation.direction)
                self._cache[variation.name] = f
        return self._cache[variation.name]

    def met(self, factors: np.ndarray | None, met: ak.Array) -> ak.Array:
        """MET records ``pt, phi`` with the jet variation propagated (unchanged for None)."""
        if factors is None:
            return met
        pt, phi = propagate_met(
            self.jets,
            factors,
            ak.to_numpy(met.pt),
            ak.to_numpy(met.phi),
            self.syst.met_jet_pt_min,
        )
        return ak.zip({"pt": pt.astype(np.float32), "phi": phi.astype(np.float32)})
