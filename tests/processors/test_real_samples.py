"""Processors on the real NanoAOD samples vs an independent uproot + numpy reference."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.processing.registry import processor_class

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_reference import dimuon_reference, load, ttbar_reference, weights

pytestmark = pytest.mark.realdata

XSEC = {"ttbar_2015": 831.76, "dy": 6077.2}
OPEN_DATA = ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5", "triggers=[]"]
TRIGGERS = ("HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf")


def run(analysis, path, overrides=(), mode="virtual", **meta):
    cfg = load_analysis(analysis, list(overrides))
    proc = processor_class(cfg)(cfg.to_dict())
    metadata = {"dataset": "ds", "filename": str(path), **meta}
    events = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=metadata, mode=mode
    ).events()
    out = proc.process(events)
    return proc, cfg, {**out["ds"], "hists": out["hists"]}


def mc_meta(path, key):
    gw = load(path, ["genWeight"])["genWeight"].astype(np.float64)
    # a dataset "sum of weights" different from this file's, as if the file were one of several
    return {"is_data": False, "xsec": XSEC[key], "sumw": 3.0 * gw.sum(), "label": 0}


def check_cutflow(out, cut_names, ref):
    assert list(out["cutflow"]) == list(cut_names)
    assert [c["events"] for c in out["cutflow"].values()] == ref["events"].tolist()
    np.testing.assert_allclose(
        [c["weighted"] for c in out["cutflow"].values()], ref["weighted"], rtol=1e-9
    )
    h = out["hists"]["cutflow"][{"dataset": "ds"}]
    np.testing.assert_allclose(h.values(), ref["weighted"], rtol=1e-9)


def region_view(out, name, region, process="ds", variation="nominal"):
    return out["hists"][name][{"region": region, "process": process, "variation": variation}]


@pytest.mark.parametrize(
    ("key", "overrides", "branch", "thr"),
    [("ttbar_2015", OPEN_DATA, "Jet_btagCSVV2", 0.5), ("dy", [], "Jet_btagDeepFlavB", 0.2783)],
)
@pytest.mark.filterwarnings("ignore:Dataset 'ds'")
@pytest.mark.parametrize("mode", ["virtual", "eager"])
def test_ttbar_ljets_cutflow_matches_reference(real_sample, key, overrides, branch, thr, mode):
    path = real_sample(key)
    meta = mc_meta(path, key)
    proc, cfg, out = run("ttbar_ljets", path, overrides, mode=mode, **meta)
    assert cfg["btag.threshold"] == thr
    w = weights(load(path, ["genWeight"]), None, False, meta["xsec"], cfg["lumi"], meta["sumw"])
    trig = () if key == "ttbar_2015" else TRIGGERS
    passed, ref, extra = ttbar_reference(path, branch, thr, w, triggers=trig)
    assert out["n_events"] == len(passed)
    check_cutflow(out, proc.cut_names, ref)
    # the table: one row per event passing all cuts, ids and weights of exactly those events
    t = {k: v[0] for k, v in out["table"].items()}
    assert list(t)[: len(proc.feature_spec.names)] == list(proc.feature_spec.names)
    sel = passed[:, -1]
    ids = load(path, ["event"])["event"]
    np.testing.assert_array_equal(t["event"], ids[sel])
    np.testing.assert_allclose(t["weight"], w[sel], rtol=1e-12)
    assert t["weight"].dtype == np.float64 and t["lep_pt"].dtype == np.float32
    np.testing.assert_allclose(t["lep_pt"], extra[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(t["n_jets"], extra[:, 1])
    np.testing.assert_allclose(t["ht"], extra[:, 2], rtol=1e-5)
    # regions: 4j1b (exactly one b-tag) and 4j2b (>= 2), their weighted yields in the ht hists
    for region, in_region in (("4j1b", extra[:, 3] == 1), ("4j2b", extra[:, 3] >= 2)):
        h = region_view(out, "ht", region)
        assert h.sum(flow=True).value == pytest.approx(w[sel][in_region].sum(), rel=1e-9, abs=1e-9)


@pytest.mark.filterwarnings("ignore:Dataset 'ds'")
def test_ttbar_2015_selects_some_events(real_sample):
    # guards against a reference and a processor that agree on "nothing passes"
    path = real_sample("ttbar_2015")
    _, _, out = run("ttbar_ljets", path, OPEN_DATA, **mc_meta(path, "ttbar_2015"))
    counts = [c["events"] for c in out["cutflow"].values()]
    assert counts[0] == counts[1] == counts[2] == 200  # no trigger configured, MC: no lumi mask
    assert counts[2] > counts[3] > counts[4] >= counts[5] >= 1


@pytest.mark.parametrize("key", ["dimuon_data", "dy"])
@pytest.mark.filterwarnings("ignore:Dataset 'ds'")
def test_dimuon_cutflow_and_mass_match_reference(real_sample, key):
    path = real_sample(key)
    if key == "dimuon_data":
        meta = {"is_data": True, "label": -1}
        with uproot.open(path) as f:
            w = np.ones(f["Events"].num_entries)
    else:
        meta = mc_meta(path, key)
    proc, cfg, out = run("dimuon", path, **meta)
    if key == "dy":
        w = weights(load(path, ["genWeight"]), None, False, meta["xsec"], cfg["lumi"], meta["sumw"])
    passed, ref, masses = dimuon_reference(path, w)
    check_cutflow(out, proc.cut_names, ref)
    assert ref["events"][-1] >= 1
    sel = passed[:, -1]
    edges = np.linspace(60, 120, 61)
    vals, _ = np.histogram(masses[sel], bins=edges, weights=w[sel])
    var, _ = np.histogram(masses[sel], bins=edges, weights=w[sel] ** 2)
    assert out["hists"]["mass"].axes["region"][0] == "selected"
    h = region_view(out, "mass", "selected", "data" if key == "dimuon_data" else "ds")
    np.testing.assert_array_equal(h.axes[0].edges, edges)
    np.testing.assert_allclose(h.values(), vals, rtol=1e-6)
    np.testing.assert_allclose(h.variances(), var, rtol=1e-6)
    assert out["table"] == {}


LOOSE = ["muons.pt_min=10.0", "electrons.pt_min=10.0", "electrons.id_min=1", "jets.pt_min=15.0"]


def test_ttbar_ljets_loose_cuts_match_reference(real_sample):
    """Looser cuts (set with --set) select more events; the reference follows the same values."""
    path = real_sample("ttbar_2015")
    proc, _cfg, out = run("ttbar_ljets", path, OPEN_DATA + LOOSE, is_data=True, label=-1)
    _passed, ref, extra = ttbar_reference(
        path, "Jet_btagCSVV2", 0.5, np.ones(200), 10.0, 10.0, 1, 15.0
    )
    check_cutflow(out, proc.cut_names, ref)
    assert ref["events"][-1] > 1  # more than with the default cuts
    # data: process "data", the nominal variation only, no JES/JER passes
    h = out["hists"]["n_jets"]
    assert list(h.axes["process"]) == ["data"] and list(h.axes["variation"]) == ["nominal"]
    assert (
        region_view(out, "n_jets", "4j2b", "data").sum(flow=True).value == (extra[:, 3] >= 2).sum()
    )
    assert (out["table"]["label"][0] == -1).all() and (out["table"]["weight"][0] == 1).all()


def test_dimuon_loose_cuts_match_reference(real_sample):
    path = real_sample("dimuon_data")
    proc, _, out = run("dimuon", path, ["muons.pt_min=3.0", "muons.iso_max=2.0"], is_data=True)
    passed, ref, masses = dimuon_reference(path, np.ones(40), 3.0, 2.0)
    check_cutflow(out, proc.cut_names, ref)
    assert ref["events"][0] > ref["events"][1]  # the trigger removes events here
    vals, _ = np.histogram(masses[passed[:, -1]], bins=np.linspace(60, 120, 61))
    np.testing.assert_allclose(region_view(out, "mass", "selected", "data").values(), vals)
