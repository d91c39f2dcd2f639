"""``BDTClassifier`` and ``BDTRegressor``: scikit-learn estimators around ``xgboost.train``.

Both share :class:`hepml_coffea.estimators._xgb.XGBoostMixin`: the weight-scale-dependent
settings (``min_child_weight``, ``reg_lambda``, ``reg_alpha``, ``gamma``) are fractions of the
total training weight, so that any overall weight scale gives the same trees *and* an integer
weight equals repeating the event; the booster is truncated at the best iteration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from hepml_coffea.errors import ConfigError
from hepml_coffea.estimators._base import (
    check_class_weight,
    encode_targets,
    negative_weight_policy,
    training_weights,
    validate_X,
)
from hepml_coffea.estimators._xgb import XGBoostMixin

_NAN_HINT = (
    "To let xgboost treat NaN as a missing value (learned default direction), "
    "use allow_nan=True; infinity is never allowed."
)


class BDTClassifier(XGBoostMixin, ClassifierMixin, BaseEstimator):
    """Gradient-boosted decision trees (xgboost ``hist``) with scikit-learn conventions.

    Training calls ``xgboost.train`` on a ``QuantileDMatrix``, so predictions equal a raw
    ``xgboost.train(xgb_params_, QuantileDMatrix(X, y, weight=w), n_estimators)`` bit for bit.
    Two classes use ``binary:logistic``, more use ``multi:softprob`` (labels of any type).

    Parameters
    ----------
    n_estimators : int, default=200
        Maximum number of boosting rounds.
    max_depth, learning_rate, subsample, colsample_bytree, max_bin :
        xgboost's ``max_depth``, ``eta``, ``subsample``, ``colsample_bytree``, ``max_bin``.
    min_child_weight : float, default=1e-5
        Minimum sum of hessians in a leaf **as a fraction of the total training weight** W
        (xgboost gets ``min_child_weight * W``; see :mod:`hepml_coffea.estimators._xgb`).
    reg_lambda : float, default=1e-5
        L2 regularisation of the leaf values, as a fraction of W.
    reg_alpha : float, default=0.0
        L1 regularisation of the leaf values, as a fraction of W.
    gamma : float, default=0.0
        Minimum loss reduction to split a leaf, as a fraction of W.
    early_stopping_rounds : int or None, default=None
        Stop when the validation loss has not improved for this many rounds; ``None``
        disables early stopping (and the validation split). Only the rounds up to the best
        one are kept.
    validation_fraction : float, default=0.1
        Fraction of the training events held out (stratified, seeded by ``random_state``)
        to monitor early stopping.
    eval_metric : str, default="logloss"
        xgboost metric monitored for early stopping (``"mlogloss"`` is used for >2 classes
        when this is ``"logloss"``).
    negative_weights : {"abs", "ignore", "keep"}, default="abs"
        Policy for negative sample weights (see :mod:`hepml_coffea.estimators._base`).
        xgboost refuses negative weights, so ``"keep"`` raises if any are present.
    class_weight : None, "balanced" or dict, default=None
        ``"balanced"`` gives every class the same total weight.
    allow_nan : bool, default=False
        Accept NaN in X as xgboost missing values; otherwise NaN is an error.
    device : str, default="auto"
        ``"auto"`` uses ``"cuda"`` where xgboost has CUDA and a GPU is visible, else ``"cpu"``.
    n_jobs : int or None, default=None
        Threads; ``None`` lets xgboost use all cores.
    random_state : int, RandomState or None, default=None
        Seed of the row/column subsampling and validation split; an int makes the fit
        bit-reproducible.
    verbose : bool, default=False
        Print the validation metric every round.

    Attributes
    ----------
    booster_ : xgboost.Booster
        Holds exactly ``n_estimators_`` rounds (truncated at the best iteration).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    best_iteration_ : int
        Last boosting round used for prediction (0-based).
    n_estimators_ : int
        Number of rounds used for prediction (``best_iteration_ + 1``).
    training_weight_ : float
        Total training weight W that the relative parameters were multiplied by.
    xgb_params_ : dict
        The exact (absolute) parameters given to ``xgboost.train``.
    evals_result_ : dict
        Validation metric per round (empty without early stopping).
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        min_child_weight: float = 1e-5,
        reg_lambda: float = 1e-5,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
        eval_metric: str = "logloss",
        negative_weights: str = "abs",
        class_weight: Any = None,
        allow_nan: bool = False,
        device: str = "auto",
        n_jobs: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.eval_metric = eval_metric
        self.negative_weights = negative_weights
        self.class_weight = class_weight
        self.allow_nan = allow_nan
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.allow_nan)
        return tags

    def _objective(self, n_classes: int) -> dict[str, Any]:
        if n_classes == 2:
            return {"objective": "binary:logistic", "eval_metric": self.eval_metric}
        metric = "mlogloss" if self.eval_metric == "logloss" else self.eval_metric
        return {"objective": "multi:softprob", "num_class": int(n_classes), "eval_metric": metric}

    def fit(self, X, y, sample_weight=None) -> BDTClassifier:
        """Train the trees.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type (e.g. 1 = signal, 0 = background, or process names).
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights, after ``negative_weights`` and ``class_weight``.

        Returns
        -------
        self
        """
        self._check_xgb_params()
        check_class_weight(self.class_weight)
        X, y = validate_X(self, X, reset=True, allow_nan=self.allow_nan, hint=_NAN_HINT, y=y)
        self.classes_, y_enc = encode_targets(self, y)
        n_classes = self.classes_.size
        w = training_weights(
            self, X, y_enc, n_classes, sample_weight, keep_allowed=False, backend="xgboost"
        )
        self._train(X, y_enc, w, self._objective(n_classes), stratify=y_enc)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Column ``i`` is the probability of ``classes_[i]``.
        """
        check_is_fitted(self)
        X = validate_X(self, X, reset=False, allow_nan=self.allow_nan, hint=_NAN_HINT)
        p = self._raw_predict(X)
        if self.classes_.size == 2:
            return np.column_stack([1.0 - p, p])
        return p.reshape(len(X), -1)

    def predict(self, X) -> np.ndarray:
        """Most probable class, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def to_onnx(self, path, opset: int = 15):
        """Write the trees as an ONNX ``TreeEnsembleClassifier`` graph (onnxmltools).

        Input ``"input"``: float32 of shape (n, n_features_in_); outputs ``"label"`` (the
        class *index*) and ``"probabilities"`` of shape (n, n_classes), equal to
        :meth:`predict_proba` to ~1e-7.
        """
        from hepml_coffea.estimators.onnx import bdt_to_onnx

        return bdt_to_onnx(self, path, opset=opset)


