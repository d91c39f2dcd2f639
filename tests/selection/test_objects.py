"""Object selection against a plain per-event Python loop on random, unsorted collections."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hepml_coffea.errors import ConfigError, MissingBranchError
from hepml_coffea.selection import leptons, select_electrons, select_jets, select_muons

rng = np.random.default_rng(3)
N = 300
MU = {"pt_min": 25.0, "abs_eta_max": 2.4, "id_branch": "Muon_tightId",
      "iso_branch": "Muon_pfRelIso04_all", "iso_max": 0.15}  # fmt: skip
EL = {"pt_min": 25.0, "abs_eta_max": 2.5, "id_branch": "Electron_cutBased", "id_min": 4}
JETS = {"pt_min": 25.0, "abs_eta_max": 2.4, "jet_id": True, "id_branch": "Jet_jetId",
        "id_mask": 2, "min_dr_lepton": 0.4}  # fmt: skip
BTAG = {"branch": "Jet_btagDeepFlavB", "threshold": 0.3}


def _collection(n_max, extra):
    counts = rng.integers(0, n_max + 1, N)
    n = counts.sum()
    fields = {"pt": rng.uniform(5, 120, n), "eta": rng.uniform(-3, 3, n),
              "phi": rng.uniform(-math.pi, math.pi, n), "mass": rng.uniform(0, 10, n)}  # fmt: skip
    fields |= {k: f(n) for k, f in extra.items()}
    return ak.zip({k: ak.unflatten(v, counts) for k, v in fields.items()})


@pytest.fixture(scope="module")
def events():
    muon = _collection(3, {"charge": lambda n: rng.choice([-1, 1], n).astype(np.int32),
                           "tightId": lambda n: rng.random(n) < 0.8,
                           "pfRelIso04_all": lambda n: rng.uniform(0, 0.3, n)})  # fmt: skip
    electron = _collection(3, {"charge": lambda n: rng.choice([-1, 1], n).astype(np.int32),
                               "cutBased": lambda n: rng.integers(0, 5, n).astype(np.int32)})  # fmt: skip
    jet = _collection(9, {"jetId": lambda n: rng.choice([0, 2, 6], n).astype(np.int32),
                          "btagDeepFlavB": lambda n: rng.random(n)})  # fmt: skip
    # leptons close to some jets, so that the cleaning has work to do
    return ak.zip({"Muon": muon, "Electron": electron, "Jet": jet}, depth_limit=1)


def _rows(coll, fields):
    return [[{f: coll[f][i][j] for f in fields} for j in range(len(coll["pt"][i]))]
            for i in range(N)]  # fmt: skip


def _dr(a, b):
    dphi = (a["phi"] - b["phi"] + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(a["eta"] - b["eta"], dphi)


def _reference(events):
    ev = {c: ak.to_list(events[c]) for c in ("Muon", "Electron", "Jet")}
    mus, els, jets, leps = [], [], [], []
    for i in range(N):
        mu = [m for m in ev["Muon"][i] if m["pt"] > 25 and abs(m["eta"]) < 2.4
              and m["tightId"] and m["pfRelIso04_all"] < 0.15]  # fmt: skip
        el = [e for e in ev["Electron"][i] if e["pt"] > 25 and abs(e["eta"]) < 2.5
              and e["cutBased"] >= 4]  # fmt: skip
        lep = sorted(mu + el, key=lambda x: -x["pt"])
        jet = [j for j in ev["Jet"][i] if j["pt"] > 25 and abs(j["eta"]) < 2.4
               and j["jetId"] & 2 and all(_dr(j, x) > 0.4 for x in lep)]  # fmt: skip
        for coll, out in ((mu, mus), (el, els), (lep, leps), (jet, jets)):
            out.append(sorted(coll, key=lambda x: -x["pt"]))
    return mus, els, leps, jets


def test_selection_equals_a_per_event_loop(events):
    ref_mu, ref_el, ref_lep, ref_jet = _reference(events)
    mu, el = select_muons(events, MU), select_electrons(events, EL)
    lep = leptons(mu, el)
    jet = select_jets(events, JETS, BTAG, clean_against=lep)
    for got, ref in ((mu, ref_mu), (el, ref_el), (lep, ref_lep), (jet, ref_jet)):
        assert ak.to_list(ak.num(got)) == [len(r) for r in ref]
        assert ak.to_list(got.pt) == [[x["pt"] for x in r] for r in ref]  # pT-ordered, exact
        assert ak.to_list(got.eta) == [[x["eta"] for x in r] for r in ref]
    assert ak.to_list(lep.charge) == [[x["charge"] for x in r] for r in ref_lep]
    assert ak.to_list(jet.is_b) == [[x["btagDeepFlavB"] >= 0.3 for x in r] for r in ref_jet]
    assert sum(len(r) for r in ref_jet) > 100  # the test has jets to look at
    # and the cleaning did remove some jets
    uncleaned = select_jets(events, JETS, BTAG)
    assert ak.sum(ak.num(uncleaned)) > ak.sum(ak.num(jet))
    # candidate behaviour: invariant mass of the leading pair equals the explicit formula
    pair = ak.pad_none(jet, 2, clip=True)[ak.num(jet) >= 2]
    p = pair[:, 0] + pair[:, 1]
    e = np.sqrt(pair.pt**2 * np.cosh(pair.eta) ** 2 + pair.mass**2)
    px, py, pz = pair.pt * np.cos(pair.phi), pair.pt * np.sin(pair.phi), pair.pt * np.sinh(pair.eta)
    m = np.sqrt(ak.sum(e, axis=1) ** 2 - ak.sum(px, axis=1) ** 2 - ak.sum(py, axis=1) ** 2
                - ak.sum(pz, axis=1) ** 2)  # fmt: skip
    np.testing.assert_allclose(ak.to_numpy(p.mass), ak.to_numpy(m), rtol=1e-9)


def test_missing_configured_branch_names_the_key(events):
    with pytest.raises(MissingBranchError, match=r"Jet_btagPNetB.*--set btag.branch="):
        select_jets(events, JETS, {"branch": "Jet_btagPNetB", "threshold": 0.3})


def test_branch_of_another_collection_is_refused(events):
    with pytest.raises(
        ConfigError, match=r"'Muon_pfRelIso04_all' does not have one value per Jet.*btag.branch"
    ):
        select_jets(events, JETS, {"branch": "Muon_pfRelIso04_all", "threshold": 0.3})
