"""Generator truth for jet–parton assignment: ttbar partons → GenJets → reconstructed jets.

The chain, as in real NanoAOD:

1. :func:`ttbar_partons` finds, from ``GenPart`` (``pdgId``, ``genPartIdxMother``), the four
   partons of a semileptonic ttbar event: the b from the top whose W decays to a charged lepton
   (``b_lep``), the b from the other top (``b_had``) and the two quarks from that top's W.
   Copies of a particle (the same ``pdgId`` as its mother, NanoAOD's radiation/recoil copies)
   are followed up to the first copy to find the real mother, and each parton is taken at its
   last copy.
2. :func:`match_partons` matches each parton to the nearest GenJet with ΔR < ``max_dr``; two
   partons on the same GenJet make the event unmatched (ambiguous).
3. :func:`jet_roles` gives every reconstructed jet the role of the parton its ``Jet_genJetIdx``
   points to (:data:`ROLE_CODES`).

All functions are vectorised over the chunk (flat numpy arrays with per-event counts); the only
Python loop follows mother chains, once per generation of copies (a handful), not per event.
"""

from __future__ import annotations

import numpy as np

from hepml_coffea.flat import segment_argmin, segment_offsets

#: Role codes of :func:`jet_roles`.
ROLE_CODES = {"none": 0, "b_lep": 1, "b_had": 2, "w_quark": 3}

_MAX_COPIES = 64


