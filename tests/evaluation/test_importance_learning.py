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
