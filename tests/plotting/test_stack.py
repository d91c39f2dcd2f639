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


def _folded(arr):
    """Bin contents with the under/overflow added to the edge bins (as data_mc draws them)."""
    out = np.asarray(arr, dtype=float)[1:-1].copy()
    out[0] += arr[0]
    out[-1] += arr[-1]
    return out


def test_data_mc_with_ratio(process_hists, plot_dir):
    mc, data = process_hists
    ax, rax = data_mc(mc, data, signal="ttbar_semilep", signal_scale=1.0, lumi=10.0)
    texts = _texts(ax)
    assert "CMS" in texts and "Preliminary" in texts
    assert "10 fb$^{-1}$ (13 TeV)" in texts
    assert rax.get_xlabel() == r"$m_{jjj}$ [GeV]"
    assert ax.get_ylabel() == "Events / 20 GeV"
    assert rax.get_ylabel() == "Data / MC"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(legend) >= {"wjets", "single_top", "dy", "ttbar_semilep", "Data", "MC stat. unc."}
    assert len(legend) == len(set(legend)) == 6  # stacked signal at scale 1: no extra line
    # data points in both panels
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 1
    assert sum(isinstance(c, ErrorbarContainer) for c in rax.containers) == 1
    # ratio points equal data / total MC (signal stacked), flow folded into the edge bins
    total = sum(_folded(h.values(flow=True)) for h in mc.values())
    assert total[-1] > sum(h.values()[-1] for h in mc.values())  # the MC has overflow
    ratio_line = rax.containers[0].lines[0]
    dvals = _folded(data.values(flow=True))
    np.testing.assert_allclose(ratio_line.get_ydata(), dvals / total, rtol=1e-12)
    # stat band: the hatched StepPatch spans total ± sqrt(Σ variances)
    band = [p for p in ax.patches if isinstance(p, StepPatch) and p.get_hatch()]
    assert len(band) == 1
    err = np.sqrt(sum(_folded(h.variances(flow=True)) for h in mc.values()))
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
    assert "138 pb$^{-1}$ (13 TeV)" in texts  # below 1 fb^-1 in pb^-1
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


def _legend_box_in_data(ax):
    ax.figure.canvas.draw()
    box = ax.get_legend().get_window_extent()
    return box.transformed(ax.transData.inverted())


@pytest.mark.parametrize("log", [False, True])
def test_legend_never_covers_data(process_hists, log):
    """The data points (with their error bars) and the MC stack stay below the legend."""
    mc, data = process_hists
    ax, _ = data_mc(mc, data, signal="ttbar_semilep", lumi=10.0, log=log, notes=["bdt score ≥ 0.5"])
    box = _legend_box_in_data(ax)
    pts = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    x = pts.lines[0].get_xdata()
    top = data.values() + np.sqrt(data.values()) * 1.2
    total = sum(h.values(flow=True)[1:-1] for h in mc.values())
    under = (x >= box.x0) & (x <= box.x1)
    assert under.any()
    assert np.all(np.maximum(top, total)[under] < box.y0)
    plt.close(ax.figure)


def test_flow_folded_and_stated(plot_dir):
    """Under/overflow and a padding value below the axis end up in the edge bins, and the plot
    says so; nothing vanishes."""
    import hist

    axis = hist.axis.Regular(10, 0.0, 5.0, name="dr_bb", label=r"$\Delta R_{bb}$")
    h = hist.Hist(axis, storage=hist.storage.Weight())
    x = np.r_[np.full(42, -1.0), np.linspace(0.1, 4.9, 50), np.full(8, 7.0)]  # 42 padded, 8 above
    h.fill(x, weight=np.full(x.size, 2.0))
    d = hist.Hist(axis, storage=hist.storage.Weight())
    d.fill(x)
    ax, _ = data_mc({"ttbar": h}, d, pad_value=-1.0, lumi=0.0444, pseudo_data=True)
    stack = [p for p in ax.patches if isinstance(p, StepPatch) and not p.get_hatch()]
    vals = stack[0].get_data().values
    assert vals.sum() == pytest.approx(2.0 * x.size)  # everything drawn
    assert vals[0] == pytest.approx(2.0 * (42 + np.sum((x >= 0) & (x < 0.5))))
    assert vals[-1] == pytest.approx(2.0 * (8 + np.sum((x >= 4.5) & (x < 5.0))))
    title = ax.get_legend().get_title().get_text()
    assert "Underflow (42% of MC, incl. padding value -1) in the first bin" in title
    assert "Overflow (8% of MC) in the last bin" in title
    texts = _texts(ax)
    assert "Simulation" in texts and "Preliminary" not in texts  # pseudo-data are simulation
    assert "44.4 pb$^{-1}$ (13 TeV)" in texts
    assert "Pseudo-data" in [t.get_text() for t in ax.get_legend().get_texts()]
    savefig(ax, plot_dir / "flow_padding.png")


