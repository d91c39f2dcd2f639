"""Flat views of jagged collections: one row per object, for fast per-chunk feature code.

Jagged awkward arrays with vector behaviours broadcast over the nested structure on every
operation. The built-in features instead flatten each collection **once per chunk** and do their
4-vector arithmetic with `vector` on flat ``Momentum4D`` records, gathering rows with integer
indices (the pairs of objects within an event, the per-event best candidate). Per-event
reductions are numpy ``reduceat``/``bincount`` calls. Missing per-event values are NaN, which the
feature padding rule turns into the feature's pad value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import awkward as ak
import numpy as np
import vector


def momentum4d(pt, eta, phi, mass) -> ak.Array:
    """Flat ``Momentum4D`` records (pt, eta, phi, mass) from 1-d arrays (GeV)."""
    return vector.zip({"pt": pt, "eta": eta, "phi": phi, "mass": mass})


def segment_offsets(counts: np.ndarray) -> np.ndarray:
    """Offsets (n_events + 1,) of a flat array with ``counts`` rows per event."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def segment_min(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-event minimum of flat ``values`` ignoring NaN; NaN for events without (finite) rows."""
    out = np.full(len(counts), np.nan)
    nonempty = counts > 0
    if values.size:
        out[nonempty] = np.fmin.reduceat(values, segment_offsets(counts)[:-1][nonempty])
    return out


def segment_argmin(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per event, the flat index of the first minimum of ``values`` (NaN ignored), or -1."""
    best = segment_min(values, counts)
    event = np.repeat(np.arange(len(counts)), counts)
    hit = np.flatnonzero(values == best[event])
    out = np.full(len(counts), -1, dtype=np.int64)
    if hit.size:
        ev = event[hit]
        first = np.ones(hit.size, dtype=bool)
        first[1:] = ev[1:] != ev[:-1]
        out[ev[first]] = hit[first]
    return out


def take(values: np.ndarray | ak.Array, index: np.ndarray) -> np.ndarray:
    """``values[index]`` as float64 with NaN where ``index`` is -1 (no such object)."""
    values = ak.to_numpy(values) if isinstance(values, ak.Array) else values
    out = np.full(len(index), np.nan)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out


def cartesian_zip(px, py, pz, energy) -> ak.Array:
    """Flat ``Momentum4D`` records from cartesian components (GeV)."""
    return vector.zip({"px": px, "py": py, "pz": pz, "E": energy})


def take_p4(p4: ak.Array, index: np.ndarray) -> ak.Array:
    """Per event, the cartesian ``Momentum4D`` ``p4[index]``; NaN components where index is -1."""
    return cartesian_zip(*(take(getattr(p4, c), index) for c in ("px", "py", "pz", "E")))


@dataclass(frozen=True, eq=False)
class FlatCollection:
    """A jagged collection as flat columns plus per-event counts.

    Attributes
    ----------
    counts : numpy.ndarray of int64, shape (n_events,)
        Objects per event.
    columns : dict of str to numpy.ndarray, each of shape (n_objects,)
        ``pt, eta, phi, mass`` (GeV) and any extra fields, in event order.
    """

    counts: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def from_jagged(cls, array: ak.Array, fields: Sequence[str]) -> FlatCollection:
        """Flatten the ``fields`` of a jagged record array (one list per event)."""
        counts = ak.to_numpy(ak.num(array, axis=1)).astype(np.int64)
        flat = ak.flatten(array[list(fields)], axis=1)  # one carry for all fields
        return cls(counts, {f: ak.to_numpy(flat[f]) for f in fields})

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def n_events(self) -> int:
        return len(self.counts)

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start of each event's rows, shape (n_events + 1,)."""
        return segment_offsets(self.counts)

    @cached_property
    def event(self) -> np.ndarray:
        """The event (row of the chunk) of each object, shape (n_objects,)."""
        return np.repeat(np.arange(self.n_events), self.counts)

    @cached_property
    def cartesian(self) -> dict[str, np.ndarray]:
        """``px, py, pz, E`` of the objects (GeV), computed once with vector."""
        c = self.columns
        p4 = momentum4d(c["pt"], c["eta"], c["phi"], c["mass"])
        return {k: ak.to_numpy(getattr(p4, k)) for k in ("px", "py", "pz", "E")}

    def p4(self, index: np.ndarray | None = None) -> ak.Array:
        """Flat cartesian ``Momentum4D`` records of the objects (those at ``index`` if given)."""
        c = self.cartesian
        if index is not None:
            return cartesian_zip(*(c[k][index] for k in ("px", "py", "pz", "E")))
        return cartesian_zip(c["px"], c["py"], c["pz"], c["E"])

    def direction(self, index: np.ndarray | None = None) -> ak.Array:
        """Flat ``Momentum3D`` records (pt, eta, phi) of the objects (at ``index``), for ΔR."""
        cols = {k: self.columns[k] for k in ("pt", "eta", "phi")}
        if index is not None:
            cols = {k: v[index] for k, v in cols.items()}
        return vector.zip(cols)

    def where(self, mask: np.ndarray) -> FlatCollection:
        """The objects with ``mask`` (flat boolean, shape (n_objects,)) true."""
        keep = np.flatnonzero(mask)
        counts = np.bincount(self.event[keep], minlength=self.n_events).astype(np.int64)
        out = FlatCollection(counts, {k: v[keep] for k, v in self.columns.items()})
        if "cartesian" in self.__dict__:  # carry the computed components over
            out.__dict__["cartesian"] = {k: v[keep] for k, v in self.cartesian.items()}
        return out

    def leading(self, n: int) -> np.ndarray:
        """Flat indices of the ``n`` leading objects of each event, -1 where absent: (n_events, n)."""
        slot = np.arange(n)
        idx = self.offsets[:-1, None] + slot
        return np.where(slot < self.counts[:, None], idx, -1)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs ``i < j`` of objects within each event, in ``ak.combinations`` order.

        Returns
        -------
        first, second : numpy.ndarray of int64, shape (n_pairs,)
            Flat indices of the two objects of each pair.
        counts : numpy.ndarray of int64, shape (n_events,)
            Pairs per event, ``k (k - 1) / 2``.
        """
        kmax = int(self.counts.max()) if self.n_events else 0
        a, b = np.triu_indices(max(kmax, 2), k=1)  # lexicographic (0,1), (0,2), ..., (1,2), ...
        valid = b[None, :] < self.counts[:, None]
        ev, p = np.nonzero(valid)
        start = self.offsets[:-1][ev]
        return start + a[p], start + b[p], valid.sum(axis=1).astype(np.int64)
