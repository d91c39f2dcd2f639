"""The processor contract's hooks: processes, alternative samples, attached scorers (event-level and
multi-class), the observables extension point, the output layout."""

from __future__ import annotations

import hist
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.errors import ConfigError
from hepml_coffea.processing.base import Observable
from hepml_coffea.processing.registry import processor_class

pytestmark = [pytest.mark.realdata, pytest.mark.filterwarnings("ignore:Dataset")]

SETTINGS = ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5", "triggers=[]",
            "muons.pt_min=10.0", "electrons.pt_min=10.0", "electrons.id_min=1", "jets.pt_min=15.0",
            "systematics.jes=0.05", "systematics.jer_resolution=0.1", "systematics.jer_sf=1.1,1.2,1.0",
            "systematics.weights=[]"]  # fmt: skip
META = {"is_data": False, "xsec": 831.76, "sumw": 5.0e7, "label": 1}


def events_of(path, dataset="ttbar_semilep", **meta):
    metadata = {"dataset": dataset, "filename": str(path), **META, **meta}
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=metadata
    ).events()


def make(models=None, cls=None, overrides=()):
    cfg = load_analysis("ttbar_ljets", [*SETTINGS, *overrides])
    return (cls or processor_class(cfg))(cfg.to_dict(), models=models)


class FakeScorer:
    """A scorer of the contract: ht / 1000 (1-D) or three 'classes' (n, 3), counting its calls."""

    def __init__(self, name, spec, classes=None, score_cut=0.1):
        self.name = name
        self.feature_names = list(spec.names)
        self.feature_spec = spec.to_dict()
        self.class_names = classes
        self.score_cut = score_cut
        self.calls: list[int] = []
        self._ht = self.feature_names.index("ht")

    def score(self, X, event=None):
        self.calls.append(len(X))
        s = X[:, self._ht].astype(np.float64) / 1000.0
        if self.class_names is None:
            return s
        return np.column_stack([s, 1 - s, np.full(len(s), 0.5)])


def test_output_layout_processes_and_variations(real_sample):
    out = make().process(events_of(real_sample("ttbar_2015")))
    assert set(out) == {"hists", "ttbar_semilep"}
    assert set(out["ttbar_semilep"]) == {"n_events", "cutflow", "table"}
    h = out["hists"]["m_jjb"]
    assert [a.name for a in h.axes][:3] == ["region", "process", "variation"]
    assert list(h.axes["region"]) == ["4j1b", "4j2b"]
    assert list(h.axes["process"]) == ["ttbar"]  # [processes.ttbar] lists ttbar_semilep
    assert list(h.axes["variation"]) == ["nominal", "JESUp", "JESDown", "JERUp", "JERDown"]
    assert h.storage_type is hist.storage.Weight
    # a dataset not listed anywhere: its metadata "process", else its name
    other = make().process(events_of(real_sample("ttbar_2015"), "my_ds", process="tt_incl"))
    assert list(other["hists"]["m_jjb"].axes["process"]) == ["tt_incl"]


def test_alternative_sample_fills_only_its_variation(real_sample):
    proc = make()
    path = real_sample("ttbar_2015")
    out = proc.process(events_of(path, "ttbar_tune", variation="ttbar_tuneUp"))
    h = out["hists"]["ht"]
    assert list(h.axes["process"]) == ["ttbar"] and list(h.axes["variation"]) == ["ttbar_tuneUp"]
    assert out["ttbar_tune"]["table"] == {}  # never a training row
    nominal = proc.process(events_of(path))["hists"]["ht"][{"variation": "nominal"}]
    np.testing.assert_allclose(h[{"variation": "ttbar_tuneUp"}].values(), nominal.values())


