"""Asimov significance and the score-cut scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepml_coffea.evaluation import asimov_significance, selection_significance, significance_scan


def _z(s, b):
    return math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))


@pytest.mark.parametrize(("s", "b"), [(5.0, 10.0), (20.0, 30.0), (100.0, 1.0), (0.3, 0.05)])
def test_asimov_formula(s, b):
    assert asimov_significance(s, b) == pytest.approx(_z(s, b), rel=1e-12)


def test_asimov_small_signal_limit():
    s, b = np.array([1.0, 10.0]), np.array([1e4, 1e6])
    np.testing.assert_allclose(asimov_significance(s, b), s / np.sqrt(b), rtol=1e-4)
    assert asimov_significance(1e-6, 1e6) == pytest.approx(1e-9, rel=1e-6)  # no cancellation


def test_asimov_guards():
    assert np.isnan(asimov_significance(3.0, 0.0))
    assert np.isnan(asimov_significance(3.0, -1.0))
    assert asimov_significance(-2.0, 5.0) == 0.0


def _constructed():
    # background: 100 at 0.2, 20 at 0.6, 10 at 0.95; signal: 5 at 0.2, 10 at 0.6, 10 at 0.95
    score = np.repeat([0.2, 0.6, 0.95, 0.2, 0.6, 0.95], [100, 20, 10, 5, 10, 10])
    y = np.repeat([0, 0, 0, 1, 1, 1], [100, 20, 10, 5, 10, 10])
    return y, score


def test_scan_optimal_cut():
    y, score = _constructed()
    scan = significance_scan(
        y, score, cuts=[0.0, 0.5, 0.9, 0.99], min_background=1.0, min_background_events=1
    )
    np.testing.assert_allclose(scan.s, [25, 20, 10, 0])
    np.testing.assert_allclose(scan.b, [130, 30, 10, 0])
    np.testing.assert_array_equal(scan.n_background, [130, 30, 10, 0])
    np.testing.assert_allclose(scan.z[:3], [_z(25, 130), _z(20, 30), _z(10, 10)], rtol=1e-12)
    assert np.isnan(scan.z[3])  # b = 0 is excluded
    assert scan.best_cut == 0.5 and scan.best_index == 1
    assert scan.best_z == pytest.approx(_z(20, 30))
    # raw-MC guard: the 0.9 cut has only 10 background events
    guarded = significance_scan(y, score, cuts=[0.0, 0.5, 0.9], min_background_events=11)
    assert np.isnan(guarded.z[2]) and guarded.best_cut == 0.5


def test_scan_weighted_equals_brute_force():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 5000)
    score = rng.beta(2 + 3 * y, 5 - 3 * y)
    w = np.where(y == 1, 0.01, 1.0) * rng.uniform(0.5, 1.5, y.size)
    w[::97] *= -1  # a few negative weights
    scan = significance_scan(y, score, w, cuts=50)
    for i, c in enumerate(scan.cuts):
        sel = score >= c
        s, b = w[sel & (y == 1)].sum(), w[sel & (y == 0)].sum()
        assert scan.s[i] == pytest.approx(s, rel=1e-9, abs=1e-9)
        assert scan.b[i] == pytest.approx(b, rel=1e-9, abs=1e-9)
    ok = ~np.isnan(scan.z)
    assert scan.best_z == np.max(scan.z[ok])
    assert scan.to_dict()["best_cut"] == scan.best_cut


def test_selection_significance():
    y, score = _constructed()
    out = selection_significance(y, score > 0.5)
    assert out == {"s": 20.0, "b": 30.0, "z": pytest.approx(_z(20, 30))}
