"""Data/MC stack with ratio panel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import StepPatch

from hepml_coffea.plotting import data_mc, savefig


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_data_mc_with_ratio(process_hists, plot_dir):
    mc, data = process_hists
    ax, rax = data_mc(mc, data, signal="ttbar_semilep", signal_scale=1.0, lumi=10.0)
    texts = _texts(ax)
    assert "CMS" in texts and "Preliminary" in texts
    assert any("10 $\\mathrm{fb^{-1}}$" in t for t in texts)
    assert rax.get_xlabel() == r"$m_{jjj}$ [GeV]"
    assert ax.get_ylabel() == "Events / 20 GeV"
    assert rax.get_ylabel() == "Data / MC"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(legend) >= {"wjets", "single_top", "dy", "ttbar_semilep", "Data", "MC stat. unc."}
    assert len(legend) == len(set(legend)) == 6  # stacked signal at scale 1: no extra line
    # data points in both panels
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 1
    assert sum(isinstance(c, ErrorbarContainer) for c in rax.containers) == 1
    # ratio points equal data / total MC (signal stacked)
    total = sum(h.values() for h in mc.values())
    ratio_line = rax.containers[0].lines[0]
    np.testing.assert_allclose(ratio_line.get_ydata(), data.values() / total, rtol=1e-12)
    # stat band: the hatched StepPatch spans total ± sqrt(Σ variances)
    band = [p for p in ax.patches if isinstance(p, StepPatch) and p.get_hatch()]
    assert len(band) == 1
    err = np.sqrt(sum(h.variances() for h in mc.values()))
    np.testing.assert_allclose(band[0].get_data().values, total + err, rtol=1e-12)
    np.testing.assert_allclose(band[0].get_data().baseline, total - err, rtol=1e-12)
    savefig(ax, plot_dir / "data_mc_ratio.png")


def test_mc_only_log_signal_line(process_hists, plot_dir):
    mc, _ = process_hists
    ax, rax = data_mc(
        mc, signal=["ttbar_semilep"], signal_scale=5, stack_signal=False, lumi=0.138, log=True
    )
    texts = _texts(ax)
    assert "Simulation" in texts and "Preliminary" not in texts
    assert any(t.startswith("0.138") for t in texts)
    assert ax.get_yscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ttbar_semilep ×5" in legend and "ttbar_semilep" not in legend
    assert rax.get_ylabel() == "Rel. unc."
    assert not any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    savefig(ax, plot_dir / "mc_only_log.png")


def test_given_axes_and_errors(process_hists):
    mc, data = process_hists
    fig, (a, r) = plt.subplots(2, 1)
    assert data_mc(mc, data, ax=a, rax=r) == (a, r)
    plt.close(fig)
    with pytest.raises(ValueError, match="signal"):
        data_mc(mc, data, signal="higgs")
    with pytest.raises(ValueError, match="both"):
        data_mc(mc, data, ax=a)
    assert PolyCollection  # imported for artist checks elsewhere
