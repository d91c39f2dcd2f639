"""What the xgboost estimators share: parameters relative to the total weight, training with
early stopping, truncation at the best iteration, persistence, ONNX and importances.

Weight scale
------------
xgboost's ``min_child_weight`` (a sum of hessians), ``lambda``, ``alpha`` and ``gamma`` (loss
reductions) are in the units of the sample weights: with MC weights of 1e-5 per event an
absolute ``min_child_weight=1`` forbids every split. Renormalising the weights to mean 1 cures
that but breaks scikit-learn's contract that an integer weight equals repeating the event (the
number of rows changes, the mean with it). Here these four settings are instead **fractions of
the total training weight** W = Σ wᵢ (after the negative-weight policy and ``class_weight``,
over the events the trees are grown on), as TMVA's ``MinNodeSize`` is a fraction of the
training sample. W is the same for an integer weight and for the repeated event, and scales
with the weights, so both properties hold.

Scaling the settings by W alone is not enough: xgboost also compares gains and hessian sums with
fixed absolute tolerances (e.g. ``kRtEps = 1e-6``), so weights × 1e-4 and × 1e4 grew different
trees (measured: 3688 vs 3662 nodes in 30 trees). The weights given to xgboost are therefore
``w × WEIGHT_SUM / W`` (they sum to :data:`WEIGHT_SUM` = 2²⁰ whatever their scale) and the
settings ``fraction × WEIGHT_SUM``: any overall scale of the weights gives bit-identical trees.

Integer weights and repeated events
-----------------------------------
xgboost computes each event's gradient ``w × (p - y)`` in float32, so an event of weight 3 and
three copies of it differ in the last bits, and after 200 rounds the probabilities differ by
~3e-7 (sklearn's check asks for 1e-7). :func:`merge_rows` therefore hands xgboost each distinct
(x, y) once, with the summed weight, and leaves out zero-weight events: an integer weight,
repeated events and removed events then give xgboost the same rows and weights, bit for bit.
When the training events are distinct and all weighted (the usual case for continuous HEP
features) nothing changes and the rows keep their order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators._base import (
    check_number,
    check_option,
    resolve_xgb_device,
    row_hash,
    seed_from,
)
from hepml_coffea.estimators.persistence import SaveMixin

#: Parameters given as fractions of the total training weight W (module docstring).
RELATIVE_PARAMS = {
    "min_child_weight": "min_child_weight",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
    "gamma": "gamma",
}
BOOSTER_FILE = "booster.ubj"
#: Sum of the weights handed to xgboost (module docstring); a power of two, so exact.
WEIGHT_SUM = float(2**20)


def merge_rows(X, label, w):
    """Drop zero-weight rows and merge identical (x, label) rows, summing their weights.

    Returns ``(X, label, w)``: the inputs themselves when every row is distinct and has a
    non-zero weight, else the distinct rows in a canonical order (by :func:`row_hash`), so that
    shuffled, repeated and integer-weighted samples give identical arrays.
    """
    h = row_hash(X, extra=label)
    nonzero = w != 0
    if nonzero.all() and np.unique(h).size == h.size:
        return X, label, w
    idx = np.flatnonzero(nonzero)
    _, first, inverse = np.unique(h[idx], return_index=True, return_inverse=True)
    rows = idx[first]
    same = np.array_equal(X[rows][inverse], X[idx], equal_nan=True) and np.array_equal(
        label[rows][inverse], label[idx], equal_nan=label.dtype.kind == "f"
    )
    if not same:  # a 64-bit hash collision: only drop the zero-weight rows
        return X[idx], label[idx], w[idx]
    return X[rows], label[rows], np.bincount(inverse, weights=w[idx], minlength=rows.size)


class XGBoostMixin(SaveMixin):
    """Training, prediction and persistence for the xgboost estimators (``booster_``)."""

    n_estimators: int
    max_depth: int
    learning_rate: float
    subsample: float
    colsample_bytree: float
    min_child_weight: float
    reg_lambda: float
    reg_alpha: float
    gamma: float
    max_bin: int
    early_stopping_rounds: int | None
    validation_fraction: float
    eval_metric: str
    negative_weights: str
    device: str
    n_jobs: int | None
    random_state: Any
    verbose: bool
    allow_nan: bool
    n_features_in_: int
    training_weight_: float | None

    def _check_xgb_params(self) -> None:
        check_number("n_estimators", self.n_estimators, low=1, integer=True)
        check_number("max_depth", self.max_depth, low=0, integer=True)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("subsample", self.subsample, low=0, high=1, low_open=True)
        check_number("colsample_bytree", self.colsample_bytree, low=0, high=1, low_open=True)
        for name in RELATIVE_PARAMS:
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
        check_number("n_jobs", self.n_jobs, integer=True, allow_none=True)

    def _xgb_params(self, objective: dict[str, Any]) -> dict[str, Any]:
        """The exact ``xgboost.train`` parameters (for weights summing to ``WEIGHT_SUM``)."""
        params: dict[str, Any] = {
            "tree_method": "hist",
            "max_depth": int(self.max_depth),
            "eta": float(self.learning_rate),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "max_bin": int(self.max_bin),
            "seed": seed_from(self.random_state),
            "device": resolve_xgb_device(self.device),
            "verbosity": 0,
        }
        for name, xgb_name in RELATIVE_PARAMS.items():
            params[xgb_name] = float(getattr(self, name)) * WEIGHT_SUM
        params.update(objective)
        if self.n_jobs is not None:
            params["nthread"] = int(self.n_jobs)
        return params

    def _train(self, X, label, w, objective: dict[str, Any], stratify=None) -> None:
        """Grow the trees; set ``booster_`` (truncated at the best iteration) and co."""
        import xgboost as xgb

        seed = seed_from(self.random_state)
        missing = np.nan
        params = self._xgb_params(objective)
        evals: list = []
        callbacks: list = []
        self.evals_result_: dict = {}
        if self.early_stopping_rounds is not None:
            from sklearn.model_selection import train_test_split

            itr, iva = train_test_split(
                np.arange(len(label)),
                test_size=self.validation_fraction,
                stratify=stratify,
                random_state=seed,
            )
            total = float(w[itr].sum())
            if not total > 0:
                msg = (
                    "The training part of the early-stopping split has no positive weight; "
                    "lower validation_fraction or check the weights."
                )
                raise ValueError(msg)
            w = w * (WEIGHT_SUM / total)
            Xt, yt, wt = merge_rows(X[itr], label[itr], w[itr])
            dtrain = xgb.QuantileDMatrix(
                Xt, label=yt, weight=wt, missing=missing, max_bin=params["max_bin"]
            )
            dval = xgb.QuantileDMatrix(
                X[iva], label=label[iva], weight=w[iva], missing=missing, ref=dtrain
            )
            evals = [(dval, "validation")]
            callbacks = [
                xgb.callback.EarlyStopping(rounds=int(self.early_stopping_rounds), save_best=False)
            ]
        else:
            total = float(w.sum())
            Xt, yt, wt = merge_rows(X, label, w * (WEIGHT_SUM / total))
            dtrain = xgb.QuantileDMatrix(
                Xt, label=yt, weight=wt, missing=missing, max_bin=params["max_bin"]
            )
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=int(self.n_estimators),
            evals=evals,
            callbacks=callbacks,
            evals_result=self.evals_result_,
            verbose_eval=bool(self.verbose) and bool(evals),
        )
        if evals:
            self.best_iteration_ = int(booster.best_iteration)
        else:
            self.best_iteration_ = int(booster.num_boosted_rounds()) - 1
        self.n_estimators_ = self.best_iteration_ + 1
        if booster.num_boosted_rounds() != self.n_estimators_:
            # keep only the rounds used: plain xgboost, coffea's xgboost_wrapper and ONNX
            # then give the same scores as predict_proba
            booster = booster[: self.n_estimators_]
        self.booster_ = booster
        self.xgb_params_ = params
        self.training_weight_ = total

    def _raw_predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.booster_.inplace_predict(
            X, iteration_range=(0, self.n_estimators_), missing=np.nan
        ).astype(np.float64)

    # persistence (see hepml_coffea.estimators.persistence)
    def _model_files(self, state: dict[str, Any]) -> list[str]:
        return [BOOSTER_FILE]

    def _save_files(self, folder: Path) -> dict[str, Any]:
        from hepml_coffea.estimators._card import write_file

        write_file(folder / BOOSTER_FILE, bytes(self.booster_.save_raw(raw_format="ubj")))
        return {
            "best_iteration": self.best_iteration_,
            "xgb_params": self.xgb_params_,
            "training_weight": self.training_weight_,
        }

    def _load_files(self, folder: Path, state: dict[str, Any]) -> None:
        import xgboost as xgb

        from hepml_coffea.estimators._card import check_ubjson, first_line

        path = folder / BOOSTER_FILE
        data = path.read_bytes()
        try:
            check_ubjson(data)  # before xgboost's parser, which trusts the lengths
            booster = xgb.Booster()
            booster.load_model(bytearray(data))
        except (ValueError, xgb.core.XGBoostError) as exc:
            msg = f"{path} is not a readable xgboost model ({first_line(exc)}); re-save the model."
            raise ModelError(msg) from None
        self.booster_ = booster
        self.best_iteration_ = int(state["best_iteration"])
        self.n_estimators_ = self.best_iteration_ + 1
        if booster.num_boosted_rounds() < self.n_estimators_:
            msg = (
                f"{path} holds {booster.num_boosted_rounds()} boosting rounds, but its card "
                f"records {self.n_estimators_}; the model folder is inconsistent."
            )
            raise ModelError(msg)
        self.xgb_params_ = dict(state["xgb_params"])
        self.training_weight_ = state.get("training_weight")
        self.evals_result_ = {}

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
