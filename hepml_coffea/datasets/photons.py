"""Reconstructed photons: a few prompt ones and fakes from jets (π⁰ → γγ), NanoAOD-like.

- **Prompt** (``genPartFlav`` = 1): radiated in the hard process with probability
  ``PROMPT_PROB`` per event, pT = 15 U^(−1/1.8) GeV (≤ 300), η ~ N(0, 1.2).
- **Fake** (``genPartFlav`` = 0): each jet with pT > 20 GeV yields one with probability
  ``FAKE_PROB``, carrying U(0.15, 0.6) of its pT, within ΔR ≈ 0.03 of it; ``jetIdx`` is that
  jet.

Photons have |η| < 2.5 (not 1.444–1.566) and pT > 10 GeV; no ``Photon_mass`` branch (coffea's
NanoAODSchema sets it to 0) and ``genPartIdx`` = -1 (prompt photons are not in ``GenPart``). The shower shapes and isolation
discriminate (barrel / endcap): ``sieie`` prompt N(0.0095, 0.0008) / N(0.026, 0.002), fake
N(0.0125, 0.003) / N(0.032, 0.006); ``hoe`` Exp(0.01) / Exp(0.06); ``r9`` 1 − Exp(0.05) /
1 − Exp(0.2) (clipped to [0.2, 1]); ``pfRelIso03_all`` Exp(0.03) / 0.05 + Exp(0.6).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.datasets.writer import reduce_precision

__all__ = ["FAKE_PROB", "PROMPT_PROB", "photons"]

FAKE_PROB = 0.06
PROMPT_PROB = 0.05


def photons(
    rng: np.random.Generator,
    jet_pt: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    jet_index: np.ndarray,
) -> ak.Array:
    """The ``Photon`` collection of ``n`` events.

    Parameters
    ----------
    rng : numpy.random.Generator
    jet_pt, jet_eta, jet_phi : ndarray of shape (n, K)
        Padded jet slots (pT 0 where there is no jet).
    jet_index : ndarray of shape (n, K)
        Index of each slot's jet in the event's ``Jet`` collection (-1: not stored).
    """
    n, k = jet_pt.shape
    has_prompt = rng.random((n,)) < PROMPT_PROB
    ppt = np.minimum(15.0 * rng.random((n,)) ** (-1.0 / 1.8), 300.0)
    peta = rng.normal(0.0, 1.2, (n,))
    pphi = rng.uniform(-np.pi, np.pi, (n,))
    fake = (jet_pt > 20.0) & (jet_index >= 0) & (rng.random((n, k)) < FAKE_PROB)
    fpt = jet_pt * rng.uniform(0.15, 0.6, (n, k))
    feta = jet_eta + rng.normal(0.0, 0.03, (n, k))
    fphi = (jet_phi + rng.normal(0.0, 0.03, (n, k)) + np.pi) % (2 * np.pi) - np.pi

    pt = np.concatenate([ppt[:, None], fpt], axis=1)
    eta = np.concatenate([peta[:, None], feta], axis=1)
    phi = np.concatenate([pphi[:, None], fphi], axis=1)
    prompt = np.zeros(pt.shape, bool)
    prompt[:, 0] = True
    aeta = np.abs(eta)
    valid = np.concatenate([has_prompt[:, None], fake], axis=1)
    valid &= (pt > 10.0) & (aeta < 2.5) & ~((aeta > 1.444) & (aeta < 1.566))
    jidx = np.concatenate([np.full((n, 1), -1), jet_index], axis=1)
    shape = pt.shape
    barrel = aeta < 1.479
    sieie = np.where(
        prompt,
        np.where(barrel, rng.normal(0.0095, 0.0008, shape), rng.normal(0.026, 0.002, shape)),
        np.where(barrel, rng.normal(0.0125, 0.003, shape), rng.normal(0.032, 0.006, shape)),
    )
    cols: dict[str, Any] = {
        "pt": (pt, np.float32),
        "eta": (eta, np.float32),
        "phi": (phi, np.float32),
        "sieie": (np.clip(sieie, 0.004, None), np.float32),
        "hoe": (np.where(prompt, rng.exponential(0.01, shape), rng.exponential(0.06, shape)),
                np.float32),
        "r9": (np.clip(1.0 - np.where(prompt, rng.exponential(0.05, shape),
                                      rng.exponential(0.2, shape)), 0.2, 1.0), np.float32),
        "pfRelIso03_all": (np.where(prompt, rng.exponential(0.03, shape),
                                    0.05 + rng.exponential(0.6, shape)), np.float32),
        "genPartFlav": (prompt.astype(np.uint8), np.uint8),
        "electronIdx": (np.full(shape, -1), np.int32),
        "genPartIdx": (np.full(shape, -1), np.int32),
        "jetIdx": (jidx, np.int32),
    }  # fmt: skip
    order = np.argsort(np.where(valid, -pt, np.inf), axis=1, kind="stable")
    counts = valid.sum(axis=1)
    sv = np.arange(shape[1])[None, :] < counts[:, None]
    return ak.zip(
        {
            k: ak.unflatten(_store(k, np.take_along_axis(v, order, axis=1)[sv], dt), counts)
            for k, (v, dt) in cols.items()
        }
    )


def _store(name: str, x: np.ndarray, dtype) -> np.ndarray:
    """Cast to the branch type; the identification variables keep 10 mantissa bits."""
    if name in ("sieie", "hoe", "r9", "pfRelIso03_all"):
        return reduce_precision(x, 10)
    return x.astype(dtype)
