"""Weighted correlation matrices against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from hepml_coffea.evaluation import correlation_matrices, weighted_corrcoef


@pytest.fixture
def features():
    rng = np.random.default_rng(7)
    cov = [[1.0, 0.6, -0.3], [0.6, 1.0, 0.0], [-0.3, 0.0, 1.0]]
    return rng.multivariate_normal([0, 0, 0], cov, 400)


def test_unweighted_equals_corrcoef(features):
    np.testing.assert_allclose(
        weighted_corrcoef(features), np.corrcoef(features, rowvar=False), rtol=1e-12
    )


def test_integer_weights_equal_repeated_rows(features):
    w = np.random.default_rng(8).integers(1, 4, len(features))
    ref = np.corrcoef(np.repeat(features, w, axis=0), rowvar=False)
    np.testing.assert_allclose(weighted_corrcoef(features, w.astype(float)), ref, rtol=1e-12)


def test_negative_weight_by_hand():
    # x = (0, 1, 2), y = (0, 1, 0), w = (1, 1, -0.5): Σw = 1.5, x̄ = 1/1.5·(1 − 1) = 0, ȳ = 2/3
    # cov_xy ∝ 1·0·(−2/3) + 1·1·(1/3) − 0.5·2·(−2/3) = 1
    # var_x ∝ 0 + 1 − 0.5·4 = −1 < 0 → NaN row/column for x
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    c = weighted_corrcoef(X, [1.0, 1.0, -0.5])
    assert np.isnan(c[0]).all() and np.isnan(c[:, 0]).all()
    assert c[1, 1] == pytest.approx(1.0)


def test_per_class(features):
    y = (np.arange(len(features)) % 2).astype(int)
    out = correlation_matrices(features, y)
    np.testing.assert_allclose(
        out["signal"], np.corrcoef(features[y == 1], rowvar=False), rtol=1e-12
    )
    np.testing.assert_allclose(
        out["background"], np.corrcoef(features[y == 0], rowvar=False), rtol=1e-12
    )
