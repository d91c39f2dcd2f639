"""Generator truth (GenPart, GenJet, Jet_genJetIdx), flavour-dependent jets and photons,
checked with plain uproot + numpy."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from hepml_coffea.datasets import load_fileset
from hepml_coffea.datasets.processes import FIRST_COPY, LAST_COPY

GEN = ["GenPart_pt", "GenPart_eta", "GenPart_phi", "GenPart_mass", "GenPart_pdgId",
       "GenPart_status", "GenPart_statusFlags", "GenPart_genPartIdxMother"]  # fmt: skip


@pytest.fixture(scope="module")
def fileset(generated_fileset):
    return load_fileset(generated_fileset)


def _read(fileset, name, branches):
    return uproot.concatenate([f"{f}:Events" for f in fileset[name]["files"]], branches)


def _p4(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], axis=-1)


@pytest.mark.parametrize("name", ["ttbar_semilep", "single_top", "wjets", "dy"])
def test_genpart_mother_chain(fileset, name):
    a = _read(fileset, name, GEN)
    counts = ak.to_numpy(ak.num(a.GenPart_pdgId))
    mother = ak.flatten(a.GenPart_genPartIdxMother).to_numpy()
    local = ak.flatten(ak.local_index(a.GenPart_pdgId)).to_numpy()
    assert np.all((mother >= -1) & (mother < local))  # every mother before its daughter
    offsets = np.concatenate([[0], np.cumsum(counts)])
    event = np.repeat(np.arange(len(counts)), counts)
    g = np.where(mother >= 0, mother + offsets[event], -1)
    pdg = ak.flatten(a.GenPart_pdgId).to_numpy()
    mpdg = np.where(g >= 0, pdg[np.maximum(g, 0)], 0)
    if name in ("ttbar_semilep", "single_top"):
        # t -> W b with matching signs; W and b have a top mother (first copies)
        first = (ak.flatten(a.GenPart_statusFlags).to_numpy() & FIRST_COPY) > 0
        w_top = (np.abs(pdg) == 24) & (np.abs(mpdg) == 6)
        np.testing.assert_array_equal(np.sign(pdg[w_top]), np.sign(mpdg[w_top]))
        b_top = (np.abs(pdg) == 5) & (np.abs(mpdg) == 6) & first
        np.testing.assert_array_equal(np.sign(pdg[b_top]), np.sign(mpdg[b_top]))
        n_top = np.bincount(event[np.abs(pdg) == 6], minlength=len(counts))
        assert np.all(n_top == (2 if name == "ttbar_semilep" else 1))
        assert w_top.sum() == b_top.sum() == n_top.sum()
        # four-momentum conservation at the top vertex: p(t) = p(W) + p(b first copy)
        p4 = _p4(*(ak.flatten(a[f"GenPart_{k}"]).to_numpy().astype(np.float64)
                   for k in ("pt", "eta", "phi", "mass")))  # fmt: skip
        top_sum = np.zeros((len(pdg), 4))
        np.add.at(top_sum, g[w_top | b_top], p4[w_top | b_top])
        tops = np.abs(pdg) == 6
        # stored with 10 mantissa bits (relative 4.9e-4 on pt, eta, phi, mass): forward tops
        # (|eta| ~ 5) carry up to ~5 x that on E and pz
        np.testing.assert_allclose(top_sum[tops], p4[tops], rtol=5e-3, atol=0.5)
        assert np.median(np.abs(top_sum[tops] - p4[tops])) < 0.1
        # FSR copies: same pdgId as their mother, last copy, mother not a last copy
        copy = (g >= 0) & (mpdg == pdg)
        flags = ak.flatten(a.GenPart_statusFlags).to_numpy()
        assert copy.any() and np.all(flags[copy] & LAST_COPY)
        assert not np.any(flags[g[copy]] & LAST_COPY)
    # W daughters: a charged lepton and its neutrino, or two quarks; charge conserved
    from_w = (np.abs(mpdg) == 24) & (mpdg != pdg)
    charge = {11: -1, 13: -1, 12: 0, 14: 0, 1: -1 / 3, 3: -1 / 3, 2: 2 / 3, 4: 2 / 3, 5: -1 / 3}
    q = np.array([np.sign(p) * charge[abs(p)] for p in pdg[from_w]])
    wq = np.zeros(len(pdg))
    np.add.at(wq, g[from_w], q)
    ws = np.unique(g[from_w])
    np.testing.assert_allclose(wq[ws], np.sign(pdg[ws]), atol=1e-9)
    assert np.all(np.bincount(g[from_w])[ws] == 2)


def test_ttbar_truth_chain_is_complete(fileset):
    """Every ttbar event has the b_lep, b_had, q, q of the NanoAOD conventions."""
    from hepml_coffea.features.truth import ttbar_partons

    a = _read(fileset, "ttbar_semilep", GEN)
    rows = ttbar_partons(
        ak.flatten(a.GenPart_pdgId).to_numpy(),
        ak.flatten(a.GenPart_genPartIdxMother).to_numpy(),
        ak.to_numpy(ak.num(a.GenPart_pdgId)),
    )
    assert np.all(rows >= 0)


def _jets(fileset, name, extra=()):
    branches = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_hadronFlavour", "Jet_genJetIdx",
                "GenJet_pt", "GenJet_eta", "GenJet_phi", "GenJet_hadronFlavour", *extra]  # fmt: skip
    return _read(fileset, name, branches)


def test_genjet_links(fileset):
    a = _jets(fileset, "ttbar_semilep")
    idx = a.Jet_genJetIdx
    assert ak.all(idx < ak.num(a.GenJet_pt)) and ak.all(idx >= -1)
    assert ak.all(a.GenJet_pt[:, :-1] >= a.GenJet_pt[:, 1:])  # sorted
    has = idx >= 0
    gj = ak.mask(idx, has)
    deta = ak.to_numpy(ak.drop_none(ak.flatten((a.Jet_eta - a.GenJet_eta[gj])[has])))
    assert len(deta) == ak.sum(has)
    assert np.quantile(np.abs(deta), 0.99) < 0.05
    np.testing.assert_array_equal(
        ak.flatten(a.Jet_hadronFlavour[has]), ak.flatten(a.GenJet_hadronFlavour[gj][has])
    )
    unmatched = ak.to_numpy(ak.flatten(~has))
    assert 0.003 < unmatched.mean() < 0.2  # pileup jets


def test_b_jets_have_a_neutrino_tail_that_soft_leptons_reveal(fileset):
    a = _jets(fileset, "ttbar_semilep", ["Jet_muEF", "Jet_nMuons", "Jet_nElectrons"])
    has = (a.Jet_genJetIdx >= 0) & (a.Jet_pt > 30)
    ratio = (a.GenJet_pt[ak.mask(a.Jet_genJetIdx, has)] / a.Jet_pt)[has]
    ratio = ak.to_numpy(ak.drop_none(ak.flatten(ratio)))
    assert len(ratio) == ak.sum(has)
    flav = ak.to_numpy(ak.flatten(a.Jet_hadronFlavour[has]))
    soft = ak.to_numpy(ak.flatten(((a.Jet_nMuons + a.Jet_nElectrons) > 0)[has]))
    b, light = flav == 5, flav == 0
    assert np.median(ratio[b]) > np.median(ratio[light]) + 0.01
    tail_b, tail_l = (ratio[b] > 1.25).mean(), (ratio[light] > 1.25).mean()
    assert tail_b > 2 * tail_l and tail_b > 0.05
    # the soft lepton in the jet tells which b jets lost energy: learnable
    assert np.median(ratio[b & soft]) > np.median(ratio[b & ~soft]) + 0.08


def test_tagger_inputs_beat_the_single_discriminant(fileset):
    cols = ["Jet_btagDeepFlavB", "Jet_btagCSVV2", "Jet_nSV", "Jet_svMass", "Jet_qgl",
            "Jet_nConstituents", "Jet_muEF", "Jet_pt"]  # fmt: skip
    a = ak.concatenate([_read(fileset, n, [*cols, "Jet_hadronFlavour"])
                        for n in ("ttbar_semilep", "wjets")])  # fmt: skip
    flav = ak.to_numpy(ak.flatten(a.Jet_hadronFlavour))
    x = np.stack([ak.to_numpy(ak.flatten(a[c])).astype(np.float64) for c in cols], axis=1)
    keep = flav != 4
    x, y = x[keep], (flav[keep] == 5).astype(int)
    assert ak.to_numpy(ak.flatten(a.Jet_nConstituents)).dtype == np.uint8
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.4
    clf = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(x[~test], y[~test])
    auc_all = roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1])
    auc_deep = roc_auc_score(y[test], x[test, 0])
    assert auc_deep > 0.9
    assert auc_all > auc_deep + 0.005


def test_photons_prompt_and_fake(fileset):
    names = ["pt", "eta", "phi", "sieie", "hoe", "r9", "pfRelIso03_all", "genPartFlav", "jetIdx"]
    a = ak.concatenate([_read(fileset, n, [f"Photon_{k}" for k in names] + ["Jet_eta", "Jet_phi"])
                        for n in ("ttbar_semilep", "wjets", "single_top", "dy")])  # fmt: skip
    flav = ak.to_numpy(ak.flatten(a.Photon_genPartFlav))
    prompt, fake = flav == 1, flav == 0
    assert set(np.unique(flav)) == {0, 1} and prompt.sum() > 100 and fake.sum() > 100
    barrel = np.abs(ak.to_numpy(ak.flatten(a.Photon_eta))) < 1.479
    sieie = ak.to_numpy(ak.flatten(a.Photon_sieie))
    assert np.median(sieie[prompt & barrel]) < np.median(sieie[fake & barrel]) - 0.002
    iso = ak.to_numpy(ak.flatten(a.Photon_pfRelIso03_all))
    assert np.median(iso[prompt]) < 0.1 < np.median(iso[fake])
    r9 = ak.to_numpy(ak.flatten(a.Photon_r9))
    assert np.median(r9[prompt]) > np.median(r9[fake])
    # a fake photon sits on its jet (Photon_jetIdx), a prompt photon on none
    jidx = a.Photon_jetIdx
    assert ak.all(jidx[a.Photon_genPartFlav == 1] == -1)
    f = (a.Photon_genPartFlav == 0) & (jidx >= 0)
    j = ak.mask(jidx, f)
    dphi = (a.Photon_phi - a.Jet_phi[j] + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(a.Photon_eta - a.Jet_eta[j], dphi)
    assert ak.max(ak.flatten(dr[f])) < 0.25
    assert ak.all(a.Photon_pt[:, :-1] >= a.Photon_pt[:, 1:])


def test_blocks_without_any_lepton_reconstruct():
    """A block where no event has a lepton (e.g. a small pseudo-data part) must not fail."""
    from hepml_coffea.datasets.detector import reconstruct
    from hepml_coffea.datasets.processes import generate_truth

    truth = generate_truth("ttbar_semilep", np.random.default_rng(0), 20)
    truth.lvalid[:] = False
    truth.pvalid[:, :] = False  # no jets either: no non-prompt leptons
    reco = reconstruct(truth, np.random.default_rng(1))
    assert ak.sum(ak.num(reco["Muon"])) == ak.sum(ak.num(reco["Electron"])) == 0
    assert ak.all(reco["Jet"].hadronFlavour == 0)  # only pileup jets remain
    assert ak.all(reco["Jet"].muonIdx1 == -1)
