"""Multi-class evaluation against scikit-learn (weighted)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from hepml_coffea.evaluation import evaluate_multiclass, multiclass_confusion_matrix


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(5)
    n = 3000
    classes = np.array(["ttbar", "wjets", "other"])
    y = classes[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    logits = rng.normal(0, 1, (n, 3))
    for i, c in enumerate(classes):
        logits[y == c, i] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = rng.exponential(1.0, n)
    return classes, y, proba, w


@pytest.mark.parametrize("weighted", [False, True])
def test_equals_sklearn(three_classes, weighted):
    classes, y, proba, w = three_classes
    w = w if weighted else None
    ev = evaluate_multiclass(y, proba, classes, w)
    pred = classes[np.argmax(proba, axis=1)]
    ref_cm = metrics.confusion_matrix(y, pred, labels=classes, sample_weight=w)
    np.testing.assert_allclose(ev.confusion, ref_cm, rtol=1e-12)
    np.testing.assert_allclose(multiclass_confusion_matrix(y, pred, classes, w), ref_cm, rtol=1e-12)
    p, r, f, s = metrics.precision_recall_fscore_support(y, pred, labels=classes, sample_weight=w)
    np.testing.assert_allclose(ev.precision, p, rtol=1e-12)
    np.testing.assert_allclose(ev.recall, r, rtol=1e-12)
    np.testing.assert_allclose(ev.f1, f, rtol=1e-12)
    np.testing.assert_allclose(ev.support, s, rtol=1e-12)
    assert ev.accuracy == pytest.approx(metrics.accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    for i, c in enumerate(classes):
        ref = metrics.roc_auc_score(y == c, proba[:, i], sample_weight=w)
        assert ev.auc[i] == pytest.approx(ref, rel=1e-12)
        assert 0.6 < ev.auc[i] < 0.95
    # the weighted one-vs-rest "macro" average is sklearn's ovr AUC with average="macro"
    ref_macro = metrics.roc_auc_score(
        y, proba[:, np.argsort(classes)], multi_class="ovr", average="macro", sample_weight=w
    )
    assert ev.auc.mean() == pytest.approx(ref_macro, rel=1e-12)
    d = ev.to_dict()
    assert d["classes"] == list(classes)
    assert d["per_class"]["wjets"]["f1"] == pytest.approx(f[1])


def test_integer_labels_and_unknown_label():
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.eye(3)[[0, 1, 2, 1, 1, 0]]
    ev = evaluate_multiclass(y, proba, [0, 1, 2])
    np.testing.assert_array_equal(ev.confusion, [[2, 0, 0], [0, 2, 0], [0, 1, 1]])
    assert ev.recall.tolist() == [1.0, 1.0, 0.5]
    with pytest.raises(ValueError, match=r"labels \[-1\]"):
        evaluate_multiclass(np.array([0, 1, -1]), proba[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        evaluate_multiclass(y, proba[:, :2], [0, 1, 2])
