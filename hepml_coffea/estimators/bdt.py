"""``BDTClassifier``: a scikit-learn classifier around the low-level ``xgboost.train`` API."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from hepml_coffea.estimators._base import (
    check_class_weight,
    check_number,
    check_option,
    encode_targets,
    resolve_xgb_device,
    seed_from,
    training_weights,
    validate_X,
)
from hepml_coffea.estimators.persistence import SaveMixin

_NAN_HINT = (
    "To let xgboost treat NaN as a missing value (learned default direction), "
    "use BDTClassifier(allow_nan=True); infinity is never allowed."
)


class BDTClassifier(SaveMixin, ClassifierMixin, BaseEstimator):
    """Gradient-boosted decision trees (xgboost ``hist``) with scikit-learn conventions.

    Training calls ``xgboost.train`` on a ``QuantileDMatrix``, so predictions equal a raw
    ``xgboost.train(params, QuantileDMatrix(X, y, weight=w), n_estimators)`` bit for bit
    (``xgb_params_`` holds ``params``).

    Parameters
    ----------
    n_estimators : int, default=200
        Maximum number of boosting rounds.
    max_depth, learning_rate, subsample, colsample_bytree, min_child_weight, reg_lambda, \
reg_alpha, gamma, max_bin :
        xgboost's ``max_depth``, ``eta``, ``subsample``, ``colsample_bytree``,
        ``min_child_weight``, ``lambda``, ``alpha``, ``gamma``, ``max_bin``.
    early_stopping_rounds : int or None, default=None
        Stop when the validation loss has not improved for this many rounds; ``None``
        disables early stopping (and the validation split).
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
    normalize_weights : bool, default=True
        Divide the training weights by their mean over events with w ≠ 0 (after the
        policies above), so that Σw = number of those events: ``min_child_weight``, ``reg_lambda``, ``reg_alpha`` and
        ``gamma`` keep their usual meaning in units of events whatever the scale of the MC
        weights (xsec × lumi / Σ genWeight can be 1e-5), and multiplying all weights by a
        constant changes nothing. ``False`` uses the weights as given (scikit-learn's
        convention: an integer weight equals repeating the event; more events then also
        means weaker regularisation).
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
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    best_iteration_ : int
        Last boosting round used for prediction (0-based).
    n_estimators_ : int
        Number of rounds used for prediction (``best_iteration_ + 1``).
    xgb_params_ : dict
        The exact parameters given to ``xgboost.train``.
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
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
        eval_metric: str = "logloss",
        negative_weights: str = "abs",
        class_weight: Any = None,
        normalize_weights: bool = True,
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
        self.normalize_weights = normalize_weights
        self.allow_nan = allow_nan
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.allow_nan)
        return tags

    def _check_params(self) -> None:
        check_number("n_estimators", self.n_estimators, low=1, integer=True)
        check_number("max_depth", self.max_depth, low=0, integer=True)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("subsample", self.subsample, low=0, high=1, low_open=True)
        check_number("colsample_bytree", self.colsample_bytree, low=0, high=1, low_open=True)
        for name in ("min_child_weight", "reg_lambda", "reg_alpha", "gamma"):
            check_number(name, getattr(self, name), low=0)
        check_number("max_bin", self.max_bin, low=2, integer=True)
        check_number(
            "early_stopping_rounds",
            self.early_stopping_rounds,
            low=1,
            integer=True,
            allow_none=True,
        )
        check_number(
            "validation_fraction",
            self.validation_fraction,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
        check_option("negative_weights", self.negative_weights, ("ignore", "abs", "keep"))
        check_class_weight(self.class_weight)
        check_number("n_jobs", self.n_jobs, integer=True, allow_none=True)

    def _xgb_params(self, n_classes: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "tree_method": "hist",
            "max_depth": int(self.max_depth),
            "eta": float(self.learning_rate),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "min_child_weight": float(self.min_child_weight),
            "lambda": float(self.reg_lambda),
            "alpha": float(self.reg_alpha),
            "gamma": float(self.gamma),
            "max_bin": int(self.max_bin),
            "seed": seed_from(self.random_state),
            "device": resolve_xgb_device(self.device),
            "verbosity": 0,
        }
        if n_classes == 2:
            params["objective"] = "binary:logistic"
            params["eval_metric"] = self.eval_metric
        else:
            params["objective"] = "multi:softprob"
            params["num_class"] = int(n_classes)
            params["eval_metric"] = (
                "mlogloss" if self.eval_metric == "logloss" else self.eval_metric
            )
        if self.n_jobs is not None:
            params["nthread"] = int(self.n_jobs)
        return params

    def fit(self, X, y, sample_weight=None) -> BDTClassifier:
        """Train the trees.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (e.g. 1 = signal, 0 = background).
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights, after ``negative_weights`` and ``class_weight``.

        Returns
        -------
        self
        """
        import xgboost as xgb

        self._check_params()
        X, y = validate_X(self, X, reset=True, allow_nan=self.allow_nan, hint=_NAN_HINT, y=y)
        self.classes_, y_enc = encode_targets(self, y)
        n_classes = self.classes_.size
        w = training_weights(
            self, X, y_enc, n_classes, sample_weight, keep_allowed=False, backend="xgboost"
        )
        if self.normalize_weights:  # mean 1 over the events that count (w != 0)
            w /= w.sum() / np.count_nonzero(w)
        params = self._xgb_params(n_classes)
        if np.all(w == 1.0):  # unit weights: xgboost's unweighted path, same trees, ~2% faster
            w = None
        missing = np.nan
        evals, callbacks = [], []
        self.evals_result_: dict = {}
        if self.early_stopping_rounds is not None:
            from sklearn.model_selection import train_test_split

            idx = np.arange(len(y_enc))
            itr, iva = train_test_split(
                idx,
                test_size=self.validation_fraction,
                stratify=y_enc,
                random_state=params["seed"],
            )
            dtrain = xgb.QuantileDMatrix(
                X[itr],
                label=y_enc[itr],
                weight=None if w is None else w[itr],
                missing=missing,
                max_bin=params["max_bin"],
            )
            dval = xgb.QuantileDMatrix(
                X[iva],
                label=y_enc[iva],
                weight=None if w is None else w[iva],
                missing=missing,
                ref=dtrain,
            )
            evals = [(dval, "validation")]
            callbacks = [
                xgb.callback.EarlyStopping(rounds=int(self.early_stopping_rounds), save_best=False)
            ]
        else:
            dtrain = xgb.QuantileDMatrix(
                X, label=y_enc, weight=w, missing=missing, max_bin=params["max_bin"]
            )
        self.booster_ = xgb.train(
            params,
            dtrain,
            num_boost_round=int(self.n_estimators),
            evals=evals,
            callbacks=callbacks,
            evals_result=self.evals_result_,
            verbose_eval=bool(self.verbose) and bool(evals),
        )
        if evals:
            self.best_iteration_ = int(self.booster_.best_iteration)
        else:
            self.best_iteration_ = int(self.booster_.num_boosted_rounds()) - 1
        self.n_estimators_ = self.best_iteration_ + 1
        self.xgb_params_ = params
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
        p = self.booster_.inplace_predict(
            X, iteration_range=(0, self.n_estimators_), missing=np.nan
        ).astype(np.float64)
        if self.classes_.size == 2:
            return np.column_stack([1.0 - p, p])
        return p.reshape(len(X), -1)

    def predict(self, X) -> np.ndarray:
        """Most probable class, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # persistence (see hepml_coffea.estimators.persistence)
    def _save_files(self, folder) -> dict[str, Any]:
        self.booster_.save_model(str(folder / "booster.ubj"))
        return {
            "best_iteration": self.best_iteration_,
            "xgb_params": self.xgb_params_,
        }

    def _load_files(self, folder, state: dict[str, Any]) -> None:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(folder / "booster.ubj"))
        self.booster_ = booster
        self.best_iteration_ = int(state["best_iteration"])
        self.n_estimators_ = self.best_iteration_ + 1
        self.xgb_params_ = dict(state["xgb_params"])
        self.evals_result_ = {}

    def to_onnx(self, path, opset: int = 15):
        """Write the trees as an ONNX ``TreeEnsembleClassifier`` graph (onnxmltools).

        Input ``"input"``: float32 of shape (n, n_features_in_); outputs ``"label"`` and
        ``"probabilities"`` of shape (n, n_classes), equal to :meth:`predict_proba` to ~1e-7.
        """
        from hepml_coffea.estimators.onnx import bdt_to_onnx

        return bdt_to_onnx(self, path, opset=opset)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Total gain of each feature, normalised to sum 1, shape (n_features_in_,)."""
        check_is_fitted(self)
        gain = self.booster_.get_score(importance_type="total_gain")
        imp = np.array([gain.get(f"f{i}", 0.0) for i in range(self.n_features_in_)])
        if self.booster_.feature_names is not None:
            imp = np.array([gain.get(n, 0.0) for n in self.booster_.feature_names])
        total = imp.sum()
        return imp / total if total > 0 else imp
