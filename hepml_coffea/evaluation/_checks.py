"""Input validation shared by the evaluation metrics (private)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_1d(values: ArrayLike, name: str, dtype: type = np.float64) -> NDArray:
    """Return ``values`` as a finite 1-D array of ``dtype``; raise ``ValueError`` otherwise."""
    arr: NDArray = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        msg = f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}. Pass a flat array."
        raise ValueError(msg)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        msg = f"{name} contains NaN or inf ({np.count_nonzero(~np.isfinite(arr))} entries); drop or fix them first."
        raise ValueError(msg)
    return arr


def check_weight(sample_weight: ArrayLike | None, n: int, name: str = "sample_weight") -> NDArray:
    """Return the weights as float64 of shape (n,), ones where ``sample_weight`` is None."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = as_1d(sample_weight, name)
    if w.shape[0] != n:
        msg = f"{name} has {w.shape[0]} entries but there are {n} samples; give one weight per sample."
        raise ValueError(msg)
    return w


def check_binary(y_true: ArrayLike, name: str = "y_true") -> NDArray[np.bool_]:
    """Return ``y_true`` as a boolean "is signal" array; labels must be in {0, 1}."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        msg = f"{name} must be 1-D of shape (n_samples,); got shape {y.shape}."
        raise ValueError(msg)
    if y.dtype == np.bool_:
        return y
    labels = np.unique(y)
    if not np.all(np.isin(labels, (0, 1))):
        msg = (
            f"{name} must hold binary labels 1 (signal) and 0 (background); got {labels[:5].tolist()}. "
            "Drop data (label -1) before evaluating."
        )
        raise ValueError(msg)
    return y == 1


def check_inputs(
    y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """Validate a (labels, scores, weights) triple of equal length."""
    y = check_binary(y_true)
    s = as_1d(score, "score")
    if s.shape[0] != y.shape[0]:
        msg = f"score has {s.shape[0]} entries but y_true has {y.shape[0]}; they must match."
        raise ValueError(msg)
    w = check_weight(sample_weight, y.shape[0])
    return y, s, w
