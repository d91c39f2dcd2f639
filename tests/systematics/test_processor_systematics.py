"""Regions × processes × variations of the ttbar processor on the real 2015 sample, against
independent uproot + numpy + correctionlib computations."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import awkward as ak
import correctionlib
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.errors import MissingBranchError
from hepml_coffea.processing.registry import processor_class

sys.path.insert(0, str(Path(__file__).parents[1] / "processors"))
sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_reference import load, ttbar_reference
from syst_corrections import BTAG, JES, MUON_SF, PU, PU_EDGES, jes_unc

pytestmark = [pytest.mark.realdata, pytest.mark.filterwarnings("ignore:Dataset")]

OPEN_DATA = ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5", "triggers=[]"]
LOOSE = ["muons.pt_min=10.0", "electrons.pt_min=10.0", "electrons.id_min=1", "jets.pt_min=15.0"]
XSEC, SUMW, N = 831.76, 5.0e7, 200


def make(overrides=(), models=None):
    cfg = load_analysis("ttbar_ljets", [*OPEN_DATA, *LOOSE, *overrides])
    return processor_class(cfg)(cfg.to_dict(), models=models), cfg


def events_of(path, start=0, stop=None, **meta):
    metadata = {"dataset": "ttbar_semilep", "filename": str(path), "is_data": False, "xsec": XSEC,
                "sumw": SUMW, "label": 1, **meta}  # fmt: skip
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=metadata,
        entry_start=start, entry_stop=stop,
    ).events()  # fmt: skip


def yield_of(out, obs, region, variation, process="ttbar"):
    h = out["hists"][obs][{"region": region, "process": process, "variation": variation}]
    return h.sum(flow=True).value


def ref(path, lumi, jet_scale=None):
    w = load(path, ["genWeight"])["genWeight"].astype(np.float64) * XSEC * lumi / SUMW
    args = (path, "Jet_btagCSVV2", 0.5, w, 10.0, 10.0, 1, 15.0)
    return w, *ttbar_reference(*args, jet_scale=jet_scale)


@pytest.mark.parametrize("jes", ["jes_uncertainty", "0.3"])
def test_jes_up_down_yields_and_values_by_hand(real_sample, corrections_file, jes):
    """JES from the correctionlib file (2% / 4%) or a configured number (30%: moves events)."""
    path = real_sample("ttbar_2015")
    proc, cfg = make([f"systematics.corrections={corrections_file}", 'systematics.shapes=["jes"]',
                      "systematics.weights=[]", f"systematics.jes={jes}"])  # fmt: skip
    out = proc.process(events_of(path))
    jets = load(path, ["Jet_eta"])["Jet_eta"]
    unc = (lambda eta: float(jes_unc(abs(eta)))) if jes == "jes_uncertainty" else (lambda eta: 0.3)
    for variation, sign in (("nominal", 0), ("JESUp", 1), ("JESDown", -1)):
        scale = lambda i, pt, eta, s=sign: 1 + s * unc(eta)  # noqa: E731
        w, passed, _cw, extra = ref(path, cfg["lumi"], scale)
        sel = passed[:, -1]
        for region, in_region in (("4j1b", extra[:, 3] == 1), ("4j2b", extra[:, 3] >= 2)):
            got = yield_of(out, "ht", region, variation)
            assert got == pytest.approx(w[sel][in_region].sum(), rel=1e-9, abs=1e-6)
        h = out["hists"]["ht"][{"region": sum, "process": "ttbar", "variation": variation}]
        vals, _ = np.histogram(extra[:, 2], bins=h.axes[0].edges, weights=w[sel])
        np.testing.assert_allclose(h.values(), vals, rtol=1e-9, atol=1e-6)
    if jes == "jes_uncertainty":
        return
    # the variations move the values (ht) of the selected events
    hts = {
        v: out["hists"]["ht"][{"region": sum, "process": "ttbar", "variation": v}].values()
        for v in ("nominal", "JESUp", "JESDown")
    }
    assert not np.array_equal(hts["nominal"], hts["JESUp"])
    assert not np.array_equal(hts["nominal"], hts["JESDown"])
    assert JES == (0.02, 0.04) and len(jets) == N


def test_met_is_propagated_with_jes(real_sample, corrections_file):
    path = real_sample("ttbar_2015")
    proc, cfg = make([f"systematics.corrections={corrections_file}", 'systematics.shapes=["jes"]',
                      "systematics.weights=[]", "systematics.jes=0.3"])  # fmt: skip
    out = proc.process(events_of(path))
    d = load(path, ["Jet_pt", "Jet_eta", "Jet_phi", "MET_pt", "MET_phi"])
    met = []
    for i in range(N):
        px, py = d["MET_pt"][i] * np.cos(d["MET_phi"][i]), d["MET_pt"][i] * np.sin(d["MET_phi"][i])
        for pt, _eta, phi in zip(d["Jet_pt"][i], d["Jet_eta"][i], d["Jet_phi"][i], strict=True):
            if pt > 15.0:
                dpt = 0.3 * pt
                px, py = px - dpt * np.cos(phi), py - dpt * np.sin(phi)
        met.append(np.hypot(px, py))
    scale = lambda i, pt, eta: 1.3  # noqa: E731
    w, passed, _, _ = ref(path, cfg["lumi"], scale)
    sel = passed[:, -1]
    h = out["hists"]["met"][{"region": sum, "process": "ttbar", "variation": "JESUp"}]
    vals, _ = np.histogram(np.array(met)[sel], bins=h.axes[0].edges, weights=w[sel])
    np.testing.assert_allclose(h.values(), vals, rtol=1e-6, atol=1e-6)
    nominal = out["hists"]["met"][{"region": sum, "process": "ttbar", "variation": "nominal"}]
    assert not np.allclose(nominal.values(), h.values())


def test_weights_up_down_equal_correctionlib(real_sample, corrections_file):
    path = real_sample("ttbar_2015")
    # this file has no muon ID (Muon_tightId is all 0): select muons without it here
    proc, cfg = make([f"systematics.corrections={corrections_file}", "systematics.shapes=[]",
                      "muons.id_branch="])  # fmt: skip
    events = events_of(path)
    nominal = proc.systematics.shape_variations()[0]
    objects = proc.vary_objects(events, proc.select_objects(events), nominal, None)
    weights = proc.weights(events, objects)
    cset = correctionlib.CorrectionSet.from_file(str(corrections_file))
    d = load(path, ["genWeight", "Pileup_nTrueInt", "Muon_pt", "Muon_eta", "Muon_pfRelIso04_all",
                    "Electron_pt", "Electron_eta", "Electron_cutBased", "LHEScaleWeight"])  # fmt: skip
    norm = d["genWeight"].astype(np.float64) * XSEC * cfg["lumi"] / SUMW
    # lepton SFs: products over the selected muons (pT > 10, |eta| < 2.4, iso < 0.15) and
    # electrons (pT > 10, |eta| < 2.5, cutBased >= 1)
    mu = {s: np.ones(N) for s in ("nominal", "up", "down")}
    el = {s: np.ones(N) for s in ("nominal", "up", "down")}
    for i in range(N):
        for pt, eta, iso in zip(d["Muon_pt"][i], d["Muon_eta"][i], d["Muon_pfRelIso04_all"][i], strict=True):  # fmt: skip
            if pt > 10 and abs(eta) < 2.4 and iso < 0.15:
                for s in mu:
                    mu[s][i] *= MUON_SF[s][0 if abs(eta) < 1.2 else 1]
        for pt, eta, cb in zip(d["Electron_pt"][i], d["Electron_eta"][i], d["Electron_cutBased"][i], strict=True):  # fmt: skip
            if pt > 10 and abs(eta) < 2.5 and cb >= 1:
                for s in el:
                    el[s][i] *= {"nominal": 0.96, "up": 0.97, "down": 0.95}[s]
    pu = {s: np.asarray(PU[s])[np.digitize(d["Pileup_nTrueInt"], PU_EDGES[1:-1])] for s in PU}
    np.testing.assert_allclose(pu["up"], cset["pileup_weight"].evaluate("up", d["Pileup_nTrueInt"]))
    assert (mu["nominal"] != 1).sum() > 10 and (el["nominal"] != 1).sum() > 10
    w0 = weights.weight()
    np.testing.assert_allclose(
        weights.weight("muon_sfUp") / w0, mu["up"] / mu["nominal"], rtol=1e-12
    )
    np.testing.assert_allclose(
        weights.weight("muon_sfDown") / w0, mu["down"] / mu["nominal"], rtol=1e-12
    )
    np.testing.assert_allclose(
        weights.weight("electron_sfUp") / w0, el["up"] / el["nominal"], rtol=1e-12
    )
    np.testing.assert_allclose(
        weights.weight("pileupUp") / w0, pu["up"] / pu["nominal"], rtol=1e-12
    )
    np.testing.assert_allclose(
        weights.weight("pileupDown") / w0, pu["down"] / pu["nominal"], rtol=1e-12
    )
    # theory: LHEScaleWeight envelope over entries 0, 1, 3, 5, 7, 8
    lhe = np.stack(list(d["LHEScaleWeight"]))[:, [0, 1, 3, 5, 7, 8]]
    np.testing.assert_allclose(weights.weight("scaleUp") / w0, lhe.max(1), rtol=1e-6)
    np.testing.assert_allclose(weights.weight("scaleDown") / w0, lhe.min(1), rtol=1e-6)
    # PSWeight has 1 entry in this file: ISR/FSR equal the nominal (with a warning)
    np.testing.assert_array_equal(weights.weight("isrUp"), w0)
    # b-tag SF: product over the selected b-tagged jets of their flavour's SF (nominal 1)
    jets = objects["jets"]
    flav, tagged = ak.to_list(jets.hadronFlavour), ak.to_list(jets.btag >= 0.5)
    assert sum(sum(t) for t in tagged) > 20 and sum(len(f) for f in flav) > sum(
        sum(t) for t in tagged
    )
    b_up = np.array(
        [
            np.prod([BTAG["up"][f] for f, t in zip(fl, tg, strict=True) if t])
            for fl, tg in zip(flav, tagged, strict=True)
        ]
    )
    np.testing.assert_allclose(weights.weight("btag_sfUp") / w0, b_up, rtol=1e-12)
    # nominal = norm × pileup × muon SF × electron SF × b-tag SF (1)
    np.testing.assert_allclose(w0, norm * pu["nominal"] * mu["nominal"] * el["nominal"], rtol=1e-12)


def test_every_weight_variation_is_filled_in_every_region(real_sample, corrections_file):
    path = real_sample("ttbar_2015")
    proc, cfg = make([f"systematics.corrections={corrections_file}", "systematics.shapes=[]"])
    events = events_of(path)
    out = proc.process(events)
    nominal = proc.systematics.shape_variations()[0]
    weights = proc.weights(events, proc.vary_objects(events, proc.select_objects(events), nominal, None))  # fmt: skip
    _w, passed, _, extra = ref(path, cfg["lumi"])
    sel = passed[:, -1]
    assert sel.sum() >= 3
    for region, in_region in (("4j1b", extra[:, 3] == 1), ("4j2b", extra[:, 3] >= 2)):
        for var in ("nominal", "electron_sfUp", "pileupDown", "btag_sfUp", "scaleUp"):
            wv = weights.weight(None if var == "nominal" else var)[sel][in_region]
            assert yield_of(out, "ht", region, var) == pytest.approx(wv.sum(), rel=1e-9)
    assert yield_of(out, "ht", "4j1b", "btag_sfUp") != pytest.approx(yield_of(out, "ht", "4j1b", "nominal"))  # fmt: skip
    variations = set(out["hists"]["ht"].axes["variation"])
    assert variations == {"nominal"} | set(proc.systematics.weight_variations())


def test_jer_same_event_same_smearing_across_chunkings(real_sample, corrections_file):
    path = real_sample("ttbar_2015")
    proc, _ = make([f"systematics.corrections={corrections_file}", "systematics.weights=[]"])
    whole = proc.process(events_of(path))["hists"]["ht"]
    parts = [proc.process(events_of(path, a, b))["hists"]["ht"] for a, b in ((0, 70), (70, 200))]
    for var in ("nominal", "JERUp", "JERDown", "JESUp"):
        sel = {"process": "ttbar", "variation": var}
        np.testing.assert_allclose(
            whole[sel].values(), parts[0][sel].values() + parts[1][sel].values(), rtol=1e-12
        )
    # the nominal is smeared (scale factor 1.1), JERDown (1.0) is not: it equals the plain reco
    plain, _ = make([f"systematics.corrections={corrections_file}", "systematics.weights=[]",
                     'systematics.shapes=["jes"]'])  # fmt: skip
    reco = plain.process(events_of(path))["hists"]["ht"][
        {"process": "ttbar", "variation": "nominal"}
    ]
    np.testing.assert_allclose(
        whole[{"process": "ttbar", "variation": "JERDown"}].values(), reco.values()
    )
    assert not np.allclose(
        whole[{"process": "ttbar", "variation": "nominal"}].values(), reco.values()
    )


def test_lumi_mask_and_lumi_sections_vs_numpy(real_sample, tmp_path):
    path = real_sample("ttbar_2015")
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps({"1": [[2272915, 2272916], [2272919, 2272919]]}))
    proc, cfg = make([f"lumi_mask={golden}"])
    out = proc.process(events_of(path, is_data=True, label=-1))["ttbar_semilep"]
    ids = load(path, ["luminosityBlock"])["luminosityBlock"]
    good = np.isin(ids, [2272915, 2272916, 2272919])
    _, passed, _, _ = ref(path, cfg["lumi"])
    passed[:, 2:] &= good[:, None]
    assert [c["events"] for c in out["cutflow"].values()] == passed.sum(0).tolist()
    assert out["cutflow"]["lumi_mask"]["events"] == 34 + 45 + 45
    assert out["lumi_sections"] == {(1, 2272915), (1, 2272916), (1, 2272919)}
    # simulation is never lumi-masked
    mc = proc.process(events_of(path))["ttbar_semilep"]
    assert mc["cutflow"]["lumi_mask"]["events"] == N and "lumi_sections" not in mc


def test_trigger_or_cutflow_and_missing_trigger(real_sample):
    path = real_sample("dy")
    cfg = load_analysis("ttbar_ljets", ['triggers=["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"]'])
    proc = processor_class(cfg)(cfg.to_dict())
    out = proc.process(events_of(path))["ttbar_semilep"]
    with uproot.open(path) as f:
        t = f["Events"].arrays(["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"], library="np")
    n_trig = int((t["HLT_IsoMu24"] | t["HLT_Ele32_WPTight_Gsf"]).sum())
    assert 0 < n_trig < 40 and out["cutflow"]["trigger"]["events"] == n_trig
    assert n_trig > int(t["HLT_IsoMu24"].sum())  # the OR takes electrons too
    # per dataset: metadata "triggers" wins over the configuration
    only_mu = proc.process(events_of(path, triggers=["HLT_IsoMu24"]))["ttbar_semilep"]
    assert only_mu["cutflow"]["trigger"]["events"] == int(t["HLT_IsoMu24"].sum())
    cfg = load_analysis("ttbar_ljets", ['triggers=["HLT_IsoMu99"]'])
    with pytest.raises(MissingBranchError, match=r"'HLT_IsoMu99'.*--set triggers=") as exc:
        processor_class(cfg)(cfg.to_dict()).process(events_of(path))
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_sentinel_branch_warns_with_the_set_key(real_sample):
    path = real_sample("ttbar_2015")
    cfg = load_analysis("ttbar_ljets", ["triggers=[]"])  # default b-tag: Jet_btagDeepFlavB = -3000
    proc = processor_class(cfg)(cfg.to_dict())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = proc.process(events_of(path))
    msgs = [str(r.message) for r in rec if "'Jet_btagDeepFlavB'" in str(r.message)]
    assert len(msgs) == 1 and "-3000" in msgs[0] and "--set btag.branch=" in msgs[0]
    assert "ttbar_semilep" in msgs[0] and "\n" not in msgs[0]
    # this file's Muon_tightId is all 0 too
    assert any(
        "'Muon_tightId'" in str(r.message) and "--set muons.id_branch=" in str(r.message)
        for r in rec
    )
    assert out["ttbar_semilep"]["cutflow"]["one_btag"]["events"] == 0
    with warnings.catch_warnings(record=True) as rec:  # a real discriminator: no warning
        warnings.simplefilter("always")
        make()[0].process(events_of(path))
    assert not [r for r in rec if "'Jet_btagCSVV2'" in str(r.message)]


def test_corrections_and_golden_json_beside_the_input_file(real_sample, tmp_path):
    """As ``generate`` writes them: found without any configuration."""
    from syst_corrections import write

    link = tmp_path / "sample.root"
    link.symlink_to(real_sample("ttbar_2015"))
    write(tmp_path / "corrections.json")
    (tmp_path / "golden.json").write_text(json.dumps({"1": [[2272915, 2272915]]}))
    proc, _ = make(["systematics.shapes=[]"])
    out = proc.process(events_of(link))
    h = out["hists"]["ht"][{"region": sum, "process": "ttbar"}]
    assert h[{"variation": "btag_sfUp"}].sum().value != h[{"variation": "nominal"}].sum().value
    data = proc.process(events_of(link, is_data=True))["ttbar_semilep"]
    assert data["cutflow"]["lumi_mask"]["events"] == 34
    assert data["lumi_sections"] == {(1, 2272915)}