def test_integer_axis_centred_and_label_options(plot_dir):
    import hist

    h = hist.Hist(
        hist.axis.Integer(0, 10, name="n_jets", label="Jets"), storage=hist.storage.Weight()
    )
    h.fill([4, 4, 5, 6, 6, 6])
    ax, _ = data_mc({"ttbar": h}, status="Private Work", com=13.6, lumi=2.0)
    patch = next(p for p in ax.patches if isinstance(p, StepPatch))
    edges = patch.get_data().edges
    np.testing.assert_allclose(edges, np.arange(11) - 0.5)  # bin k centred on the integer k
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert centres[np.argmax(patch.get_data().values)] == 6.0
    texts = _texts(ax)
    assert "Simulation Private Work" in texts and "2 fb$^{-1}$ (13.6 TeV)" in texts
    assert ax.get_legend().get_title().get_text() == ""  # no flow: no note
    savefig(ax, plot_dir / "integer_axis.png")


def test_reused_axes_give_the_same_png(process_hists, tmp_path):
    """The plot step draws every PNG on one emptied figure: after a log plot with notes and a
    different binning, the next PNG equals the one drawn on a new figure, pixel for pixel."""
    import hist
    from matplotlib.image import imread

    from hepml_coffea.plotting.style import reusable_ratio_axes

    mc, data = process_hists
    other = hist.Hist(hist.axis.Regular(7, 0, 7, name="x"), storage=hist.storage.Weight())
    other.fill([1, 2, 2, 9, -1])
    ax, rax = reusable_ratio_axes()
    data_mc({"a": other}, other, log=True, notes=["bdt score ≥ 0.5"], ax=ax, rax=rax, lumi=2.0)
    savefig(ax, tmp_path / "first.png", close=False)
    ax2, rax2 = reusable_ratio_axes()
    assert ax2 is ax and rax2 is rax and not ax.lines and ax.get_legend() is None
    data_mc(mc, data, signal="ttbar_semilep", lumi=10.0, ax=ax2, rax=rax2)
    savefig(ax2, tmp_path / "reused.png", close=False)
    fresh, _ = data_mc(mc, data, signal="ttbar_semilep", lumi=10.0)
    savefig(fresh, tmp_path / "fresh.png")
    np.testing.assert_array_equal(imread(tmp_path / "reused.png"), imread(tmp_path / "fresh.png"))


def test_no_data_point_where_nothing_is_expected_or_seen():
    import hist

    h = hist.Hist(hist.axis.Integer(0, 6, name="n"), storage=hist.storage.Weight())
    h.fill([2, 3, 3], weight=[1.0, 1.0, 1.0])
    d = hist.Hist(hist.axis.Integer(0, 6, name="n"), storage=hist.storage.Weight())
    d.fill([3, 3])
    ax, _ = data_mc({"mc": h}, d)
    y = next(c for c in ax.containers if isinstance(c, ErrorbarContainer)).lines[0].get_ydata()
    np.testing.assert_array_equal(np.isnan(y), [True, True, False, False, True, True])
    assert y[2] == 0 and y[3] == 2  # a 0 where MC expects events is drawn
    plt.close(ax.figure)
