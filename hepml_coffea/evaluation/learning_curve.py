"""Weighted learning curve: train and validation ROC AUC against the training-set size.

Done by hand with :func:`sklearn.base.clone` because scikit-learn's ``learning_curve`` only
passes sample weights to the scorer through metadata routing. For each of ``cv`` stratified
folds, the estimator is refit on growing *stratified random* subsets of the training part
(each class in its proportion of the fold, never the first rows in dataset order) with their
weights, and the weighted AUC is measured on that subset and on the held-out fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm.auto import tqdm

from hepml_coffea.estimators.scores import signal_score
from hepml_coffea.evaluation._checks import check_binary, check_weight
from hepml_coffea.evaluation.roc import roc_auc

__all__ = ["LearningCurve", "learning_curve", "stratified_subsample"]


@dataclass(frozen=True)
class LearningCurve:
    """Result of :func:`learning_curve`; AUC arrays have shape (n_sizes, n_folds)."""

    train_sizes: NDArray[np.int64]
    train_auc: NDArray[np.float64]
    validation_auc: NDArray[np.float64]

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "train_sizes": self.train_sizes.tolist(),
            "train_auc": self.train_auc.tolist(),
            "validation_auc": self.validation_auc.tolist(),
        }


def stratified_subsample(
    y: ArrayLike, n: int, random_state: int | np.random.Generator | None = 0
) -> NDArray[np.int64]:
    """Indices of a random subsample of ``n`` rows with each class in its proportion.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (any hashable values).
    n : int
        Rows to keep; all rows (shuffled) if ``n >= n_samples``.
    random_state : int, Generator or None, default 0

    Returns
    -------
    ndarray of int of shape (min(n, n_samples),)
        Sorted row indices. Class ``c`` gets ``round(n * n_c / n_samples)`` rows (largest
        remainders adjusted so that the total is ``n``), at least one row of each class when
        ``n`` allows.
    """
    yy = np.asarray(y)
    total = yy.shape[0]
    rng = np.random.default_rng(random_state)
    if n >= total:
        return np.arange(total)
    classes, inverse, counts = np.unique(yy, return_inverse=True, return_counts=True)
    exact = n * counts / total
    take = np.floor(exact).astype(np.int64)
    if n >= len(classes):
        take = np.maximum(take, 1)
    order = np.argsort(-(exact - take), kind="stable")
    i = 0
    while take.sum() < n:
        c = order[i % len(order)]
        if take[c] < counts[c]:
            take[c] += 1
        i += 1
    while take.sum() > n:
        c = int(np.argmax(take))
        take[c] -= 1
    rows = [rng.choice(np.flatnonzero(inverse == c), k, replace=False) for c, k in enumerate(take)]
    return np.sort(np.concatenate(rows))


def _take(X: Any, idx: NDArray) -> Any:
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]


def learning_curve(
    estimator: Any,
    X: Any,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    train_sizes: ArrayLike = (0.1, 0.25, 0.5, 0.75, 1.0),
    cv: int = 3,
    random_state: int | None = 0,
    fit_with_weights: bool = True,
    progress: bool = False,
) -> LearningCurve:
    """Weighted AUC on the training subset and on a held-out fold vs. training size.

    Parameters
    ----------
    estimator : unfitted binary classifier
        Cloned for every fit; must accept ``fit(X, y, sample_weight=...)`` if
        ``fit_with_weights``.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 signal, 0 background.
    sample_weight : array-like of shape (n_samples,), optional
        Used in the fits (if ``fit_with_weights``) and in the AUCs.
    train_sizes : array-like of float in (0, 1] or int
        Fractions of the training part of each fold, or absolute event counts.
    cv : int, default 3
        Number of stratified folds (≥ 2).
    random_state : int or None, default 0
    fit_with_weights : bool, default True
    progress : bool, default False
        Show a tqdm progress bar over the fits.

    Returns
    -------
    LearningCurve
        ``train_sizes`` (event counts), ``train_auc`` and ``validation_auc`` of shape
        (n_sizes, n_folds).
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    yy = check_binary(y, "y").astype(np.int64)
    w = check_weight(sample_weight, yy.shape[0])
    folds = list(
        StratifiedKFold(cv, shuffle=True, random_state=random_state).split(np.zeros(len(yy)), yy)
    )
    n_train = min(len(tr) for tr, _ in folds)
    sizes = np.asarray(train_sizes)
    counts = (
        np.rint(sizes * n_train).astype(np.int64)
        if sizes.dtype.kind == "f"
        else sizes.astype(np.int64)
    )
    if np.any(counts < 2) or np.any(counts > n_train):
        msg = f"train_sizes give {counts.tolist()} events; each must be within [2, {n_train}] (the training part of a fold)."
        raise ValueError(msg)
    rng = np.random.default_rng(random_state)
    train_auc = np.full((len(counts), cv), np.nan)
    val_auc = np.full((len(counts), cv), np.nan)
    bar = tqdm(total=len(counts) * cv, disable=not progress, desc="learning curve")
    for k, (tr, va) in enumerate(folds):
        for i, n in enumerate(counts):
            sub = tr[stratified_subsample(yy[tr], int(n), rng)]
            if np.unique(yy[sub]).size < 2:
                bar.update()
                continue  # too small to hold both classes: leave NaN
            model = clone(estimator)
            fit_kw = {"sample_weight": w[sub]} if fit_with_weights else {}
            model.fit(_take(X, sub), yy[sub], **fit_kw)
            train_auc[i, k] = roc_auc(yy[sub], signal_score(model, _take(X, sub)), w[sub])
            val_auc[i, k] = roc_auc(yy[va], signal_score(model, _take(X, va)), w[va])
            bar.update()
    bar.close()
    return LearningCurve(counts, train_auc, val_auc)
