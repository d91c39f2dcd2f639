"""The built-in physics features (lepton+jets ttbar and general event shapes).

Every function takes an :class:`~hepml_coffea.features.objects.EventObjects` and returns one value
per event (``None`` where an object is missing; see the padding rule in
:mod:`hepml_coffea.features.registry`). Energies, momenta and masses are in GeV.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepml_coffea.features.kinematics import (
    M_TOP,
    M_W,
    momentum_tensor_eigenvalues,
    neutrino_pz,
    transverse_mass,
)
from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.registry import register_feature
from hepml_coffea.selection.objects import make_candidates

ETA_PAD = -5.0


# --- lepton -------------------------------------------------------------------------------------
@register_feature("lep_pt", "Lepton $p_{T}$ [GeV]", (50, 0, 300), unit="GeV")
def lep_pt(o: EventObjects):
    """pT of the leading selected lepton (GeV)."""
    return o.lepton.pt


@register_feature("lep_eta", r"Lepton $\eta$", (50, -2.5, 2.5), pad=ETA_PAD)
def lep_eta(o: EventObjects):
    """Pseudorapidity η of the leading selected lepton."""
    return o.lepton.eta


# --- the four leading jets ------------------------------------------------------------------------
def _jet_var(i: int, var: str):
    def f(o: EventObjects):
        return ak.pad_none(o.jets[var], i + 1, axis=1)[:, i]

    return f


for _i in range(4):
    _n = _i + 1
    _f = _jet_var(_i, "pt")
    _f.__doc__ = f"pT of the {_n}. leading selected jet (GeV)."
    register_feature(f"jet{_n}_pt", f"Jet {_n} $p_{{T}}$ [GeV]", (50, 0, 400), unit="GeV")(_f)
    _f = _jet_var(_i, "eta")
    _f.__doc__ = f"Pseudorapidity η of the {_n}. leading selected jet."
    register_feature(f"jet{_n}_eta", rf"Jet {_n} $\eta$", (50, -2.5, 2.5), pad=ETA_PAD)(_f)
    _f = _jet_var(_i, "btag")
    _f.__doc__ = (
        f"b-tag discriminator score (the configured ``btag.branch``) of the {_n}. leading jet."
    )
    register_feature(f"jet{_n}_btag", f"Jet {_n} b-tag score", (50, 0, 1))(_f)


# --- multiplicities and sums ----------------------------------------------------------------------
@register_feature("n_jets", "Number of jets", (15, 0, 15), integer=True)
def n_jets(o: EventObjects):
    """Number of selected jets."""
    return ak.num(o.jets, axis=1)


@register_feature("n_bjets", "Number of b-tagged jets", (8, 0, 8), integer=True)
def n_bjets(o: EventObjects):
    """Number of selected jets with score ≥ ``btag.threshold``."""
    return ak.num(o.bjets, axis=1)


@register_feature("ht", "$H_{T}$ [GeV]", (50, 0, 1500), unit="GeV")
def ht(o: EventObjects):
    """HT = Σ pT of the selected jets (GeV); 0 without jets."""
    return ak.sum(o.jets.pt, axis=1)


@register_feature("met", "$p_{T}^{miss}$ [GeV]", (50, 0, 400), unit="GeV")
def met(o: EventObjects):
    """Missing transverse momentum magnitude (the configured ``met.branch``), GeV."""
    return o.met.pt


@register_feature("mt_w", "$m_{T}(\\ell, p_{T}^{miss})$ [GeV]", (50, 0, 300), unit="GeV")
def mt_w(o: EventObjects):
    """MT(lepton, MET) = sqrt(2 pT_l MET (1 − cos Δφ)), massless approximation (GeV)."""
    lep = o.lepton
    return transverse_mass(lep.pt, lep.phi, o.met.pt, o.met.phi)


# --- top reconstruction ----------------------------------------------------------------------------
def _w_candidate(o: EventObjects):
    pairs = ak.combinations(o.light_jets, 2, fields=["a", "b"])
    w = pairs.a + pairs.b
    best = ak.argmin(abs(w.mass - M_W), axis=1, keepdims=True)
    return ak.firsts(w[best])


@register_feature("m_jj", "$m_{jj}$ [GeV]", (50, 0, 300), unit="GeV")
def m_jj(o: EventObjects):
    """Invariant mass of the pair of non-b-tagged jets whose mass is closest to m_W = 80.4 GeV."""
    return _w_candidate(o).mass


@register_feature("m_jjb", "$m_{jjb}$ [GeV]", (50, 0, 600), unit="GeV")
def m_jjb(o: EventObjects):
    """Hadronic top candidate mass: the ``m_jj`` pair plus the b-tagged jet giving the mass
    closest to m_top = 172.5 GeV (GeV)."""
    w = _w_candidate(o)
    cands = w + o.bjets  # broadcast the per-event W over the b-jets
    best = ak.argmin(abs(cands.mass - M_TOP), axis=1, keepdims=True)
    return ak.firsts(cands[best].mass)


def _nu_pz(o: EventObjects):
    lep = o.lepton
    return neutrino_pz(lep.pt, lep.eta, lep.phi, lep.mass, o.met.pt, o.met.phi)


@register_feature("nu_pz", "Neutrino $p_{z}$ [GeV]", (50, -500, 500), pad=0.0, unit="GeV")
def nu_pz(o: EventObjects):
    """Neutrino pz from the W-mass constraint on (lepton, MET); see
    :func:`~hepml_coffea.features.kinematics.neutrino_pz` for the root choice (smaller |pz| of
    two real roots, real part for complex roots)."""
    return _nu_pz(o)


@register_feature("m_top_lep", "$m_{\\ell\\nu b}$ [GeV]", (50, 0, 600), unit="GeV")
def m_top_lep(o: EventObjects):
    """Leptonic top mass m(lepton + ν + b): ν with pT = MET, pz from the W-mass constraint
    (``nu_pz``), mass 0; b = the b-tagged jet closest in ΔR to the lepton (GeV)."""
    lep = o.lepton
    pz = _nu_pz(o)
    pt = o.met.pt
    nu = make_candidates(
        {"pt": pt, "eta": np.arcsinh(pz / pt), "phi": o.met.phi, "mass": ak.zeros_like(pt)}
    )
    b = _closest_b(o)
    return (lep + nu + b).mass


def _closest_b(o: EventObjects):
    dr = o.lepton.delta_r(o.bjets)
    return ak.firsts(o.bjets[ak.argmin(dr, axis=1, keepdims=True)])


# --- angular ---------------------------------------------------------------------------------------
@register_feature("dr_bb", r"$\Delta R(b, b)$", (50, 0, 6))
def dr_bb(o: EventObjects):
    """ΔR = sqrt(Δη² + Δφ²) between the two leading b-tagged jets."""
    b = ak.pad_none(o.bjets, 2, axis=1)
    return b[:, 0].delta_r(b[:, 1])


@register_feature("min_dr_lb", r"min $\Delta R(\ell, b)$", (50, 0, 6))
def min_dr_lb(o: EventObjects):
    """Smallest ΔR between the leading lepton and any b-tagged jet."""
    return ak.min(o.lepton.delta_r(o.bjets), axis=1)


# --- event shapes ----------------------------------------------------------------------------------
def _shape_eigenvalues(o: EventObjects) -> np.ndarray:
    objs = ak.concatenate(
        [o.jets[["pt", "eta", "phi", "mass", "charge"]], o.leptons[:, :1]], axis=1
    )
    objs = make_candidates({f: objs[f] for f in ("pt", "eta", "phi", "mass")})
    return momentum_tensor_eigenvalues(objs.px, objs.py, objs.pz)


@register_feature("sphericity", "Sphericity", (50, 0, 1))
def sphericity(o: EventObjects):
    """S = 3/2 (λ2 + λ3), λ1 ≥ λ2 ≥ λ3 the eigenvalues of the momentum tensor
    S^{ab} = Σ p^a p^b / Σ |p|² (quadratic, normalised to unit trace) of the selected jets and the
    leading lepton (3-momenta)."""
    lam = _shape_eigenvalues(o)
    return 1.5 * (lam[:, 1] + lam[:, 2])


@register_feature("aplanarity", "Aplanarity", (50, 0, 0.5))
def aplanarity(o: EventObjects):
    """A = 3/2 λ3 of the same momentum tensor as ``sphericity`` (jets + leading lepton)."""
    return 1.5 * _shape_eigenvalues(o)[:, 2]
