"""Each feature on hand-built events vs values computed by hand (plain math / numpy)."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hepml_coffea.features import EventObjects, get_feature
from hepml_coffea.features.kinematics import M_TOP, M_W, neutrino_pz
from hepml_coffea.selection import make_candidates

# event 0: a lepton, 5 jets (2 b-tagged); event 1: nothing at all; event 2: lepton + 1 b-jet
LEP = {
    "pt": [[50.0], [], [40.0]],
    "eta": [[0.5], [], [-1.0]],
    "phi": [[0.0], [], [2.0]],
    "mass": [[0.0], [], [0.1057]],
}
JETS = {
    "pt": [[120.0, 90.0, 60.0, 45.0, 30.0], [], [70.0]],
    "eta": [[0.1, -0.8, 1.2, 0.4, -1.5], [], [0.3]],
    "phi": [[1.0, -2.0, 2.5, -0.5, 0.3], [], [-1.0]],
    "mass": [[10.0, 8.0, 6.0, 5.0, 4.0], [], [9.0]],
    "btag": [[0.9, 0.1, 0.05, 0.8, 0.3], [], [0.95]],
}
MET = {"pt": [40.0, 25.0, 100.0], "phi": [math.pi / 2, 0.0, 2.0 - 3.0]}  # ev 2: MT > m_W


@pytest.fixture(scope="module")
def objs():
    jets = dict(JETS)
    jets["is_b"] = ak.Array(JETS["btag"]) >= 0.5
    return EventObjects(make_candidates(LEP), make_candidates(jets), ak.zip(MET))


def f(name, objs):
    return get_feature(name).compute(objs)


def vec(pt, eta, phi, m):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return np.array([math.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz])


def mass(v):
    return math.sqrt(max(v[0] ** 2 - v[1] ** 2 - v[2] ** 2 - v[3] ** 2, 0))


def jet(i, j):
    return vec(*(JETS[k][i][j] for k in ("pt", "eta", "phi", "mass")))


def dr(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(eta1 - eta2, dphi)


def test_simple_features_and_padding(objs):
    np.testing.assert_allclose(f("lep_pt", objs), [50, -1, 40])
    np.testing.assert_allclose(f("lep_eta", objs), [0.5, -5, -1])
    np.testing.assert_allclose(f("jet1_pt", objs), [120, -1, 70])
    np.testing.assert_allclose(f("jet2_pt", objs), [90, -1, -1])
    np.testing.assert_allclose(f("jet4_eta", objs), [0.4, -5, -5])
    np.testing.assert_allclose(f("jet3_btag", objs), [0.05, -1, -1])
    np.testing.assert_array_equal(f("n_jets", objs), [5, 0, 1])
    np.testing.assert_array_equal(f("n_bjets", objs), [2, 0, 1])
    np.testing.assert_allclose(f("ht", objs), [345, 0, 70])
    np.testing.assert_allclose(f("met", objs), [40, 25, 100])


def test_mt(objs):
    mt0 = math.sqrt(2 * 50 * 40 * (1 - math.cos(math.pi / 2)))  # = sqrt(4000)
    mt2 = math.sqrt(2 * 40 * 100 * (1 - math.cos(3.0)))
    np.testing.assert_allclose(f("mt_w", objs), [mt0, -1, mt2], rtol=1e-6)


def test_mjj_closest_to_mw_and_mjjb(objs):
    light = [1, 2, 4]  # indices of non-b jets in event 0
    pairs = [(a, b) for k, a in enumerate(light) for b in light[k + 1 :]]
    m = {p: mass(jet(0, p[0]) + jet(0, p[1])) for p in pairs}
    best = min(m, key=lambda p: abs(m[p] - M_W))
    np.testing.assert_allclose(f("m_jj", objs), [m[best], -1, -1], rtol=1e-6)
    w = jet(0, best[0]) + jet(0, best[1])
    mjjb = min((mass(w + jet(0, b)) for b in (0, 3)), key=lambda x: abs(x - M_TOP))
    np.testing.assert_allclose(f("m_jjb", objs), [mjjb, -1, -1], rtol=1e-6)


def _pz_roots(lep, met_pt, met_phi):
    """Independent: solve (p_l + p_nu)^2 = m_W^2 numerically with numpy.roots."""
    e, px, py, pz = lep
    nx, ny = met_pt * math.cos(met_phi), met_pt * math.sin(met_phi)
    ml2 = e**2 - px**2 - py**2 - pz**2
    k = (M_W**2 - ml2) / 2 + px * nx + py * ny
    # (e^2 - pz^2) x^2 - 2 k pz x + (e^2 pt_nu^2 - k^2) = 0
    return np.roots([e**2 - pz**2, -2 * k * pz, e**2 * met_pt**2 - k**2])


def test_neutrino_pz_real_and_complex(objs):
    lep0 = vec(50, 0.5, 0.0, 0.0)
    roots0 = _pz_roots(lep0, 40, math.pi / 2)
    assert np.all(np.isreal(roots0))  # real case
    exp0 = roots0[np.argmin(abs(roots0))].real
    lep2 = vec(40, -1.0, 2.0, 0.1057)
    roots2 = _pz_roots(lep2, 100, -1.0)
    assert not np.all(np.isreal(roots2))  # complex case: real part
    exp2 = roots2[0].real
    np.testing.assert_allclose(f("nu_pz", objs), [exp0, 0.0, exp2], rtol=1e-6)
    # the real solution indeed gives m(l, nu) = m_W
    nu = np.array([math.hypot(40, exp0), 0.0, 40.0, exp0])
    assert mass(lep0 + nu) == pytest.approx(M_W, rel=1e-6)
    # scalar call, the larger-|pz| root is not taken
    assert neutrino_pz(50.0, 0.5, 0.0, 0.0, 40.0, math.pi / 2) == pytest.approx(exp0)


def test_leptonic_top_mass(objs):
    pz0 = f("nu_pz", objs)
    lep0 = vec(50, 0.5, 0.0, 0.0)
    nu0 = np.array([math.hypot(40, pz0[0]), 0.0, 40.0, pz0[0]])
    # b-jet closest in dR to the lepton among jets 0 and 3
    b = min((0, 3), key=lambda j: dr(0.5, 0.0, JETS["eta"][0][j], JETS["phi"][0][j]))
    m0 = mass(lep0 + nu0 + jet(0, b))
    lep2 = vec(40, -1.0, 2.0, 0.1057)
    nu2 = np.array([math.hypot(100, pz0[2]), 100 * math.cos(-1.0), 100 * math.sin(-1.0), pz0[2]])
    m2 = mass(lep2 + nu2 + jet(2, 0))
    np.testing.assert_allclose(f("m_top_lep", objs), [m0, -1, m2], rtol=1e-5)


def test_delta_r_features(objs):
    e, p = JETS["eta"][0], JETS["phi"][0]
    np.testing.assert_allclose(f("dr_bb", objs), [dr(e[0], p[0], e[3], p[3]), -1, -1], rtol=1e-6)
    mins = [min(dr(0.5, 0.0, e[j], p[j]) for j in (0, 3)), -1, dr(-1.0, 2.0, 0.3, -1.0)]
    np.testing.assert_allclose(f("min_dr_lb", objs), mins, rtol=1e-6)


def _shape_objs(pt, eta, phi):
    """Objects as jets only (no lepton), one event."""
    jets = {
        "pt": [pt],
        "eta": [eta],
        "phi": [phi],
        "mass": [[0.0] * len(pt)],
        "btag": [[0.0] * len(pt)],
    }
    jets["is_b"] = ak.Array(jets["btag"]) > 1
    empty = {k: [[]] for k in ("pt", "eta", "phi", "mass")}
    return EventObjects(
        make_candidates(empty), make_candidates(jets), ak.zip({"pt": [0.0], "phi": [0.0]})
    )


def test_sphericity_aplanarity_known_configurations():
    # planar "Mercedes star" of equal momenta: tensor diag(1/2, 1/2, 0) -> S = 3/4, A = 0
    star = _shape_objs([10.0] * 3, [0.0] * 3, [0.0, 2 * math.pi / 3, -2 * math.pi / 3])
    assert f("sphericity", star)[0] == pytest.approx(0.75)
    assert f("aplanarity", star)[0] == pytest.approx(0.0, abs=1e-12)
    # back to back: S = 0
    line = _shape_objs([10.0, 10.0], [0.0, 0.0], [0.3, 0.3 - math.pi])
    assert f("sphericity", line)[0] == pytest.approx(0.0, abs=1e-12)
    # 3D configuration: compare with an explicit tensor diagonalised by numpy
    pt, eta, phi = [30.0, 20.0, 25.0, 15.0], [0.5, -1.2, 2.0, 0.0], [0.1, 2.0, -2.2, -0.9]
    p = np.array(
        [
            [a * math.cos(c), a * math.sin(c), a * math.sinh(b)]
            for a, b, c in zip(pt, eta, phi, strict=True)
        ]
    )
    lam = np.sort(np.linalg.eigvals(p.T @ p / (p**2).sum()).real)[::-1]
    ev = _shape_objs(pt, eta, phi)
    assert f("sphericity", ev)[0] == pytest.approx(1.5 * (lam[1] + lam[2]), rel=1e-9)
    assert f("aplanarity", ev)[0] == pytest.approx(1.5 * lam[2], rel=1e-9)


def test_event_shapes_include_the_lepton_and_pad(objs):
    s = f("sphericity", objs)
    assert s[1] == -1  # no objects
    # event 2: lepton + one jet
    p = np.array([vec(40, -1.0, 2.0, 0.1057)[1:], jet(2, 0)[1:]])
    lam = np.sort(np.linalg.eigvalsh(p.T @ p / (p**2).sum()))[::-1]
    assert s[2] == pytest.approx(1.5 * (lam[1] + lam[2]), rel=1e-9)
