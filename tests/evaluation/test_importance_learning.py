"""Permutation importance and learning curve with a small logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from hepml_coffea.evaluation import learning_curve, permutation_importance, roc_auc


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 3000
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(
        {
            "noise": rng.normal(0, 1, n),
            "strong": rng.normal(1.5 * y, 1.0),
            "weak": rng.normal(0.3 * y, 1.0),
        }
    )
    w = rng.uniform(0.5, 2.0, n)
    return X, y, w


def test_permutation_importance_ranks_features(data):
    X, y, w = data
    model = LogisticRegression().fit(X, y, sample_weight=w)
    imp = permutation_importance(model, X, y, w, n_repeats=4)
    assert imp.feature_names == ["strong", "weak", "noise"]
    assert imp.baseline_auc == pytest.approx(
        roc_auc_score(y, model.predict_proba(X)[:, 1], sample_weight=w), rel=1e-12
    )
    assert imp.importances_mean[0] > 0.2
    assert abs(imp.importances_mean[2]) < 0.01
    assert imp.importances.shape == (3, 4)
    np.testing.assert_allclose(imp.importances_mean, imp.importances.mean(axis=1))


def test_permutation_importance_negative_weights(data):
    X, y, w = data
    w = w.copy()
    w[::10] *= -1
    model = LogisticRegression().fit(X.to_numpy(), y)
    imp = permutation_importance(
        model, X.to_numpy(), y, w, n_repeats=2, feature_names=list(X.columns)
    )
    assert imp.baseline_auc == pytest.approx(roc_auc(y, model.predict_proba(X.to_numpy())[:, 1], w))
    assert imp.feature_names[0] == "strong"


def test_learning_curve_matches_manual_fit(data):
    X, y, w = data
    est = LogisticRegression()
    lc = learning_curve(est, X, y, w, train_sizes=[0.05, 1.0], cv=2, random_state=3)
    assert lc.train_auc.shape == lc.validation_auc.shape == (2, 2)
    folds = list(StratifiedKFold(2, shuffle=True, random_state=3).split(np.zeros(len(y)), y))
    assert lc.train_sizes.tolist() == [round(0.05 * len(folds[0][0])), len(folds[0][0])]
    # at the full size the subset is the whole training part: recompute fold 0 independently
    tr, va = folds[0]
    m = clone(est).fit(X.iloc[tr], y[tr], sample_weight=w[tr])
    ref = roc_auc_score(y[va], m.predict_proba(X.iloc[va])[:, 1], sample_weight=w[va])
    assert lc.validation_auc[1, 0] == pytest.approx(ref, rel=1e-9)
    assert np.all((lc.validation_auc > 0.8) & (lc.validation_auc < 0.95))


def test_learning_curve_bad_sizes(data):
    X, y, w = data
    with pytest.raises(ValueError, match="train_sizes"):
        learning_curve(LogisticRegression(), X, y, w, train_sizes=[1.5], cv=2)


def test_learning_curve_subsets_are_stratified_random(data):
    """Rows sorted by class (all background first): each subset still holds both classes in
    their proportion, and is not the first rows."""
    X, y, w = data
    order = np.argsort(y, kind="stable")
    Xs, ys, ws = X.iloc[order].reset_index(drop=True), y[order], w[order]
    seen = []

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.append((np.asarray(y).copy(), X.index.to_numpy().copy()))
            return super().fit(X, y, sample_weight=sample_weight)

    learning_curve(Spy(), Xs, ys, ws, train_sizes=[0.1, 0.5], cv=2, random_state=0)
    frac = ys.mean()
    for yy, idx in seen:
        assert abs(yy.mean() - frac) <= 1.0 / len(yy) + 1e-12
        assert not np.array_equal(np.sort(idx), np.arange(len(idx)))


def test_stratified_subsample_exact_proportions():
    from hepml_coffea.evaluation import stratified_subsample

    y = np.array([0] * 700 + [1] * 200 + [2] * 100)
    idx = stratified_subsample(y, 100, random_state=1)
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    assert np.bincount(y[idx]).tolist() == [70, 20, 10]
    assert not np.array_equal(idx, np.arange(100))
    rare = stratified_subsample(np.array([0] * 999 + [1]), 10)
    assert (np.array([0] * 999 + [1])[rare] == 1).sum() == 1  # every class kept
    assert len(stratified_subsample(y, 5000)) == 1000


def test_importance_of_anomaly_detector_uses_signal_score():
    """An outlier detector (sklearn convention: decision_function/score_samples higher = normal)
    must be scored as anomalous = signal: baseline AUC well above 0.5, not inverted."""
    from sklearn.ensemble import IsolationForest

    from hepml_coffea.estimators import signal_score

    rng = np.random.default_rng(4)
    bkg = rng.normal(0, 1, (3000, 2))
    sig = rng.normal(0, 1, (600, 2)) * [4.0, 1.0]  # anomalous in feature 0 only
    X = np.vstack([bkg, sig])
    y = np.r_[np.zeros(3000), np.ones(600)].astype(int)
    det = IsolationForest(random_state=0).fit(bkg)
    imp = permutation_importance(det, X, y, n_repeats=3, feature_names=["wide", "same"])
    assert imp.baseline_auc == pytest.approx(roc_auc_score(y, signal_score(det, X)), rel=1e-12)
    assert imp.baseline_auc > 0.7
    assert imp.feature_names[0] == "wide" and imp.importances_mean[0] > 0.1


def test_auc_scorer_in_grid_search_with_negative_weights(data):
    """README example: GridSearchCV(scoring="roc_auc") gives NaN with negative weights;
    scoring=auc_scorer gives the weighted AUC of each fold, recomputed here by hand."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from hepml_coffea.estimators import BDTClassifier
    from hepml_coffea.evaluation import auc_scorer

    X, y, w = data
    w = w.copy()
    w[::9] *= -1
    est = BDTClassifier(negative_weights="abs", class_weight="balanced", n_estimators=15)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    grid = GridSearchCV(est, {"max_depth": [2, 3]}, scoring=auc_scorer, cv=cv)
    grid.fit(X, y, sample_weight=w)
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # fold by fold, for max_depth=2, with the pairwise definition of the weighted AUC
    ref = []
    for tr, va in cv.split(X, y):
        m = clone(est).set_params(max_depth=2).fit(X.iloc[tr], y[tr], sample_weight=w[tr])
        s = m.predict_proba(X.iloc[va])[:, 1]
        yy, ww = y[va], w[va]
        ss, ws_, sb, wb = s[yy == 1], ww[yy == 1], s[yy == 0], ww[yy == 0]
        gt = (ss[:, None] > sb[None, :]) + 0.5 * (ss[:, None] == sb[None, :])
        ref.append(ws_ @ gt @ wb / (ws_.sum() * wb.sum()))
    assert scores[0] == pytest.approx(np.mean(ref), rel=1e-9)


