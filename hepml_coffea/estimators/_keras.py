"""Keras 3 plumbing shared by the DNN and the autoencoder (TensorFlow imported lazily here).

Nothing in this module imports TensorFlow at import time; :func:`import_keras` does, after
setting ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) to silence TF's C++ log noise.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError

#: rows per compiled call in ``predict_*``: large enough to amortise the call overhead,
#: small enough to bound memory (128k x 100 features x 4 B = 51 MB).
PREDICT_BATCH = 1 << 17
#: Rows per tile that every prediction batch is padded to (see :func:`run_batched`).
ROW_QUANTUM = 256
#: Files of a saved Keras estimator.
MODEL_FILE = "model.keras"
STANDARDISATION_FILE = "standardisation.npz"


QUIET_MARKER = "HEPML_COFFEA_QUIET_TF"


def load_xrootd_before_tensorflow() -> None:
    """Load the XRootD client library first, where it is installed.

    Loading XRootD's C++ client after TensorFlow crashes the interpreter (segmentation fault in
    the XRootD module's initialisation; XRootD 6.2 wheels with TF 2.21), and the other order
    works. A job that trains a DNN and then reads ``root://`` files (the demo on remote
    inputs, a notebook) would otherwise die. Costs ~30 ms once.
    """
    import importlib.util

    if importlib.util.find_spec("XRootD") is not None:
        import XRootD.client  # noqa: F401


def import_keras():
    """Import and return ``(tensorflow, keras)`` with TF's log noise silenced."""
    import sys

    # quiet unless the user chose TF's log level; the marker tells worker processes (which
    # inherit TF_CPP_MIN_LOG_LEVEL from us) that the level was ours, so they hide the lines too
    quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get(QUIET_MARKER) == "1"
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ[QUIET_MARKER] = "1"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    first = "tensorflow" not in sys.modules
    if first:
        load_xrootd_before_tensorflow()
    try:
        # TF 2.21 prints absl lines (oneDNN, cudart) before its log level applies: when the
        # user left TF_CPP_MIN_LOG_LEVEL unset, hide the C-level stderr during the import.
        with _quiet_stderr(quiet and first):
            import keras
            import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            f"The Keras estimators need TensorFlow and Keras 3 ({exc.name} missing): "
            "pip install 'tensorflow>=2.18' 'keras>=3.5'."
        )
        raise ImportError(msg) from exc
    if keras.backend.backend() != "tensorflow":
        msg = (
            f"The Keras estimators need the TensorFlow backend; KERAS_BACKEND is "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before importing keras."
        )
        raise ConfigError(msg)
    if quiet and first:
        tf.get_logger().setLevel("ERROR")  # e.g. tf.function retracing notices
    return tf, keras


@contextlib.contextmanager
def _quiet_stderr(enabled: bool):
    if not enabled:
        yield
        return
    try:
        fd = os.dup(2)
    except OSError:  # pragma: no cover - no stderr
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


@contextlib.contextmanager
def seeded(keras, seed: int | None):
    """Seed Keras/TF (and, temporarily, Python and NumPy) for a reproducible fit.

    ``keras.utils.set_random_seed`` also reseeds the global ``random`` and ``numpy.random``
    generators; their previous states are restored on exit so the caller's streams are
    untouched.
    """
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002 - restore the global stream
    keras.utils.set_random_seed(int(seed))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002


def device_scope(tf, device: str):
    """``"auto"``: TensorFlow's own placement (GPU when visible); ``"cpu"`` / ``"gpu"``: forced."""
    if device == "auto":
        return contextlib.nullcontext()
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        msg = "device='gpu' was requested but TensorFlow sees no GPU; use device='auto' or 'cpu'."
        raise ConfigError(msg)
    return tf.device("/GPU:0" if device == "gpu" else "/CPU:0")


