"""The per-object ML on the real NanoAOD samples, where their branches allow."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.estimators import BDTClassifier, save
from hepml_coffea.features.regression_targets import regression_target
from hepml_coffea.processing.registry import processor_class

OPEN_DATA = ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5", "triggers=[]"]
PROC = "processor=../../processors/ttbar_ml.py:TTbarMLProcessor"
pytestmark = pytest.mark.realdata


def test_regression_target_on_real_jets_equals_loop(nanoaod_dir):
    a = uproot.open(nanoaod_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root")["Events"].arrays(
        ["Jet_pt", "Jet_genJetIdx", "GenJet_pt"]
    )
    t = regression_target(a.Jet_pt, a.Jet_genJetIdx, a.GenJet_pt)
    ref = []
    for pt, gi, gpt in zip(
        a.Jet_pt.tolist(), a.Jet_genJetIdx.tolist(), a.GenJet_pt.tolist(), strict=True
    ):
        ref += [gpt[g] / p if 0 <= g < len(gpt) else np.nan for p, g in zip(pt, gi, strict=True)]
    np.testing.assert_allclose(t, np.array(ref), rtol=1e-6)
    assert np.isfinite(t).sum() > 300 and np.isnan(t).sum() > 0


def test_processor_with_tagger_on_open_data(nanoaod_dir, tmp_path):
    """2015 Open Data: the jet tagger's inputs exist (no Jet_svMass), the χ² assignment runs."""
    rng = np.random.default_rng(0)
    names = ["Jet_pt", "Jet_eta", "Jet_btagCSVV2", "Jet_qgl", "Jet_nConstituents", "Jet_muEF"]
    x = pd.DataFrame(rng.uniform(size=(400, len(names))), columns=names)
    save(BDTClassifier(n_estimators=5).fit(x, x["Jet_btagCSVV2"] > 0.5), tmp_path / "tag")
    fields = '["pt", "eta", "btagCSVV2", "qgl", "nConstituents", "muEF"]'
    cfg = load_analysis(
        "ttbar_ljets",
        [*OPEN_DATA, PROC, f"object_features.jet_tag.model={tmp_path / 'tag'}",
         f"object_features.jet_tag.fields={fields}", "systematics.shapes=[]",
         "systematics.weights=[]"],
    )  # fmt: skip
    proc = processor_class(cfg)(cfg.to_dict())
    path = nanoaod_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = NanoEventsFactory.from_root(
            {str(path): "Events"},
            schemaclass=NanoAODSchema,
            metadata={"dataset": "tt", "filename": str(path), "xsec": 1.0, "sumw": 200.0},
        ).events()
        out = proc.process(events)
    n_sel = out["tt"]["cutflow"]["one_btag"]["events"]
    assert n_sel >= 1
    h = out["hists"]["m_top_had_chi2"][{"variation": "nominal"}]
    # every selected event has >= 4 jets, hence one best permutation each
    assert h[{"region": sum, "process": sum}].sum(flow=True).value == pytest.approx(
        out["tt"]["cutflow"]["one_btag"]["weighted"]
    )
    n_tag = out["hists"]["n_jets_tagged"][{"variation": "nominal"}]
    assert n_tag.sum(flow=True).value == pytest.approx(out["tt"]["cutflow"]["one_btag"]["weighted"])
    assert ak.num(events.Jet, axis=0) == 200
