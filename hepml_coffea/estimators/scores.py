"""The signal score of an estimator: one definition, used by every step that needs a score.

:func:`signal_score` returns one number per event, *higher = more signal-like*:

* a classifier (``predict_proba``): the probability of the signal class. The signal class is,
  in order of precedence, the ``signal_class`` argument, the estimator's ``signal_class_`` or
  ``signal_class`` attribute, else ``classes_[1]`` for two classes (labels 0/1: class 1) and
  ``classes_[0]`` for more (the first class of the analysis configuration is the signal);
* an outlier detector without ``predict_proba`` (``AutoencoderAnomalyDetector``, sklearn's
  ``IsolationForest``...): ``-score_samples(X)``, the anomaly score (for the autoencoder the
  reconstruction error), so that anomalous = signal-like. ``decision_function`` is *not* used:
  scikit-learn's outlier convention makes it higher for normal events, the opposite sign;
* a :class:`~hepml_coffea.estimators.KFoldEventClassifier` (or any ``predict_proba`` taking
  ``event=``) gets the event numbers, so that each event is scored by the fold that did not
  train on it;
* a regressor has no signal score: :class:`~hepml_coffea.errors.ModelError`.

:func:`class_scores` returns all class probabilities, shape (n_samples, n_classes), column
``i`` for ``classes_[i]``.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepml_coffea.errors import ModelError

__all__ = ["class_scores", "signal_class_index", "signal_score"]


def _name(estimator: Any) -> str:
    return type(estimator).__name__


def _is_regressor(estimator: Any) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(estimator))
    except Exception:  # not a scikit-learn estimator: judge by its methods below
        return False


def _takes_event(method: Any) -> bool:
    try:
        return "event" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def _check_classifier(estimator: Any) -> None:
    if _is_regressor(estimator) or not hasattr(estimator, "predict_proba"):
        kind = "a regressor" if _is_regressor(estimator) else "not a classifier"
        msg = (
            f"{_name(estimator)} is {kind}: it has no class probabilities and no signal score; "
            "give a classifier (predict_proba) or an anomaly detector (score_samples)."
        )
        raise ModelError(msg)


def class_scores(estimator: Any, X: Any, *, event: Any = None) -> NDArray[np.float64]:
    """Class probabilities of a fitted classifier.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba`` and ``classes_``
    X : array-like or DataFrame of shape (n_samples, n_features)
    event : array-like of int of shape (n_samples,), optional
        Event numbers, passed on to a ``predict_proba`` that takes ``event=`` (k-fold models);
        ignored by the others, for which the event number plays no role.

    Returns
    -------
    ndarray of shape (n_samples, n_classes), float64
        Column ``i`` is the probability of ``estimator.classes_[i]``.

    Raises
    ------
    hepml_coffea.errors.ModelError
        A regressor, an anomaly detector or any estimator without ``predict_proba``.
    """
    _check_classifier(estimator)
    if event is not None and _takes_event(estimator.predict_proba):
        proba = estimator.predict_proba(X, event=np.asarray(event))
    else:
        proba = estimator.predict_proba(X)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:  # a binary model returning P(class 1) only
        proba = np.column_stack([1.0 - proba, proba])
    classes = getattr(estimator, "classes_", None)
    if proba.ndim != 2 or (classes is not None and proba.shape[1] != len(classes)):
        n = None if classes is None else len(classes)
        msg = (
            f"{_name(estimator)}.predict_proba returned shape {proba.shape}, expected "
            f"(n_samples, {n}) for classes {None if classes is None else list(classes)}."
        )
        raise ModelError(msg)
    return proba


def signal_class_index(estimator: Any, signal_class: Any = None) -> int:
    """Column of ``class_scores`` holding the signal class (see the module docstring).

    Parameters
    ----------
    estimator : fitted classifier with ``classes_``
    signal_class : label, optional
        A label of ``estimator.classes_``; also matched by its string form, so ``"1"`` finds
        the integer class 1 and a class name from a configuration file finds a string label.

    Returns
    -------
    int
    """
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        msg = f"{_name(estimator)} has no classes_; fit it (or load a fitted model) first."
        raise ModelError(msg)
    classes = list(np.asarray(classes).tolist())
    if signal_class is None:
        for attr in ("signal_class_", "signal_class"):
            signal_class = getattr(estimator, attr, None)
            if signal_class is not None:
                break
    if signal_class is None:
        return 1 if len(classes) == 2 else 0
    if isinstance(signal_class, np.generic):
        signal_class = signal_class.item()
    for i, c in enumerate(classes):
        if c == signal_class:
            return i
    for i, c in enumerate(classes):
        if str(c) == str(signal_class):
            return i
    msg = (
        f"signal class {signal_class!r} is not a class of {_name(estimator)}; its classes are "
        f"{classes}. Give one of them as signal_class."
    )
    raise ModelError(msg)


def signal_score(
    estimator: Any, X: Any, signal_class: Any = None, *, event: Any = None
) -> NDArray[np.float64]:
    """One score per event, higher = more signal-like (see the module docstring).

    Parameters
    ----------
    estimator : fitted classifier, k-fold classifier or anomaly detector
    X : array-like or DataFrame of shape (n_samples, n_features)
    signal_class : label, optional
        The signal class of a classifier; default: the estimator's ``signal_class_`` /
        ``signal_class`` attribute, else ``classes_[1]`` (binary) or ``classes_[0]``
        (multi-class).
    event : array-like of int of shape (n_samples,), optional
        Event numbers for k-fold models (each event scored by the fold that did not see it).

    Returns
    -------
    ndarray of shape (n_samples,), float64

    Raises
    ------
    hepml_coffea.errors.ModelError
        A regressor, an unknown ``signal_class``, or an estimator with neither
        ``predict_proba`` nor ``score_samples``.
    """
    if not _is_regressor(estimator) and not hasattr(estimator, "predict_proba"):
        if hasattr(estimator, "score_samples"):  # anomaly detector: higher = more anomalous
            if signal_class is not None:
                msg = (
                    f"{_name(estimator)} is an anomaly detector without classes; "
                    f"signal_class={signal_class!r} does not apply to it."
                )
                raise ModelError(msg)
            return -np.asarray(estimator.score_samples(X), dtype=np.float64).reshape(-1)
    proba = class_scores(estimator, X, event=event)
    return np.ascontiguousarray(proba[:, signal_class_index(estimator, signal_class)])
