"""Weighted confusion matrix and precision/recall/F1 against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from hepml_coffea.evaluation import classification_metrics, confusion_matrix_at


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_equals_sklearn(weighted, normalize):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 1000)
    score = rng.normal(y, 1.0)
    w = rng.exponential(1.0, y.size) if weighted else None
    pred = (score >= 0.4).astype(int)
    ref = metrics.confusion_matrix(y, pred, sample_weight=w, normalize=normalize)
    np.testing.assert_allclose(
        confusion_matrix_at(y, score, 0.4, w, normalize=normalize), ref, rtol=1e-12
    )
    m = classification_metrics(y, score, 0.4, w)
    assert m["precision"] == pytest.approx(
        metrics.precision_score(y, pred, sample_weight=w), rel=1e-12
    )
    assert m["recall"] == pytest.approx(metrics.recall_score(y, pred, sample_weight=w), rel=1e-12)
    assert m["f1"] == pytest.approx(metrics.f1_score(y, pred, sample_weight=w), rel=1e-12)
    assert m["accuracy"] == pytest.approx(
        metrics.accuracy_score(y, pred, sample_weight=w), rel=1e-12
    )


def test_by_hand_with_negative_weight():
    y = [1, 1, 1, 0, 0, 0]
    score = [0.9, 0.6, 0.2, 0.7, 0.5, 0.1]
    w = [2.0, -0.5, 1.0, 1.0, 3.0, 1.0]
    # cut 0.5 → selected: 0.9 (S, 2), 0.6 (S, −0.5), 0.7 (B, 1), 0.5 (B, 3)
    cm = confusion_matrix_at(y, score, 0.5, w)
    np.testing.assert_allclose(cm, [[1.0, 4.0], [1.0, 1.5]])  # [[TN, FP], [FN, TP]]
    m = classification_metrics(y, score, 0.5, w)
    assert m["precision"] == pytest.approx(1.5 / 5.5)
    assert m["recall"] == pytest.approx(1.5 / 2.5)
    assert m["f1"] == pytest.approx(3.0 / (3.0 + 4.0 + 1.0))
    assert m["background_efficiency"] == pytest.approx(4.0 / 5.0)


def test_nothing_selected_gives_nan_precision():
    m = classification_metrics([0, 1], [0.1, 0.2], 0.5)
    assert np.isnan(m["precision"]) and m["recall"] == 0.0
