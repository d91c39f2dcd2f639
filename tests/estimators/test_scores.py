"""signal_score / class_scores: the one definition of an estimator's score, checked by value."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators import (
    BDTClassifier,
    KFoldEventClassifier,
    class_scores,
    signal_class_index,
    signal_score,
)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=600, n_features=5, n_informative=3, random_state=1)
    return X, y


@pytest.fixture(scope="module")
def three_class():
    X, y = make_classification(
        n_samples=900, n_features=6, n_informative=4, n_classes=3, random_state=2
    )
    labels = np.array(["ttbar", "wjets", "other"])[y]
    return X, labels


def test_binary_is_probability_of_class_1(binary):
    X, y = binary
    est = BDTClassifier(n_estimators=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(signal_score(est, X), est.predict_proba(X)[:, 1])
    # the signal class given explicitly, as a label or its string form
    np.testing.assert_array_equal(signal_score(est, X, 0), est.predict_proba(X)[:, 0])
    np.testing.assert_array_equal(signal_score(est, X, "0"), est.predict_proba(X)[:, 0])
    assert roc_auc_score(y, signal_score(est, X)) > 0.9


def test_multiclass_columns_follow_classes(three_class):
    X, labels = three_class
    est = LogisticRegression(max_iter=500).fit(X, labels)
    assert list(est.classes_) == ["other", "ttbar", "wjets"]  # sorted labels
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(class_scores(est, X), proba)
    # default for > 2 classes: classes_[0]
    np.testing.assert_array_equal(signal_score(est, X), proba[:, 0])
    np.testing.assert_array_equal(signal_score(est, X, "ttbar"), proba[:, 1])
    assert signal_class_index(est, "wjets") == 2
    # the estimator's own signal_class attribute is the default
    est.signal_class = "ttbar"
    np.testing.assert_array_equal(signal_score(est, X), proba[:, 1])
    # the argument wins over the attribute
    np.testing.assert_array_equal(signal_score(est, X, "wjets"), proba[:, 2])
    del est.signal_class
    with pytest.raises(ModelError, match=r"'zjets' is not a class .*\['other', 'ttbar', 'wjets'\]"):
        signal_score(est, X, "zjets")


def test_bdt_multiclass_string_labels(three_class):
    X, labels = three_class
    est = BDTClassifier(n_estimators=10, random_state=0).fit(X, labels)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(signal_score(est, X, "ttbar"), proba[:, 1])
    is_ttbar = labels == "ttbar"
    assert roc_auc_score(is_ttbar, signal_score(est, X, "ttbar")) > 0.8


def test_outlier_detector_higher_is_more_anomalous():
    rng = np.random.default_rng(3)
    background = rng.normal(size=(500, 3))
    anomalies = rng.normal(loc=4.0, size=(50, 3))
    det = IsolationForest(random_state=0).fit(background)
    X = np.vstack([background, anomalies])
    is_anomaly = np.r_[np.zeros(500), np.ones(50)]
    score = signal_score(det, X)
    np.testing.assert_array_equal(score, -det.score_samples(X))
    # decision_function has the opposite sign: its AUC would be ~0
    assert roc_auc_score(is_anomaly, score) > 0.95
    assert roc_auc_score(is_anomaly, det.decision_function(X)) < 0.05
    with pytest.raises(ModelError, match="anomaly detector"):
        signal_score(det, X, signal_class=1)
    with pytest.raises(ModelError, match="IsolationForest is not a classifier"):
        class_scores(det, X)


def test_kfold_gets_event_numbers(binary):
    X, y = binary
    event = np.arange(len(y), dtype=np.uint64) * 7 + 3
    kf = KFoldEventClassifier(BDTClassifier(n_estimators=10, random_state=0), n_splits=2)
    kf.fit(X, y, event=event)
    expected = kf.predict_proba(X, event=event)[:, 1]
    np.testing.assert_array_equal(signal_score(kf, X, event=event), expected)
    # without event numbers it is the average of the folds, which differs
    assert not np.array_equal(signal_score(kf, X), expected)
    # each event scored by the fold that did not train on it
    fold1 = (event % 2) == 1
    np.testing.assert_array_equal(
        signal_score(kf, X, event=event)[fold1], kf.estimators_[1].predict_proba(X[fold1])[:, 1]
    )
    # a model without an event argument ignores it
    est = BDTClassifier(n_estimators=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(signal_score(est, X, event=event), signal_score(est, X))


def test_regressor_refused(binary):
    X, y = binary
    reg = LinearRegression().fit(X, y)
    with pytest.raises(ModelError, match="LinearRegression is a regressor") as info:
        signal_score(reg, X)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="is a regressor"):
        class_scores(reg, X)


def test_unfitted_classes_refused():
    with pytest.raises(ModelError, match="has no classes_"):
        signal_class_index(LogisticRegression())


@pytest.mark.keras
def test_autoencoder_anomaly_score_sign():
    """The autoencoder's signal score is its reconstruction error: anomalies score high."""
    from hepml_coffea.estimators import AutoencoderAnomalyDetector

    rng = np.random.default_rng(4)
    cov = np.array([[1.0, 0.9, 0.0, 0.0], [0.9, 1.0, 0.0, 0.0], [0, 0, 1, 0.8], [0, 0, 0.8, 1]])
    background = rng.multivariate_normal(np.zeros(4), cov, size=3000)
    anomalies = rng.multivariate_normal(np.zeros(4), np.eye(4) * 3.0, size=300)
    ae = AutoencoderAnomalyDetector(hidden_layer_sizes=(8, 2), epochs=20, random_state=0).fit(
        background
    )
    X = np.vstack([background, anomalies])
    is_anomaly = np.r_[np.zeros(len(background)), np.ones(len(anomalies))]
    score = signal_score(ae, X)
    np.testing.assert_array_equal(score, -ae.score_samples(X))
    assert np.all(score >= 0)  # a mean squared error
    assert roc_auc_score(is_anomaly, score) > 0.8
