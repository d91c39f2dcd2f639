"""``AutoencoderAnomalyDetector``: a Keras autoencoder as a scikit-learn outlier detector."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from hepml_coffea.estimators import _keras as K
from hepml_coffea.estimators._base import (
    check_number,
    negative_weight_policy,
    seed_from,
    validate_X,
)
from hepml_coffea.estimators.persistence import SaveMixin

_NAN_HINT = "The autoencoder cannot use NaN inputs; impute them first (SimpleImputer)."


class AutoencoderAnomalyDetector(K.KerasStateMixin, SaveMixin, OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detection by autoencoder reconstruction error.

    Train on background only (``fit(X)``; ``y`` is ignored). The reconstruction error of an
    event is the mean over features of the squared difference between its standardised
    features z = (x - mean_) / scale_ and the network's reconstruction of z.

    **Sign convention** (scikit-learn's outlier detectors, e.g. ``IsolationForest``):

    * ``score_samples(X) = -error``: *higher is more normal* (background-like);
    * ``decision_function(X) = score_samples(X) - offset_``: negative for outliers;
    * ``predict(X)``: ``+1`` inlier where ``decision_function >= 0``, ``-1`` outlier;
    * ``offset_`` is the ``contamination`` quantile of the training scores (weighted when
      ``sample_weight`` is given), so that fraction of the training events is flagged.

    As a "signal-likeness" discriminant (higher = more anomalous) use
    :func:`hepml_coffea.estimators.signal_score`, which returns ``-score_samples(X)``, the
    reconstruction error; ``decision_function`` has the opposite sign.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(32, 8)
        Encoder widths; the last is the bottleneck, the decoder mirrors the others.
    activation : str, default="relu"
    optimizer : str, default="adam"
    learning_rate : float, default=1e-3
    epochs : int, default=50
    batch_size : int, default=256
    contamination : float in (0, 0.5], default=0.1
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    negative_weights : {"keep", "abs", "ignore"}, default="keep"
    device : {"auto", "cpu", "gpu"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    model_ : keras.Model
        Maps raw X to the reconstructed standardised features.
    mean_, scale_ : ndarray of shape (n_features_in_,)
    offset_ : float
    history_ : dict of lists
    n_iter_ : int
    n_features_in_, feature_names_in_
    """

    _parameter_constraints: dict = {  # noqa: RUF012 - read by sklearn's checks
        "contamination": [Interval(Real, 0.0, 0.5, closed="right")],
    }

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (32, 8),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        epochs: int = 50,
        batch_size: int = 256,
        contamination: float = 0.1,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        negative_weights: str = "keep",
        device: str = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.contamination = contamination
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.negative_weights = negative_weights
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        K.check_network_params(self, allow_no_hidden_layer=False)
        check_number("contamination", self.contamination, low=0, high=0.5, low_open=True)

    def _build(self, keras, n_features: int, seed: int):
        L = keras.layers
        inputs = keras.Input((n_features,), dtype="float32", name="input")
        x = K.rescaling_layer(keras, self.mean_, self.scale_)(inputs)
        sizes = list(self.hidden_layer_sizes)
        widths = sizes + sizes[-2::-1]
        for i, units in enumerate(widths):
            init = keras.initializers.GlorotUniform(seed=seed + i)
            act = "linear" if i == len(sizes) - 1 else self.activation  # linear bottleneck
            x = L.Dense(int(units), activation=act, kernel_initializer=init)(x)
        init = keras.initializers.GlorotUniform(seed=seed + 999)
        out = L.Dense(n_features, kernel_initializer=init, name="reconstruction")(x)
        model = keras.Model(inputs, out, name="autoencoder")
        opt = keras.optimizers.get(
            {"class_name": self.optimizer, "config": {"learning_rate": float(self.learning_rate)}}
        )
        model.compile(optimizer=opt, loss="mse", jit_compile=False)
        return model

    def _build_call(self) -> None:
        tf, _ = K.import_keras()
        model = self.model_
        mean = tf.constant(self.mean_, tf.float32)
        scale = tf.constant(self.scale_, tf.float32)

        def error(x):
            z = (x - mean) / scale
            return tf.reduce_mean(tf.square(z - model(x, training=False)), axis=1)

        self._call = K.compiled_call(tf, error, self.n_features_in_)

    def fit(self, X, y=None, sample_weight=None) -> AutoencoderAnomalyDetector:
        """Train on (background) events; ``y`` is ignored.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights in the loss (after ``negative_weights``) and in ``offset_``.

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_X(self, X, reset=True, hint=_NAN_HINT)
        w = negative_weight_policy(self, sample_weight, X)
        tf, keras = K.import_keras()
        seed = seed_from(self.random_state)
        X = np.array(X, dtype=np.float32)
        self.mean_, self.scale_ = K.weighted_standardisation(X.astype(np.float64), w)
        target = ((X - self.mean_) / self.scale_).astype(np.float32)
        with K.seeded(keras, seed), K.device_scope(tf, self.device):
            self.model_ = self._build(keras, X.shape[1], seed)
            self.history_ = K.fit_model(keras, self.model_, X, target, w, est=self, seed=seed)
        self.n_iter_ = len(self.history_["loss"])
        self._build_call()
        scores = -K.run_batched(self._call, X)
        if sample_weight is None:
            self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        else:
            keep = w > 0
            self.offset_ = float(
                np.percentile(
                    scores[keep], 100.0 * self.contamination, weights=w[keep], method="inverted_cdf"
                )
            )
        return self

    def score_samples(self, X) -> np.ndarray:
        """Minus the reconstruction error, shape (n_samples,): higher = more normal."""
        check_is_fitted(self)
        X = validate_X(self, X, reset=False, hint=_NAN_HINT)
        return -K.run_batched(self._call, X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``, shape (n_samples,): negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``+1`` for inliers, ``-1`` for outliers, shape (n_samples,), int."""
        decision = self.decision_function(X)
        out = np.ones(decision.shape[0], dtype=int)
        out[decision < 0] = -1
        return out

    def to_onnx(self, path, opset: int = 17):
        """Write the anomaly score to ONNX: input ``"input"`` float32 (n, n_features_in_),
        output (n, 1) = the reconstruction error = ``-score_samples(X)`` (the signal score)."""
        from hepml_coffea.estimators.onnx import keras_to_onnx

        check_is_fitted(self)
        _, keras = K.import_keras()
        n = int(self.n_features_in_)
        inp = keras.Input((n,), dtype="float32", name="input")
        z = self.model_.get_layer("standardise")(inp)
        diff = keras.layers.Subtract()([z, self.model_(inp)])
        mean = keras.layers.Dense(1, use_bias=False, trainable=False, name="mean_over_features")
        error = mean(keras.layers.Multiply()([diff, diff]))
        mean.set_weights([np.full((n, 1), 1.0 / n, np.float32)])
        return keras_to_onnx(keras.Model(inp, error, name="anomaly_score"), path, n, opset=opset)

    def _extra_state(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter_, "history": self.history_, "offset": self.offset_}

    def _restore_state(self, state: dict[str, Any]) -> None:
        self.n_iter_ = int(state["n_iter"])
        self.history_ = state["history"]
        self.offset_ = float(state["offset"])
