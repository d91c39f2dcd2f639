"""Event selection bookkeeping: a cumulative cutflow derived from coffea's ``PackedSelection``."""

from __future__ import annotations

from collections.abc import Sequence

import hist
import numpy as np
from coffea.analysis_tools import PackedSelection, Weights


def cutflow(
    selection: PackedSelection, cut_names: Sequence[str], weights: np.ndarray
) -> dict[str, dict[str, float | int]]:
    """Cumulative cutflow, in order, with unweighted and weighted counts.

    Uses :meth:`PackedSelection.cutflow` with a coffea :class:`~coffea.analysis_tools.Weights`
    holding ``weights``; entry ``i`` counts events passing cuts ``0..i``.

    Parameters
    ----------
    selection : PackedSelection
        Holds a mask for every name in ``cut_names``.
    cut_names : sequence of str
        Cut order.
    weights : numpy.ndarray of shape (n_events,)
        Event weights.

    Returns
    -------
    dict
        ``{cut: {"events": int, "weighted": float}}`` in ``cut_names`` order.
    """
    w = Weights(len(weights))
    w.add("event", np.asarray(weights, dtype=np.float64))
    res = selection.cutflow(*cut_names, weights=w).result()
    # result lists start with the "initial" (no cut) entry
    return {
        name: {"events": int(res.nevcutflow[i + 1]), "weighted": float(res.wgtevcutflow[i + 1])}
        for i, name in enumerate(cut_names)
    }


def cutflow_hist(
    selection: PackedSelection, cut_names: Sequence[str], weights: np.ndarray
) -> hist.Hist:
    """Weighted cutflow histogram: Integer axis ``cut`` with bin ``i`` = events passing cuts ``0..i``.

    Filled event by event (Weight storage), so the variances are Σ w² of the passing events.
    """
    h = hist.Hist(
        hist.axis.Integer(0, len(cut_names), name="cut", label="Cut"), storage=hist.storage.Weight()
    )
    for i in range(len(cut_names)):
        mask = selection.all(*cut_names[: i + 1])
        h.fill(cut=np.full(int(mask.sum()), i), weight=np.asarray(weights)[mask])
    return h
