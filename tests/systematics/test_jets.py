"""JES/JER factors, the deterministic smearing and the MET propagation against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepml_coffea.systematics import (
    FlatJets,
    deterministic_normal,
    jer_factors,
    jes_factors,
    propagate_met,
)


def _jets(counts, pt, eta, phi, gen_pt=None, run=None, event=None):
    counts = np.asarray(counts, dtype=np.int64)
    n_ev = len(counts)
    return FlatJets(
        pt=np.asarray(pt, float),
        eta=np.asarray(eta, float),
        phi=np.asarray(phi, float),
        counts=counts,
        run=np.full(n_ev, 1) if run is None else np.asarray(run),
        event=np.arange(n_ev) + 100 if event is None else np.asarray(event),
        gen_pt=np.full(len(pt), np.nan) if gen_pt is None else np.asarray(gen_pt, float),
    )


def test_deterministic_normal_is_standard_normal_and_reproducible():
    n = 200_000
    run = np.full(n, 1)
    event = np.arange(n) // 4
    index = np.arange(n) % 4
    g = deterministic_normal(run, event, index, seed=7)
    np.testing.assert_array_equal(g, deterministic_normal(run, event, index, seed=7))
    assert abs(g.mean()) < 0.01 and abs(g.std() - 1) < 0.01
    assert stats.kstest(g, "norm").pvalue > 1e-3
    # each number depends on its own (run, event, index, seed) only
    np.testing.assert_array_equal(g[1000:1010], deterministic_normal(run[1000:1010], event[1000:1010], index[1000:1010], 7))  # fmt: skip
    assert not np.array_equal(g, deterministic_normal(run, event, index, seed=8))
    assert not np.array_equal(g, deterministic_normal(run + 1, event, index, seed=7))


def test_jes_factors_by_hand():
    jets = _jets([2, 1], [50.0, 30.0, 100.0], [0.5, 2.0, -1.0], [0, 1, 2])
    unc = lambda abseta, pt: np.where(abseta < 1.5, 0.02, 0.04)  # noqa: E731
    np.testing.assert_allclose(jes_factors(jets, unc, +1), [1.02, 1.04, 1.02])
    np.testing.assert_allclose(jes_factors(jets, unc, -1), [0.98, 0.96, 0.98])


def test_jer_stochastic_and_hybrid_by_hand():
    jets = _jets([2, 1], [50.0, 30.0, 100.0], [0.5, 2.0, -1.0], [0, 1, 2], gen_pt=[45.0, np.nan, 110.0])  # fmt: skip
    res = lambda abseta, pt: np.full(len(pt), 0.1)  # noqa: E731
    g = deterministic_normal(jets.run[[0, 0, 1]], jets.event[[0, 0, 1]], np.array([0, 1, 0]), 5)
    f = jer_factors(jets, res, 1.2, seed=5)
    np.testing.assert_allclose(f, 1 + 0.1 * g * np.sqrt(1.2**2 - 1))
    h = jer_factors(jets, res, 1.2, seed=5, hybrid=True)
    np.testing.assert_allclose(h[[0, 2]], [(45 + 1.2 * 5) / 50, (110 - 1.2 * 10) / 100])
    assert h[1] == pytest.approx(f[1])
    # c = 1: jets unchanged; c < 1: unmatched unchanged, matched pulled to the generator jet
    np.testing.assert_array_equal(jer_factors(jets, res, 1.0, seed=5), np.ones(3))
    d = jer_factors(jets, res, 0.9, seed=5, hybrid=True)
    np.testing.assert_allclose(d, [(45 + 0.9 * 5) / 50, 1.0, (110 - 0.9 * 10) / 100])


def test_jer_same_jet_same_smearing_whatever_the_chunk():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 6, 500)
    n = counts.sum()
    pt, eta, phi = rng.uniform(20, 200, n), rng.uniform(-2.4, 2.4, n), rng.uniform(-3, 3, n)
    event = rng.integers(0, 10**9, 500)
    run = np.full(500, 3)
    res = lambda abseta, pt: 0.05 + 0.0 * pt  # noqa: E731
    full = jer_factors(_jets(counts, pt, eta, phi, run=run, event=event), res, 1.15)
    cut = counts[:200].sum()
    a = jer_factors(_jets(counts[:200], pt[:cut], eta[:cut], phi[:cut], run=run[:200], event=event[:200]), res, 1.15)  # fmt: skip
    b = jer_factors(_jets(counts[200:], pt[cut:], eta[cut:], phi[cut:], run=run[200:], event=event[200:]), res, 1.15)  # fmt: skip
    np.testing.assert_array_equal(full, np.concatenate([a, b]))
    assert np.std(full) == pytest.approx(0.05 * np.sqrt(1.15**2 - 1), rel=0.1)


def test_met_propagation_by_hand():
    jets = _jets([2, 1], [50.0, 10.0, 100.0], [0.0, 0.0, 0.0], [0.0, np.pi / 2, np.pi])
    f = np.array([1.1, 1.5, 0.9])
    pt, phi = propagate_met(jets, f, np.array([20.0, 30.0]), np.array([np.pi / 2, 0.0]), 15.0)
    # event 0: MET (0, 20) minus 5 GeV along x (the 10 GeV jet is below 15 GeV: not propagated)
    # event 1: MET (30, 0) minus (-10 GeV)·(-1, 0) = (30 - 10, 0)
    np.testing.assert_allclose(pt, [np.hypot(-5.0, 20.0), 20.0])
    np.testing.assert_allclose(phi, [np.arctan2(20.0, -5.0), 0.0], atol=1e-12)
