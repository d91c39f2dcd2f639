"""Shared validation for the estimators: options, features, targets and the weight policy.

Weight policy
-------------
Every estimator turns ``sample_weight`` into training weights in the same three steps:

1. ``negative_weights`` (the policy for events with w < 0, e.g. NLO MC):

   * ``"keep"``: use the weights as given. The loss is Σ wᵢ ℓᵢ, so a negative-weight event
     pushes its prediction *away* from its label; this is the unbiased choice for a
     physics-correct expectation. Keras losses accept it; xgboost refuses negative weights
     (``Weights must be positive values``), so the BDT raises a clear error for ``"keep"``.
   * ``"abs"``: use |wᵢ|. Every event pulls toward its label; the sample shape is biased where
     negative weights cluster, but training is stable.
   * ``"ignore"``: set negative weights to 0; those events have no influence at all.

2. ``class_weight``: ``None``; ``"balanced"`` (HEP convention: scale each class so that all
   classes have the same *total weight*, Σ w over signal = Σ w over background, keeping the
   overall total); or a dict ``{class_label: factor}``.

3. Checks: the total weight must be positive, and at least two classes must keep a positive
   total weight.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, column_or_1d, validate_data

from hepml_coffea.errors import ConfigError


def check_option(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise ``ConfigError`` unless ``value`` is one of ``allowed``."""
    if isinstance(value, str | type(None)) and value in allowed:
        return
    choices = ",".join(repr(a) for a in allowed)
    msg = f"The '{name}' parameter must be one of {{{choices}}}; got {value!r}."
    raise ConfigError(msg)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    allow_none: bool = False,
) -> None:
    """Raise ``ConfigError`` unless ``value`` is a number in the given interval."""
    if value is None and allow_none:
        return
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        kind = "an integer" if integer else "a number"
        none = " or None" if allow_none else ""
        msg = f"The '{name}' parameter must be {kind} in {rng}{none}; got {value!r}."
        raise ConfigError(msg)


def check_class_weight(class_weight: Any) -> None:
    if class_weight is None or class_weight == "balanced" or isinstance(class_weight, Mapping):
        return
    msg = (
        f"The 'class_weight' parameter must be one of {{None,'balanced'}} or a dict "
        f"{{class_label: factor}}; got {class_weight!r}."
    )
    raise ConfigError(msg)


_NO_Y = object()


def validate_X(
    est,
    X,
    *,
    reset: bool,
    allow_nan: bool = False,
    hint: str = "",
    y=_NO_Y,
    y_numeric: bool = False,
):
    """``validate_data`` with a hint on how to allow NaN appended to sklearn's message."""
    kwargs = {
        "dtype": [np.float32, np.float64],
        "ensure_all_finite": "allow-nan" if allow_nan else True,
        "reset": reset,
    }
    try:
        if y is _NO_Y:
            return validate_data(est, X, **kwargs)
        return validate_data(est, X, y, y_numeric=y_numeric, **kwargs)
    except ValueError as exc:
        text = str(exc)
        if hint and ("NaN" in text or "infinity" in text):
            msg = f"{text} {hint}"
            raise ValueError(msg) from exc
        raise


