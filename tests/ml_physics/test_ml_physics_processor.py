"""TTbarMLProcessor: per-object models inside the processor, on a generated ttbar sample."""

from __future__ import annotations

import json
import warnings

import awkward as ak
import numpy as np
import pandas as pd
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.estimators import BDTClassifier, BDTRegressor, save
from hepml_coffea.features.permutations import (
    PERMUTATION_FEATURES,
    event_permutations,
    permutation_matrix,
)
from hepml_coffea.processing.registry import processor_class
from hepml_coffea.workflows.ml_physics_tables import selected

PROC = "processor=../../processors/ttbar_ml.py:TTbarMLProcessor"
TAG_FIELDS = '["pt", "eta", "btagDeepFlavB", "btagCSVV2"]'


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from hepml_coffea.datasets import generate

    out = tmp_path_factory.mktemp("mlgen")
    generate(out, n_events=3000, processes=["ttbar_semilep"], compression="zstd", progress=False)
    fs = json.loads((out / "fileset.json").read_text())
    name = next(k for k in fs if k.startswith("ttbar"))
    path = next(iter(fs[name]["files"]))
    path = str(out / path) if not path.startswith("/") else path
    return name, path, fs[name]["metadata"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny models with the right input names (trained on random data: the wiring is tested)."""
    rng = np.random.default_rng(1)
    out = tmp_path_factory.mktemp("mlmodels")
    x = pd.DataFrame(
        rng.normal(size=(600, len(PERMUTATION_FEATURES))) * 50 + 100,
        columns=list(PERMUTATION_FEATURES),
    )
    save(BDTClassifier(n_estimators=8, random_state=0).fit(x, x["m_top_had"] > 100), out / "asg")
    names = ["Jet_pt", "Jet_eta", "Jet_btagDeepFlavB", "Jet_btagCSVV2"]
    xj = pd.DataFrame(rng.uniform(0, 1, size=(600, 4)), columns=names)
    save(
        BDTClassifier(n_estimators=8, random_state=0).fit(xj, xj["Jet_btagCSVV2"] > 0.5),
        out / "tag",
    )
    save(BDTRegressor(n_estimators=8, random_state=0).fit(xj, np.full(600, 1.25)), out / "reg")
    return out


def _events(sample):
    name, path, meta = sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root(
            {path: "Events"},
            schemaclass=NanoAODSchema,
            metadata={**meta, "dataset": name, "filename": path},
        ).events()


def _proc(overrides):
    cfg = load_analysis("ttbar_ljets", overrides=[PROC, *overrides])
    return processor_class(cfg)(cfg.to_dict())


def test_assignment_one_call_per_variation_and_per_event_reference(sample, models, monkeypatch):
    proc = _proc([f"assignment.model={models / 'asg'}", "systematics.shapes=[]"])
    calls = []
    orig = BDTClassifier.predict_proba

    def counting(self, X):
        calls.append(len(X))
        return orig(self, X)

    monkeypatch.setattr(BDTClassifier, "predict_proba", counting)
    events = _events(sample)
    out = proc.process(events)
    h = out["hists"]["m_top_had"]
    assert [a.name for a in h.axes] == ["region", "process", "variation", "m_top_had"]
    # nominal only (no shape variations configured): one batched call for the whole chunk
    assert len(calls) == 1

    # independent: the selected events one by one, 12 permutations scored per event
    objects = proc.select_objects(events)
    from hepml_coffea.systematics.config import NOMINAL

    vobj = proc.vary_objects(events, objects, NOMINAL, None)
    vobj.update(proc.object_scores(vobj))
    mask = selected(proc, events, vobj)
    fobj = proc.feature_objects(vobj)[mask]
    assert calls[0] == 12 * int(np.sum(ak.num(fobj.jets) >= 4))
    values = proc.object_ml.assignment(fobj)["m_top_had"]
    nominal = h[{"process": "ttbar", "variation": "nominal"}].project("m_top_had")
    w = np.asarray(proc.weights(events, vobj).weight())[mask]
    expected, _ = np.histogram(values, bins=h.axes["m_top_had"].edges, weights=w)
    # regions 4j1b and 4j2b split the selected events: their sum is every selected event
    np.testing.assert_allclose(nominal.values(), expected, rtol=1e-9)
    # the chunk-wide scoring equals scoring each event's 12 permutations on their own
    model = proc.object_ml.asg_model.model
    ref = []
    for i in range(80):
        _, f = event_permutations(fobj[i : i + 1])
        p = orig(model, pd.DataFrame(permutation_matrix(f), columns=list(PERMUTATION_FEATURES)))
        ref.append(f["m_top_had"][int(np.argmax(p[:, 1]))])
    ref = np.array(ref)
    np.testing.assert_allclose(values[:80], ref, rtol=1e-12)
    assert np.isfinite(ref).all() and len(values) > 500


def test_jagged_tag_score_and_regression(sample, models):
    overrides = [
        f"object_features.jet_tag.model={models / 'tag'}",
        f"object_features.jet_tag.fields={TAG_FIELDS}",
        "systematics.shapes=[]",
    ]
    proc = _proc(overrides)
    events = _events(sample)
    objects = proc.select_objects(events)
    from hepml_coffea.systematics.config import NOMINAL

    vobj = proc.vary_objects(events, objects, NOMINAL, None)
    jets = proc.object_scores(vobj)["jets"]
    assert str(jets.tag_score.type).endswith("var * float32")
    assert ak.to_numpy(ak.num(jets.tag_score)).tolist() == ak.to_numpy(ak.num(jets)).tolist()
    # the score of each jet equals the tagger on that jet's raw branches (by its index)
    model = proc.object_ml.tag_model.model
    idx = jets.index
    x = pd.DataFrame(
        {
            n: ak.to_numpy(ak.flatten(events.Jet[f][idx]))
            for n, f in (
                ("Jet_pt", "pt"),
                ("Jet_eta", "eta"),
                ("Jet_btagDeepFlavB", "btagDeepFlavB"),
                ("Jet_btagCSVV2", "btagCSVV2"),
            )
        }
    ).astype(np.float32)
    score = ak.to_numpy(ak.flatten(jets.tag_score))
    scored = np.isfinite(score)
    np.testing.assert_allclose(score[scored], model.predict_proba(x[scored])[:, 1], rtol=1e-6)
    # only jets of events that cannot pass the lepton / jet-count cuts are left unscored
    one_lep = ak.to_numpy(ak.num(vobj["leptons"]) == 1)
    ji = objects["jet_inputs"]
    four = np.bincount(ji.event[ji["keep"]], minlength=ji.n_events) >= 4
    ev_scored = ak.to_numpy(ak.all(~np.isnan(jets.tag_score), axis=1))
    ev_none = ak.to_numpy(ak.all(np.isnan(jets.tag_score), axis=1))
    assert ev_scored[one_lep & four].all() and ev_none[~(one_lep & four)].all()
    assert 0 < (~scored).sum() < len(score)
    mask = selected(proc, events, vobj)
    assert np.isfinite(ak.to_numpy(ak.flatten(jets.tag_score[mask]))).all()
    out = proc.process(events)
    h = out["hists"]["n_jets_tagged"][{"process": "ttbar", "variation": "nominal"}]
    assert h.sum().value > 0

    # regression (constant 1.25) scales the b-tagged jets only, then re-sorts by pT
    proc_r = _proc(
        [
            f"regression.model={models / 'reg'}",
            f"regression.fields={TAG_FIELDS}",
            "systematics.shapes=[]",
        ]
    )
    objs_r = proc_r.select_objects(events)
    vr = proc_r.vary_objects(events, objs_r, NOMINAL, None)
    jr = proc_r.object_scores(vr)["jets"]
    # events that can pass the lepton and jet-count cuts (>= 4 good jets before the pT cut):
    # b jets scaled by 1.25, others not
    ji = objs_r["jet_inputs"]
    n_good = np.bincount(ji.event[ji["keep"]], minlength=ji.n_events)
    can = ak.to_numpy(ak.num(vr["leptons"]) == 1) & (n_good >= 4)
    vj = vr["jets"][can]
    jc = jr[can]
    before = ak.to_numpy(ak.flatten(vj.pt[vj.is_b]))
    after = ak.to_numpy(ak.flatten(jc.pt[jc.is_b]))
    assert len(before) > 500
    np.testing.assert_allclose(np.sort(after), np.sort(before * 1.25), rtol=1e-5)
    np.testing.assert_array_equal(
        np.sort(ak.to_numpy(ak.flatten(jc.pt[~jc.is_b]))),
        np.sort(ak.to_numpy(ak.flatten(vj.pt[~vj.is_b]))),
    )
    # the other events keep their jets
    assert ak.all(jr[~can].pt == vr["jets"][~can].pt)
    assert ak.all(jr.pt[:, :-1] >= jr.pt[:, 1:])


def test_model_with_other_features_is_refused(models):
    from hepml_coffea.errors import ModelError

    with pytest.raises(ModelError, match="fitted on"):
        _proc([f"object_features.jet_tag.model={models / 'asg'}"])


def test_missing_input_branch_is_one_line(sample, tmp_path):
    from hepml_coffea.errors import MissingBranchError

    rng = np.random.default_rng(2)
    names = ["Jet_pt", "Jet_notABranch"]
    x = pd.DataFrame(rng.uniform(size=(200, 2)), columns=names)
    save(BDTClassifier(n_estimators=3).fit(x, x["Jet_pt"] > 0.5), tmp_path / "tag")
    proc = _proc(
        [
            f"object_features.jet_tag.model={tmp_path / 'tag'}",
            'object_features.jet_tag.fields=["pt", "notABranch"]',
        ]
    )
    with pytest.raises(MissingBranchError, match="Jet_notABranch") as err:
        proc.process(_events(sample))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["assignment.n_jets=3"], "n_jets must be at least 4"),
        (["regression.apply_to=none"], "apply_to must be"),
        (["regression.fields=[]", "regression.model=x"], "regression.fields is empty"),
    ],
)
def test_bad_ml_config_is_one_line(overrides, match):
    from hepml_coffea.errors import ConfigError

    with pytest.raises(ConfigError, match=match) as err:
        _proc(overrides)
    assert "\n" not in str(err.value)
