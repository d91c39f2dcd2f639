"""Weighted confusion matrix, precision, recall and F1 of a score cut.

An event is classified as signal when ``score >= threshold``. For non-negative weights the
numbers equal scikit-learn's :func:`~sklearn.metrics.confusion_matrix`,
:func:`~sklearn.metrics.precision_score`, :func:`~sklearn.metrics.recall_score` and
:func:`~sklearn.metrics.f1_score` with ``sample_weight`` on ``y_pred = score >= threshold``.
Where a ratio is 0/0 (no event selected, no signal) it is NaN rather than scikit-learn's 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import check_inputs

__all__ = ["classification_metrics", "confusion_matrix_at"]


def confusion_matrix_at(
    y_true: ArrayLike,
    score: ArrayLike,
    threshold: float,
    sample_weight: ArrayLike | None = None,
    *,
    normalize: str | None = None,
) -> NDArray[np.float64]:
    """Weighted 2×2 confusion matrix of the selection ``score >= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    score : array-like of shape (n_samples,)
    threshold : float
        Events with ``score >= threshold`` are predicted signal.
    sample_weight : array-like of shape (n_samples,), optional
    normalize : {None, "true", "pred", "all"}
        As scikit-learn: normalise over the true classes (rows), the predicted classes
        (columns) or everything.

    Returns
    -------
    ndarray of shape (2, 2)
        ``[[TN, FP], [FN, TP]]`` (rows: true background, signal; columns: predicted), the
        same layout as :func:`sklearn.metrics.confusion_matrix` with labels (0, 1).
    """
    y, s, w = check_inputs(y_true, score, sample_weight)
    pred = s >= threshold
    cm = np.array(
        [
            [w[~y & ~pred].sum(), w[~y & pred].sum()],
            [w[y & ~pred].sum(), w[y & pred].sum()],
        ]
    )
    if normalize is None:
        return cm
    axes = {"true": 1, "pred": 0, "all": None}
    if normalize not in axes:
        msg = f"normalize must be one of None, 'true', 'pred', 'all'; got {normalize!r}."
        raise ValueError(msg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cm / cm.sum(axis=axes[normalize], keepdims=True)


def classification_metrics(
    y_true: ArrayLike,
    score: ArrayLike,
    threshold: float,
    sample_weight: ArrayLike | None = None,
) -> dict[str, float]:
    """Weighted precision (purity), recall (signal efficiency), F1 and accuracy of a cut.

    Parameters
    ----------
    y_true, score, sample_weight : array-like of shape (n_samples,)
        As in :func:`confusion_matrix_at`.
    threshold : float
        Events with ``score >= threshold`` are predicted signal.

    Returns
    -------
    dict
        ``threshold``, ``precision`` = TP/(TP+FP), ``recall`` = TP/(TP+FN),
        ``f1`` = 2PR/(P+R), ``accuracy`` = (TP+TN)/Σw, ``background_efficiency`` = FP/(FP+TN)
        and the four weighted counts ``tn``, ``fp``, ``fn``, ``tp``. NaN where 0/0.
    """
    (tn, fp), (fn, tp) = confusion_matrix_at(y_true, score, threshold, sample_weight)

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den != 0 else float("nan")

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "background_efficiency": ratio(fp, fp + tn),
        "tn": float(tn),
        "fp": float(fp),
        "fn": float(fn),
        "tp": float(tp),
    }
