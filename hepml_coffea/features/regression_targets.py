"""b-jet energy regression: the target, and jets with the regressed pT.

The regression target of a reconstructed jet is ``t = pT(matched GenJet) / pT(jet)``, the factor
that would bring the jet back to its generator-level pT (b jets lose energy to neutrinos in
semileptonic decays, so their ``t`` has a tail above 1). The matched GenJet is the one
``Jet_genJetIdx`` points to; unmatched (pileup) jets have no target (NaN). A regressor predicts
``t̂`` from jet features; the regressed jet is the four-vector scaled by ``t̂``:
``pT' = t̂ pT``, ``m' = t̂ m``, η and φ unchanged (GeV).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np


def regression_target(
    jet_pt: ak.Array, jet_genjet_idx: ak.Array, genjet_pt: ak.Array
) -> np.ndarray:
    """``pT(GenJet[Jet_genJetIdx]) / pT(Jet)`` for every jet, flat; NaN where unmatched.

    Parameters
    ----------
    jet_pt : awkward.Array
        Jagged jet pT (GeV), one list per event.
    jet_genjet_idx : awkward.Array
        Jagged ``Jet_genJetIdx`` of the same jets (-1 = no GenJet; indices ≥ the number of
        GenJets, as NanoAOD has for GenJets below its pT threshold, count as unmatched).
    genjet_pt : awkward.Array
        Jagged ``GenJet_pt`` (GeV).

    Returns
    -------
    numpy.ndarray of float64, shape (n_jets,)
    """
    counts = ak.to_numpy(ak.num(jet_pt, axis=1)).astype(np.int64)
    g_counts = ak.to_numpy(ak.num(genjet_pt, axis=1)).astype(np.int64)
    g_off = np.concatenate([[0], np.cumsum(g_counts)])
    ev = np.repeat(np.arange(len(counts)), counts)
    pt = ak.to_numpy(ak.flatten(jet_pt, axis=1)).astype(np.float64)
    idx = ak.to_numpy(ak.flatten(jet_genjet_idx, axis=1)).astype(np.int64)
    gpt = ak.to_numpy(ak.flatten(genjet_pt, axis=1)).astype(np.float64)
    ok = (idx >= 0) & (idx < g_counts[ev]) & (pt > 0)
    out = np.full(len(pt), np.nan)
    out[ok] = gpt[g_off[:-1][ev[ok]] + idx[ok]] / pt[ok]
    return out


def scale_jets(jets: ak.Array, factor: ak.Array | np.ndarray) -> ak.Array:
    """Jets with ``pt`` and ``mass`` multiplied by ``factor`` (η, φ and other fields unchanged).

    Parameters
    ----------
    jets : awkward.Array
        Jagged jet records (e.g. ``PtEtaPhiMCandidate`` with ``btag``, ``is_b``).
    factor : awkward.Array or numpy.ndarray
        Jagged like ``jets``, or flat with one value per jet.

    Returns
    -------
    awkward.Array
        The same structure, record name and behaviour as ``jets``. The pT order may change
        (not re-sorted).
    """
    counts = ak.num(jets, axis=1)
    if not isinstance(factor, ak.Array) or factor.ndim == 1:
        factor = ak.unflatten(np.asarray(factor, dtype=np.float64), counts)
    return ak.with_field(ak.with_field(jets, jets.pt * factor, "pt"), jets.mass * factor, "mass")


def pt_order(jets: ak.Array) -> Any:
    """``jets`` sorted by decreasing pT within each event."""
    return jets[ak.argsort(jets.pt, axis=1, ascending=False, stable=True)]
