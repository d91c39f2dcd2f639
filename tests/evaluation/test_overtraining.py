"""KS overtraining test against scipy.stats.ks_2samp and a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepml_coffea.evaluation import effective_sample_size, ks_test, overtraining_report


@pytest.mark.parametrize(("n1", "n2"), [(40, 55), (300, 200), (12000, 11000)])
def test_unweighted_equals_scipy(n1, n2):
    rng = np.random.default_rng(n1)
    a, b = rng.normal(0, 1, n1), rng.normal(0.1, 1, n2)
    ref = stats.ks_2samp(a, b)
    stat, p = ks_test(a, b)
    assert stat == ref.statistic
    assert p == ref.pvalue


def test_unit_weights_equal_scipy_asymptotic():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 500), rng.normal(0.1, 1, 700)
    ref = stats.ks_2samp(a, b, method="asymp")
    stat, p = ks_test(a, b, np.ones(500), np.full(700, 2.5))  # equal weights: n_eff = n
    np.testing.assert_allclose([stat, p], [ref.statistic, ref.pvalue], rtol=1e-12)


def test_weighted_by_hand_with_negative_weight():
    a, wa = [0.1, 0.4, 0.7], [1.0, 2.0, 1.0]  # Σ = 4
    b, wb = [0.2, 0.5, 0.8], [1.0, -0.5, 1.5]  # Σ = 2
    # F_a: .25 .25 .75 .75 1 1 ; F_b: 0 .5 .5 .25 .25 1 at 0.1 .2 .4 .5 .7 .8 → D = |1 − .25| = .75
    # n_eff: 16/6 and 4/3.5 → n1 n2/(n1+n2) = 0.8 → rounds to 1; for n = 1, P(D > d) = 2(1 − d)
    stat, p = ks_test(a, b, wa, wb)
    assert stat == pytest.approx(0.75)
    assert p == pytest.approx(0.5)
    assert effective_sample_size(wa) == pytest.approx(16 / 6)


def test_identical_samples_and_report():
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.integers(0, 2, n)
    s = rng.normal(y, 1.0)
    rep = overtraining_report(y[:1000], s[:1000], y[1000:], s[1000:])
    for cls, lab in (("signal", 1), ("background", 0)):
        ref = stats.ks_2samp(s[:1000][y[:1000] == lab], s[1000:][y[1000:] == lab])
        assert rep[cls]["statistic"] == ref.statistic
        assert rep[cls]["pvalue"] == ref.pvalue
        assert rep[cls]["n_train"] == int(np.sum(y[:1000] == lab))
    # a shifted test sample is flagged
    shifted = overtraining_report(y[:1000], s[:1000], y[1000:], s[1000:] + 0.5 * y[1000:])
    assert shifted["signal"]["pvalue"] < 1e-4 < shifted["background"]["pvalue"]


def test_errors():
    with pytest.raises(ValueError, match="both samples"):
        ks_test([], [1.0])
    with pytest.raises(ValueError, match="total test weight"):
        ks_test([1.0, 2.0], [1.0, 2.0], None, [1.0, -2.0])


def test_pvalue_formatting_and_warnings():
    from hepml_coffea.evaluation import format_pvalue, overtraining_warnings

    assert format_pvalue(1.7e-9) == "1.7e-09"  # was "0.000" with .3f
    assert format_pvalue(0.5) == "5.0e-01"
    assert format_pvalue(float("nan")) == "nan"
    rep = {"signal": {"pvalue": 0.2}, "background": {"pvalue": 1.7e-9}}
    w = overtraining_warnings(rep, "bdt")
    assert len(w) == 1
    assert w[0].startswith("WARNING bdt: KS test train vs test of background p = 1.7e-09 < 0.05")
    assert overtraining_warnings({"signal": {"pvalue": 0.05}}, "bdt") == []
    assert overtraining_warnings({"signal": {"pvalue": float("nan")}}, "bdt") == []
