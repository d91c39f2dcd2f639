"""Per-event theory and pileup branches of the simulated samples.

- ``LHEScaleWeight`` (9 per event, NanoAOD order ``(muR, muF)`` = (0.5, 0.5), (0.5, 1),
  (0.5, 2), (1, 0.5), (1, 1), (1, 2), (2, 0.5), (2, 1), (2, 2); entry 4 is 1): a lower
  renormalisation scale raises the cross section by ``a_R`` (process dependent, 4–15%), more so
  in events of large HT; the factorisation scale moves it by ``a_F`` (2–4%), with the sign
  depending on the rapidity of the system; plus 1% event-by-event noise.
- ``PSWeight`` (4 per event: ISR up, FSR up, ISR down, FSR down; "up" = more radiation): exact
  reweightings of the generator's own radiation. Each decay quark radiates with probability
  ``p`` (``FSR_PROB``); FSR up/down reweight to ``p·1.2`` / ``p/1.2``:
  ``(p'/p)^k ((1−p')/(1−p))^(m−k)`` for ``k`` radiating quarks of ``m`` (W+jets and
  Drell–Yan have no decay quarks: their FSR weights are 1). The number of ISR
  partons is Poisson(λ) (capped); ISR up/down reweight to ``λ·1.15`` / ``λ/1.15``. Their
  average over a sample is 1.
- ``Pileup_nTrueInt``: drawn from the simulation profile of
  :mod:`~hepml_coffea.datasets.corrections` (the pseudo-data use the data profile).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson

from hepml_coffea.datasets import physics as ph
from hepml_coffea.datasets.processes import SIMULATED, Truth
from hepml_coffea.datasets.writer import reduce_precision

__all__ = ["FSR_VAR", "ISR_VAR", "ps_weights", "scale_weights"]

FSR_VAR = 1.2
"""FSR up/down multiply/divide the radiation probability by this."""
ISR_VAR = 1.15
"""ISR up/down multiply/divide the mean number of ISR partons by this."""

# (a_R, a_F, HT reference in GeV) per process
_SCALE = {
    "ttbar_semilep": (0.11, 0.03, 350.0),
    "wjets": (0.15, 0.04, 150.0),
    "single_top": (0.04, 0.02, 200.0),
    "dy": (0.08, 0.03, 120.0),
}
_MUR = np.array([0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
_MUF = np.array([0.5, 1.0, 2.0, 0.5, 1.0, 2.0, 0.5, 1.0, 2.0])


def scale_weights(process: str, truth: Truth, rng: np.random.Generator) -> np.ndarray:
    """``LHEScaleWeight`` of shape (n, 9), float32 (see the module docstring)."""
    a_r, a_f, ht_ref = _SCALE[SIMULATED[process].generator or process]
    pt, eta, _ = ph.pt_eta_phi(truth.partons)
    ht = np.where(truth.pvalid, pt, 0.0).sum(axis=1)
    z = np.clip(np.log(np.maximum(ht, 1.0) / ht_ref), -2.0, 2.0)
    y = np.where(truth.pvalid, eta, 0.0).sum(axis=1) / np.maximum(truth.pvalid.sum(axis=1), 1)
    r = -np.log2(_MUR)[None, :]  # +1 for muR = 0.5
    f = -np.log2(_MUF)[None, :]
    d_r = a_r * (1.0 + 0.3 * z)[:, None]
    d_f = a_f * np.tanh(np.abs(y) - 0.8)[:, None]
    w = (1.0 + r * d_r + 0.15 * a_r * r**2) * (1.0 + f * d_f)
    noise = rng.normal(0.0, 0.01, w.shape) * np.sqrt(r**2 + f**2)
    w = np.clip(w + noise, 0.3, 2.0)
    w[:, 4] = 1.0
    return reduce_precision(w, 10)


def ps_weights(truth: Truth) -> np.ndarray:
    """``PSWeight`` of shape (n, 4), float32: ISR up, FSR up, ISR down, FSR down."""
    k, m, p = truth.fsr_n, truth.fsr_m, truth.fsr_p
    out = np.empty((len(k), 4))
    for col, fac in ((1, FSR_VAR), (3, 1.0 / FSR_VAR)):
        q = p * fac
        out[:, col] = (q / p) ** k * ((1.0 - q) / (1.0 - p)) ** (m - k)
    lam, cap = truth.isr_mean, truth.isr_cap
    j = truth.isr_n
    for col, fac in ((0, ISR_VAR), (2, 1.0 / ISR_VAR)):
        lam2 = lam * fac
        w = (lam2 / lam) ** j * np.exp(lam - lam2)
        tail = poisson.sf(cap - 1, lam2) / poisson.sf(cap - 1, lam) if lam > 0 else 1.0
        out[:, col] = np.where(j >= cap, tail, w)
    return reduce_precision(out, 10)
