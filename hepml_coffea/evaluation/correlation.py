"""Weighted Pearson correlation matrices of the input features, per class.

``ρ_ij = cov_w(x_i, x_j) / sqrt(cov_w(x_i, x_i) cov_w(x_j, x_j))`` with
``cov_w(x, y) = Σ w (x - x̄_w)(y - ȳ_w) / Σ w``; the normalisation cancels in ρ, so the
unweighted result equals :func:`numpy.corrcoef` (features in columns). Negative weights are
used as given; if they make a variance non-positive, that feature's row and column are NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import check_binary, check_weight

__all__ = ["correlation_matrices", "weighted_corrcoef"]


def weighted_corrcoef(X: ArrayLike, sample_weight: ArrayLike | None = None) -> NDArray[np.float64]:
    """Weighted Pearson correlation matrix of the columns of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features in columns (a pandas DataFrame works).
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    ndarray of shape (n_features, n_features)
        Symmetric, ones on the diagonal (NaN for constant features).
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        msg = f"X must be 2-D of shape (n_samples, n_features); got shape {x.shape}."
        raise ValueError(msg)
    w = check_weight(sample_weight, x.shape[0])
    sw = w.sum()
    if sw <= 0:
        msg = f"the total weight is {sw:g}; a weighted correlation needs a positive sum of weights."
        raise ValueError(msg)
    xc = x - (w @ x) / sw
    cov = (xc * w[:, None]).T @ xc / sw
    var = np.diag(cov).copy()
    var[var <= 0] = np.nan
    sd = np.sqrt(var)
    corr = cov / np.outer(sd, sd)
    return np.clip(corr, -1.0, 1.0)


def correlation_matrices(
    X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
) -> dict[str, NDArray[np.float64]]:
    """Weighted correlation matrices of signal (y == 1) and background (y == 0) separately.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    dict
        ``{"signal": ndarray (n_features, n_features), "background": ...}``.
    """
    x = np.asarray(X, dtype=np.float64)
    yy = check_binary(y, "y")
    w = check_weight(sample_weight, yy.shape[0])
    return {
        "signal": weighted_corrcoef(x[yy], w[yy]),
        "background": weighted_corrcoef(x[~yy], w[~yy]),
    }
