"""Per-object features: one row per object (jet, photon, lepton) and jagged scores.

An :class:`ObjectFeatureSpec` names a NanoAOD collection and the branches of that collection an
object-level model reads (``Jet`` + ``btagCSVV2, svMass, qgl, ...``). :func:`object_table` turns
a chunk into a table with **one row per object** carrying the event's ``run``,
``luminosityBlock`` and ``event`` and the object's ``index`` in its collection, the features,
and optionally a truth label; :func:`object_matrix` gives the float32 matrix an estimator takes.

:func:`score_objects` applies an estimator to a jagged collection: the objects are flattened
once, scored in **one batched call** (:func:`hepml_coffea.estimators.signal_score`, or any
function of the matrix), and the scores are unflattened to the collection's structure
(``var * float32``), so that selections can use them (``ak.any(score > x, axis=1)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ConfigError
from hepml_coffea.processing.ids import ID_COLUMNS
from hepml_coffea.selection.branches import get_branch


@dataclass(frozen=True)
class ObjectFeatureSpec:
    """The inputs of an object-level model.

    Parameters
    ----------
    collection : str
        NanoAOD collection, e.g. ``"Jet"`` or ``"Photon"``.
    fields : sequence of str
        Branches of that collection (without the prefix), in column order, e.g.
        ``("pt", "eta", "btagCSVV2", "svMass")``.
    label : str, optional
        Truth branch of the collection (e.g. ``"hadronFlavour"``, ``"genPartFlav"``).
    signal_values, background_values : sequence of int
        Label values that are the signal class (1) and the background class (0); objects with
        other values get label -1 (e.g. c jets for a b-vs-light tagger).
    """

    collection: str
    fields: tuple[str, ...]
    label: str | None = None
    signal_values: tuple[int, ...] = (1,)
    background_values: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(str(f) for f in self.fields))
        object.__setattr__(self, "signal_values", tuple(int(v) for v in self.signal_values))
        object.__setattr__(self, "background_values", tuple(int(v) for v in self.background_values))
        if not self.fields:
            msg = f"An object feature spec for {self.collection!r} needs at least one field; got none."
            raise ConfigError(msg)
        if len(set(self.fields)) != len(self.fields):
            msg = f"Object features of {self.collection!r} list a field twice: {list(self.fields)}."
            raise ConfigError(msg)
        if set(self.signal_values) & set(self.background_values):
            msg = (
                f"Label values {sorted(set(self.signal_values) & set(self.background_values))} "
                f"of {self.collection}_{self.label} are both signal and background; keep them apart."
            )
            raise ConfigError(msg)

    @property
    def names(self) -> list[str]:
        """Column names of the features: ``<collection>_<field>``."""
        return [f"{self.collection}_{f}" for f in self.fields]

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "fields": list(self.fields),
            "label": self.label,
            "signal_values": list(self.signal_values),
            "background_values": list(self.background_values),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectFeatureSpec:
        """From :meth:`to_dict` output or an ``[object_features.<name>]`` configuration table."""
        try:
            return cls(
                collection=str(data["collection"]),
                fields=tuple(data["fields"]),
                label=data.get("label") or None,
                signal_values=tuple(data.get("signal_values", (1,))),
                background_values=tuple(data.get("background_values", (0,))),
            )
        except KeyError as err:
            msg = f"Object feature spec is missing the key {err.args[0]!r}; give collection and fields."
            raise ConfigError(msg) from None


def _flat(events: Any, branch: str, counts: np.ndarray | None, key: str | None) -> np.ndarray:
    arr = get_branch(events, branch, key)
    if counts is not None and not np.array_equal(ak.to_numpy(ak.num(arr, axis=1)), counts):
        msg = f"Branch {branch!r} does not have one value per object of its collection."
        raise ConfigError(msg)
    return ak.to_numpy(ak.flatten(arr, axis=1))


def object_table(
    events: Any,
    spec: ObjectFeatureSpec,
    index: ak.Array | None = None,
    key: str | None = None,
) -> dict[str, np.ndarray]:
    """One row per object: ID columns, ``index``, the features and (if any) ``label``.

    Parameters
    ----------
    events : NanoEventsArray or awkward record array with flat NanoAOD branch names
    spec : ObjectFeatureSpec
    index : awkward.Array, optional
        Jagged local indices (one list per event) of the objects to keep, e.g. the selected jets
        (the ``index`` field of jets selected by a processor using
        :meth:`~hepml_coffea.processing.object_ml.ObjectML.add_inputs`); default: every object of the collection.
    key : str, optional
        Configuration key naming the spec, quoted in the error for a missing branch.

    Returns
    -------
    dict of str to numpy.ndarray, each of shape (n_objects,)
        ``run``, ``luminosityBlock`` (int64), ``event`` (uint64), ``index`` (int64, the object's
        position in its collection), ``<collection>_<field>`` (float32) per field, and ``label``
        (int32: 1 signal, 0 background, -1 other) when the spec has one.
    """
    coll = spec.collection
    first = get_branch(events, f"{coll}_{spec.fields[0]}", key)
    counts = ak.to_numpy(ak.num(first, axis=1)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if index is None:
        sel_counts = counts
        local = np.arange(int(counts.sum())) - np.repeat(offsets[:-1], counts)
    else:
        sel_counts = ak.to_numpy(ak.num(index, axis=1)).astype(np.int64)
        local = ak.to_numpy(ak.flatten(index, axis=1)).astype(np.int64)
    event_row = np.repeat(np.arange(len(counts)), sel_counts)
    take = offsets[:-1][event_row] + local
    out: dict[str, np.ndarray] = {}
    for col in ID_COLUMNS:
        values = ak.to_numpy(get_branch(events, col))[event_row]
        out[col] = values.astype(np.uint64 if col == "event" else np.int64)
    out["index"] = local
    for _f, name in zip(spec.fields, spec.names, strict=True):
        out[name] = _flat(events, name, counts, key)[take].astype(np.float32)
    if spec.label:
        truth = _flat(events, f"{coll}_{spec.label}", counts, key)[take]
        label = np.full(len(take), -1, dtype=np.int32)
        label[np.isin(truth, spec.background_values)] = 0
        label[np.isin(truth, spec.signal_values)] = 1
        out["label"] = label
    return out


def object_matrix(table: Mapping[str, np.ndarray], spec: ObjectFeatureSpec) -> np.ndarray:
    """The feature columns of :func:`object_table` as float32 (n_objects, n_features), NaN → -1."""
    if not spec.names:
        return np.empty((0, 0), np.float32)
    x = np.column_stack([np.asarray(table[n], dtype=np.float32) for n in spec.names])
    x[~np.isfinite(x)] = -1.0
    return x


def score_objects(
    score: Callable[[np.ndarray], np.ndarray] | Any,
    x: np.ndarray,
    counts: Sequence[int] | np.ndarray,
) -> ak.Array:
    """Score every object of a chunk in one call and return a jagged ``var * float32`` array.

    Parameters
    ----------
    score : estimator or callable
        An estimator (scored with :func:`hepml_coffea.estimators.signal_score`) or a function
        ``f(X) -> (n_objects,)``.
    x : numpy.ndarray of shape (n_objects, n_features)
        The flat feature matrix (:func:`object_matrix`), objects in event order.
    counts : array-like of int, shape (n_events,)
        Objects per event (``ak.num(collection)``).

    Returns
    -------
    awkward.Array
        ``n_events * var * float32``, the same structure as the collection.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if int(counts.sum()) != len(x):
        msg = f"score_objects got {len(x)} rows for {int(counts.sum())} objects; give one row per object."
        raise ValueError(msg)
    if len(x) == 0:
        flat = np.zeros(0, dtype=np.float32)
    elif callable(score) and not hasattr(score, "predict_proba"):
        flat = np.asarray(score(x), dtype=np.float32)
    else:
        from hepml_coffea.estimators import signal_score

        flat = np.asarray(signal_score(score, x), dtype=np.float32)
    return ak.unflatten(flat, counts)
