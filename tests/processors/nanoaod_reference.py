"""Independent reference selections in plain uproot + numpy (no coffea, no vector, no awkward maths).

Written event by event from the analysis definitions in the brief, to check the processors.
"""

from __future__ import annotations

import math

import numpy as np
import uproot


def load(path, branches):
    with uproot.open(path) as f:
        return f["Events"].arrays(branches, library="np")


def delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + math.pi) % (2 * math.pi) - math.pi
    return math.sqrt((eta1 - eta2) ** 2 + dphi**2)


def p4(pt, eta, phi, m):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return np.array([math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz])


def inv_mass(*vecs):
    e, px, py, pz = np.sum(vecs, axis=0)
    return math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))


def weights(d, n, is_data, xsec=None, lumi=None, sumw=None):
    if is_data:
        return np.ones(n)
    return d["genWeight"].astype(np.float64) * xsec * lumi / sumw


def trigger_flags(path, triggers, n):
    """OR of the trigger branches (all true without triggers)."""
    if not triggers:
        return np.ones(n, bool)
    d = load(path, list(triggers))
    return np.any([d[t].astype(bool) for t in triggers], axis=0)


def ttbar_reference(
    path, btag_branch, btag_threshold, w, mu_pt=25.0, el_pt=25.0, el_id=4, jet_pt=25.0,
    triggers=(), jet_scale=None,
):  # fmt: skip
    """Per-event pass flags of the 6 cumulative cuts (all, trigger, lumi_mask, one_lepton,
    four_jets, one_btag) and, for passing events, (lep_pt, n_jets, ht, n_btags).

    ``jet_scale(i, pt, eta)`` -> factor rescales each jet's pT before the cuts (a JES variation).
    """
    br = ["Muon_pt", "Muon_eta", "Muon_phi", "Muon_tightId", "Muon_pfRelIso04_all",
          "Electron_pt", "Electron_eta", "Electron_phi", "Electron_cutBased",
          "Jet_pt", "Jet_eta", "Jet_phi", "Jet_jetId", btag_branch]  # fmt: skip
    d = load(path, br)
    n = len(d["Muon_pt"])
    passed = np.zeros((n, 6), bool)
    trig = trigger_flags(path, triggers, n)
    extra = []
    for i in range(n):
        leps = []
        for pt, eta, phi, tid, iso in zip(d["Muon_pt"][i], d["Muon_eta"][i], d["Muon_phi"][i],
                                          d["Muon_tightId"][i], d["Muon_pfRelIso04_all"][i], strict=True):  # fmt: skip
            if pt > mu_pt and abs(eta) < 2.4 and tid and iso < 0.15:
                leps.append((pt, eta, phi))
        for pt, eta, phi, cb in zip(d["Electron_pt"][i], d["Electron_eta"][i], d["Electron_phi"][i],
                                    d["Electron_cutBased"][i], strict=True):  # fmt: skip
            if pt > el_pt and abs(eta) < 2.5 and cb >= el_id:
                leps.append((pt, eta, phi))
        jets = []
        for pt, eta, phi, jid, b in zip(d["Jet_pt"][i], d["Jet_eta"][i], d["Jet_phi"][i],
                                        d["Jet_jetId"][i], d[btag_branch][i], strict=True):  # fmt: skip
            if jet_scale is not None:
                pt = pt * jet_scale(i, pt, eta)
            if pt > jet_pt and abs(eta) < 2.4 and (jid & 2) != 0:
                if all(delta_r(eta, phi, le, lp) > 0.4 for _, le, lp in leps):
                    jets.append((pt, b))
        t = bool(trig[i])
        c1 = t and len(leps) == 1
        c2 = c1 and len(jets) >= 4
        n_b = sum(b >= btag_threshold for _, b in jets)
        c3 = c2 and n_b >= 1
        passed[i] = (True, t, t, c1, c2, c3)
        if c3:
            extra.append((leps[0][0], len(jets), sum(pt for pt, _ in jets), n_b))
    cut_w = {"events": passed.sum(0), "weighted": (passed * w[:, None]).sum(0)}
    return passed, cut_w, np.array(extra).reshape(-1, 4)


def dimuon_reference(path, w, pt_min=15.0, iso_max=0.25, triggers=("HLT_IsoMu24",)):
    """Pass flags of the 6 dimuon cuts (all, trigger, lumi_mask, two_muons, opposite_charge,
    mass_window) and the dimuon masses of passing events."""
    br = ["Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId",
          "Muon_pfRelIso04_all"]  # fmt: skip
    d = load(path, br)
    n = len(d["Muon_pt"])
    passed = np.zeros((n, 6), bool)
    trig = trigger_flags(path, triggers, n)
    masses = np.full(n, np.nan)
    for i in range(n):
        mus = [
            (pt, eta, phi, m, q)
            for pt, eta, phi, m, q, tid, iso in zip(*(d[b][i] for b in br), strict=True)
            if pt > pt_min and abs(eta) < 2.4 and tid and iso < iso_max
        ]
        mus.sort(key=lambda t: -t[0])
        t = bool(trig[i])
        c1 = t and len(mus) >= 2
        c2 = c1 and mus[0][4] * mus[1][4] < 0
        mass = inv_mass(p4(*mus[0][:4]), p4(*mus[1][:4])) if len(mus) >= 2 else np.nan
        c3 = c2 and 60 < mass < 120
        passed[i] = (True, t, t, c1, c2, c3)
        masses[i] = mass
    return passed, {"events": passed.sum(0), "weighted": (passed * w[:, None]).sum(0)}, masses