def encode_targets(est, y) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, y_encoded)``; refuse regression targets and single-class ``y``."""
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    classes, y_enc = np.unique(y, return_inverse=True)
    if classes.size < 2:
        msg = (
            f"{type(est).__name__} needs at least two classes in y; got one class only "
            f"({classes.tolist()!r}). Check the labels (signal=1, background=0)."
        )
        raise ValueError(msg)
    return classes, y_enc.astype(np.int64)


def negative_weight_policy(
    est, sample_weight, X, *, keep_allowed: bool = True, backend: str = ""
) -> np.ndarray:
    """Validate ``sample_weight`` and apply ``est.negative_weights``; return float64 weights.

    The one implementation of the negative-weight policy (module docstring), used by every
    estimator. ``keep_allowed=False`` (xgboost) turns ``"keep"`` with negative weights into an
    error naming ``backend``. The total weight must stay positive.
    """
    policy = est.negative_weights
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(w)):
        msg = "Sample weights contain NaN or infinity; give finite weights."
        raise ValueError(msg)
    negative = w < 0
    if negative.any():
        if policy == "ignore":
            w[negative] = 0.0
        elif policy == "abs":
            np.abs(w, out=w)
        elif not keep_allowed:
            msg = (
                f"{type(est).__name__} got {int(negative.sum())} negative sample weights, "
                f"which {backend} refuses with negative_weights='keep'. "
                "Use negative_weights='abs' or 'ignore'."
            )
            raise ValueError(msg)
    total = float(w.sum())
    if not total > 0:
        msg = (
            f"The total sample weight must be positive; got {total:g}. Sample weights must "
            f"contain at least one non-zero number with negative_weights={policy!r}."
        )
        raise ValueError(msg)
    return w


def training_weights(
    est,
    X,
    y_enc: np.ndarray,
    n_classes: int,
    sample_weight,
    *,
    keep_allowed: bool = True,
    backend: str = "",
) -> np.ndarray:
    """Apply the negative-weight policy and ``class_weight``; validate the result (float64)."""
    w = negative_weight_policy(est, sample_weight, X, keep_allowed=keep_allowed, backend=backend)
    total = float(w.sum())
    per_class = np.bincount(y_enc, weights=w, minlength=n_classes)
    if np.count_nonzero(per_class > 0) < 2:
        msg = (
            f"{type(est).__name__} needs at least two classes with positive total sample "
            f"weight; got per-class totals {per_class.tolist()}."
        )
        raise ValueError(msg)
    cw = est.class_weight
    if cw == "balanced":
        if np.any(per_class <= 0):
            msg = (
                f"class_weight='balanced' needs a positive total weight in every class; "
                f"got per-class totals {per_class.tolist()}."
            )
            raise ValueError(msg)
        w *= (total / (n_classes * per_class))[y_enc]
    elif isinstance(cw, Mapping):
        classes = est.classes_
        factors = np.ones(n_classes)
        for label, factor in cw.items():
            idx = np.flatnonzero(classes == label)
            if idx.size == 0:
                msg = f"class_weight names class {label!r}, absent from y {classes.tolist()!r}."
                raise ValueError(msg)
            factors[idx[0]] = float(factor)
        w *= factors[y_enc]
    return w


def resolve_xgb_device(device: str) -> str:
    """Turn ``device="auto"`` into ``"cuda"`` where xgboost was built with CUDA and a GPU is
    visible, else ``"cpu"``; other values are passed through to xgboost."""
    if device != "auto":
        return device
    try:
        import xgboost

        if not xgboost.build_info().get("USE_CUDA", False):
            return "cpu"
    except Exception:  # pragma: no cover - defensive
        return "cpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "cpu"
    return "cuda" if os.path.exists("/dev/nvidia0") else "cpu"


def seed_from(random_state) -> int:
    """An int seed: the int itself, or one drawn from a RandomState / None."""
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        return int(random_state)
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


_MIX = np.uint64(0x9E3779B97F4A7C15)


def row_hash(X: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Deterministic 64-bit hash of each row's float64 values, shape (n_samples,), uint64.

    Identical rows hash equally whatever their position, so folds built from it are invariant
    to shuffling and repeating events (the fallback when no event number is given).
    ``extra`` (shape (n_samples,)) is hashed as one more column, e.g. the label. Columns are
    read one at a time (no float64 copy of X).
    """
    X = np.asarray(X)
    cols = [X[:, j] for j in range(X.shape[1])]
    if extra is not None:
        cols.append(np.asarray(extra))
    h = np.zeros(len(X), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j, col in enumerate(cols):
            bits = np.ascontiguousarray(col, dtype=np.float64).view(np.uint64)
            z = (h ^ bits) * _MIX
            z ^= z >> np.uint64(29)
            h = z * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(j + 1)
        h ^= h >> np.uint64(31)
    return h