def test_scorers_one_batched_call_per_variation_and_per_class_hists(real_sample):
    spec = make().feature_spec
    binary = FakeScorer("bdt", spec)
    multi = FakeScorer("dnn", spec, classes=["ttbar", "wjets", "other"])
    proc = make(models=[binary, multi])
    out = proc.process(events_of(real_sample("ttbar_2015")))
    assert len(binary.calls) == len(multi.calls) == 5  # nominal, JESUp/Down, JERUp/Down
    table = {k: v[0] for k, v in out["ttbar_semilep"]["table"].items()}
    n_sel = len(table["weight"])
    assert n_sel >= 3 and binary.calls[0] == n_sel
    np.testing.assert_allclose(table["score_bdt"], table["ht"] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(table["score_dnn_wjets"], 1 - table["ht"] / 1000.0, rtol=1e-6)
    for name in ("score_bdt", "score_dnn_ttbar", "score_dnn_wjets", "score_dnn_other"):
        h = out["hists"][name]
        assert set(h.axes["variation"]) == {"nominal", "JESUp", "JESDown", "JERUp", "JERDown"}
    # the score-cut region: all cuts and score >= the model's cut, nominal weights
    assert list(out["hists"]["ht"].axes["region"]) == ["4j1b", "4j2b", "pass_bdt", "pass_dnn"]
    sel = {"region": "pass_bdt", "process": "ttbar", "variation": "nominal"}
    passed = table["score_bdt"] >= 0.1
    assert 0 < passed.sum() < n_sel
    got = out["hists"]["ht"][sel].sum(flow=True).value
    assert got == pytest.approx(table["weight"][passed].sum(), rel=1e-9)
    # a multi-class model has no single score to cut on: its pass region stays empty
    empty = {"region": "pass_dnn", "process": "ttbar", "variation": "nominal"}
    assert out["hists"]["ht"][empty].sum(flow=True).value == 0


def test_observables_extension_point_per_region_and_variation(real_sample):
    base = processor_class(load_analysis("ttbar_ljets", SETTINGS))

    class WithObservable(base):
        def observables(self, events, objects, mask):
            jets = objects["jets"][mask]
            lead = np.asarray(jets.pt[:, 0], dtype=np.float64)
            axis = hist.axis.Regular(40, 0, 400, name="lead_pt", label="lead jet pT")
            return {"lead_pt": Observable(axis, lead)}

    out = make(cls=WithObservable).process(events_of(real_sample("ttbar_2015")))
    h = out["hists"]["lead_pt"]
    table = {k: v[0] for k, v in out["ttbar_semilep"]["table"].items()}
    nominal = h[{"region": sum, "process": "ttbar", "variation": "nominal"}]
    vals, _ = np.histogram(table["jet1_pt"], bins=nominal.axes[0].edges, weights=table["weight"])
    np.testing.assert_allclose(nominal.values(), vals, rtol=1e-6)
    up = h[{"region": sum, "process": "ttbar", "variation": "JESUp"}]
    assert up.sum(flow=True).value != 0 and len(h.axes["variation"]) == 5


def test_observables_setting_limits_the_variation_hists(real_sample):
    proc = make(overrides=['systematics.observables=["ht", "score_*"]'])
    out = proc.process(events_of(real_sample("ttbar_2015")))
    assert len(out["hists"]["ht"].axes["variation"]) == 5
    assert list(out["hists"]["m_jjb"].axes["variation"]) == ["nominal"]


def test_label_may_name_a_class(real_sample):
    out = make().process(events_of(real_sample("ttbar_2015"), label="ttbar"))
    label = out["ttbar_semilep"]["table"]["label"][0]
    assert label.dtype.kind == "U" and len(label) >= 3 and set(label) == {"ttbar"}
    num = make().process(events_of(real_sample("ttbar_2015")))["ttbar_semilep"]["table"]["label"][0]
    assert num.dtype == np.int32 and set(num) == {1}


def test_table_region_selects_the_training_rows(real_sample):
    path = real_sample("ttbar_2015")
    every = make().process(events_of(path))["ttbar_semilep"]["table"]
    only = make(overrides=["table_region=4j2b"]).process(events_of(path))["ttbar_semilep"]["table"]
    n_b = every["n_bjets"][0]
    assert (n_b >= 1).all() and 0 < (n_b >= 2).sum() < len(n_b)
    np.testing.assert_array_equal(only["event"][0], every["event"][0][n_b >= 2])
    np.testing.assert_array_equal(only["weight"][0], every["weight"][0][n_b >= 2])
    with pytest.raises(
        ConfigError, match=r"table_region = 'SR' is not a region.*--set table_region="
    ):
        make(overrides=["table_region=SR"])


class HonestScorer(FakeScorer):
    """Honest weights: 0 for even event numbers (its 'training events'), 2 for odd ones."""

    def honest_weight(self, dataset, run, lumi, event):
        assert dataset == "ttbar_semilep" and len(run) == len(lumi) == len(event)
        return np.where(np.asarray(event) % 2 == 0, 0.0, 2.0)


def test_honest_weights_apply_to_score_hists_and_pass_region_only(real_sample):
    spec = make().feature_spec
    binary = HonestScorer("bdt", spec)
    multi = HonestScorer("dnn", spec, classes=["ttbar", "wjets", "other"])
    multi.signal_column = "score_dnn_wjets"
    out = make(models=[binary, multi]).process(events_of(real_sample("ttbar_2015")))
    table = {k: v[0] for k, v in out["ttbar_semilep"]["table"].items()}
    honest = np.where(table["event"] % 2 == 0, 0.0, 2.0)
    assert 0 < (honest == 0).sum() < len(honest)
    w = table["weight"]
    hists = out["hists"]

    def total(obs, region):
        sel = {"region": region, "process": "ttbar", "variation": "nominal"}
        return hists[obs][sel].sum(flow=True).value

    in_sr = table["n_bjets"] == 1
    assert total("score_bdt", "4j1b") == pytest.approx((w * honest)[in_sr].sum(), rel=1e-9)
    assert total("score_dnn_other", "4j1b") == pytest.approx((w * honest)[in_sr].sum(), rel=1e-9)
    assert total("ht", "4j1b") == pytest.approx(w[in_sr].sum(), rel=1e-9)  # not a score: as is
    passed = table["score_bdt"] >= 0.1
    assert total("ht", "pass_bdt") == pytest.approx((w * honest)[passed].sum(), rel=1e-9)
    # both models' factors once each: score_dnn in pass_bdt
    assert total("score_dnn_ttbar", "pass_bdt") == pytest.approx(
        (w * honest * honest)[passed].sum(), rel=1e-9
    )
    # the multi-class pass region cuts on its signal column (1 - ht/1000 >= 0.1: every event)
    wj = table["score_dnn_wjets"] >= 0.1
    assert wj.all() and total("ht", "pass_dnn") == pytest.approx((w * honest).sum(), rel=1e-9)


def test_score_histogram_range_follows_the_scorer(real_sample):
    """An anomaly score is not a probability: its histogram spans the scorer's score_range, so
    the bulk of the events is not in an overflow bin that is never drawn."""
    spec = make().feature_spec
    wide = FakeScorer("ae", spec)
    wide.score_range = (0.0, 7.5)
    plain = FakeScorer("bdt", spec)
    out = make(models=[wide, plain]).process(events_of(real_sample("ttbar_2015")))
    edges = out["hists"]["score_ae"].axes["score_ae"].edges
    assert (edges[0], edges[-1], len(edges) - 1) == (0.0, 7.5, 50)
    assert tuple(out["hists"]["score_bdt"].axes["score_bdt"].edges[[0, -1]]) == (0.0, 1.0)


def test_score_range_of_an_unbounded_score():
    from hepml_coffea.workflows.train import score_range

    rng = np.random.default_rng(3)
    score = rng.exponential(2.0, 10_000)
    low, high = score_range(score)
    assert low == score.min() and high == pytest.approx(np.quantile(score, 0.995))
    assert np.mean(score > high) == pytest.approx(0.005, abs=1e-3)
    assert score_range(np.array([np.nan, np.inf])) == [0.0, 1.0]
