"""Permutation feature importance measured as the drop of the weighted ROC AUC.

Built on :func:`sklearn.inspection.permutation_importance` with a scorer that computes
:func:`hepml_coffea.evaluation.roc_auc` (negative weights allowed) from the estimator's
signal score, :func:`hepml_coffea.estimators.signal_score` (the one definition of "the score":
higher = more signal-like, also for the autoencoder, whose ``decision_function`` has the
opposite sign).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.estimators.scores import signal_score
from hepml_coffea.evaluation.roc import roc_auc

__all__ = ["PermutationImportance", "auc_scorer", "permutation_importance"]


def auc_scorer(
    estimator: Any, X: Any, y: ArrayLike, sample_weight: ArrayLike | None = None
) -> float:
    """Scikit-learn scorer ``(estimator, X, y, sample_weight) -> weighted ROC AUC``.

    Unlike ``scoring="roc_auc"``, whose :func:`sklearn.metrics.roc_auc_score` gives NaN (or an
    error) when event weights are negative, this uses :func:`hepml_coffea.evaluation.roc_auc`
    (negative weights allowed, only the class totals must be positive) on
    :func:`hepml_coffea.estimators.signal_score`. Use it as ``scoring=auc_scorer`` in
    ``GridSearchCV``, ``cross_val_score`` or ``permutation_importance``; weights reach it
    through ``fit(X, y, sample_weight=w)`` with metadata routing (see ``docs/evaluation_and_plots.md``).

    Parameters
    ----------
    estimator : fitted classifier or anomaly detector
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 signal, 0 background.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    float
    """
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
    estimator : fitted binary classifier or anomaly detector
        Scored with :func:`hepml_coffea.estimators.signal_score`.
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