class BDTRegressor(XGBoostMixin, RegressorMixin, BaseEstimator):
    """Gradient-boosted regression trees (xgboost ``hist``, squared error by default).

    Same parameters and conventions as :class:`BDTClassifier` (relative ``min_child_weight``,
    ``reg_lambda``, ``reg_alpha``, ``gamma``; truncation at the best iteration; sample weights
    with the negative-weight policy), for a continuous target such as a jet's
    pT(gen) / pT(reco).

    Parameters
    ----------
    objective : str, default="reg:squarederror"
        xgboost regression objective (e.g. ``"reg:absoluteerror"``, ``"reg:pseudohubererror"``).
    eval_metric : str, default="rmse"
        Metric monitored for early stopping.
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree, min_child_weight, \
reg_lambda, reg_alpha, gamma, max_bin, early_stopping_rounds, validation_fraction, \
negative_weights, allow_nan, device, n_jobs, random_state, verbose :
        As for :class:`BDTClassifier` (the validation split is not stratified).

    Attributes
    ----------
    booster_, n_features_in_, feature_names_in_, best_iteration_, n_estimators_, \
training_weight_, xgb_params_, evals_result_ :
        As for :class:`BDTClassifier`.
    """

    def __init__(
        self,
        objective: str = "reg:squarederror",
        n_estimators: int = 200,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        min_child_weight: float = 1e-5,
        reg_lambda: float = 1e-5,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
        eval_metric: str = "rmse",
        negative_weights: str = "abs",
        allow_nan: bool = False,
        device: str = "auto",
        n_jobs: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.eval_metric = eval_metric
        self.negative_weights = negative_weights
        self.allow_nan = allow_nan
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.allow_nan)
        return tags

    def fit(self, X, y, sample_weight=None) -> BDTRegressor:
        """Train the trees.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Continuous target.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights, after ``negative_weights``.

        Returns
        -------
        self
        """
        self._check_xgb_params()
        if not (isinstance(self.objective, str) and self.objective.startswith("reg:")):
            msg = (
                "The 'objective' parameter must be an xgboost regression objective "
                f"('reg:...'); got {self.objective!r}."
            )
            raise ConfigError(msg)
        X, y = validate_X(
            self, X, reset=True, allow_nan=self.allow_nan, hint=_NAN_HINT, y=y, y_numeric=True
        )
        y = np.asarray(y, dtype=np.float64)
        w = negative_weight_policy(self, sample_weight, X, keep_allowed=False, backend="xgboost")
        objective = {"objective": self.objective, "eval_metric": self.eval_metric}
        self._train(X, y, w, objective)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted target, float64 of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_X(self, X, reset=False, allow_nan=self.allow_nan, hint=_NAN_HINT)
        return self._raw_predict(X)

    def to_onnx(self, path, opset: int = 15):
        """Write the trees as an ONNX ``TreeEnsembleRegressor`` graph (onnxmltools).

        Input ``"input"``: float32 of shape (n, n_features_in_); output ``"variable"`` of shape
        (n, 1), equal to :meth:`predict` to float32 precision.
        """
        from hepml_coffea.estimators.onnx import bdt_to_onnx

        return bdt_to_onnx(self, path, opset=opset)
