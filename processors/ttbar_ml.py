"""ttbar lepton+jets with the per-object models: jet tagger, b-jet regression, jet–parton assignment.

The selection, features and outputs of :class:`TTbarLJetsProcessor`, plus what the configuration
tables ``[object_features.jet_tag]``, ``[regression]`` and ``[assignment]`` attach (see
:mod:`hepml_coffea.processing.object_ml`), in every shape variation:

* the selected jets carry the tagger's jagged ``tag_score`` and, with a regressor, the regressed
  pT (the selection, m_jjb, m_top_lep... then use the regressed jets). Both models are called
  once per chunk on the nominal jets (every variation carries the same score and factor), for
  the jets of events with ``cuts.n_leptons`` leptons and at least ``cuts.min_jets`` good jets
  before the pT cut (the others cannot pass the selection; their score is NaN);
* observables ``m_top_had``, ``m_w_had``, ``pt_top_had`` of the assignment BDT's best
  permutation, their χ²-baseline twins ``*_chi2`` and ``n_jets_tagged``, histogrammed per
  region, process and variation like every observable.

Use it with ``--set processor=../../processors/ttbar_ml.py:TTbarMLProcessor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.processing.base import Observable
from hepml_coffea.processing.object_ml import ObjectML
from hepml_coffea.processing.registry import import_by_path

TTbarLJetsProcessor = import_by_path(Path(__file__).with_name("ttbar_ljets.py")).TTbarLJetsProcessor


class TTbarMLProcessor(TTbarLJetsProcessor):  # type: ignore[misc,valid-type]
    """:class:`TTbarLJetsProcessor` with the per-object models of the configuration."""

    def __init__(self, config: Any, models: Any = None) -> None:
        super().__init__(config, models)
        self.object_ml = ObjectML(self.config)

    def select_objects(self, events: Any) -> dict[str, Any]:
        objects = super().select_objects(events)
        jets = self.object_ml.add_inputs(events, objects["jet_inputs"])
        # one model call per chunk: the jets of events that can pass the lepton and jet-count
        # cuts (jets that pass the kinematic cuts in some variation are among them)
        cuts = self.config["cuts"]
        n_ok = np.bincount(jets.event[jets["keep"]], minlength=jets.n_events)
        one_lep = ak.to_numpy(ak.num(objects["leptons"], axis=1) == cuts["n_leptons"])
        rows = jets["keep"] & (one_lep & (n_ok >= cuts["min_jets"]))[jets.event]
        objects["jet_inputs"] = self.object_ml.score_jets(jets, rows)
        return objects

    def object_scores(self, objects: Mapping[str, Any]) -> dict[str, Any]:
        return {"jets": self.object_ml.regress(objects["jets"])}

    def observables(
        self, events: Any, objects: Mapping[str, Any], mask: np.ndarray
    ) -> dict[str, Observable]:
        out = dict(super().observables(events, objects, mask))
        fobj = self.feature_objects(objects)
        for name, (axis, values) in self.object_ml.observables(fobj[mask]).items():
            out[name] = Observable(axis, values)
        return out
