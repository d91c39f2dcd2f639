"""Weighted evaluation of multi-class classifiers: one-vs-rest ROC/AUC, N×N confusion matrix,
per-class precision, recall and F1.

The predicted class of an event is the class of its largest probability (``argmax``). For
non-negative weights every number equals scikit-learn's: :func:`sklearn.metrics.confusion_matrix`
and :func:`sklearn.metrics.precision_recall_fscore_support` with ``sample_weight`` (where a ratio
is 0/0 the result is NaN here, 0 with a warning in scikit-learn), and the one-vs-rest AUC of
class ``c`` equals ``roc_auc_score(y == c, proba[:, c], sample_weight=w)``. Negative weights are
used as given (see :mod:`hepml_coffea.evaluation.roc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import check_weight
from hepml_coffea.evaluation.roc import roc_auc, roc_curve

__all__ = ["MulticlassEvaluation", "evaluate_multiclass", "multiclass_confusion_matrix"]


def _class_indices(y_true: ArrayLike, classes: Sequence[Any]) -> NDArray[np.int64]:
    """Position of each label in ``classes`` (matched by value, then by string form)."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        msg = f"y_true must be 1-D of shape (n_samples,); got shape {y.shape}."
        raise ValueError(msg)
    idx = np.full(y.shape[0], -1, dtype=np.int64)
    for i, c in enumerate(classes):
        hit = (y == c) if y.dtype.kind != "O" else np.array([v == c for v in y], dtype=bool)
        if not hit.any():
            hit = y.astype(str) == str(c)
        idx[hit & (idx < 0)] = i
    if np.any(idx < 0):
        bad = np.unique(y[idx < 0])[:5].tolist()
        msg = f"y_true holds labels {bad} that are not among the classes {list(classes)}; drop them (e.g. data) first."
        raise ValueError(msg)
    return idx


def multiclass_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    classes: Sequence[Any],
    sample_weight: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Weighted N×N confusion matrix; rows are the true classes, columns the predicted ones.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Labels, each one of ``classes``.
    classes : sequence of length n_classes
        Order of the rows and columns.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        Sum of the weights of the events of true class ``i`` predicted as ``j`` at ``[i, j]``
        (equal to ``sklearn.metrics.confusion_matrix(..., labels=classes, sample_weight=w)``).
    """
    t = _class_indices(y_true, classes)
    p = _class_indices(y_pred, classes)
    if p.shape != t.shape:
        msg = f"y_pred has {p.shape[0]} entries but y_true has {t.shape[0]}; they must match."
        raise ValueError(msg)
    w = check_weight(sample_weight, t.shape[0])
    n = len(classes)
    return np.bincount(t * n + p, weights=w, minlength=n * n).reshape(n, n).astype(np.float64)


@dataclass(frozen=True)
class MulticlassEvaluation:
    """Result of :func:`evaluate_multiclass`; per-class arrays have shape (n_classes,).

    Attributes
    ----------
    classes : list of str
        Class names in the order of the estimator's ``classes_``.
    roc : dict of class name to (fpr, tpr)
        One-vs-rest ROC curve of each class (its probability as the score).
    auc : ndarray
        One-vs-rest weighted AUC of each class.
    confusion : ndarray of shape (n_classes, n_classes)
        Weighted counts, rows true, columns predicted (argmax).
    precision, recall, f1, support : ndarray
        As :func:`sklearn.metrics.precision_recall_fscore_support` with ``sample_weight``
        (``support`` is the weighted yield of the true class); NaN where 0/0.
    accuracy : float
        Weighted fraction of events on the diagonal.
    """

    classes: list[str]
    roc: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]
    auc: NDArray[np.float64]
    confusion: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    support: NDArray[np.float64]
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (no ROC points)."""
        return {
            "classes": list(self.classes),
            "auc_one_vs_rest": dict(zip(self.classes, self.auc.tolist(), strict=True)),
            "confusion_matrix": {
                "weighted_counts": self.confusion.tolist(),
                "rows": "true class",
                "columns": "predicted class (largest probability)",
            },
            "per_class": {
                c: {
                    "precision": float(self.precision[i]),
                    "recall": float(self.recall[i]),
                    "f1": float(self.f1[i]),
                    "support_weighted": float(self.support[i]),
                }
                for i, c in enumerate(self.classes)
            },
            "accuracy": self.accuracy,
        }


def evaluate_multiclass(
    y_true: ArrayLike,
    proba: ArrayLike,
    classes: Sequence[Any],
    sample_weight: ArrayLike | None = None,
    *,
    class_names: Sequence[str] | None = None,
) -> MulticlassEvaluation:
    """One-vs-rest ROC/AUC, the confusion matrix and per-class precision/recall/F1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, each one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities, column ``i`` for ``classes[i]``
        (e.g. :func:`hepml_coffea.estimators.class_scores`).
    classes : sequence of length n_classes
        E.g. the estimator's ``classes_``.
    sample_weight : array-like of shape (n_samples,), optional
    class_names : sequence of str, optional
        Names shown for ``classes`` (default their string form).

    Returns
    -------
    MulticlassEvaluation
    """
    p = np.asarray(proba, dtype=np.float64)
    n = len(classes)
    if p.ndim != 2 or p.shape[1] != n:
        msg = f"proba has shape {p.shape}; expected (n_samples, {n}) for classes {list(classes)}."
        raise ValueError(msg)
    t = _class_indices(y_true, classes)
    if t.shape[0] != p.shape[0]:
        msg = f"proba has {p.shape[0]} rows but y_true has {t.shape[0]} entries; they must match."
        raise ValueError(msg)
    w = check_weight(sample_weight, t.shape[0])
    names = [str(c) for c in (classes if class_names is None else class_names)]
    if len(names) != n:
        msg = f"class_names has {len(names)} names for {n} classes; give one per class."
        raise ValueError(msg)
    roc, auc = {}, np.full(n, np.nan)
    for i, name in enumerate(names):
        fpr, tpr, _ = roc_curve(t == i, p[:, i], w)
        roc[name] = (fpr, tpr)
        auc[i] = roc_auc(t == i, p[:, i], w)
    pred = np.argmax(p, axis=1)
    cm = np.bincount(t * n + pred, weights=w, minlength=n * n).reshape(n, n).astype(np.float64)
    tp, pred_sum, true_sum = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_sum != 0, tp / pred_sum, np.nan)
        recall = np.where(true_sum != 0, tp / true_sum, np.nan)
        f1 = np.where(pred_sum + true_sum != 0, 2 * tp / (pred_sum + true_sum), np.nan)
    total = cm.sum()
    accuracy = float(tp.sum() / total) if total != 0 else float("nan")
    return MulticlassEvaluation(names, roc, auc, cm, precision, recall, f1, true_sum, accuracy)
