"""Export fitted estimators to ONNX (for CMSSW's ONNX Runtime).

* BDT: ``onnxmltools.convert_xgboost`` on the ``xgboost.Booster`` (works with xgboost 3.2).
* k-fold: one graph holding every fold, selecting fold ``event % k`` per event
  (:func:`kfold_to_onnx`).
* DNN / autoencoder: Keras 3's own ``model.export(format="onnx")`` (tf2onnx underneath). The input
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


def kfold_to_onnx(est, path) -> Path:
    """One ONNX graph for a fitted ``KFoldEventClassifier``: every fold, each event scored by the
    fold that did not train on it.

    Inputs: ``"input"`` float32 (n, n_features) — the features of the inner classifiers (without
    an ``event_column``) — and ``"event"`` int64 (n,). Output ``"probabilities"`` float32
    (n, n_classes): fold ``event % k``'s probabilities, as ``predict_proba(X, event=event)``.
    """
    import tempfile

    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    try:
        import onnx
        from onnx import TensorProto, compose, helper
    except ImportError as exc:  # pragma: no cover
        raise _install_hint(exc) from exc
    folds: list[str] = []
    opsets: dict[str, int] = {}
    nodes: list = []
    inits: list = []
    n_classes = int(est.classes_.size)
    with tempfile.TemporaryDirectory() as tmp:
        for i, fold in enumerate(est.estimators_):
            if not hasattr(fold, "to_onnx"):
                msg = f"fold {i} ({type(fold).__name__}) has no ONNX export."
                raise ModelError(msg)
            model = compose.add_prefix(
                onnx.load(str(fold.to_onnx(Path(tmp) / f"{i}.onnx"))), f"f{i}_"
            )
            graph = model.graph
            outs = [o.name for o in graph.output]
            prob = next((o for o in outs if o.endswith("probabilities")), outs[-1])
            nodes.append(helper.make_node("Identity", ["input"], [graph.input[0].name]))
            nodes.extend(graph.node)
            inits.extend(graph.initializer)
            width = graph.output[outs.index(prob)].type.tensor_type.shape.dim[-1].dim_value
            if n_classes == 2 and width == 1:  # one sigmoid: (1 - p, p)
                nodes += [
                    helper.make_node("Sub", ["one", prob], [f"f{i}_p0"]),
                    helper.make_node("Concat", [f"f{i}_p0", prob], [f"f{i}_proba"], axis=1),
                ]
                prob = f"f{i}_proba"
            folds.append(prob)
            for imp in model.opset_import:
                opsets[imp.domain] = max(opsets.get(imp.domain, 0), imp.version)
    k = len(folds)
    if any(n.op_type == "Sub" and n.input[0] == "one" for n in nodes):
        inits.append(helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]))
    inits += [
        helper.make_tensor("k", TensorProto.INT64, [], [k]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
    ]
    nodes.append(helper.make_node("Mod", ["event", "k"], ["fold_id"]))
    current = folds[0]
    for i in range(1, k):
        inits.append(helper.make_tensor(f"fold_{i}", TensorProto.INT64, [], [i]))
        nodes += [
            helper.make_node("Equal", ["fold_id", f"fold_{i}"], [f"is_{i}"]),
            helper.make_node("Unsqueeze", [f"is_{i}", "axis1"], [f"is_{i}_2d"]),
            helper.make_node("Where", [f"is_{i}_2d", folds[i], current], [f"sel_{i}"]),
        ]
        current = f"sel_{i}"
    nodes.append(helper.make_node("Identity", [current], ["probabilities"]))
    n_in = int(est.estimators_[0].n_features_in_)
    graph = helper.make_graph(
        nodes,
        "kfold_event_classifier",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, n_in]),
            helper.make_tensor_value_info("event", TensorProto.INT64, [None]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, n_classes])],
        initializer=inits,
    )
    opsets[""] = max(opsets.get("", 0), 13)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())]
    )
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path
