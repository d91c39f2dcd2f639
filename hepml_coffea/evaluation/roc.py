"""Weighted ROC curve and area under it, negative event weights allowed.

For unweighted samples and non-negative weights the results equal scikit-learn's
:func:`sklearn.metrics.roc_curve` and :func:`sklearn.metrics.roc_auc_score` (same algorithm:
cumulative weighted sums over the scores sorted in decreasing order, ties merged, collinear
points dropped). Unlike scikit-learn, negative weights (NLO generators) are kept as they are:
the cumulative sums can then go down, the curve may fold back on itself, and the trapezoid
area is still computed, as a signed sum, so the AUC can leave [0, 1] when negative weights
dominate a region of the score. Only the total signal and background weights must be
positive.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import check_inputs

__all__ = ["background_rejection_at", "roc_auc", "roc_curve"]


def _cumulative_rates(
    y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Cumulative weighted background and signal sums at each distinct score, decreasing."""
    y, s, w = check_inputs(y_true, score, sample_weight)
    keep = w != 0  # zero weights change nothing but add thresholds; sklearn drops them too
    y, s, w = y[keep], s[keep], w[keep]
    if s.shape[0] == 0:
        msg = "no samples with non-zero weight; the ROC curve is undefined."
        raise ValueError(msg)
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    last = np.append(np.flatnonzero(np.diff(s)), s.shape[0] - 1)
    tps = np.cumsum(y * w, dtype=np.float64)[last]
    fps = np.cumsum(~y * w, dtype=np.float64)[last]
    return fps, tps, s[last]


def roc_curve(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    drop_intermediate: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weighted receiver operating characteristic.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background (or booleans).
    score : array-like of shape (n_samples,)
        Classifier output; larger means more signal-like.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights; negative weights are allowed (see the module notes).
    drop_intermediate : bool, default True
        Drop thresholds whose points are collinear with their neighbours (as scikit-learn).

    Returns
    -------
    fpr : ndarray of shape (n_thresholds,)
        Background efficiency ε_B (weighted fraction of background with score ≥ threshold).
    tpr : ndarray of shape (n_thresholds,)
        Signal efficiency ε_S.
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing score thresholds; ``thresholds[0]`` is ``inf`` (nothing selected).

    Raises
    ------
    ValueError
        If the total signal or background weight is not positive.
    """
    fps, tps, thresholds = _cumulative_rates(y_true, score, sample_weight)
    if drop_intermediate and fps.shape[0] > 2:
        corner = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.flatnonzero(np.concatenate([[True], corner, [True]]))
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    for total, what in ((tps[-1], "signal (label 1)"), (fps[-1], "background (label 0)")):
        if total <= 0:
            msg = (
                f"the total {what} weight is {total:g}; it must be positive to define efficiencies. "
                "Give samples of both classes with a positive sum of weights."
            )
            raise ValueError(msg)
    return fps / fps[-1], tps / tps[-1], thresholds


def roc_auc(y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Weighted area under the ROC curve (trapezoid rule, signed).

    Equal to :func:`sklearn.metrics.roc_auc_score` for non-negative weights. With negative
    weights the efficiency curve need not be monotonic; the area is the signed trapezoid sum
    ``Σ (fpr[i+1] - fpr[i]) (tpr[i+1] + tpr[i]) / 2`` and may lie outside [0, 1].

    Parameters
    ----------
    y_true, score, sample_weight : array-like of shape (n_samples,)
        As in :func:`roc_curve`.

    Returns
    -------
    float
        The AUC; 0.5 for a random classifier, 1 for a perfect one.
    """
    fpr, tpr, _ = roc_curve(y_true, score, sample_weight, drop_intermediate=False)
    return float(np.trapezoid(tpr, fpr))


def background_rejection_at(
    fpr: ArrayLike, tpr: ArrayLike, signal_efficiency: float | ArrayLike
) -> NDArray[np.float64] | float:
    """Background rejection 1/ε_B at a given signal efficiency, interpolated on a ROC curve.

    Parameters
    ----------
    fpr, tpr : array-like of shape (n_thresholds,)
        A ROC curve from :func:`roc_curve` (tpr non-decreasing for non-negative weights).
    signal_efficiency : float or array-like
        Signal efficiency (or efficiencies) in (0, 1].

    Returns
    -------
    float or ndarray
        1/ε_B; ``inf`` where no background passes.
    """
    fpr_at = np.interp(
        np.asarray(signal_efficiency, dtype=np.float64), np.asarray(tpr), np.asarray(fpr)
    )
    with np.errstate(divide="ignore"):
        rej = 1.0 / fpr_at
    return float(rej) if np.ndim(rej) == 0 else rej
