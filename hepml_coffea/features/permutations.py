"""Jet–parton assignment in lepton+jets ttbar: permutations of the leading jets and their features.

An *assignment* gives each of the ``n`` leading jets of an event one role: the b quark of the
leptonic top (``b_lep``), the b quark of the hadronic top (``b_had``), or one of the two quarks of
the hadronic W (``w1``, ``w2``, unordered: ``w1`` is the higher-pT one). With ``n = 4`` there are
4 · 3 = 12 assignments per event (the AGC's jet–parton assignment task); in general
``n (n - 1) (n - 2) (n - 3) / 2``.

Everything is vectorised over the chunk: the assignments of all events are one flat table of
jet indices (:class:`Permutations`), built from a fixed index table
(:func:`permutation_table`) with numpy fancy indexing, and the per-permutation features are flat
arrays computed with ``vector`` (:func:`permutation_features`). An estimator scores every
permutation of the chunk with one call; :func:`best_permutation` picks, per event, the highest
score (or the smallest χ², :func:`chi2`), and :func:`best_observables` gives the reconstructed
hadronic top mass, W mass and top pT. Momenta and masses in GeV.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import awkward as ak
import numpy as np

from hepml_coffea.features.kinematics import M_TOP, M_W
from hepml_coffea.features.library import _jets, _lepton, _neutrino
from hepml_coffea.features.objects import EventObjects
from hepml_coffea.flat import FlatCollection, segment_argmin

#: The four roles of an assignment, in the column order of :attr:`Permutations.jets`.
ROLES = ("b_lep", "b_had", "w1", "w2")

#: Per-permutation features, in the column order of :func:`permutation_matrix`.
PERMUTATION_FEATURES = (
    "m_w_had",
    "m_top_had",
    "pt_top_had",
    "m_lep_blep",
    "m_top_lep",
    "dr_lep_blep",
    "dr_w1_w2",
    "dr_bhad_w1",
    "dr_bhad_w2",
    "dr_blep_bhad",
    "pt_blep",
    "pt_bhad",
    "pt_w1",
    "pt_w2",
    "btag_blep",
    "btag_bhad",
    "btag_w1",
    "btag_w2",
)


@cache
def permutation_table(n_jets: int = 4) -> np.ndarray:
    """All assignments of ``n_jets`` jets to the roles :data:`ROLES`.

    Order: ``b_lep`` ascending, then ``b_had``, then the W pair ``(w1, w2)`` with ``w1 < w2``
    (with pT-ordered jets ``w1`` is the harder W jet).

    Parameters
    ----------
    n_jets : int, default=4
        Number of leading jets to assign (≥ 4).

    Returns
    -------
    numpy.ndarray of int64, shape (n_permutations, 4)
        Jet ranks (0 = leading) of the roles; 12 rows for 4 jets, 60 for 5, 180 for 6.
    """
    if n_jets < 4:
        msg = f"Jet–parton assignment needs at least 4 jets; got n_jets={n_jets}."
        raise ValueError(msg)
    rows = []
    for b_lep, b_had in itertools.permutations(range(n_jets), 2):
        rest = [j for j in range(n_jets) if j not in (b_lep, b_had)]
        rows += [(b_lep, b_had, w1, w2) for w1, w2 in itertools.combinations(rest, 2)]
    table = np.array(rows, dtype=np.int64)
    table.flags.writeable = False
    return table


@dataclass(frozen=True)
class Permutations:
    """The assignments of a chunk as one flat table.

    Attributes
    ----------
    jets : numpy.ndarray of int64, shape (n_permutations_total, 4)
        Flat indices (into the jets' :class:`~hepml_coffea.flat.FlatCollection`) of the jets in
        the roles :data:`ROLES`.
    event : numpy.ndarray of int64, shape (n_permutations_total,)
        The event (row of the chunk) of each permutation.
    counts : numpy.ndarray of int64, shape (n_events,)
        Permutations per event: ``len(permutation_table(n_jets))`` for events with at least
        ``n_jets`` jets, else 0.
    n_jets : int
        Number of leading jets assigned.
    """

    jets: np.ndarray
    event: np.ndarray
    counts: np.ndarray
    n_jets: int

    @property
    def n_events(self) -> int:
        return len(self.counts)

    def __len__(self) -> int:
        return len(self.event)


def enumerate_permutations(jets: FlatCollection, n_jets: int = 4) -> Permutations:
    """All assignments of the ``n_jets`` leading jets of every event with at least that many.

    Parameters
    ----------
    jets : FlatCollection
        pT-ordered jets of the chunk (one list per event).
    n_jets : int, default=4

    Returns
    -------
    Permutations
        Events with fewer than ``n_jets`` jets have no permutation.
    """
    table = permutation_table(n_jets)
    ok = np.flatnonzero(jets.counts >= n_jets)
    lead = jets.offsets[:-1][ok, None, None] + table[None, :, :]  # (n_ok, n_perm, 4)
    counts = np.zeros(jets.n_events, dtype=np.int64)
    counts[ok] = len(table)
    return Permutations(
        jets=lead.reshape(-1, 4),
        event=np.repeat(ok.astype(np.int64), len(table)),
        counts=counts,
        n_jets=n_jets,
    )


_CART = ("px", "py", "pz", "E")


def _mass(p: dict[str, np.ndarray]) -> np.ndarray:
    """sqrt(E² − |p|²) of cartesian components (GeV); a negative m² (rounding) gives 0."""
    m2 = p["E"] ** 2 - p["px"] ** 2 - p["py"] ** 2 - p["pz"] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def _dr(eta1, phi1, eta2, phi2) -> np.ndarray:
    """ΔR = sqrt(Δη² + Δφ²), Δφ wrapped into [-π, π)."""
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def permutation_features(
    perms: Permutations,
    jets: FlatCollection,
    lepton: FlatCollection,
    neutrino: ak.Array,
) -> dict[str, np.ndarray]:
    """The features of every permutation (:data:`PERMUTATION_FEATURES`), flat.

    With ``j_r`` the four-vector of the jet in role ``r``, ``ℓ`` the lepton and ``ν`` the
    neutrino (pT = MET, pz from the W-mass constraint):

    * ``m_w_had = m(j_w1 + j_w2)``, ``m_top_had = m(j_bhad + j_w1 + j_w2)``,
      ``pt_top_had = pT(j_bhad + j_w1 + j_w2)``;
    * ``m_lep_blep = m(ℓ + j_blep)``, ``m_top_lep = m(ℓ + ν + j_blep)``;
    * ``dr_a_b = ΔR(a, b)`` = sqrt(Δη² + Δφ²) between the named objects;
    * ``pt_<role>`` and ``btag_<role>`` of each role's jet (b-tag: the configured discriminator).

    The four-vectors' cartesian components come from ``vector`` (computed once per chunk for the
    jets and the lepton); the sums over roles are numpy on the gathered rows, and a mass is
    sqrt(max(E² − |p|², 0)).

    Parameters
    ----------
    perms : Permutations
    jets : FlatCollection
        The jets ``perms`` indexes, with ``pt, eta, phi, mass, btag``.
    lepton : FlatCollection
        One row per event: the lepton (NaN where there is none).
    neutrino : awkward.Array
        One cartesian ``Momentum4D`` per event.

    Returns
    -------
    dict of str to numpy.ndarray of float64, each of shape (n_permutations_total,)
        Energies, momenta and masses in GeV.
    """
    j = perms.jets
    ev = perms.event
    # cartesian components, from vector once per chunk (FlatCollection.cartesian); the sums
    # over the roles are plain numpy on the gathered rows
    c = jets.cartesian
    lc = lepton.cartesian
    nu = {k: ak.to_numpy(getattr(neutrino, k)).astype(np.float64) for k in _CART}
    role = {r: j[:, k] for k, r in enumerate(ROLES)}
    w = {k: c[k][role["w1"]] + c[k][role["w2"]] for k in _CART}
    top_had = {k: w[k] + c[k][role["b_had"]] for k in _CART}
    lep_b = {k: lc[k][ev] + c[k][role["b_lep"]] for k in _CART}
    top_lep = {k: lep_b[k] + nu[k][ev] for k in _CART}
    eta, phi = jets["eta"], jets["phi"]

    def dr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _dr(eta[a], phi[a], eta[b], phi[b])

    out = {
        "m_w_had": _mass(w),
        "m_top_had": _mass(top_had),
        "pt_top_had": np.hypot(top_had["px"], top_had["py"]),
        "m_lep_blep": _mass(lep_b),
        "m_top_lep": _mass(top_lep),
        "dr_lep_blep": _dr(lepton["eta"][ev], lepton["phi"][ev], eta[j[:, 0]], phi[j[:, 0]]),
        "dr_w1_w2": dr(j[:, 2], j[:, 3]),
        "dr_bhad_w1": dr(j[:, 1], j[:, 2]),
        "dr_bhad_w2": dr(j[:, 1], j[:, 3]),
        "dr_blep_bhad": dr(j[:, 0], j[:, 1]),
    }
    short = ("blep", "bhad", "w1", "w2")
    for k, r in enumerate(short):
        out[f"pt_{r}"] = jets["pt"][j[:, k]]
    for k, r in enumerate(short):
        out[f"btag_{r}"] = jets["btag"][j[:, k]]
    return {name: np.asarray(out[name], dtype=np.float64) for name in PERMUTATION_FEATURES}


def permutation_matrix(features: dict[str, np.ndarray]) -> np.ndarray:
    """The features as a float32 table of shape (n_permutations_total, n_features), NaN → -1."""
    x = np.column_stack([features[n] for n in PERMUTATION_FEATURES]).astype(np.float32)
    x[~np.isfinite(x)] = -1.0
    return x


def chi2(
    features: dict[str, np.ndarray],
    sigma_w: float = 10.0,
    sigma_top: float = 15.0,
    m_w: float = M_W,
    m_top: float = M_TOP,
) -> np.ndarray:
    """The χ² baseline: χ² = ((m_w_had − m_W)/σ_W)² + ((m_top_had − m_t)/σ_t)², per permutation.

    Parameters
    ----------
    features : dict
        Output of :func:`permutation_features` (needs ``m_w_had`` and ``m_top_had``).
    sigma_w, sigma_top : float
        Mass resolutions (GeV) weighting the two terms.
    m_w, m_top : float
        Target masses (GeV).
    """
    return ((features["m_w_had"] - m_w) / sigma_w) ** 2 + (
        (features["m_top_had"] - m_top) / sigma_top
    ) ** 2


def best_permutation(score: np.ndarray, perms: Permutations, higher: bool = True) -> np.ndarray:
    """Per event, the flat index (into ``perms``) of the best permutation, or -1 without any.

    Parameters
    ----------
    score : numpy.ndarray, shape (n_permutations_total,)
        Permutation scores (e.g. the BDT's probability that the assignment is correct).
    perms : Permutations
    higher : bool, default=True
        True: the highest score is best; False: the smallest (χ²).

    Returns
    -------
    numpy.ndarray of int64, shape (n_events,)
        Ties go to the first permutation in :func:`permutation_table` order.
    """
    s = np.asarray(score, dtype=np.float64)
    return segment_argmin(-s if higher else s, perms.counts)


def best_observables(features: dict[str, np.ndarray], best: np.ndarray) -> dict[str, np.ndarray]:
    """The reconstructed observables of the chosen permutation of each event.

    Returns
    -------
    dict
        ``m_top_had`` (GeV), ``m_w_had`` (GeV), ``pt_top_had`` (GeV), ``m_top_lep`` (GeV): float64
        arrays of shape (n_events,), NaN for events without permutations.
    """
    out = {}
    ok = best >= 0
    for name in ("m_top_had", "m_w_had", "pt_top_had", "m_top_lep"):
        col = np.full(len(best), np.nan)
        col[ok] = features[name][best[ok]]
        out[name] = col
    return out


def permutation_labels(perms: Permutations, roles: np.ndarray) -> np.ndarray:
    """Whether each permutation is the true assignment.

    Parameters
    ----------
    perms : Permutations
    roles : numpy.ndarray of int, shape (n_jets_total,)
        Truth role of every jet of the chunk (flat, aligned with the jets ``perms`` indexes):
        see :data:`hepml_coffea.features.truth.ROLE_CODES` (0 none, 1 b_lep, 2 b_had, 3 W quark).

    Returns
    -------
    numpy.ndarray of bool, shape (n_permutations_total,)
        True where the b_lep jet is the b_lep parton's, the b_had jet the b_had parton's and
        both W jets are the W quarks'.
    """
    r = np.asarray(roles)[perms.jets] if len(perms) else np.zeros((0, 4), dtype=np.int64)
    return (r[:, 0] == 1) & (r[:, 1] == 2) & (r[:, 2] == 3) & (r[:, 3] == 3)


def event_permutations(
    objects: EventObjects, n_jets: int = 4
) -> tuple[Permutations, dict[str, np.ndarray]]:
    """The permutations and their features for the selected objects of a chunk.

    Uses the jets, lepton and neutrino the built-in features share (computed once per
    :class:`~hepml_coffea.features.objects.EventObjects`).

    Returns
    -------
    perms : Permutations
    features : dict of str to numpy.ndarray
        :func:`permutation_features` of ``perms``.
    """
    jets = _jets(objects)
    perms = enumerate_permutations(jets, n_jets)
    return perms, permutation_features(perms, jets, _lepton(objects), _neutrino(objects)[1])