def weighted_standardisation(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and standard deviation of each feature (|w| used), shapes (n_features,).

    A constant feature gets scale 1, so it maps to 0 instead of dividing by zero.
    """
    aw = np.abs(w)
    mean = np.average(X, axis=0, weights=aw)
    var = np.average((X - mean) ** 2, axis=0, weights=aw)
    scale = np.sqrt(var)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean.astype(np.float64), scale.astype(np.float64)


def rescaling_layer(keras, mean: np.ndarray, scale: np.ndarray):
    """``(x - mean) / scale`` as a ``Rescaling`` layer (constants, survives ONNX export)."""
    return keras.layers.Rescaling(
        scale=(1.0 / scale).astype(np.float32).tolist(),
        offset=(-mean / scale).astype(np.float32).tolist(),
        name="standardise",
    )


def compiled_call(tf, fn, n_features: int, jit_compile: bool = False):
    """``tf.function`` of ``fn(x)`` with a fixed float32 signature (no retracing)."""
    spec = [tf.TensorSpec([None, int(n_features)], tf.float32)]
    return tf.function(fn, input_signature=spec, jit_compile=jit_compile, reduce_retracing=True)


def run_batched(fn, X: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """Apply a compiled function on float32 ``X`` in large batches; return float64 numpy.

    Every batch is padded with zero rows to a multiple of :data:`ROW_QUANTUM` rows. The float32
    matrix-multiplication kernels (Eigen and oneDNN alike) sum in another order in a partly
    filled tile of rows, so without padding a row's score could change in the last bit with the
    number and order of the rows predicted with it (sklearn's sample-order and subset
    invariance checks). With whole tiles each row's score is the same, whatever its batch.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    parts = [_padded_call(fn, X[i : i + batch]) for i in range(0, max(len(X), 1), batch)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _padded_call(fn, x: np.ndarray) -> np.ndarray:
    n = len(x)
    padded = -(-max(n, 1) // ROW_QUANTUM) * ROW_QUANTUM
    if padded != n:
        x = np.concatenate([x, np.zeros((padded - n, x.shape[1]), np.float32)])
    return np.asarray(fn(x), dtype=np.float64)[:n]


def check_network_params(est, *, allow_no_hidden_layer: bool) -> None:
    """Check the parameters the Keras estimators share (``ConfigError`` naming the parameter)."""
    from hepml_coffea.estimators._base import check_number, check_option

    sizes = est.hidden_layer_sizes
    if not (
        isinstance(sizes, tuple | list)
        and (allow_no_hidden_layer or len(sizes) > 0)
        and all(isinstance(s, int | np.integer) and s > 0 for s in sizes)
    ):
        what = "tuple" if allow_no_hidden_layer else "non-empty tuple"
        msg = (
            f"The 'hidden_layer_sizes' parameter must be a {what} of positive ints; got {sizes!r}."
        )
        raise ConfigError(msg)
    check_number("learning_rate", est.learning_rate, low=0, low_open=True)
    check_number("epochs", est.epochs, low=1, integer=True)
    check_number("batch_size", est.batch_size, low=1, integer=True)
    check_number(
        "validation_fraction", est.validation_fraction, low=0, high=1, low_open=True, high_open=True
    )
    check_number("n_iter_no_change", est.n_iter_no_change, low=1, integer=True)
    check_option("negative_weights", est.negative_weights, ("ignore", "abs", "keep"))
    check_option("device", est.device, ("auto", "cpu", "gpu"))


def train_validation_split(n: int, fraction: float, seed: int | None, stratify=None):
    """Index arrays ``(train, validation)``; stratified when ``stratify`` is given."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    return train_test_split(idx, test_size=fraction, stratify=stratify, random_state=seed)


def fit_model(keras, model, X, y, w, *, est, seed, stratify=None) -> dict[str, list[float]]:
    """Run ``model.fit`` with the estimator's epochs / batch / early-stopping settings.

    Weights are divided by their mean over the training events, so the loss is the weighted
    mean Σ wᵢ ℓᵢ / Σ wᵢ: rescaling all weights changes nothing.
    """
    callbacks: list[Any] = []
    validation = None
    if est.early_stopping:
        itr, iva = train_validation_split(len(X), est.validation_fraction, seed, stratify)
        Xv, yv, wv = X[iva], y[iva], w[iva]
        X, y, w = X[itr], y[itr], w[itr]
        mean_w = w.mean()
        validation = (Xv, yv, wv / mean_w)
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(est.n_iter_no_change), restore_best_weights=True
            )
        )
    else:
        mean_w = w.mean()
    if not mean_w > 0:
        msg = "The mean training weight must be positive; check negative_weights."
        raise ValueError(msg)
    hist = model.fit(
        X,
        y,
        sample_weight=(w / mean_w).astype(np.float32),
        validation_data=validation,
        epochs=int(est.epochs),
        batch_size=int(est.batch_size),
        shuffle=True,
        # one plain line per epoch when verbose: Keras' progress bar (verbose=1) is redrawn
        # with ANSI escape codes, which fill log files with control characters
        verbose=2 if est.verbose else 0,
        callbacks=callbacks,
    )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def model_to_bytes(model) -> bytes:
    """The ``.keras`` archive of ``model`` as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def model_from_bytes(keras, data: bytes):
    """Load a ``.keras`` archive from bytes with ``safe_mode=True``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, safe_mode=True, compile=False)


class KerasStateMixin:
    """Pickle support: the Keras model travels as ``.keras`` bytes, compiled calls are rebuilt."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_call", None)
        if "model_" in state:
            state["model_"] = model_to_bytes(state["model_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model_"), bytes):
            _, keras = import_keras()
            state["model_"] = model_from_bytes(keras, state["model_"])
        self.__dict__.update(state)
        if "model_" in state:
            self._build_call()

    def _model_files(self, state: dict[str, Any]) -> list[str]:
        return [MODEL_FILE, STANDARDISATION_FILE]

    def _save_files(self, folder) -> dict[str, Any]:
        self.model_.save(folder / MODEL_FILE)
        np.savez(folder / STANDARDISATION_FILE, mean=self.mean_, scale=self.scale_)
        return self._extra_state()

    def _load_files(self, folder, state: dict[str, Any]) -> None:
        from hepml_coffea.errors import ModelError
        from hepml_coffea.estimators._card import first_line

        _, keras = import_keras()
        path = folder / MODEL_FILE
        try:
            self.model_ = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras' errors are many lines long
            msg = f"{path} is not a loadable Keras model ({first_line(exc)}); re-save the model."
            raise ModelError(msg) from None
        path = folder / STANDARDISATION_FILE
        try:
            with np.load(path, allow_pickle=False) as npz:
                self.mean_, self.scale_ = npz["mean"], npz["scale"]
        except Exception as exc:
            msg = f"{path} is not a readable standardisation file ({first_line(exc)})."
            raise ModelError(msg) from None
        self._restore_state(state)
        self._build_call()

    def _build_call(self) -> None:  # pragma: no cover - every estimator defines it
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore_state(self, state: dict[str, Any]) -> None:
        pass