def _global_mother(mother: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Local mother indices (-1 = none) → flat indices of the chunk (-1 = none)."""
    offsets = segment_offsets(counts)
    event = np.repeat(np.arange(len(counts)), counts)
    mother = np.asarray(mother, dtype=np.int64)
    return np.where(mother >= 0, mother + offsets[:-1][event], -1)


def ttbar_partons(pdg_id: np.ndarray, mother: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The four partons of semileptonic ttbar events, as local ``GenPart`` indices.

    Parameters
    ----------
    pdg_id : numpy.ndarray of int, shape (n_particles,)
        Flat ``GenPart_pdgId`` of the chunk.
    mother : numpy.ndarray of int, shape (n_particles,)
        Flat ``GenPart_genPartIdxMother`` (index within the event, -1 for none).
    counts : numpy.ndarray of int, shape (n_events,)
        Particles per event.

    Returns
    -------
    numpy.ndarray of int64, shape (n_events, 4)
        Columns ``b_lep, b_had, q1, q2`` (``q1`` the quark listed first); a row of -1 for events
        that are not exactly one leptonic (e, μ or τ) and one hadronic top decay.
    """
    pdg = np.asarray(pdg_id, dtype=np.int64)
    apdg = np.abs(pdg)
    counts = np.asarray(counts, dtype=np.int64)
    n = len(pdg)
    event = np.repeat(np.arange(len(counts)), counts)
    gm = _global_mother(mother, counts)
    # first copy of each particle: climb while the mother has the same pdgId
    first = np.arange(n)
    for _ in range(_MAX_COPIES):
        m = gm[first]
        same = (m >= 0) & (pdg[np.maximum(m, 0)] == pdg[first])
        if not same.any():
            break
        first = np.where(same, m, first)
    dm = gm[first]  # the distinct mother (-1: none)
    dm_pdg = np.where(dm >= 0, apdg[np.maximum(dm, 0)], 0)
    dm_first = np.where(dm >= 0, first[np.maximum(dm, 0)], -1)
    has_copy_child = np.zeros(n, dtype=bool)
    child = np.flatnonzero((gm >= 0) & (pdg[np.maximum(gm, 0)] == pdg))
    has_copy_child[gm[child]] = True
    last = ~has_copy_child

    # W bosons from tops (keyed by the W's first copy), and the top each comes from
    w_top = np.full(n, -1, dtype=np.int64)
    w_from_top = np.flatnonzero((apdg == 24) & (dm_pdg == 6) & (first == np.arange(n)))
    w_top[w_from_top] = dm_first[w_from_top]
    # daughters of those Ws: charged leptons make the W (and its top) leptonic
    from_w = (dm_pdg == 24) & (dm_first >= 0)
    from_w &= w_top[np.maximum(dm_first, 0)] >= 0
    top_leptonic = np.zeros(n, dtype=bool)
    lep = np.flatnonzero(from_w & np.isin(apdg, (11, 13, 15)) & (first == np.arange(n)))
    top_leptonic[w_top[dm_first[lep]]] = True

    out = np.full((len(counts), 4), -1, dtype=np.int64)
    # b quarks from tops (last copy)
    b = np.flatnonzero((apdg == 5) & (dm_pdg == 6) & last)
    b_lep = b[top_leptonic[dm_first[b]]]
    b_had = b[~top_leptonic[dm_first[b]]]
    # quarks from the hadronic W (last copy)
    q = np.flatnonzero(from_w & (apdg >= 1) & (apdg <= 5) & last)
    q = q[~top_leptonic[w_top[dm_first[q]]]]

    n_lep_top = np.bincount(event[lep], minlength=len(counts))
    n_blep = np.bincount(event[b_lep], minlength=len(counts))
    n_bhad = np.bincount(event[b_had], minlength=len(counts))
    n_q = np.bincount(event[q], minlength=len(counts))
    good = (n_lep_top == 1) & (n_blep == 1) & (n_bhad == 1) & (n_q == 2)
    offsets = segment_offsets(counts)[:-1]
    for col, idx in ((0, b_lep), (1, b_had)):
        idx = idx[good[event[idx]]]
        out[event[idx], col] = idx - offsets[event[idx]]
    q = q[good[event[q]]]
    if q.size:
        # q is sorted: per event the first quark then the second
        out[event[q[0::2]], 2] = q[0::2] - offsets[event[q[0::2]]]
        out[event[q[1::2]], 3] = q[1::2] - offsets[event[q[1::2]]]
    return out


def match_partons(
    partons: np.ndarray,
    parton_eta: np.ndarray,
    parton_phi: np.ndarray,
    genjet_eta: np.ndarray,
    genjet_phi: np.ndarray,
    genjet_counts: np.ndarray,
    max_dr: float = 0.4,
) -> np.ndarray:
    """Match partons to the nearest GenJet within ΔR < ``max_dr``.

    Parameters
    ----------
    partons : numpy.ndarray of int, shape (n_events, k)
        Local ``GenPart`` indices (-1 = none), e.g. from :func:`ttbar_partons`.
    parton_eta, parton_phi : numpy.ndarray, shape (n_events, k)
        η and φ of those partons (any value where the index is -1).
    genjet_eta, genjet_phi : numpy.ndarray, shape (n_genjets,)
        Flat GenJet directions of the chunk.
    genjet_counts : numpy.ndarray of int, shape (n_events,)
    max_dr : float, default=0.4

    Returns
    -------
    numpy.ndarray of int64, shape (n_events, k)
        Local GenJet index of each parton; a whole row is -1 where any parton is missing or
        unmatched, or two partons share a GenJet.
    """
    n_ev, k = partons.shape
    counts = np.asarray(genjet_counts, dtype=np.int64)
    offsets = segment_offsets(counts)
    ev = np.repeat(np.arange(n_ev), k)  # one row per (event, parton)
    n_pair = counts[ev]
    row = np.repeat(np.arange(n_ev * k), n_pair)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(n_pair) - n_pair, n_pair)
    gj = offsets[:-1][ev[row]] + rank
    dr = np.sqrt(
        (parton_eta.ravel()[row] - genjet_eta[gj]) ** 2
        + ((parton_phi.ravel()[row] - genjet_phi[gj] + np.pi) % (2 * np.pi) - np.pi) ** 2
    )
    best = segment_argmin(dr, n_pair)
    ok = best >= 0
    match = np.full(n_ev * k, -1, dtype=np.int64)
    ok[ok] &= dr[best[ok]] < max_dr
    match[ok] = rank[best[ok]]
    match = match.reshape(n_ev, k)
    bad = (partons < 0).any(axis=1) | (match < 0).any(axis=1)
    srt = np.sort(match, axis=1)
    bad |= ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any(axis=1)
    match[bad] = -1
    return match


def jet_roles(
    jet_genjet_idx: np.ndarray, jet_counts: np.ndarray, parton_genjets: np.ndarray
) -> np.ndarray:
    """The truth role (:data:`ROLE_CODES`) of every jet from its ``Jet_genJetIdx``.

    Parameters
    ----------
    jet_genjet_idx : numpy.ndarray of int, shape (n_jets,)
        Flat local GenJet index of each (selected) jet, -1 where unmatched.
    jet_counts : numpy.ndarray of int, shape (n_events,)
    parton_genjets : numpy.ndarray of int, shape (n_events, 4)
        From :func:`match_partons` on the :func:`ttbar_partons` columns ``b_lep, b_had, q1, q2``.

    Returns
    -------
    numpy.ndarray of int8, shape (n_jets,)
        1 b_lep, 2 b_had, 3 W quark, 0 none.
    """
    event = np.repeat(np.arange(len(jet_counts)), np.asarray(jet_counts, dtype=np.int64))
    g = np.asarray(jet_genjet_idx, dtype=np.int64)
    pg = parton_genjets[event]
    hit = (g[:, None] == pg) & (g[:, None] >= 0)
    code = np.array([1, 2, 3, 3], dtype=np.int8)
    return np.where(hit.any(axis=1), code[np.argmax(hit, axis=1)], 0).astype(np.int8)
