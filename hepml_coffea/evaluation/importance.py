"""Permutation feature importance measured as the drop of the weighted ROC AUC.

Built on :func:`sklearn.inspection.permutation_importance` with a scorer that computes
:func:`hepml_coffea.evaluation.roc_auc` (negative weights allowed) from the estimator's
signal probability (``predict_proba(X)[:, 1]``) or, failing that, ``decision_function``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation.roc import roc_auc

__all__ = ["PermutationImportance", "auc_scorer", "permutation_importance", "signal_score"]


def signal_score(estimator: Any, X: Any) -> NDArray[np.float64]:
    """Signal-likeness score of a fitted binary classifier, shape (n_samples,)."""
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        return proba[:, -1] if proba.ndim == 2 else proba
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X)).ravel()
    msg = f"{type(estimator).__name__} has neither predict_proba nor decision_function; give a classifier."
    raise TypeError(msg)


def auc_scorer(
    estimator: Any, X: Any, y: ArrayLike, sample_weight: ArrayLike | None = None
) -> float:
    """Scikit-learn scorer ``(estimator, X, y, sample_weight) -> weighted AUC``."""
    return roc_auc(y, signal_score(estimator, X), sample_weight)


@dataclass(frozen=True)
class PermutationImportance:
    """Result of :func:`permutation_importance`; sorted by decreasing mean importance."""

    feature_names: list[str]
    importances_mean: NDArray[np.float64]
    importances_std: NDArray[np.float64]
    importances: NDArray[np.float64]  # (n_features, n_repeats)
    baseline_auc: float

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "feature_names": list(self.feature_names),
            "importances_mean": self.importances_mean.tolist(),
            "importances_std": self.importances_std.tolist(),
            "baseline_auc": self.baseline_auc,
        }


def permutation_importance(
    estimator: Any,
    X: Any,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    feature_names: list[str] | None = None,
    n_repeats: int = 5,
    random_state: int | None = 0,
    n_jobs: int | None = None,
) -> PermutationImportance:
    """Weighted-AUC drop when each feature is shuffled in turn.

    Parameters
    ----------
    estimator : fitted binary classifier
        With ``predict_proba`` or ``decision_function``.
    X : array-like of shape (n_samples, n_features)
        Held-out features (a DataFrame keeps its column names).
    y : array-like of shape (n_samples,)
        1 signal, 0 background.
    sample_weight : array-like of shape (n_samples,), optional
    feature_names : list of str, optional
        Default: the DataFrame's columns, the estimator's ``feature_names_in_``, or ``x0, x1, ...``.
    n_repeats : int, default 5
        Shuffles per feature.
    random_state : int or None, default 0
    n_jobs : int or None

    Returns
    -------
    PermutationImportance
        Mean and standard deviation over the repeats of ``AUC(baseline) - AUC(shuffled)``.
    """
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    n_features = np.shape(X)[1]
    if feature_names is None:
        if hasattr(X, "columns"):
            feature_names = [str(c) for c in X.columns]
        elif hasattr(estimator, "feature_names_in_"):
            feature_names = [str(c) for c in estimator.feature_names_in_]
        else:
            feature_names = [f"x{i}" for i in range(n_features)]
    if len(feature_names) != n_features:
        msg = f"feature_names has {len(feature_names)} names but X has {n_features} columns."
        raise ValueError(msg)
    baseline = auc_scorer(estimator, X, y, sample_weight)
    res = sk_permutation_importance(
        estimator,
        X,
        np.asarray(y),
        scoring=auc_scorer,
        n_repeats=n_repeats,
        random_state=random_state,
        sample_weight=None
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64),
        n_jobs=n_jobs,
    )
    order = np.argsort(-res.importances_mean, kind="stable")
    return PermutationImportance(
        [feature_names[i] for i in order],
        res.importances_mean[order],
        res.importances_std[order],
        res.importances[order],
        baseline,
    )
