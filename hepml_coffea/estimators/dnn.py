"""``DNNClassifier``: a Keras 3 multilayer perceptron with scikit-learn conventions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from hepml_coffea.estimators import _keras as K
from hepml_coffea.estimators._base import (
    check_class_weight,
    check_number,
    check_option,
    encode_targets,
    negative_weight_policy,
    seed_from,
    training_weights,
    validate_X,
)
from hepml_coffea.estimators.persistence import SaveMixin

_NAN_HINT = (
    "The DNN cannot use NaN inputs; impute them first, e.g. "
    "make_pipeline(SimpleImputer(), DNNClassifier())."
)


def _hidden_stack(est, keras, n_features: int, seed: int):
    """``(inputs, x)``: the standardisation and the hidden layers the DNNs share."""
    L = keras.layers
    inputs = keras.Input((n_features,), dtype="float32", name="input")
    x = K.rescaling_layer(keras, est.mean_, est.scale_)(inputs)
    for i, units in enumerate(est.hidden_layer_sizes):
        init = keras.initializers.GlorotUniform(seed=seed + i)
        x = L.Dense(int(units), use_bias=not est.batch_norm, kernel_initializer=init)(x)
        if est.batch_norm:
            x = L.BatchNormalization()(x)
        x = L.Activation(est.activation)(x)
        if est.dropout > 0:
            x = L.Dropout(est.dropout, seed=seed + 1000 + i)(x)
    return inputs, x


def _optimizer(est, keras):
    return keras.optimizers.get(
        {"class_name": est.optimizer, "config": {"learning_rate": float(est.learning_rate)}}
    )


class DNNClassifier(K.KerasStateMixin, SaveMixin, ClassifierMixin, BaseEstimator):
    """Multilayer perceptron (Keras 3, TensorFlow backend) for event classification.

    The network is ``standardise → [Dense → (BatchNorm) → activation → (Dropout)] × L →
    output``, the output being one sigmoid unit for two classes and a softmax otherwise.
    The standardisation ``(x - mean) / scale`` uses the weighted mean and standard deviation
    of the training events and is a layer of the model, so it is saved with it and included
    in the ONNX graph. Inference runs a compiled ``tf.function`` over batches of 131072 rows
    (never ``model.predict``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 64)
    activation : str, default="relu"
        Any Keras activation name.
    dropout : float, default=0.0
        Dropout rate after each hidden layer.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    optimizer : str, default="adam"
        Keras optimizer name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adamw"``, ...).
    learning_rate : float, default=1e-3
    epochs : int, default=50
    batch_size : int, default=256
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the events (stratified) and stop when the
        validation loss has not improved for ``n_iter_no_change`` epochs, restoring the best
        weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    negative_weights : {"keep", "abs", "ignore"}, default="keep"
        ``"keep"`` puts negative weights in the loss as they are (Σ wᵢ ℓᵢ / Σ wᵢ).
    class_weight : None, "balanced" or dict, default=None
    device : {"auto", "cpu", "gpu"}, default="auto"
    random_state : int, RandomState or None, default=None
        An int makes the fit reproducible on CPU.
    verbose : int, default=0
        Keras ``fit`` verbosity.

    Attributes
    ----------
    model_ : keras.Model
    classes_, n_features_in_, feature_names_in_
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Standardisation constants (units of the features).
    history_ : dict of lists
        Keras training history (``loss``, and ``val_loss`` with early stopping).
    n_iter_ : int
        Epochs run.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        epochs: int = 50,
        batch_size: int = 256,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        negative_weights: str = "keep",
        class_weight: Any = None,
        device: str = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.negative_weights = negative_weights
        self.class_weight = class_weight
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        K.check_network_params(self, allow_no_hidden_layer=True)
        check_number("dropout", self.dropout, low=0, high=1, high_open=True)
        check_class_weight(self.class_weight)

    def _build(self, keras, n_features: int, n_classes: int, seed: int):
        L = keras.layers
        inputs, x = _hidden_stack(self, keras, n_features, seed)
        init = keras.initializers.GlorotUniform(seed=seed + 999)
        if n_classes == 2:
            out = L.Dense(1, activation="sigmoid", kernel_initializer=init, name="score")(x)
            loss = "binary_crossentropy"
        else:
            out = L.Dense(n_classes, activation="softmax", kernel_initializer=init, name="score")(x)
            loss = "sparse_categorical_crossentropy"
        model = keras.Model(inputs, out, name="dnn_classifier")
        model.compile(optimizer=_optimizer(self, keras), loss=loss, jit_compile=False)
        return model

    def _build_call(self) -> None:
        tf, _ = K.import_keras()
        model = self.model_
        self._call = K.compiled_call(tf, lambda x: model(x, training=False), self.n_features_in_)

    def fit(self, X, y, sample_weight=None) -> DNNClassifier:
        """Train the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        self._check_params()
        X, y = validate_X(self, X, reset=True, hint=_NAN_HINT, y=y)
        self.classes_, y_enc = encode_targets(self, y)
        n_classes = self.classes_.size
        w = training_weights(self, X, y_enc, n_classes, sample_weight)
        tf, keras = K.import_keras()
        seed = seed_from(self.random_state)
        X = np.array(X, dtype=np.float32)  # writeable copy
        self.mean_, self.scale_ = K.weighted_standardisation(X.astype(np.float64), w)
        target = y_enc.astype(np.float32) if n_classes == 2 else y_enc
        with K.seeded(keras, seed), K.device_scope(tf, self.device):
            self.model_ = self._build(keras, X.shape[1], n_classes, seed)
            self.history_ = K.fit_model(
                keras, self.model_, X, target, w, est=self, seed=seed, stratify=y_enc
            )
        self.n_iter_ = len(self.history_["loss"])
        self._build_call()
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, float64 of shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_X(self, X, reset=False, hint=_NAN_HINT)
        p = K.run_batched(self._call, X)
        if self.classes_.size == 2:
            p = p[:, 0]
            return np.column_stack([1.0 - p, p])
        return p

    def predict(self, X) -> np.ndarray:
        """Most probable class, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def to_onnx(self, path, opset: int = 17):
        """Write the network (standardisation included) to ONNX.

        Input ``"input"``: float32 (n, n_features_in_); output: the sigmoid score of
        ``classes_[1]`` (shape (n, 1)) or the softmax probabilities (n, n_classes).
        """
        from hepml_coffea.estimators.onnx import keras_to_onnx

        check_is_fitted(self)
        return keras_to_onnx(self.model_, path, self.n_features_in_, opset=opset)

    def _extra_state(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter_, "history": self.history_}

    def _restore_state(self, state: dict[str, Any]) -> None:
        self.n_iter_ = int(state["n_iter"])
        self.history_ = state["history"]


