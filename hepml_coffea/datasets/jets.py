"""Jet-level detector simulation: flavour-dependent response, pileup jets, tagger inputs.

- **Response.** A jet's visible pT is ``parton pT · (1 − f_ν) · r`` with ``r ~ N(μ_flav, σ(pT))``,
  ``μ`` = 0.985 (b), 0.99 (c), 0.975 (gluon), 1 (light quark) and σ the simulated resolution
  of :mod:`~hepml_coffea.datasets.corrections`. Semileptonic decays (22% of b jets, 12% of c
  jets, 1% of light jets) put a lepton of pT fraction ``U(0.03, 0.35)`` in the jet, and for
  b/c jets a neutrino that takes ``f_ν`` = that fraction × U(0.6, 1.6) (0.02–0.6): the response
  tail that a b-jet energy regression learns from ``Jet_muEF``/``Jet_nMuons``/``Jet_nElectrons``.
- **Pileup jets**: Poisson(0.012 · nTrueInt) (at most ``MAX_PU_JETS``), pT = 15 + Exp(6) GeV,
  flavour 0, no GenJet, mostly failing the pileup ID.
- **Tagger inputs** (independent of the DeepJet latent score, so that they add information):
  ``nSV`` ~ Poisson(1.1 b, 0.55 c, 0.08 light); ``svMass`` (GeV, 0 without SV) ~ N(2.6, 0.9) b,
  N(1.4, 0.5) c, N(0.8, 0.4) light; ``qgl`` ~ Beta(1.6, 3.5) gluon, Beta(3.5, 1.6) light quark,
  Beta(2.4, 2.4) b/c, Beta(2, 2) pileup; ``nConstituents`` ~ Poisson(λ (1 + 0.35 ln(pT/20))),
  λ = 18 gluon, 11 light quark, 15 b, 13 c, 6 pileup; ``muEF`` = muon pT / jet pT for a
  semileptonic decay to a muon, else Exp(0.005).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from hepml_coffea.datasets.writer import reduce_precision

__all__ = ["MAX_PU_JETS", "pileup_jets", "poisson_like", "semileptonic", "tagger_inputs"]

MAX_PU_JETS = 3


def poisson_like(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Counts from uniforms ``u`` by inverse CDF: exact Poisson for ``lam`` < 5, the rounded
    normal approximation above (one uniform per value, so simulated events and their
    pseudo-data twins draw in step whatever ``lam``)."""
    lam = np.broadcast_to(lam, u.shape)
    out = np.maximum(np.rint(lam + np.sqrt(lam) * ndtri(u)), 0.0)
    small = lam < 5.0
    if small.any():
        ls, us = lam[small], u[small]
        term = np.exp(-ls)
        cdf, k = term.copy(), np.zeros(ls.shape)
        for i in range(1, 30):
            more = us > cdf
            if not more.any():
                break
            k += more
            term = term * ls / i
            cdf += term
        out[small] = k
    return out


def semileptonic(
    rng: np.random.Generator, hflav: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(has a semileptonic decay, lepton pT fraction, neutrino pT fraction) per parton slot."""
    prob = np.select([hflav == 5, hflav == 4], [0.22, 0.12], 0.01)
    semi = valid & (rng.random(hflav.shape) < prob)
    lep_frac = rng.uniform(0.03, 0.35, hflav.shape)
    nu = np.clip(lep_frac * rng.uniform(0.6, 1.6, hflav.shape), 0.02, 0.6)
    nu_frac = np.where(semi & (hflav > 0), nu, 0.0)
    return semi, lep_frac, nu_frac


def response_mean(hflav: np.ndarray, pflav: np.ndarray) -> np.ndarray:
    """Mean jet response by flavour (before the neutrino loss)."""
    return np.select([hflav == 5, hflav == 4, pflav == 21], [0.985, 0.99, 0.975], 1.0)


def pileup_jets(rng: np.random.Generator, ntrue: np.ndarray) -> dict[str, np.ndarray]:
    """Padded (n, ``MAX_PU_JETS``) pileup jets: pt, eta, phi, mass and valid."""
    n, k = len(ntrue), MAX_PU_JETS
    count = np.minimum(poisson_like(rng.random(n), 0.012 * ntrue), k)
    pt = 15.0 + rng.exponential(6.0, (n, k))
    return {
        "pt": pt,
        "eta": rng.uniform(-4.5, 4.5, (n, k)),
        "phi": rng.uniform(-np.pi, np.pi, (n, k)),
        "mass": pt * rng.uniform(0.05, 0.15, (n, k)),
        "valid": np.arange(k)[None, :] < count[:, None],
    }


def tagger_inputs(
    rng: np.random.Generator,
    hflav: np.ndarray,
    pflav: np.ndarray,
    pileup: np.ndarray,
    pt: np.ndarray,
    muon_pt: np.ndarray,
) -> dict[str, np.ndarray]:
    """Flavour-dependent tagger inputs per jet slot (see the module docstring).

    ``pileup`` marks pileup jets; ``muon_pt`` is the pT of a muon from a semileptonic decay in
    the jet (0 where none).
    """
    shape = hflav.shape
    b, c = hflav == 5, hflav == 4
    gluon = (pflav == 21) & ~pileup
    nsv = np.minimum(rng.poisson(np.select([b, c], [1.1, 0.55], 0.08)), 5)
    sv_mass = rng.normal(np.select([b, c], [2.6, 1.4], 0.8), np.select([b, c], [0.9, 0.5], 0.4))
    sv_mass = np.where(nsv > 0, np.clip(sv_mass, 0.2, 6.5), 0.0)
    a = np.select([pileup, gluon, b | c], [2.0, 1.6, 2.4], 3.5)
    bb = np.select([pileup, gluon, b | c], [2.0, 3.5, 2.4], 1.6)
    qgl = rng.beta(a, bb)
    lam = np.select([pileup, gluon, b, c], [6.0, 18.0, 15.0, 13.0], 11.0)
    lam = lam * (1.0 + 0.35 * np.log(np.maximum(pt, 20.0) / 20.0))
    ncons = np.clip(poisson_like(rng.random(shape), lam) + 1, 1, 255)
    mu_ef = np.where(muon_pt > 0, muon_pt / np.maximum(pt, 1.0), rng.exponential(0.005, shape))
    return {
        "nSV": nsv.astype(np.int32),
        "svMass": reduce_precision(sv_mass, 10),
        "qgl": reduce_precision(qgl, 10),
        "nConstituents": ncons.astype(np.uint8),
        "muEF": reduce_precision(np.clip(mu_ef, 0.0, 1.0), 8),
    }
