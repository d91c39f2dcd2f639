"""Export fitted estimators to ONNX (for CMSSW's ONNX Runtime).

* BDT: ``onnxmltools.convert_xgboost`` on the ``xgboost.Booster`` (works with xgboost 3.2).
* DNN: Keras 3's own ``model.export(format="onnx")`` (tf2onnx underneath). The input
  standardisation is a ``keras.layers.Rescaling`` layer inside the model, so it is part of the
  ONNX graph. (A ``keras.layers.Normalization`` layer does *not* survive: with Keras 3.15 /
  TF 2.21 its mean and variance become extra required graph inputs,
  ``Required inputs (['.../normalization_1/Sub/y:0', '.../Sqrt/x:0']) are missing`` in
  onnxruntime, which is why the estimators use ``Rescaling``.)

Both graphs take one float32 input named ``"input"`` of shape (n, n_features).
"""

from __future__ import annotations

from pathlib import Path

from hepml_coffea.errors import ModelError


def _install_hint(exc: ImportError) -> ModelError:
    msg = f"ONNX export needs the 'onnx' extra ({exc.name} missing): pip install 'hepml-coffea[onnx]'."
    return ModelError(msg)


def bdt_to_onnx(est, path, opset: int = 15) -> Path:
    """Convert a fitted ``BDTClassifier`` to an ONNX file; outputs ``label``, ``probabilities``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    try:
        from onnxmltools.convert import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise _install_hint(exc) from exc
    booster = est.booster_
    if est.n_estimators_ != booster.num_boosted_rounds():
        booster = booster[: est.n_estimators_]  # early stopping: keep the rounds used
    model = convert_xgboost(
        booster,
        initial_types=[("input", FloatTensorType([None, int(est.n_features_in_)]))],
        target_opset=opset,
    )
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path


def keras_to_onnx(model, path, n_features: int, opset: int = 17) -> Path:
    """Export a built Keras model (standardisation included) to ONNX via ``model.export``."""
    import numpy as np
    import tensorflow as tf

    try:
        import tf2onnx  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        raise _install_hint(exc) from exc
    path = Path(path)
    model(np.zeros((1, n_features), np.float32))  # export needs a called model
    spec = [tf.TensorSpec([None, n_features], tf.float32, name="input")]
    model.export(str(path), format="onnx", verbose=False, input_signature=spec, opset_version=opset)
    return path
