"""Interop: saved boosters read by plain xgboost, coffea and ONNX Runtime give our scores;
models trained with plain xgboost / Keras wrapped with from_xgboost / from_keras."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators import (
    BDTClassifier,
    BDTRegressor,
    from_keras,
    from_xgboost,
    load,
    signal_score,
)

NAMES = ["f0", "f1", "f2", "f3", "f4"]


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(
        n_samples=3000, n_features=5, n_informative=3, flip_y=0.2, random_state=4
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def three():
    X, y = make_classification(
        n_samples=3000,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        flip_y=0.1,
        random_state=6,
    )
    return X.astype(np.float32), y


@pytest.mark.parametrize("kind", ["binary", "three"])
def test_every_reader_of_the_saved_booster_agrees(kind, binary, three, tmp_path):
    """Early stopping at round best < trained rounds: the saved file holds only the rounds
    used, so plain xgboost, coffea's xgboost_wrapper and ONNX Runtime give our scores (they
    differed by up to 0.34 when the extra trees were saved)."""
    X, y = binary if kind == "binary" else three
    est = BDTClassifier(
        n_estimators=300, learning_rate=0.8, max_depth=6, early_stopping_rounds=3, random_state=0
    ).fit(X, y)
    assert est.n_estimators_ < 300  # it did stop early
    ours = est.predict_proba(X)
    folder = est.save(tmp_path / "m")
    file = str(folder / "booster.ubj")
    booster = xgb.Booster(model_file=file)
    assert booster.num_boosted_rounds() == est.n_estimators_
    plain = booster.predict(xgb.DMatrix(X)).astype(np.float64)
    coffea_ml = pytest.importorskip("coffea.ml_tools.xgboost_wrapper")

    class Wrapper(coffea_ml.xgboost_wrapper):
        def prepare_awkward(self, arr):  # abstract in coffea; a flat table of features
            return (arr,), {}

    via_coffea = np.asarray(Wrapper(file).numpy_call(X)).astype(np.float64)
    if kind == "binary":
        assert np.array_equal(plain, ours[:, 1])
        assert np.array_equal(via_coffea, ours[:, 1])
    else:
        assert np.array_equal(plain, ours)
        assert np.array_equal(via_coffea, ours)
    ort = pytest.importorskip("onnxruntime")
    path = est.to_onnx(tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(path))
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": X}), strict=True))
    np.testing.assert_allclose(out["probabilities"], ours, atol=2e-6)


def test_bdt_regressor_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 4)).astype(np.float32)
    y = 1.0 + 0.2 * X[:, 0] + 0.1 * np.sin(X[:, 1])
    est = BDTRegressor(n_estimators=40, random_state=0).fit(X, y)
    sess = ort.InferenceSession(str(est.to_onnx(tmp_path / "r.onnx")))
    (out,) = sess.run(None, {"input": X})
    np.testing.assert_allclose(out[:, 0], est.predict(X), rtol=1e-6)


def _raw_binary_booster(X, y, path):
    n = len(y) * 4 // 5
    dtrain, dval = xgb.DMatrix(X[:n], y[:n]), xgb.DMatrix(X[n:], y[n:])
    params = {"objective": "binary:logistic", "eta": 0.8, "max_depth": 6, "seed": 0}
    booster = xgb.train(
        params, dtrain, 300, evals=[(dval, "val")], early_stopping_rounds=3, verbose_eval=False
    )
    assert booster.num_boosted_rounds() > booster.best_iteration + 1  # extra trees kept
    booster.save_model(str(path))
    return booster


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_from_xgboost_binary(binary, tmp_path, suffix):
    X, y = binary
    booster = _raw_binary_booster(X, y, tmp_path / f"raw{suffix}")
    est = from_xgboost(tmp_path / f"raw{suffix}", feature_names=NAMES)
    assert isinstance(est, BDTClassifier)
    expected = booster.predict(
        xgb.DMatrix(X), iteration_range=(0, booster.best_iteration + 1)
    ).astype(np.float64)
    assert np.array_equal(signal_score(est, X), expected)
    # a model folder with a card, loadable like any trained model
    folder = est.save(tmp_path / "wrapped")
    back = load(folder)
    assert list(back.feature_names_in_) == NAMES
    assert np.array_equal(signal_score(back, X), expected)


def test_from_xgboost_multiclass_with_names(three, tmp_path):
    X, y = three
    params = {"objective": "multi:softmax", "num_class": 3, "max_depth": 3, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(X, y), 20)
    booster.save_model(str(tmp_path / "mc.json"))
    est = from_xgboost(
        tmp_path / "mc.json",
        NAMES,
        classes=["ttbar", "wjets", "other"],
        signal_class="ttbar",
    )
    booster.set_param({"objective": "multi:softprob"})
    proba = booster.predict(xgb.DMatrix(X)).astype(np.float64)
    assert np.array_equal(est.predict_proba(X), proba)
    assert np.array_equal(signal_score(est, X), proba[:, 0])
    back = load(est.save(tmp_path / "mcw"))
    assert back.signal_class == "ttbar"
    assert np.array_equal(signal_score(back, X, "wjets"), proba[:, 1])


def test_from_xgboost_regressor(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3))
    y = X[:, 0] * 2 + 1
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, y), 10)
    booster.save_model(str(tmp_path / "r.ubj"))
    est = from_xgboost(tmp_path / "r.ubj", ["a", "b", "c"])
    assert isinstance(est, BDTRegressor)
    assert np.array_equal(est.predict(X), booster.predict(xgb.DMatrix(X)).astype(np.float64))


def test_from_xgboost_bad_input(binary, tmp_path):
    X, y = binary
    _raw_binary_booster(X, y, tmp_path / "raw.ubj")
    with pytest.raises(ModelError, match="takes 5 input features, but 2 feature_names"):
        from_xgboost(tmp_path / "raw.ubj", ["a", "b"])
    with pytest.raises(ModelError, match="Give feature_names"):
        from_xgboost(tmp_path / "raw.ubj", None)
    data = (tmp_path / "raw.ubj").read_bytes()
    (tmp_path / "cut.ubj").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"cut\.ubj is not a readable xgboost model") as info:
        from_xgboost(tmp_path / "cut.ubj", NAMES)
    assert "\n" not in str(info.value)
    ranker = xgb.train({"objective": "rank:pairwise"}, xgb.DMatrix(X, y, group=[len(y)]), 2)
    ranker.save_model(str(tmp_path / "rank.json"))
    with pytest.raises(ModelError, match="has objective 'rank:pairwise'"):
        from_xgboost(tmp_path / "rank.json", NAMES)


@pytest.mark.keras
def test_from_keras(binary, three, tmp_path):
    from hepml_coffea.estimators import DNNClassifier, DNNRegressor
    from hepml_coffea.estimators._keras import import_keras

    _, keras = import_keras()
    X, _ = binary
    X3, _ = three

    def net(n_out, act):
        inp = keras.Input((5,), name="x")
        h = keras.layers.Dense(8, activation="relu")(inp)
        return keras.Model(inp, keras.layers.Dense(n_out, activation=act)(h))

    cases = {
        "sigmoid": (net(1, "sigmoid"), X, lambda p: p[:, 0]),
        "softmax2": (net(2, "softmax"), X, lambda p: p[:, 1]),
        "softmax3": (net(3, "softmax"), X3, lambda p: p[:, 0]),
    }
    for name, (model, data, score) in cases.items():
        model.save(tmp_path / f"{name}.keras")
        est = from_keras(tmp_path / f"{name}.keras", NAMES)
        assert isinstance(est, DNNClassifier)
        raw = np.asarray(model(data)).astype(np.float64)
        np.testing.assert_allclose(signal_score(est, data), score(raw), rtol=1e-6, atol=1e-7)
        back = load(est.save(tmp_path / f"{name}_model"))
        assert np.array_equal(signal_score(back, data), signal_score(est, data))
    reg = net(1, None)
    reg.save(tmp_path / "reg.keras")
    est = from_keras(tmp_path / "reg.keras", NAMES, task="regressor")
    assert isinstance(est, DNNRegressor)
    np.testing.assert_allclose(est.predict(X), np.asarray(reg(X))[:, 0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ModelError, match="returns 3 values per event; a regressor"):
        from_keras(tmp_path / "softmax3.keras", NAMES, task="regressor")
    (tmp_path / "bad.keras").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelError, match=r"bad\.keras is not a loadable Keras model") as info:
        from_keras(tmp_path / "bad.keras", NAMES)
    assert "\n" not in str(info.value)


def _onnx_run(path, **inputs):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path))
    return sess.run(None, inputs)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_kfold_onnx_scores_each_event_with_its_fold(n_classes, tmp_path):
    from hepml_coffea.estimators import KFoldEventClassifier

    X, y = make_classification(
        n_samples=1500,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=0,
    )
    X = X.astype(np.float32)
    event = np.arange(len(y), dtype=np.int64) * 7 + 1
    kf = KFoldEventClassifier(BDTClassifier(n_estimators=15, random_state=0), n_splits=3)
    kf.fit(X, y, event=event)
    (proba,) = _onnx_run(kf.to_onnx(tmp_path / "kf.onnx"), input=X, event=event)
    ours = kf.predict_proba(X, event=event)
    np.testing.assert_allclose(proba, ours, atol=2e-6)
    assert np.abs(proba - kf.predict_proba(X)).max() > 0.1  # not the fold average


@pytest.mark.keras
def test_autoencoder_and_dnn_kfold_onnx(tmp_path):
    from hepml_coffea.estimators import (
        AutoencoderAnomalyDetector,
        DNNClassifier,
        KFoldEventClassifier,
    )

    X, y = make_classification(n_samples=800, n_features=4, n_redundant=0, random_state=1)
    X = X.astype(np.float32)
    ae = AutoencoderAnomalyDetector(hidden_layer_sizes=(4, 2), epochs=3, random_state=0).fit(X)
    (err,) = _onnx_run(ae.to_onnx(tmp_path / "ae.onnx"), input=X)
    np.testing.assert_allclose(err[:, 0], signal_score(ae, X), rtol=1e-5, atol=1e-6)
    event = np.arange(len(y), dtype=np.int64)
    dnn = DNNClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0)
    kf = KFoldEventClassifier(dnn, n_splits=2).fit(X, y, event=event)
    (proba,) = _onnx_run(kf.to_onnx(tmp_path / "kf.onnx"), input=X, event=event)
    np.testing.assert_allclose(proba, kf.predict_proba(X, event=event), atol=1e-6)
