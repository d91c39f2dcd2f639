"""Response and resolution per pT bin against numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hepml_coffea.evaluation import response_resolution, weighted_quantile


def test_weighted_quantile_equals_repeated_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 301)
    w = rng.integers(0, 4, 301)
    rep = np.repeat(x, w)
    q = [0.16, 0.5, 0.84]
    np.testing.assert_array_equal(
        weighted_quantile(x, q, w.astype(float)), np.quantile(rep, q, method="inverted_cdf")
    )
    np.testing.assert_array_equal(weighted_quantile(x, q), np.quantile(x, q))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_quantile(x, q, -np.ones(301))


def test_response_resolution_by_hand():
    rng = np.random.default_rng(2)
    n = 20000
    true = rng.uniform(20, 200, n)
    before = true * rng.normal(0.9, 0.15, n)  # 10 % low, 15 % wide
    after = true * rng.normal(1.0, 0.10, n)
    edges = [20, 50, 100, 200]
    rr = response_resolution(true, {"before": before, "after": after}, edges)
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        sel = (true >= lo) & (true < hi)
        assert rr.counts[i] == sel.sum()
        for name, est in (("before", before), ("after", after)):
            r = est[sel] / true[sel]
            assert rr.response[name][i] == np.median(r)
            q16, q84 = np.quantile(r, [0.16, 0.84])
            assert rr.resolution[name][i] == pytest.approx(0.5 * (q84 - q16), rel=1e-12)
    np.testing.assert_allclose(rr.response["before"], 0.9, atol=0.01)
    np.testing.assert_allclose(rr.resolution["before"], 0.15, rtol=0.05)
    np.testing.assert_allclose(rr.resolution["after"], 0.10, rtol=0.05)
    assert rr.to_dict()["counts"] == rr.counts.tolist()


def test_response_resolution_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        response_resolution([10.0, 0.0], {"x": [1.0, 1.0]}, [0, 100])
    with pytest.raises(ValueError, match="increasing"):
        response_resolution([10.0], {"x": [1.0]}, [100, 0])