class DNNRegressor(K.KerasStateMixin, SaveMixin, RegressorMixin, BaseEstimator):
    """Multilayer perceptron regressor (Keras 3), same conventions as :class:`DNNClassifier`.

    The network is ``standardise → hidden layers → Dense(1) → (· y_scale_ + y_mean_)``: the
    target is learnt in standardised units (weighted mean and standard deviation of the training
    targets) and the output rescaling is a layer of the model, so predictions, the saved model and
    the ONNX graph are all in the target's own units.

    Parameters
    ----------
    hidden_layer_sizes, activation, dropout, batch_norm, optimizer, learning_rate, epochs, \
batch_size, early_stopping, validation_fraction, n_iter_no_change, negative_weights, device, \
random_state, verbose :
        As for :class:`DNNClassifier` (the validation split is not stratified).
    loss : {"mse", "mae", "huber"}, default="mse"
        Weighted training loss (Σ wᵢ ℓᵢ / Σ wᵢ).

    Attributes
    ----------
    model_, mean_, scale_, history_, n_iter_, n_features_in_, feature_names_in_ :
        As for :class:`DNNClassifier`.
    y_mean_, y_scale_ : float
        Target standardisation (weighted).
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        epochs: int = 50,
        batch_size: int = 256,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        loss: str = "mse",
        negative_weights: str = "keep",
        device: str = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.loss = loss
        self.negative_weights = negative_weights
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        K.check_network_params(self, allow_no_hidden_layer=True)
        check_number("dropout", self.dropout, low=0, high=1, high_open=True)
        check_option("loss", self.loss, ("mse", "mae", "huber"))

    def _build(self, keras, n_features: int, seed: int):
        L = keras.layers
        inputs, x = _hidden_stack(self, keras, n_features, seed)
        init = keras.initializers.GlorotUniform(seed=seed + 999)
        z = L.Dense(1, kernel_initializer=init, name="standardised_target")(x)
        out = L.Rescaling(scale=float(self.y_scale_), offset=float(self.y_mean_), name="target")(z)
        model = keras.Model(inputs, out, name="dnn_regressor")
        # trained on the standardised target: the same layers, without the output rescaling
        train_model = keras.Model(inputs, z, name="dnn_regressor_training")
        loss = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber"}
        train_model.compile(
            optimizer=_optimizer(self, keras), loss=loss[self.loss], jit_compile=False
        )
        return model, train_model

    def _build_call(self) -> None:
        tf, _ = K.import_keras()
        model = self.model_
        self._call = K.compiled_call(tf, lambda x: model(x, training=False), self.n_features_in_)

    def fit(self, X, y, sample_weight=None) -> DNNRegressor:
        """Train the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Continuous target.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        self._check_params()
        X, y = validate_X(self, X, reset=True, hint=_NAN_HINT, y=y, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        w = negative_weight_policy(self, sample_weight, X)
        tf, keras = K.import_keras()
        seed = seed_from(self.random_state)
        X = np.array(X, dtype=np.float32)
        self.mean_, self.scale_ = K.weighted_standardisation(X.astype(np.float64), w)
        y_mean, y_scale = K.weighted_standardisation(y[:, None], w)
        self.y_mean_, self.y_scale_ = float(y_mean[0]), float(y_scale[0])
        # the loss is computed on the standardised target (the model's output is rescaled)
        target = ((y - self.y_mean_) / self.y_scale_).astype(np.float32)
        with K.seeded(keras, seed), K.device_scope(tf, self.device):
            self.model_, train_model = self._build(keras, X.shape[1], seed)
            self.history_ = K.fit_model(keras, train_model, X, target, w, est=self, seed=seed)
        self.n_iter_ = len(self.history_["loss"])
        self._build_call()
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted target, float64 of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_X(self, X, reset=False, hint=_NAN_HINT)
        return K.run_batched(self._call, X)[:, 0]

    def to_onnx(self, path, opset: int = 17):
        """Write the network (both standardisations included) to ONNX; output (n, 1)."""
        from hepml_coffea.estimators.onnx import keras_to_onnx

        check_is_fitted(self)
        return keras_to_onnx(self.model_, path, self.n_features_in_, opset=opset)

    def _extra_state(self) -> dict[str, Any]:
        return {
            "n_iter": self.n_iter_,
            "history": self.history_,
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
        }

    def _restore_state(self, state: dict[str, Any]) -> None:
        self.n_iter_ = int(state["n_iter"])
        self.history_ = state["history"]
        self.y_mean_ = float(state["y_mean"])
        self.y_scale_ = float(state["y_scale"])
