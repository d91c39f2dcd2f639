"""Jet energy scale (JES) and resolution (JER) variations, and their propagation to MET.

All functions work on FLAT jet columns (one row per jet of the ``Jet`` collection, before any
selection) and return per-jet multiplicative factors applied to both pT and mass:

- **JES** ``<name>Up/Down``: ``f = 1 ± u(|η|, pT)``, ``u`` the relative 1σ uncertainty, either a
  configured number or a correctionlib correction with inputs ``(abseta, pt)``.
- **JER** with the resolution scale factor ``c(|η|)`` (data/simulation; nominal, up and down):
  the simulated jets are smeared in EVERY pass (the nominal with the nominal ``c``; ``JERUp`` /
  ``JERDown`` with ``c_up`` / ``c_down``; the JES passes on top of the nominal smearing).
  "stochastic": ``pT' = pT·(1 + σ·g·sqrt(max(c² − 1, 0)))`` with ``σ`` the relative resolution
  (a number or a correction of ``(abseta, pt)``) and ``g`` a standard normal number that is a
  deterministic function of ``(run, event, jet index)``: the same jet gets the same smearing
  whatever the chunking, executor or worker, and the same ``g`` in every pass. "hybrid" (CMS): a
  jet matched to a generator jet (``Jet_genJetIdx`` ≥ 0) gets ``pT' = pT_gen + c·(pT − pT_gen)``,
  the others the stochastic smearing. ``c = 1`` leaves the jets as they are. Factors ≥ 0.
- **MET** (type-1-like propagation): ``MET⃗' = MET⃗ − Σ_j (f_j − 1)·pT⃗_j`` over the jets of the
  collection with nominal pT > ``met_jet_pt_min`` (15 GeV by default), before any jet selection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of uint64 values (a good, fast, stateless integer hash)."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def deterministic_normal(
    run: np.ndarray, event: np.ndarray, index: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Standard normal numbers, one per object, fixed by ``(run, event, index, seed)``.

    Parameters
    ----------
    run, event : numpy.ndarray of shape (n_objects,)
        The run and event number of each object's event.
    index : numpy.ndarray of shape (n_objects,)
        The object's index inside its event's collection (as in the NanoAOD file).
    seed : int
        Changes every number (one seed per source of randomness).

    Returns
    -------
    numpy.ndarray of float64, shape (n_objects,)
        Box–Muller transform of two hashed uniforms.
    """
    with np.errstate(over="ignore"):
        base = splitmix64(
            np.asarray(event, dtype=np.uint64)
            ^ splitmix64(np.asarray(run, dtype=np.uint64) ^ np.uint64(seed))
        )
        h1 = splitmix64(base + np.asarray(index, dtype=np.uint64) * np.uint64(2))
        h2 = splitmix64(base + np.asarray(index, dtype=np.uint64) * np.uint64(2) + np.uint64(1))
    scale = 2.0**-53
    u1 = 1.0 - (h1 >> np.uint64(11)).astype(np.float64) * scale  # (0, 1]
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * scale
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


Lookup = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A function ``(abseta, pt) -> value`` per jet (a constant or a correctionlib evaluation)."""


@dataclass(frozen=True)
class FlatJets:
    """The inputs of the jet variations, one row per jet of the collection (before selection).

    Attributes
    ----------
    pt, eta, phi : numpy.ndarray of shape (n_jets,)
        Nominal kinematics (GeV).
    counts : numpy.ndarray of int64, shape (n_events,)
        Jets per event.
    run, event : numpy.ndarray of shape (n_events,)
        Event identifiers (seed of the JER smearing).
    gen_pt : numpy.ndarray of shape (n_jets,)
        pT of the matched generator jet, NaN where unmatched (or no generator information).
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    counts: np.ndarray
    run: np.ndarray
    event: np.ndarray
    gen_pt: np.ndarray

    @property
    def index(self) -> np.ndarray:
        """Each jet's index inside its event, shape (n_jets,)."""
        starts = np.repeat(np.cumsum(self.counts) - self.counts, self.counts)
        return np.arange(len(self.pt)) - starts

    @property
    def event_of_jet(self) -> np.ndarray:
        """The row (in the chunk) of each jet's event, shape (n_jets,)."""
        return np.repeat(np.arange(len(self.counts)), self.counts)


def jes_factors(jets: FlatJets, uncertainty: Lookup, direction: int) -> np.ndarray:
    """``1 + direction · u(|η|, pT)`` per jet (``direction`` = +1 up, -1 down), clipped at 0."""
    u = np.asarray(uncertainty(np.abs(jets.eta), jets.pt), dtype=np.float64)
    return np.clip(1.0 + direction * u, 0.0, None)


def jer_factors(
    jets: FlatJets,
    resolution: Lookup,
    sf: np.ndarray | float,
    seed: int = 0,
    hybrid: bool = False,
) -> np.ndarray:
    """JER factors per jet for the scale factor(s) ``sf`` (see the module docstring).

    ``sf`` is one number or one value per jet; ``hybrid`` uses the matched generator jets
    (``jets.gen_pt`` finite), the stochastic smearing for the others.
    """
    pt = np.asarray(jets.pt, dtype=np.float64)
    c = np.broadcast_to(np.asarray(sf, dtype=np.float64), pt.shape)
    out = np.ones(len(pt))
    matched = np.isfinite(jets.gen_pt) if hybrid else np.zeros(len(pt), dtype=bool)
    if matched.any():
        gen = jets.gen_pt[matched]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[matched] = (gen + c[matched] * (pt[matched] - gen)) / pt[matched]
    um = ~matched & (c > 1.0)
    if um.any():
        ev = jets.event_of_jet[um]
        g = deterministic_normal(jets.run[ev], jets.event[ev], jets.index[um], seed)
        sigma = np.asarray(resolution(np.abs(jets.eta[um]), pt[um]), dtype=np.float64)
        out[um] = 1.0 + sigma * g * np.sqrt(c[um] ** 2 - 1.0)
    return np.clip(np.nan_to_num(out, nan=1.0), 0.0, None)


def propagate_met(
    jets: FlatJets,
    factors: np.ndarray,
    met_pt: np.ndarray,
    met_phi: np.ndarray,
    jet_pt_min: float = 15.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MET ``(pt, phi)`` after scaling the jets by ``factors`` (see the module docstring)."""
    use = jets.pt > jet_pt_min
    dpt = np.where(use, (factors - 1.0) * jets.pt, 0.0)
    ev = jets.event_of_jet
    n = len(jets.counts)
    dpx = np.bincount(ev, weights=dpt * np.cos(jets.phi), minlength=n)
    dpy = np.bincount(ev, weights=dpt * np.sin(jets.phi), minlength=n)
    met_pt = np.asarray(met_pt, dtype=np.float64)
    met_phi = np.asarray(met_phi, dtype=np.float64)
    px = met_pt * np.cos(met_phi) - dpx
    py = met_pt * np.sin(met_phi) - dpy
    return np.hypot(px, py), np.arctan2(py, px)