@pytest.mark.slow
def test_autoencoder_importance_baseline_above_half():
    """Issue 10: the autoencoder's permutation importance had a baseline AUC of 0.002 (inverted
    score). With signal_score it is the anomaly score: AUC well above 0.5, and the feature in
    which the signal is anomalous ranks first."""
    from hepml_coffea.estimators import AutoencoderAnomalyDetector

    rng = np.random.default_rng(8)
    cov = [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]
    bkg = rng.multivariate_normal([0, 0, 0], cov, 4000)
    sig = rng.multivariate_normal([0, 0, 0], cov, 800)
    sig[:, 1] = -sig[:, 0] + rng.normal(0, 0.3, 800)  # breaks the x0-x1 correlation
    ae = AutoencoderAnomalyDetector(hidden_layer_sizes=(8, 1), epochs=30, random_state=0)
    ae.fit(bkg)
    X = np.vstack([bkg, sig])
    y = np.r_[np.zeros(4000), np.ones(800)].astype(int)
    imp = permutation_importance(ae, X, y, n_repeats=2, feature_names=["x0", "x1", "x2"])
    assert imp.baseline_auc > 0.6  # the inverted score gave 1 - AUC (0.31 here)
    assert roc_auc_score(y, ae.decision_function(X)) < 0.4  # what the old copy used
    assert imp.feature_names[-1] == "x2"  # the uncorrelated, unchanged feature matters least
