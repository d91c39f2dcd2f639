"""Truth labels for jet–parton assignment against hand-built GenPart / GenJet / Jet records."""

from __future__ import annotations

import awkward as ak
import numpy as np
import uproot

from hepml_coffea.features.permutations import enumerate_permutations, permutation_labels
from hepml_coffea.features.truth import jet_roles, match_partons, ttbar_partons
from hepml_coffea.flat import FlatCollection

# event 0: semileptonic ttbar, NanoAOD-like with copies (t -> t, W -> W, b -> b, q -> q)
EV0 = [  # (pdgId, mother)
    (21, -1),  # 0 gluon
    (6, 0),  # 1 t
    (-6, 0),  # 2 tbar
    (6, 1),  # 3 t copy
    (24, 3),  # 4 W+ from t
    (5, 3),  # 5 b from t
    (-24, 2),  # 6 W- from tbar
    (-5, 2),  # 7 bbar from tbar
    (24, 4),  # 8 W+ copy
    (-13, 8),  # 9 mu+ from W+  -> t is leptonic
    (14, 8),  # 10 nu_mu
    (1, 6),  # 11 d from W-
    (-2, 6),  # 12 ubar from W-
    (5, 5),  # 13 b copy (last copy of the b_lep)
    (1, 11),  # 14 d copy (last copy)
    (21, 11),  # 15 gluon radiated by d
]
# event 1: dileptonic ttbar -> no assignment
EV1 = [(6, -1), (-6, -1), (24, 0), (5, 0), (-24, 1), (-5, 1), (-11, 2), (12, 2), (13, 4), (-14, 4)]
# event 2: fully hadronic -> none
EV2 = [(6, -1), (-6, -1), (24, 0), (5, 0), (-24, 1), (-5, 1), (2, 2), (-1, 2), (1, 4), (-2, 4)]
# event 3: W+jets, no tops
EV3 = [(2, -1), (-1, -1), (24, 0), (-13, 2), (14, 2)]


def _flat(events):
    pdg = np.array([p for ev in events for p, _ in ev])
    mother = np.array([m for ev in events for _, m in ev])
    return pdg, mother, np.array([len(ev) for ev in events])


def test_ttbar_partons_by_hand():
    out = ttbar_partons(*_flat([EV0, EV1, EV2, EV3]))
    # b_lep: the last copy (13) of the b; W quarks at their last copies (ubar 12, d 14)
    assert out.tolist() == [[13, 7, 12, 14], [-1] * 4, [-1] * 4, [-1] * 4]
    # the charge-conjugate event (leptonic antitop) gives the same indices
    pdg, mother, counts = _flat([EV0])
    assert ttbar_partons(-pdg, mother, counts).tolist() == [[13, 7, 12, 14]]


def test_matching_and_roles_by_hand():
    partons = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [-1] * 4])
    p_eta = np.array([[0.0, 1.0, -1.0, 2.0]] * 4)
    p_phi = np.array([[0.0, 1.0, 2.0, -2.0]] * 4)
    # event 0: genjets in shuffled order near each parton + one far away
    # event 1: parton 3 has no genjet within 0.4 -> unmatched event
    # event 2: two partons closest to the same genjet -> ambiguous event
    gj = [
        [(2.05, -2.0), (0.1, 0.0), (5.0, 0.0), (-1.0, 2.1), (1.0, 0.95)],
        [(0.0, 0.0), (1.0, 1.0), (-1.0, 2.0), (2.0, -1.0)],
        [(0.0, 0.0), (1.0, 1.0), (-1.0, 2.0)],
        [(0.0, 0.0)],
    ]
    gj_eta = np.array([e for ev in gj for e, _ in ev])
    gj_phi = np.array([p for ev in gj for _, p in ev])
    p_eta[2, 3], p_phi[2, 3] = -1.1, 2.05  # parton 3 of event 2 sits on genjet 2 as well
    m = match_partons(partons, p_eta, p_phi, gj_eta, gj_phi, np.array([len(e) for e in gj]))
    assert m.tolist() == [[1, 4, 3, 0], [-1] * 4, [-1] * 4, [-1] * 4]
    # jets of event 0 point to genjets [0, 4, -1, 1, 3, 2]; event 1 jets to matched genjets too
    roles = jet_roles(np.array([0, 4, -1, 1, 3, 2, 0, 1]), np.array([6, 2, 0, 0]), m)
    assert roles.tolist() == [3, 2, 0, 1, 3, 0, 0, 0]
    jets = FlatCollection(
        np.array([6, 2, 0, 0]),
        {k: np.arange(8.0)[::-1] for k in ("pt", "eta", "phi", "mass", "btag")},
    )
    perms = enumerate_permutations(jets, 4)
    lab = permutation_labels(perms, roles)
    # leading 4 jets of event 0 have roles W, b_had, none, b_lep: no correct assignment among them
    assert lab.sum() == 0
    roles2 = roles.copy()
    roles2[[2, 4]] = [3, 0]  # move the second W jet into the leading four
    lab2 = permutation_labels(perms, roles2)
    assert lab2.sum() == 1
    assert perms.jets[np.flatnonzero(lab2)[0]].tolist() == [3, 1, 0, 2]


def test_real_sample_without_tops_gives_no_truth(nanoaod_dir):
    """The 2015 Open Data "ttbar" file's GenPart record holds no top quark: no event has truth."""
    t = uproot.open(nanoaod_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root")["Events"]
    a = t.arrays(["GenPart_pdgId", "GenPart_genPartIdxMother"])
    has_top = ak.to_numpy(ak.any(abs(a.GenPart_pdgId) == 6, axis=1))
    out = ttbar_partons(
        ak.to_numpy(ak.flatten(a.GenPart_pdgId)),
        ak.to_numpy(ak.flatten(a.GenPart_genPartIdxMother)),
        ak.to_numpy(ak.num(a.GenPart_pdgId)),
    )
    assert has_top.sum() == 0
    assert (out == -1).all() and out.shape == (200, 4)
