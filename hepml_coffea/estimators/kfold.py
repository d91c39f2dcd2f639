"""``KFoldEventClassifier``: TMVA-style deterministic cross-validation on the event number."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from hepml_coffea.estimators._base import check_number, encode_targets, row_hash
from hepml_coffea.estimators.persistence import SaveMixin


class KFoldEventClassifier(SaveMixin, ClassifierMixin, BaseEstimator):
    """Train ``n_splits`` clones, each scoring only events it never saw (``event % k``).

    Clone ``i`` is trained on events with ``event % n_splits != i`` and, given event numbers,
    scores exactly the events with ``event % n_splits == i``: every event gets an unbiased
    score and the whole sample can be used for training and for the analysis (TMVA's
    deterministic cross-validation). Fix ``n_splits`` and the event numbers and the split is
    reproducible across runs, machines and datasets.

    Event numbers come, in order of precedence, from ``event=`` in ``fit`` / ``predict*``, or
    from the column ``event_column`` of X (a name for DataFrames, an int position for arrays;
    that column is *not* given to the inner classifier).

    **Fallbacks without event numbers** (e.g. in scikit-learn's generic checks): at fit
    time, folds are stratified by class and keyed by a hash of the feature values
    (:func:`row_hash`), so identical events share a fold and shuffling or repeating events
    changes nothing; at predict time, the probabilities are the
    *average of the k clones*, which is only unbiased for events none of them trained on.

    Parameters
    ----------
    estimator : classifier, default=None
        Any scikit-learn classifier with ``predict_proba``; ``None`` means ``BDTClassifier()``.
    n_splits : int, default=2
        Number of folds k ≥ 2.
    event_column : str, int or None, default=None
        Column of X holding the event number.

    Attributes
    ----------
    estimators_ : list of fitted classifiers, length n_splits
        ``estimators_[i]`` trained on events with ``event % n_splits != i``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Columns of X, event column included.
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """

    def __init__(self, estimator=None, n_splits: int = 2, event_column: Any = None) -> None:
        self.estimator = estimator
        self.n_splits = n_splits
        self.event_column = event_column

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self._inner()
        tags.input_tags.allow_nan = get_tags(inner).input_tags.allow_nan
        return tags

    def _inner(self):
        if self.estimator is None:
            from hepml_coffea.estimators.bdt import BDTClassifier

            return BDTClassifier()
        return self.estimator

    def _split_event(self, X, event, *, reset: bool):
        """Validate X; return (features for the inner model, event numbers or None)."""
        allow_nan = get_tags(self).input_tags.allow_nan
        Xv = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if allow_nan else True,
        )
        col = self.event_column
        if event is None and col is not None:
            names = getattr(self, "feature_names_in_", None)
            if isinstance(col, str):
                if names is None or col not in list(names):
                    msg = (
                        f"event_column={col!r} is not a column of X "
                        f"(columns: {None if names is None else list(names)}); pass a "
                        "DataFrame holding it, or give event=... separately."
                    )
                    raise ValueError(msg)
                idx = list(names).index(col)
            else:
                idx = int(col)
                if not -Xv.shape[1] <= idx < Xv.shape[1]:
                    msg = f"event_column={col} is out of range for X with {Xv.shape[1]} columns."
                    raise ValueError(msg)
                idx %= Xv.shape[1]
            event = np.asarray(X)[:, idx] if not hasattr(X, "iloc") else X.iloc[:, idx]
            Xv = np.delete(Xv, idx, axis=1)
        if event is None:
            return Xv, None
        event = np.asarray(event)
        if event.shape != (Xv.shape[0],):
            msg = f"event must have shape ({Xv.shape[0]},) like X; got {event.shape}."
            raise ValueError(msg)
        if event.dtype.kind == "f":
            if not np.all(np.isfinite(event)) or np.any(event != np.floor(event)):
                msg = "Event numbers must be integers; got non-integer values."
                raise ValueError(msg)
        elif event.dtype.kind not in "iu":
            msg = f"Event numbers must be integers; got dtype {event.dtype}."
            raise ValueError(msg)
        if event.dtype.kind != "u" and np.any(event < 0):
            msg = "Event numbers must be non-negative."
            raise ValueError(msg)
        return Xv, event.astype(np.uint64)

    def _fold(self, Xv, event) -> np.ndarray:
        return (event % np.uint64(self.n_splits)).astype(np.int64)

    def _fallback_fold(self, Xv, y_enc, sw) -> np.ndarray:
        """Folds without event numbers: stratified by class, keyed by the row content.

        Within each class, the distinct rows (by :func:`row_hash`) with positive weight are
        sorted by hash and dealt round-robin to the folds; zero-weight rows go to
        ``hash % k``. Shuffling or repeating events does not change any fold.
        """
        k = self.n_splits
        h = row_hash(Xv, extra=y_enc)
        fold = (h % np.uint64(k)).astype(np.int64)
        active = np.ones(len(h), bool) if sw is None else sw > 0
        for c in np.unique(y_enc):
            sel = active & (y_enc == c)
            uniq, inv = np.unique(h[sel], return_inverse=True)
            fold[sel] = (np.arange(uniq.size) % k)[inv]
        return fold

    def fit(self, X, y, sample_weight=None, event=None) -> KFoldEventClassifier:
        """Fit the k clones.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Passed on (subset) to each clone's ``fit``.
        event : array-like of int of shape (n_samples,), default=None
            Event numbers; overrides ``event_column``.

        Returns
        -------
        self
        """
        check_number("n_splits", self.n_splits, low=2, integer=True)
        Xv, event = self._split_event(X, event, reset=True)
        check_consistent_length(Xv, y)
        self.classes_, y_enc = encode_targets(self, y)
        y_arr = self.classes_[y_enc]
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, Xv)
        if event is None:
            fold = self._fallback_fold(Xv, y_enc, sw)
        else:
            fold = self._fold(Xv, event)
        self.estimators_ = []
        for i in range(self.n_splits):
            train = fold != i
            if sw is not None:
                train &= sw != 0  # zero-weight events have no influence: leave them out
            if not train.any():
                msg = f"No events outside fold {i}: all events have event % {self.n_splits} == {i}."
                raise ValueError(msg)
            est = clone(self._inner())
            kw = {} if sw is None else {"sample_weight": sw[train]}
            est.fit(Xv[train], y_arr[train], **kw)
            self.estimators_.append(est)
        return self

    def _proba_of(self, est, Xv) -> np.ndarray:
        """Probabilities of one clone mapped onto the columns of ``classes_``."""
        p = est.predict_proba(Xv)
        if np.array_equal(est.classes_, self.classes_):
            return p
        out = np.zeros((len(Xv), self.classes_.size))
        out[:, np.searchsorted(self.classes_, est.classes_)] = p
        return out

    def predict_proba(self, X, event=None) -> np.ndarray:
        """Class probabilities, each event scored by the clone that did not train on it.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        event : array-like of int of shape (n_samples,), default=None
            Event numbers; without them (and without ``event_column``) the result is the
            average of the k clones.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        Xv, event = self._split_event(X, event, reset=False)
        if event is None:
            return np.mean([self._proba_of(est, Xv) for est in self.estimators_], axis=0)
        fold = self._fold(Xv, event)
        out = np.empty((len(Xv), self.classes_.size))
        for i, est in enumerate(self.estimators_):
            sel = fold == i
            if sel.any():
                out[sel] = self._proba_of(est, Xv[sel])
        return out

    def predict(self, X, event=None) -> np.ndarray:
        """Most probable class, shape (n_samples,); see :meth:`predict_proba`."""
        proba = self.predict_proba(X, event=event)
        return self.classes_[np.argmax(proba, axis=1)]

    def to_onnx(self, path):
        """One ONNX graph of all folds, inputs ``"input"`` (features, without the event column)
        and ``"event"`` (int64); see :func:`hepml_coffea.estimators.onnx.kfold_to_onnx`."""
        from hepml_coffea.estimators.onnx import kfold_to_onnx

        return kfold_to_onnx(self, path)

    # persistence
    def _model_files(self, state: dict[str, Any]) -> list[str]:
        from hepml_coffea.estimators.persistence import CARD

        return [f"{sub}/{CARD}" for sub in state["folds"]["subfolders"]]

    def _save_files(self, folder) -> dict[str, Any]:
        from hepml_coffea.estimators.persistence import write_model

        for i, est in enumerate(self.estimators_):
            sub = folder / f"fold_{i}"
            sub.mkdir()
            write_model(est, sub)
        col = self.event_column
        return {
            "folds": {
                "k": int(self.n_splits),
                "variable": "event" if col is None else col,
                "rule": "estimators_[i] trained on event % k != i, scores event % k == i",
                "subfolders": [f"fold_{i}" for i in range(self.n_splits)],
            }
        }

    def _load_files(self, folder, state: dict[str, Any]) -> None:
        from hepml_coffea.errors import ModelError
        from hepml_coffea.estimators._card import member
        from hepml_coffea.estimators.persistence import CARD, load

        subs = state["folds"]["subfolders"]
        if len(subs) != self.n_splits:
            msg = (
                f"{folder / CARD} lists {len(subs)} fold subfolders for n_splits="
                f"{self.n_splits}; the model folder is inconsistent."
            )
            raise ModelError(msg)
        self.estimators_ = [
            load(member(folder, sub, folder / CARD, "fold subfolder")) for sub in subs
        ]
