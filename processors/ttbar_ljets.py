"""ttbar lepton+jets processor: one lepton, ≥ 4 jets, ≥ 1 b-tag; features for the classifiers.

Cuts (cumulative): ``all``; ``trigger`` (OR of ``triggers``); ``lumi_mask`` (data: golden JSON);
``one_lepton`` (exactly ``cuts.n_leptons`` selected muon or electron); ``four_jets`` (≥
``cuts.min_jets`` selected jets, cleaned against the selected leptons); ``one_btag`` (≥
``cuts.min_bjets`` of them with ``btag.branch`` ≥ ``btag.threshold``). Extra selection for the
regions: ``two_btags`` (≥ 2 b-tagged jets), so that ``[regions]`` can define the AGC's ``4j1b``
(``!two_btags``) and ``4j2b`` (``two_btags``). The jets and MET are re-made for each JES/JER
variation; leptons once. All cut values and branch names come from
``analyses/ttbar_ljets/config.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from hepml_coffea.features import EventObjects
from hepml_coffea.processing.base import AnalysisProcessor
from hepml_coffea.selection import (
    jets_above,
    leptons,
    read_jets,
    select_electrons,
    select_met,
    select_muons,
)
from hepml_coffea.systematics import ShapeVariation
from hepml_coffea.systematics.shapes import JetShapes


class TTbarLJetsProcessor(AnalysisProcessor):
    """Semileptonic ttbar selection and feature table (see module docstring)."""

    cut_names: ClassVar[tuple[str, ...]] = (
        "all",
        "trigger",
        "lumi_mask",
        "one_lepton",
        "four_jets",
        "one_btag",
    )

    def input_collections(self) -> tuple[str, ...]:
        return ("Muon", "Electron", "Jet", self.config["met"]["branch"])

    def cut_branches(self) -> dict[str, str]:
        c = self.config
        out = {c["btag"]["branch"]: "btag.branch"}
        for table, key in (
            ("muons", "id_branch"),
            ("muons", "iso_branch"),
            ("electrons", "id_branch"),
        ):
            if c[table].get(key):
                out[c[table][key]] = f"{table}.{key}"
        if c["jets"].get("jet_id"):
            out[c["jets"]["id_branch"]] = "jets.id_branch"
        return out

    def select_objects(self, events: Any) -> dict[str, Any]:
        c = self.config
        muons = select_muons(events, c["muons"])
        electrons = select_electrons(events, c["electrons"])
        leps = leptons(muons, electrons)
        is_mc = not (events.metadata or {}).get("is_data", False)
        extra = {f: f"Jet_{f}" for f in self.systematics.object_fields("jets")} if is_mc else {}
        jets = read_jets(events, c["jets"], c["btag"], clean_against=leps, extra=extra)
        met = select_met(events, c["met"]["branch"])
        return {
            "muons": muons,
            "electrons": electrons,
            "leptons": leps,
            "jet_inputs": jets,
            "met": met,
        }

    def vary_objects(
        self,
        events: Any,
        objects: Mapping[str, Any],
        variation: ShapeVariation,
        shapes: JetShapes | None,
    ) -> dict[str, Any]:
        factors = shapes.factors(variation) if shapes is not None else None
        out = dict(objects)
        out["jets"] = jets_above(objects["jet_inputs"], self.config["jets"], factors)
        if shapes is not None:
            out["met"] = shapes.met(factors, objects["met"])
        return out

    def select_events(self, events: Any, objects: Mapping[str, Any]) -> PackedSelection:
        cuts = self.config["cuts"]
        jets = objects["jets"]
        n_b = ak.to_numpy(ak.sum(jets.is_b, axis=1))
        sel = PackedSelection()
        sel.add("all", np.ones(len(events), dtype=bool))
        sel.add("one_lepton", ak.to_numpy(ak.num(objects["leptons"], axis=1) == cuts["n_leptons"]))
        sel.add("four_jets", ak.to_numpy(ak.num(jets, axis=1) >= cuts["min_jets"]))
        sel.add("one_btag", n_b >= cuts["min_bjets"])
        sel.add("two_btags", n_b >= 2)
        return sel

    def feature_objects(self, objects: Mapping[str, Any]) -> EventObjects:
        return EventObjects(objects["leptons"], objects["jets"], objects["met"])
