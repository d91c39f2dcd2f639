"""DNNClassifier and AutoencoderAnomalyDetector: reproducibility, weights, pickle, save, ONNX."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification

from hepml_coffea.estimators import AutoencoderAnomalyDetector, DNNClassifier, load

pytestmark = pytest.mark.keras

SMALL = {"hidden_layer_sizes": (16, 8), "epochs": 5, "batch_size": 64, "learning_rate": 0.01}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=600, n_features=6, n_informative=4, random_state=0)
    X[:, 0] = 1000.0 + 50.0 * X[:, 0]  # a GeV-scale feature: standardisation matters
    return X, y


@pytest.fixture(scope="module")
def dnn(data):
    X, y = data
    return DNNClassifier(**SMALL, dropout=0.1, batch_norm=True, random_state=0).fit(X, y)


def test_reproducible_on_cpu_and_learns(data, dnn):
    X, y = data
    again = DNNClassifier(**SMALL, dropout=0.1, batch_norm=True, random_state=0).fit(X, y)
    assert np.array_equal(again.predict_proba(X), dnn.predict_proba(X))
    other = DNNClassifier(**SMALL, dropout=0.1, batch_norm=True, random_state=1).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), dnn.predict_proba(X))
    assert (dnn.predict(X) == y).mean() > 0.8
    np.testing.assert_allclose(dnn.mean_[0], X[:, 0].mean(), rtol=1e-9)


def test_weights_equal_repetition_and_scale(data):
    X, y = data
    X, y = X[:60], y[:60]
    sw = np.random.default_rng(0).integers(0, 4, size=len(y))
    params = {**SMALL, "batch_size": 1024, "random_state": 0}  # full batch
    rep = DNNClassifier(**params).fit(X.repeat(sw, 0), y.repeat(sw))
    wei = DNNClassifier(**params).fit(X, y, sample_weight=sw)
    # float32 training: equal to ~1e-6 relative (sklearn's rtol=1e-7 is out of reach)
    np.testing.assert_allclose(wei.predict_proba(X), rep.predict_proba(X), rtol=1e-4, atol=1e-6)
    dbl = DNNClassifier(**params).fit(X, y, sample_weight=2 * sw)
    np.testing.assert_allclose(dbl.predict_proba(X), wei.predict_proba(X), rtol=1e-5, atol=1e-7)
    neg = sw.astype(float) - 1.0  # some -1 weights
    ign = DNNClassifier(**params, negative_weights="ignore").fit(X, y, sample_weight=neg)
    rem = DNNClassifier(**params).fit(X[neg > 0], y[neg > 0], sample_weight=neg[neg > 0])
    np.testing.assert_allclose(ign.predict_proba(X), rem.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_scores_do_not_depend_on_the_rows_predicted_with_them(data, dnn):
    """Bit for bit: alone, in another order, in small slices (the matmul tail-tile effect)."""
    X, _ = data
    ae = AutoencoderAnomalyDetector(hidden_layer_sizes=(4, 2), epochs=2, random_state=0).fit(X)
    rng = np.random.default_rng(1)
    for score in (lambda x: dnn.predict_proba(x)[:, 1], ae.score_samples):
        full = score(X)
        perm = rng.permutation(len(X))
        assert np.array_equal(score(X[perm]), full[perm])
        for step in (1, 7, 100, 257):
            sliced = np.concatenate([score(X[i : i + step]) for i in range(0, len(X), step)])
            assert np.array_equal(sliced, full), step


def test_predict_never_calls_model_predict(data, dnn, monkeypatch):
    X, _ = data

    def boom(*a, **k):
        raise AssertionError("model.predict used")

    monkeypatch.setattr(dnn.model_, "predict", boom)
    ref = np.asarray(dnn.model_(X.astype(np.float32), training=False), dtype=np.float64)[:, 0]
    np.testing.assert_array_equal(dnn.predict_proba(X)[:, 1], ref)


def test_pickle_save_load_and_onnx(data, dnn, tmp_path):
    X, _ = data
    p = dnn.predict_proba(X)
    assert np.array_equal(pickle.loads(pickle.dumps(dnn)).predict_proba(X), p)
    folder = dnn.save(tmp_path / "dnn", feature_spec={"n": 6})
    assert {"model.keras", "standardisation.npz", "model_card.json"} <= {
        f.name for f in folder.iterdir()
    }
    assert np.array_equal(load(folder).predict_proba(X), p)
    ort = pytest.importorskip("onnxruntime")
    path = dnn.to_onnx(tmp_path / "dnn.onnx")
    sess = ort.InferenceSession(str(path))
    (out,) = sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})
    np.testing.assert_allclose(out[:, 0], p[:, 1], rtol=0, atol=1e-5)


def test_dnn_bad_input(data):
    X, y = data
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*impute"):
        DNNClassifier(**SMALL).fit(Xn, y)
    with pytest.raises(ValueError, match="one class only"):
        DNNClassifier(**SMALL).fit(X, np.zeros_like(y))


def test_multiclass_softmax(data):
    X, _ = data
    y3 = np.digitize(X[:, 1], np.quantile(X[:, 1], [1 / 3, 2 / 3]))
    est = DNNClassifier(**SMALL, random_state=0).fit(X, np.array(["a", "b", "c"])[y3])
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(est.predict(X)) <= {"a", "b", "c"}


def test_autoencoder_sign_conventions(tmp_path):
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    bkg = rng.multivariate_normal(np.zeros(3), cov, size=2000)
    ae = AutoencoderAnomalyDetector(
        hidden_layer_sizes=(8, 2),
        epochs=20,
        batch_size=128,
        learning_rate=0.01,
        contamination=0.05,
        random_state=0,
    )
    ae.fit(bkg)
    odd = np.array([[3.0, -3.0, 0.0]])  # breaks the x0-x1 correlation
    normal = np.array([[0.5, 0.5, 0.0]])
    s = ae.score_samples(np.vstack([normal, odd]))
    assert s[0] > s[1]  # higher = more normal
    assert np.all(s <= 0)  # minus a squared error
    np.testing.assert_allclose(ae.decision_function(odd), ae.score_samples(odd) - ae.offset_)
    assert ae.predict(odd)[0] == -1 and ae.predict(normal)[0] == 1
    assert np.mean(ae.predict(bkg) == -1) == pytest.approx(0.05, abs=1e-3)
    back = load(ae.save(tmp_path / "ae"))
    assert np.array_equal(back.score_samples(bkg), ae.score_samples(bkg))
    assert back.offset_ == ae.offset_
