"""Kinematic building blocks (vectorised, numpy/awkward): MT, neutrino pz, momentum tensor.

All momenta and masses in GeV.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: W boson and top quark masses (PDG-rounded), GeV, used by the W-mass constraint and the
#: "closest to m_W / m_top" candidate choices.
M_W = 80.4
M_TOP = 172.5


def transverse_mass(pt1, phi1, pt2, phi2):
    """MT = sqrt(2 pT1 pT2 (1 - cos Δφ)) for two massless objects (GeV)."""
    return np.sqrt(np.maximum(2.0 * pt1 * pt2 * (1.0 - np.cos(phi1 - phi2)), 0.0))


def neutrino_pz(lep_pt, lep_eta, lep_phi, lep_mass, met_pt, met_phi, m_w: float = M_W):
    """Neutrino pz from the W-mass constraint (lepton + massless neutrino with pT = MET).

    Solving ``(p_l + p_ν)² = m_W²`` for ``pz`` gives ``A pz² − 2 k pz_l pz + (E_l² pT_ν² − k²) = 0``
    with ``k = (m_W² − m_l²)/2 + pT_l·pT_ν`` (transverse dot product) and ``A = E_l² − pz_l²``:

        pz = (k pz_l ± E_l sqrt(k² − A pT_ν²)) / A

    **Real-solution rule**: with two real roots the one with the smaller |pz| is taken; when the
    discriminant is negative (complex roots, typically MET mismeasurement) the real part
    ``k pz_l / A`` is taken (MET is not rescaled).

    Returns
    -------
    array
        pz of the neutrino, GeV, same shape as the inputs.
    """
    px_l, py_l = lep_pt * np.cos(lep_phi), lep_pt * np.sin(lep_phi)
    pz_l = lep_pt * np.sinh(lep_eta)
    e_l2 = lep_pt**2 + pz_l**2 + lep_mass**2
    px_n, py_n = met_pt * np.cos(met_phi), met_pt * np.sin(met_phi)
    k = 0.5 * (m_w**2 - lep_mass**2) + px_l * px_n + py_l * py_n
    a = e_l2 - pz_l**2
    disc = k**2 - a * met_pt**2
    root = np.sqrt(e_l2 * np.maximum(disc, 0.0))
    centre = k * pz_l / a
    sol1, sol2 = centre + root / a, centre - root / a
    return np.where(abs(sol1) < abs(sol2), sol1, sol2)


def momentum_tensor_eigenvalues(px: ak.Array, py: ak.Array, pz: ak.Array) -> np.ndarray:
    """Eigenvalues λ1 ≥ λ2 ≥ λ3 of the normalised momentum tensor, per event.

    ``S^{ab} = Σ_i p_i^a p_i^b / Σ_i |p_i|²`` over the objects of each event (jagged inputs),
    so that λ1 + λ2 + λ3 = 1. Events without objects get NaN.

    Returns
    -------
    numpy.ndarray of shape (n_events, 3), descending.
    """
    comps = [px, py, pz]
    norm = ak.to_numpy(ak.sum(px**2 + py**2 + pz**2, axis=1)).astype(np.float64)
    t = np.empty((len(norm), 3, 3))
    for i in range(3):
        for j in range(i, 3):
            t[:, i, j] = t[:, j, i] = ak.to_numpy(ak.sum(comps[i] * comps[j], axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t /= norm[:, None, None]
    ok = norm > 0
    out = np.full((len(norm), 3), np.nan)
    if ok.any():
        out[ok] = np.linalg.eigvalsh(t[ok])[:, ::-1]
    return out
