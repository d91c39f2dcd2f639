"""Jet–parton assignment permutations and features against per-event Python references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hepml_coffea.features.kinematics import neutrino_pz
from hepml_coffea.features.permutations import (
    PERMUTATION_FEATURES,
    best_observables,
    best_permutation,
    chi2,
    enumerate_permutations,
    permutation_features,
    permutation_labels,
    permutation_matrix,
    permutation_table,
)
from hepml_coffea.flat import FlatCollection, cartesian_zip


def test_table_sizes_and_content():
    t = permutation_table(4)
    assert t.shape == (12, 4)
    # every row is a permutation of 0..3 with w1 < w2, all rows distinct
    assert all(sorted(r) == [0, 1, 2, 3] for r in t.tolist())
    assert (t[:, 2] < t[:, 3]).all()
    assert len({tuple(r) for r in t.tolist()}) == 12
    assert permutation_table(5).shape == (60, 4)
    assert permutation_table(6).shape == (180, 4)
    with pytest.raises(ValueError, match="at least 4 jets"):
        permutation_table(3)


def _random_chunk(rng, n_events=60):
    counts = rng.integers(0, 8, n_events)
    counts[:3] = [4, 3, 6]
    n = counts.sum()
    pt = np.concatenate([np.sort(rng.uniform(25, 300, c))[::-1] for c in counts])
    jets = FlatCollection(
        counts.astype(np.int64),
        {
            "pt": pt,
            "eta": rng.uniform(-2.4, 2.4, n),
            "phi": rng.uniform(-np.pi, np.pi, n),
            "mass": rng.uniform(0, 20, n),
            "btag": rng.uniform(0, 1, n),
        },
    )
    lep = FlatCollection(
        np.ones(n_events, dtype=np.int64),
        {
            "pt": rng.uniform(25, 200, n_events),
            "eta": rng.uniform(-2.4, 2.4, n_events),
            "phi": rng.uniform(-np.pi, np.pi, n_events),
            "mass": np.full(n_events, 0.105),
        },
    )
    met_pt, met_phi = rng.uniform(0, 200, n_events), rng.uniform(-np.pi, np.pi, n_events)
    pz = neutrino_pz(lep["pt"], lep["eta"], lep["phi"], lep["mass"], met_pt, met_phi)
    px, py = met_pt * np.cos(met_phi), met_pt * np.sin(met_phi)
    nu = cartesian_zip(px, py, pz, np.sqrt(px**2 + py**2 + pz**2))
    return jets, lep, (px, py, pz), nu


def _p4(pt, eta, phi, m):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return (math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz)


def _add(*vs):
    return tuple(sum(c) for c in zip(*vs, strict=True))


def _mass(v):
    return math.sqrt(max(v[0] ** 2 - v[1] ** 2 - v[2] ** 2 - v[3] ** 2, 0.0))


def _dr(e1, p1, e2, p2):
    dphi = math.remainder(p1 - p2, 2 * math.pi)
    return math.hypot(e1 - e2, dphi)


def test_features_equal_per_event_reference():
    rng = np.random.default_rng(7)
    jets, lep, (nx, ny, nz), nu = _random_chunk(rng)
    perms = enumerate_permutations(jets, 4)
    # exactly 12 permutations for every event with >= 4 jets, none otherwise
    assert perms.counts.tolist() == [12 if c >= 4 else 0 for c in jets.counts]
    assert len(perms) == 12 * int((jets.counts >= 4).sum())
    feats = permutation_features(perms, jets, lep, nu)
    assert list(feats) == list(PERMUTATION_FEATURES)
    start = 0
    checked = 0
    for e, c in enumerate(jets.counts):
        if c < 4:
            continue
        off = jets.offsets[e]
        jv = [_p4(*(jets[k][off + i] for k in ("pt", "eta", "phi", "mass"))) for i in range(4)]
        lv = _p4(lep["pt"][e], lep["eta"][e], lep["phi"][e], lep["mass"][e])
        nv = (math.sqrt(nx[e] ** 2 + ny[e] ** 2 + nz[e] ** 2), nx[e], ny[e], nz[e])
        expected = []
        for bl, bh in itertools.permutations(range(4), 2):
            w1, w2 = (j for j in range(4) if j not in (bl, bh))
            top = _add(jv[bh], jv[w1], jv[w2])
            eta = [jets["eta"][off + i] for i in range(4)]
            phi = [jets["phi"][off + i] for i in range(4)]
            expected.append(
                {
                    "m_w_had": _mass(_add(jv[w1], jv[w2])),
                    "m_top_had": _mass(top),
                    "pt_top_had": math.hypot(top[1], top[2]),
                    "m_lep_blep": _mass(_add(lv, jv[bl])),
                    "m_top_lep": _mass(_add(lv, nv, jv[bl])),
                    "dr_lep_blep": _dr(lep["eta"][e], lep["phi"][e], eta[bl], phi[bl]),
                    "dr_w1_w2": _dr(eta[w1], phi[w1], eta[w2], phi[w2]),
                    "dr_bhad_w1": _dr(eta[bh], phi[bh], eta[w1], phi[w1]),
                    "dr_bhad_w2": _dr(eta[bh], phi[bh], eta[w2], phi[w2]),
                    "dr_blep_bhad": _dr(eta[bl], phi[bl], eta[bh], phi[bh]),
                    "pt_blep": jets["pt"][off + bl],
                    "pt_bhad": jets["pt"][off + bh],
                    "pt_w1": jets["pt"][off + w1],
                    "pt_w2": jets["pt"][off + w2],
                    "btag_blep": jets["btag"][off + bl],
                    "btag_bhad": jets["btag"][off + bh],
                    "btag_w1": jets["btag"][off + w1],
                    "btag_w2": jets["btag"][off + w2],
                }
            )
        for k, ref in enumerate(expected):
            for name, value in ref.items():
                got = feats[name][start + k]
                assert got == pytest.approx(value, rel=1e-9, abs=1e-7), (e, k, name)
        # the jets used are the event's four leading ones
        assert set(perms.jets[start : start + 12].ravel().tolist()) == set(range(off, off + 4))
        assert (perms.event[start : start + 12] == e).all()
        start += 12
        checked += 1
    assert checked > 20
    x = permutation_matrix(feats)
    assert x.shape == (len(perms), len(PERMUTATION_FEATURES)) and x.dtype == np.float32


def test_best_permutation_and_observables():
    rng = np.random.default_rng(3)
    jets, lep, _, nu = _random_chunk(rng, 30)
    perms = enumerate_permutations(jets, 4)
    feats = permutation_features(perms, jets, lep, nu)
    score = rng.uniform(size=len(perms))
    best = best_permutation(score, perms)
    c2 = chi2(feats)
    best_c2 = best_permutation(c2, perms, higher=False)
    start = 0
    for e, n in enumerate(perms.counts):
        if n == 0:
            assert best[e] == -1 and best_c2[e] == -1
            continue
        assert best[e] == start + int(np.argmax(score[start : start + n]))
        assert best_c2[e] == start + int(np.argmin(c2[start : start + n]))
        start += n
    obs = best_observables(feats, best)
    has = perms.counts > 0
    assert np.isnan(obs["m_top_had"][~has]).all()
    np.testing.assert_array_equal(obs["m_top_had"][has], feats["m_top_had"][best[has]])
    np.testing.assert_array_equal(obs["pt_top_had"][has], feats["pt_top_had"][best[has]])
    np.testing.assert_array_equal(obs["m_w_had"][has], feats["m_w_had"][best[has]])
    # chi2 formula
    i = int(best_c2[has][0])
    ref = ((feats["m_w_had"][i] - 80.4) / 10) ** 2 + ((feats["m_top_had"][i] - 172.5) / 15) ** 2
    assert c2[i] == pytest.approx(ref)


def test_labels_mark_exactly_the_true_assignment():
    # two events with 4 and 5 jets; roles by hand
    jets = FlatCollection(
        np.array([4, 5]),
        {k: np.arange(9, 0, -1, dtype=float) for k in ("pt", "eta", "phi", "mass", "btag")},
    )
    perms = enumerate_permutations(jets, 4)
    # event 0: jet0 W, jet1 b_had, jet2 W, jet3 b_lep ; event 1: only 3 roles matched (no label)
    roles = np.array([3, 2, 3, 1, 0, 1, 2, 3, 3], dtype=np.int8)
    lab = permutation_labels(perms, roles)
    assert lab.sum() == 1
    k = int(np.flatnonzero(lab)[0])
    assert perms.jets[k].tolist() == [3, 1, 0, 2]
    # event 1 (roles of its 4 leading jets 0,1,2,3 -> none,b_lep,b_had,W): the W pair is incomplete
    assert not lab[perms.event == 1].any()
