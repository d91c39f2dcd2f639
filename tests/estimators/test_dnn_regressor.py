"""DNNRegressor: learns a target in its own units, weights, persistence, ONNX, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.estimators import DNNRegressor, load, signal_score

pytestmark = pytest.mark.keras

PARAMS = {"hidden_layer_sizes": (16,), "epochs": 15, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    """A target far from 0 with a small spread (like a jet response, x 100 GeV)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 3)).astype(np.float32)
    y = 100.0 + 5.0 * X[:, 0] - 3.0 * X[:, 1] + 0.5 * rng.normal(size=len(X))
    w = rng.uniform(0.5, 2.0, len(X))
    return X, y, w


@pytest.fixture(scope="module")
def fitted(data):
    X, y, w = data
    return DNNRegressor(**PARAMS).fit(X, y, sample_weight=w)


def test_learns_the_target_in_its_units(fitted, data):
    X, y, w = data
    pred = fitted.predict(X)
    assert pred.shape == (len(X),)
    assert r2_score(y, pred, sample_weight=w) > 0.95
    assert fitted.y_mean_ == pytest.approx(np.average(y, weights=w))


def test_weight_scale_changes_nothing(fitted, data):
    X, y, w = data
    other = DNNRegressor(**PARAMS).fit(X, y, sample_weight=1e-4 * w)
    np.testing.assert_allclose(other.predict(X), fitted.predict(X), rtol=1e-4)


def test_weights_matter(data):
    X, y, _ = data
    w = np.where(X[:, 2] > 0, 1.0, 0.0)  # only half the events count
    y2 = np.where(X[:, 2] > 0, y, 0.0)  # the others have a wrong target
    est = DNNRegressor(**PARAMS).fit(X, y2, sample_weight=w)
    sel = X[:, 2] > 0
    assert r2_score(y[sel], est.predict(X[sel])) > 0.9


def test_save_load_and_onnx(fitted, data, tmp_path):
    X, _, _ = data
    folder = fitted.save(tmp_path / "reg")
    back = load(folder)
    assert isinstance(back, DNNRegressor)
    assert np.array_equal(back.predict(X), fitted.predict(X))
    ort = pytest.importorskip("onnxruntime")
    path = fitted.to_onnx(tmp_path / "reg.onnx")
    sess = ort.InferenceSession(str(path))
    (out,) = sess.run(None, {sess.get_inputs()[0].name: X})
    np.testing.assert_allclose(out[:, 0], fitted.predict(X), rtol=1e-5)


def test_bad_input(fitted, data):
    X, y, _ = data
    with pytest.raises(ConfigError, match=r"The 'loss' parameter must be one of"):
        DNNRegressor(loss="hinge").fit(X, y)
    with pytest.raises(ModelError, match="DNNRegressor is a regressor"):
        signal_score(fitted, X)
