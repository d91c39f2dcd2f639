"""Wrap a model trained elsewhere (plain xgboost, plain Keras) as a hepml-coffea estimator.

``from_xgboost(path, feature_names=[...])`` and ``from_keras(path, feature_names=[...])`` return
a fitted :class:`BDTClassifier` / :class:`BDTRegressor` / :class:`DNNClassifier` /
:class:`DNNRegressor` whose predictions are those of the file. Save it with ``est.save(folder)``
to get a model folder with a card, which ``apply`` and :func:`load` use like any other.

The feature names say which column of the analysis table is which model input, in order: the
wrapped model cannot check them, so give them carefully.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators._card import check_ubjson, first_line


def _names(feature_names: Any, n_inputs: int, path: Path) -> np.ndarray:
    names = list(feature_names) if feature_names is not None else []
    if not names or not all(isinstance(n, str) and n for n in names):
        msg = f"Give feature_names=[...] (one str per input of {path}, in order); got {feature_names!r}."
        raise ModelError(msg)
    if len(set(names)) != len(names):
        msg = f"feature_names for {path} repeat a name: {names}."
        raise ModelError(msg)
    if len(names) != n_inputs:
        msg = f"{path} takes {n_inputs} input features, but {len(names)} feature_names were given: {names}."
        raise ModelError(msg)
    return np.asarray(names, dtype=object)


def _classes(classes: Any, n: int, path: Path) -> np.ndarray:
    if classes is None:
        return np.arange(n)
    out = np.asarray(list(classes))
    if out.ndim != 1 or out.size != n or np.unique(out).size != n:
        msg = f"{path} has {n} classes; classes= must list {n} distinct labels; got {classes!r}."
        raise ModelError(msg)
    return out


def from_xgboost(
    path: str | os.PathLike, feature_names: Any, *, classes: Any = None, signal_class: Any = None
) -> Any:
    """Wrap an xgboost model file (``.json`` or ``.ubj``) as a fitted BDT estimator.

    Parameters
    ----------
    path : str or Path
        Written by ``Booster.save_model``. ``binary:logistic`` gives a ``BDTClassifier`` with
        two classes, ``multi:softprob`` / ``multi:softmax`` one with ``num_class`` classes
        (probabilities either way), ``reg:*`` a ``BDTRegressor``.
    feature_names : sequence of str
        The model's inputs, in order.
    classes : sequence, optional
        Class labels, in the order of the model's outputs; default ``0 .. n_classes-1``.
    signal_class : label, optional
        Stored as the estimator's ``signal_class`` (see :func:`signal_score`).

    Returns
    -------
    BDTClassifier or BDTRegressor
        Predictions use every tree of the file, or up to its ``best_iteration`` attribute when
        it has one (the trees after it are dropped).
    """
    import xgboost as xgb

    from hepml_coffea.estimators.bdt import BDTClassifier, BDTRegressor

    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix != ".json":
            check_ubjson(data)  # xgboost's parser trusts the lengths in the file
        booster = xgb.Booster()
        booster.load_model(bytearray(data))
    except (OSError, ValueError, xgb.core.XGBoostError) as exc:
        msg = f"{path} is not a readable xgboost model ({first_line(exc)})."
        raise ModelError(msg) from None
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    n_inputs = int(booster.num_features())
    names = _names(feature_names, n_inputs, path)
    if booster.feature_names is not None and list(booster.feature_names) != list(names):
        msg = (
            f"{path} records feature names {booster.feature_names}, but feature_names="
            f"{list(names)}; give them in the model's order."
        )
        raise ModelError(msg)
    booster.feature_names = None
    booster.feature_types = None
    est: Any
    if objective == "binary:logistic":
        est = BDTClassifier()
        est.classes_ = _classes(classes, 2, path)
    elif objective in ("multi:softprob", "multi:softmax"):
        n_class = int(config["learner"]["learner_model_param"]["num_class"])
        booster.set_param({"objective": "multi:softprob"})
        est = BDTClassifier()
        est.classes_ = _classes(classes, n_class, path)
    elif objective.startswith("reg:"):
        if classes is not None or signal_class is not None:
            msg = f"{path} is a regression model ({objective}); it has no classes."
            raise ModelError(msg)
        est = BDTRegressor(objective=objective)
    else:
        msg = (
            f"{path} has objective {objective!r}; from_xgboost wraps binary:logistic, "
            "multi:softprob, multi:softmax and reg:* models."
        )
        raise ModelError(msg)
    rounds = int(booster.num_boosted_rounds())
    best = booster.attr("best_iteration")
    n_used = min(rounds, int(best) + 1) if best is not None else rounds
    if n_used != rounds:
        booster = booster[:n_used]
    est.booster_ = booster
    est.best_iteration_ = n_used - 1
    est.n_estimators_ = n_used
    est.n_features_in_ = n_inputs
    est.feature_names_in_ = names
    est.xgb_params_ = {"objective": objective, "wrapped_from": path.name}
    est.training_weight_ = None
    est.evals_result_ = {}
    if signal_class is not None:
        est.signal_class = signal_class
    return est


def from_keras(
    path: str | os.PathLike,
    feature_names: Any,
    *,
    task: str = "classifier",
    classes: Any = None,
    signal_class: Any = None,
) -> Any:
    """Wrap a Keras 3 model file (``.keras``, loaded with ``safe_mode=True``) as an estimator.

    Parameters
    ----------
    path : str or Path
        A model taking float32 input of shape (n, n_features) and returning the raw features'
        prediction (any preprocessing must be inside the model).
    feature_names : sequence of str
        The model's inputs, in order.
    task : {"classifier", "regressor"}, default="classifier"
        A classifier returns either one sigmoid (P(classes[1])) or one probability per class
        (softmax); a regressor returns one value.
    classes, signal_class :
        As for :func:`from_xgboost`.

    Returns
    -------
    DNNClassifier or DNNRegressor
    """
    from hepml_coffea.estimators import _keras as K
    from hepml_coffea.estimators.dnn import DNNClassifier, DNNRegressor

    path = Path(path)
    if task not in ("classifier", "regressor"):
        msg = f"task must be 'classifier' or 'regressor'; got {task!r}."
        raise ModelError(msg)
    _, keras = K.import_keras()
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras' messages are many lines long
        msg = f"{path} is not a loadable Keras model ({first_line(exc)})."
        raise ModelError(msg) from None
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(model.inputs) != 1 or len(in_shape) != 2 or len(out_shape) != 2:
        msg = f"{path} must take one input (n, n_features) and return (n, k); it has {in_shape} -> {out_shape}."
        raise ModelError(msg)
    names = _names(feature_names, int(in_shape[1]), path)
    n_out = int(out_shape[1])
    est: Any
    if task == "regressor":
        if n_out != 1:
            msg = f"{path} returns {n_out} values per event; a regressor must return one."
            raise ModelError(msg)
        est = DNNRegressor()
        est.y_mean_, est.y_scale_ = 0.0, 1.0
    else:
        est = DNNClassifier()
        est.classes_ = _classes(classes, max(n_out, 2), path)
        if n_out == 2:  # a two-class softmax: keep P(classes[1]) as one output
            pick = keras.layers.Dense(1, use_bias=False, trainable=False, name="pick_class_1")
            out = pick(model.outputs[0])
            pick.set_weights([np.array([[0.0], [1.0]], np.float32)])
            model = keras.Model(model.inputs, out, name=model.name)
    est.model_ = model
    est.n_features_in_ = int(in_shape[1])
    est.feature_names_in_ = names
    est.mean_ = np.zeros(est.n_features_in_)
    est.scale_ = np.ones(est.n_features_in_)
    est.n_iter_, est.history_ = 0, {}
    if signal_class is not None:
        est.signal_class = signal_class
    est._build_call()
    return est
