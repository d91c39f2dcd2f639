"""Dimuon (Z → μμ) control processor: data/MC comparison of the dimuon mass on real NanoAOD.

Cuts (cumulative): ``all``; ``trigger`` (OR of ``triggers``); ``lumi_mask`` (data: golden JSON);
``two_muons`` (≥ ``cuts.min_muons`` selected muons); ``opposite_charge`` (the two highest-pT
selected muons); ``mass_window`` (their invariant mass in (``cuts.mass_min``, ``cuts.mass_max``)
GeV). Observable ``mass`` of the events passing all cuts. No ML table, no jet variations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np
from coffea.analysis_tools import PackedSelection

from hepml_coffea.processing.base import AnalysisProcessor, Observable
from hepml_coffea.selection import select_muons


class DimuonProcessor(AnalysisProcessor):
    """Opposite-charge dimuon selection in a Z mass window (see module docstring)."""

    cut_names: ClassVar[tuple[str, ...]] = (
        "all",
        "trigger",
        "lumi_mask",
        "two_muons",
        "opposite_charge",
        "mass_window",
    )

    def input_collections(self) -> tuple[str, ...]:
        return ("Muon",)

    def cut_branches(self) -> dict[str, str]:
        m = self.config["muons"]
        return {m[k]: f"muons.{k}" for k in ("id_branch", "iso_branch") if m.get(k)}

    def select_objects(self, events: Any) -> dict[str, Any]:
        muons = select_muons(events, self.config["muons"])
        lead = ak.pad_none(muons, 2, axis=1)
        mu1, mu2 = lead[:, 0], lead[:, 1]
        return {"muons": muons, "mu1": mu1, "mu2": mu2, "dimuon": mu1 + mu2}

    def select_events(self, events: Any, objects: Mapping[str, Any]) -> PackedSelection:
        cuts = self.config["cuts"]
        mass = objects["dimuon"].mass
        sel = PackedSelection()
        sel.add("all", np.ones(len(events), dtype=bool))
        sel.add("two_muons", ak.to_numpy(ak.num(objects["muons"], axis=1) >= cuts["min_muons"]))
        opp = ak.fill_none(objects["mu1"].charge * objects["mu2"].charge < 0, False)
        sel.add("opposite_charge", ak.to_numpy(opp))
        window = ak.fill_none((mass > cuts["mass_min"]) & (mass < cuts["mass_max"]), False)
        sel.add("mass_window", ak.to_numpy(window))
        return sel

    def observables(
        self, events: Any, objects: Mapping[str, Any], mask: np.ndarray
    ) -> dict[str, Observable]:
        b = self.config["hists"]["mass"]
        axis = hist.axis.Regular(
            int(b["bins"]), b["low"], b["high"], name="mass", label=r"$m_{\mu\mu}$ [GeV]"
        )
        mass = ak.to_numpy(ak.fill_none(objects["dimuon"].mass, np.nan))[mask]
        return {"mass": Observable(axis, mass)}
