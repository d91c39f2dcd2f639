"""Synthetic, realistic-looking inputs for the plotting tests."""

from __future__ import annotations

import hist
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def process_hists():
    """Weighted m_jjj-like histograms of the four MC processes and pseudo-data (lumi 10 fb⁻¹)."""
    rng = np.random.default_rng(42)
    axis = hist.axis.Regular(25, 50, 550, name="mjjj", label=r"$m_{jjj}$ [GeV]")
    spec = {  # name: (n MC events, expected yield, shape)
        "ttbar_semilep": (20000, 6000.0, lambda n: rng.normal(172.5, 25.0, n)),
        "wjets": (20000, 3000.0, lambda n: 60 + rng.exponential(120.0, n)),
        "single_top": (5000, 800.0, lambda n: rng.normal(190.0, 60.0, n)),
        "dy": (5000, 400.0, lambda n: 55 + rng.exponential(90.0, n)),
    }
    mc = {}
    for name, (n, yield_, sampler) in spec.items():
        h = hist.Hist(axis, storage=hist.storage.Weight())
        w = np.full(n, yield_ / n) * rng.choice([1.0, -1.0], n, p=[0.97, 0.03]) / 0.94
        h.fill(sampler(n), weight=w)
        mc[name] = h
    expected = sum(h.values() for h in mc.values())
    data = hist.Hist(axis, storage=hist.storage.Weight())
    data[...] = np.stack([rng.poisson(np.clip(expected, 0, None) * 1.03)] * 2, axis=-1)
    return mc, data
