"""Weighted ROC/AUC against scikit-learn and a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from hepml_coffea.evaluation import background_rejection_at, roc_auc, roc_curve


@pytest.fixture
def sample():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    score = np.round(rng.normal(y * 0.8, 1.0), 2)  # rounded: many ties
    w = rng.exponential(1.0, y.size)
    w[::50] = 0.0
    return y, score, w


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("drop", [False, True])
def test_roc_curve_equals_sklearn(sample, weighted, drop):
    y, score, w = sample
    sw = w if weighted else None
    ours = roc_curve(y, score, sw, drop_intermediate=drop)
    ref = sk_roc_curve(y, score, sample_weight=sw, drop_intermediate=drop)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_equals_sklearn(sample, weighted):
    y, score, w = sample
    sw = w if weighted else None
    np.testing.assert_allclose(
        roc_auc(y, score, sw), roc_auc_score(y, score, sample_weight=sw), rtol=1e-12
    )


def test_negative_weight_by_hand():
    # signal at 0.9 (w 1), 0.7 (w -0.5), 0.2 (w 2); background at 0.8 (w 2), 0.3 (w 1).
    y = [1, 0, 1, 0, 1]
    score = [0.9, 0.8, 0.7, 0.3, 0.2]
    w = [1.0, 2.0, -0.5, 1.0, 2.0]
    fpr, tpr, thr = roc_curve(y, score, w, drop_intermediate=False)
    # Σw signal = 2.5, background = 3; cumulative sums from the top score down
    np.testing.assert_allclose(fpr, [0, 0, 2 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(tpr, [0, 0.4, 0.4, 0.2, 0.2, 1.0])
    np.testing.assert_array_equal(thr, [np.inf, 0.9, 0.8, 0.7, 0.3, 0.2])
    # trapezoids: 2/3·0.4 + 1/3·0.2 = 1/3; pairwise: (1·(2+1) − 0.5·1) / (2.5·3) = 1/3
    assert roc_auc(y, score, w) == pytest.approx(1 / 3, abs=1e-15)


def test_negative_weights_can_leave_unit_interval():
    y = [1, 1, 0, 0]
    score = [0.9, 0.1, 0.5, 0.4]
    w = [-1.0, 2.0, 1.0, 1.0]  # Σw signal = 1; the good signal event has negative weight
    # pairs: (0.9 beats both bkg) −1·2 ; (0.1 beats none) → AUC = −2 / (1·2) = −1
    assert roc_auc(y, score, w) == pytest.approx(-1.0)


def test_background_rejection():
    fpr = np.array([0.0, 0.01, 0.1, 1.0])
    tpr = np.array([0.0, 0.5, 0.9, 1.0])
    assert background_rejection_at(fpr, tpr, 0.5) == pytest.approx(100.0)
    np.testing.assert_allclose(background_rejection_at(fpr, tpr, [0.5, 0.9]), [100.0, 10.0])


def test_errors():
    with pytest.raises(ValueError, match="total background"):
        roc_curve([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="binary labels"):
        roc_auc([0, 1, -1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="one weight per sample"):
        roc_auc([0, 1], [0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])
