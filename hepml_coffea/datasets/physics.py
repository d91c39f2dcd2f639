"""Vectorised relativistic kinematics for the generator: four-vectors, Breit–Wigner masses,
two-body decays with boosts.

Four-vectors are numpy arrays of shape ``(..., 4)`` holding ``(E, px, py, pz)`` in GeV. Every
function works on whole arrays of events at once; there is no per-event Python loop.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "boost",
    "breit_wigner",
    "from_pt_eta_phi_m",
    "mass",
    "produce",
    "pt_eta_phi",
    "two_body_decay",
]


def from_pt_eta_phi_m(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Four-vectors ``(E, px, py, pz)`` of shape ``(..., 4)`` from pt, η, φ, mass (GeV)."""
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + m * m)
    return np.stack([e, px, py, pz], axis=-1)


def pt_eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transverse momentum (GeV), pseudorapidity and azimuth of four-vectors ``(..., 4)``."""
    px, py, pz = p4[..., 1], p4[..., 2], p4[..., 3]
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / pt, 0.0))
    return pt, eta, np.arctan2(py, px)


def mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass (GeV) of four-vectors ``(..., 4)``; negative m² is clipped to 0."""
    m2 = p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2 - p4[..., 3] ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def breit_wigner(
    rng: np.random.Generator,
    m0: float,
    width: float,
    size: int,
    *,
    low: float,
    high: float,
) -> np.ndarray:
    """Sample resonance masses from a relativistic Breit–Wigner, truncated to ``[low, high]``.

    Uses inverse-CDF sampling in the variable ``m² = m0² + m0 Γ tan θ`` which is exact for
    the relativistic form ``1 / ((m² - m0²)² + m0² Γ²)`` in ``m²``.

    Returns
    -------
    ndarray of shape (size,)
        Masses in GeV.
    """
    a_lo = np.arctan((low**2 - m0**2) / (m0 * width))
    a_hi = np.arctan((high**2 - m0**2) / (m0 * width))
    theta = rng.uniform(a_lo, a_hi, size)
    return np.sqrt(m0**2 + m0 * width * np.tan(theta))


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``(n, 4)`` by velocities ``beta`` of shape ``(n, 3)``."""
    b2 = np.einsum("ij,ij->i", beta, beta)
    b2 = np.clip(b2, 0.0, 1.0 - 1e-15)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.einsum("ij,ij->i", beta, p4[:, 1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    out = np.empty_like(p4)
    out[:, 0] = gamma * (p4[:, 0] + bp)
    out[:, 1:] = p4[:, 1:] + (g2 * bp + gamma * p4[:, 0])[:, None] * beta
    return out


def two_body_decay(
    rng: np.random.Generator,
    parent: np.ndarray,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Decay parents isotropically (in their rest frame) into two daughters, then boost.

    Parameters
    ----------
    rng : numpy.random.Generator
    parent : ndarray of shape (n, 4)
        Parent four-vectors (GeV); their invariant mass is the decay mass.
    m1, m2 : float or ndarray of shape (n,)
        Daughter masses in GeV; ``m1 + m2`` must not exceed the parent mass.

    Returns
    -------
    (ndarray of shape (n, 4), ndarray of shape (n, 4))
        Lab-frame daughter four-vectors; they sum to ``parent``.
    """
    n = parent.shape[0]
    m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, dtype=np.float64), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=np.float64), (n,))
    lam = (m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)
    pstar = np.sqrt(np.clip(lam, 0.0, None)) / (2.0 * np.maximum(m, 1e-12))
    cos_t = rng.uniform(-1.0, 1.0, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    p3 = pstar[:, None] * np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
    d1 = np.empty((n, 4))
    d1[:, 0] = np.sqrt(pstar**2 + m1**2)
    d1[:, 1:] = p3
    d2 = np.empty((n, 4))
    d2[:, 0] = np.sqrt(pstar**2 + m2**2)
    d2[:, 1:] = -p3
    beta = parent[:, 1:] / parent[:, :1]
    return boost(d1, beta), boost(d2, beta)


def produce(
    rng: np.random.Generator,
    m: np.ndarray,
    *,
    pt_scale: float,
    y_sigma: float,
) -> np.ndarray:
    """Four-vectors ``(n, 4)`` of systems of mass ``m`` produced with exponential pT and Gaussian rapidity.

    ``pt ~ Exp(pt_scale)`` GeV, ``y ~ N(0, y_sigma)``, φ uniform.
    """
    n = m.shape[0]
    pt = rng.exponential(pt_scale, n)
    y = rng.normal(0.0, y_sigma, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(m**2 + pt**2)
    out = np.empty((n, 4))
    out[:, 0] = mt * np.cosh(y)
    out[:, 1] = pt * np.cos(phi)
    out[:, 2] = pt * np.sin(phi)
    out[:, 3] = mt * np.sinh(y)
    return out
