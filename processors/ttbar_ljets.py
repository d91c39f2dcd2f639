"""ttbar lepton+jets processor: one lepton, ≥ 4 jets, ≥ 1 b-tag; features for the classifiers.

Cuts (cumulative): ``all``; ``one_lepton`` (exactly ``cuts.n_leptons`` selected muon or electron);
``four_jets`` (≥ ``cuts.min_jets`` selected jets, cleaned against the selected leptons);
``one_btag`` (≥ ``cuts.min_bjets`` of them with ``btag.branch`` ≥ ``btag.threshold``).
All cut values and branch names come from ``analyses/ttbar_ljets/config.toml``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from hepml_coffea.features import EventObjects
from hepml_coffea.processing.base import AnalysisProcessor
from hepml_coffea.selection import (
    leptons,
    select_electrons,
    select_jets,
    select_met,
    select_muons,
)


class TTbarLJetsProcessor(AnalysisProcessor):
    """Semileptonic ttbar selection and feature table (see module docstring)."""

    cut_names: ClassVar[tuple[str, ...]] = ("all", "one_lepton", "four_jets", "one_btag")

    def select_objects(self, events: Any) -> dict[str, Any]:
        c = self.config
        muons = select_muons(events, c["muons"])
        electrons = select_electrons(events, c["electrons"])
        leps = leptons(muons, electrons)
        jets = select_jets(events, c["jets"], c["btag"], clean_against=leps)
        met = select_met(events, c["met"]["branch"])
        return {"leptons": leps, "jets": jets, "met": met}

    def select_events(self, events: Any, objects: dict[str, Any]) -> PackedSelection:
        cuts = self.config["cuts"]
        jets = objects["jets"]
        sel = PackedSelection()
        sel.add("all", np.ones(len(events), dtype=bool))
        sel.add("one_lepton", ak.to_numpy(ak.num(objects["leptons"], axis=1) == cuts["n_leptons"]))
        sel.add("four_jets", ak.to_numpy(ak.num(jets, axis=1) >= cuts["min_jets"]))
        sel.add("one_btag", ak.to_numpy(ak.sum(jets.is_b, axis=1) >= cuts["min_bjets"]))
        return sel

    def feature_objects(self, objects: dict[str, Any]) -> EventObjects:
        return EventObjects(objects["leptons"], objects["jets"], objects["met"])
