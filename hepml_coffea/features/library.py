"""The built-in physics features (lepton+jets ttbar and general event shapes).

Every function takes an :class:`~hepml_coffea.features.objects.EventObjects` and returns one value
per event (NaN or ``None`` where an object is missing; see the padding rule in
:mod:`hepml_coffea.features.registry`). Energies, momenta and masses are in GeV.

The collections are flattened once per chunk (:class:`~hepml_coffea.flat.FlatCollection`)
and the intermediates several features share (the W and top candidates, the neutrino, the
momentum tensor) are computed once per chunk through :meth:`EventObjects.memo`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepml_coffea.features.kinematics import (
    M_TOP,
    M_W,
    momentum_tensor,
    neutrino_pz,
    symmetric_eigenvalues,
    transverse_mass,
)
from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.registry import register_feature
from hepml_coffea.flat import (
    FlatCollection,
    cartesian_zip,
    segment_argmin,
    segment_min,
    take,
    take_p4,
)

ETA_PAD = -5.0
_KIN = ("pt", "eta", "phi", "mass")


# --- shared per-chunk intermediates (each computed once per EventObjects) -------------------------
def _lepton(o: EventObjects) -> FlatCollection:
    """The leading lepton, one row per event (NaN pt, eta, phi, mass where there is none)."""

    def compute(o: EventObjects) -> FlatCollection:
        leptons = FlatCollection.from_jagged(o.leptons, _KIN)
        first = leptons.leading(1)[:, 0]
        return FlatCollection(
            np.ones(len(o), dtype=np.int64), {k: take(leptons[k], first) for k in _KIN}
        )

    return o.memo("lepton", compute)


def _met(o: EventObjects) -> dict[str, np.ndarray]:
    return o.memo(
        "met", lambda o: {k: ak.to_numpy(o.met[k]).astype(np.float64) for k in ("pt", "phi")}
    )


def _jets(o: EventObjects) -> FlatCollection:
    def compute(o: EventObjects) -> FlatCollection:
        jets = FlatCollection.from_jagged(o.jets, (*_KIN, "btag", "is_b"))
        jets.cartesian  # noqa: B018  (once, before the b/light subsets inherit it)
        return jets

    return o.memo("jets", compute)


def _bjets(o: EventObjects) -> FlatCollection:
    return o.memo("bjets", lambda o: _jets(o).where(_jets(o)["is_b"]))


def _light_jets(o: EventObjects) -> FlatCollection:
    return o.memo("light_jets", lambda o: _jets(o).where(~_jets(o)["is_b"]))


def _w_candidate(o: EventObjects) -> ak.Array:
    """Per event, the 4-vector of the light-jet pair with mass closest to m_W (NaN if none)."""

    def compute(o: EventObjects) -> ak.Array:
        light = _light_jets(o)
        first, second, counts = light.pairs()
        w = light.p4(first) + light.p4(second)
        return take_p4(w, segment_argmin(np.abs(ak.to_numpy(w.mass) - M_W), counts))

    return o.memo("w_candidate", compute)


def _neutrino(o: EventObjects) -> tuple[np.ndarray, ak.Array]:
    """Neutrino pz and 4-vector: pT = MET, pz from the W-mass constraint, massless."""

    def compute(o: EventObjects) -> tuple[np.ndarray, ak.Array]:
        lep, met = _lepton(o), _met(o)
        pz = neutrino_pz(lep["pt"], lep["eta"], lep["phi"], lep["mass"], met["pt"], met["phi"])
        px, py = met["pt"] * np.cos(met["phi"]), met["pt"] * np.sin(met["phi"])
        return pz, cartesian_zip(px, py, pz, np.sqrt(px**2 + py**2 + pz**2))

    return o.memo("neutrino", compute)


def _lepton_b_dr(o: EventObjects) -> np.ndarray:
    """ΔR(leading lepton, b-jet) for every b-jet (flat; NaN where the event has no lepton)."""

    def compute(o: EventObjects) -> np.ndarray:
        b = _bjets(o)
        return ak.to_numpy(_lepton(o).direction(b.event).deltaR(b.direction()))

    return o.memo("lepton_b_dr", compute)


def _shape_eigenvalues(o: EventObjects) -> np.ndarray:
    """Eigenvalues (n_events, 3) of the momentum tensor of the jets and the leading lepton."""

    def compute(o: EventObjects) -> np.ndarray:
        jets, lep = _jets(o), _lepton(o)
        has_lep = np.flatnonzero(np.isfinite(lep["pt"]))
        comps = [
            np.concatenate([jets.cartesian[c], lep.cartesian[c][has_lep]])
            for c in ("px", "py", "pz")
        ]
        event = np.concatenate([jets.event, has_lep])
        px, py, pz = comps
        return symmetric_eigenvalues(momentum_tensor(px, py, pz, event, jets.n_events))

    return o.memo("shape_eigenvalues", compute)


# --- lepton -------------------------------------------------------------------------------------
@register_feature("lep_pt", "Lepton $p_{T}$ [GeV]", (50, 0, 300), unit="GeV")
def lep_pt(o: EventObjects):
    """pT of the leading selected lepton (GeV)."""
    return _lepton(o)["pt"]


@register_feature("lep_eta", r"Lepton $\eta$", (50, -2.5, 2.5), pad=ETA_PAD)
def lep_eta(o: EventObjects):
    """Pseudorapidity η of the leading selected lepton."""
    return _lepton(o)["eta"]


# --- the four leading jets ------------------------------------------------------------------------
def _leading_jets(o: EventObjects) -> np.ndarray:
    return o.memo("leading_jets", lambda o: _jets(o).leading(4))


def _jet_var(i: int, var: str):
    def f(o: EventObjects):
        return take(_jets(o)[var], _leading_jets(o)[:, i])

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
    return _jets(o).counts


@register_feature("n_bjets", "Number of b-tagged jets", (8, 0, 8), integer=True)
def n_bjets(o: EventObjects):
    """Number of selected jets with score ≥ ``btag.threshold``."""
    return _bjets(o).counts


@register_feature("ht", "$H_{T}$ [GeV]", (50, 0, 1500), unit="GeV")
def ht(o: EventObjects):
    """HT = Σ pT of the selected jets (GeV); 0 without jets."""
    jets = _jets(o)
    return np.bincount(jets.event, jets["pt"], minlength=jets.n_events)


@register_feature("met", "$p_{T}^{miss}$ [GeV]", (50, 0, 400), unit="GeV")
def met(o: EventObjects):
    """Missing transverse momentum magnitude (the configured ``met.branch``), GeV."""
    return _met(o)["pt"]


@register_feature("mt_w", "$m_{T}(\\ell, p_{T}^{miss})$ [GeV]", (50, 0, 300), unit="GeV")
def mt_w(o: EventObjects):
    """MT(lepton, MET) = sqrt(2 pT_l MET (1 − cos Δφ)), massless approximation (GeV)."""
    lep, met = _lepton(o), _met(o)
    return transverse_mass(lep["pt"], lep["phi"], met["pt"], met["phi"])


# --- top reconstruction ----------------------------------------------------------------------------
@register_feature("m_jj", "$m_{jj}$ [GeV]", (50, 0, 300), unit="GeV")
def m_jj(o: EventObjects):
    """Invariant mass of the pair of non-b-tagged jets whose mass is closest to m_W = 80.4 GeV."""
    return _w_candidate(o).mass


@register_feature("m_jjb", "$m_{jjb}$ [GeV]", (50, 0, 600), unit="GeV")
def m_jjb(o: EventObjects):
    """Hadronic top candidate mass: the ``m_jj`` pair plus the b-tagged jet giving the mass
    closest to m_top = 172.5 GeV (GeV)."""
    b = _bjets(o)
    mass = ak.to_numpy((_w_candidate(o)[b.event] + b.p4()).mass)
    return take(mass, segment_argmin(np.abs(mass - M_TOP), b.counts))


@register_feature("nu_pz", "Neutrino $p_{z}$ [GeV]", (50, -500, 500), pad=0.0, unit="GeV")
def nu_pz(o: EventObjects):
    """Neutrino pz from the W-mass constraint on (lepton, MET); see
    :func:`~hepml_coffea.features.kinematics.neutrino_pz` for the root choice (smaller |pz| of
    two real roots, real part for complex roots)."""
    return _neutrino(o)[0]


@register_feature("m_top_lep", "$m_{\\ell\\nu b}$ [GeV]", (50, 0, 600), unit="GeV")
def m_top_lep(o: EventObjects):
    """Leptonic top mass m(lepton + ν + b): ν with pT = MET, pz from the W-mass constraint
    (``nu_pz``), mass 0; b = the b-tagged jet closest in ΔR to the lepton (GeV)."""
    b = _bjets(o)
    closest = take_p4(b.p4(), segment_argmin(_lepton_b_dr(o), b.counts))
    return (_lepton(o).p4() + _neutrino(o)[1] + closest).mass


# --- angular ---------------------------------------------------------------------------------------
@register_feature("dr_bb", r"$\Delta R(b, b)$", (50, 0, 6))
def dr_bb(o: EventObjects):
    """ΔR = sqrt(Δη² + Δφ²) between the two leading b-tagged jets."""
    b = _bjets(o)
    lead = b.leading(2)
    both = np.flatnonzero(lead[:, 1] >= 0)
    out = np.full(b.n_events, np.nan)
    out[both] = ak.to_numpy(b.direction(lead[both, 0]).deltaR(b.direction(lead[both, 1])))
    return out


@register_feature("min_dr_lb", r"min $\Delta R(\ell, b)$", (50, 0, 6))
def min_dr_lb(o: EventObjects):
    """Smallest ΔR between the leading lepton and any b-tagged jet."""
    return segment_min(_lepton_b_dr(o), _bjets(o).counts)


# --- event shapes ----------------------------------------------------------------------------------
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
