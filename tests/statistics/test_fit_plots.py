"""The fit plots: the artists, labels and CMS label are there (PNGs saved to tests/_plots)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np

from hepml_coffea.plotting import savefig
from hepml_coffea.plotting.fit import fit_data_mc, impact_ranking, pulls


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def test_fit_data_mc(plot_dir):
    edges = np.linspace(0, 1, 6)
    yields = {
        "ttbar": np.array([20, 40, 80, 160, 300.0]),
        "wjets": np.array([300, 200, 120, 60, 30.0]),
    }
    unc = np.array([10, 8, 6, 9, 15.0])
    data = np.array([310, 250, 190, 230, 320.0])
    ax, rax = fit_data_mc(
        edges,
        yields,
        unc,
        data,
        title="SR, post-fit",
        xlabel="BDT score",
        lumi=59.8,
        labels={"ttbar": r"$t\bar{t}$"},
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["wjets", r"$t\bar{t}$"]  # stacked in increasing yield
    assert {"Total unc.", "Data"} <= set(legend)
    assert "CMS" in _texts(ax) and "SR, post-fit" in _texts(ax) and "fb" in _texts(ax)
    assert rax.get_xlabel() == "BDT score" and rax.get_ylabel() == "Data / pred."
    # the ratio points are data / total model
    np.testing.assert_allclose(
        rax.containers[0].lines[0].get_ydata(), data / (yields["ttbar"] + yields["wjets"])
    )
    savefig(ax, plot_dir / "fit_data_mc_unit.png")


def test_pulls_and_impacts(plot_dir):
    names = ["JES", "btag", "lumi"]
    ax = pulls(names, [0.5, -0.2, 0.1], [0.6, 0.9, 1.0], lumi=59.8)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    np.testing.assert_allclose(ax.containers[0].lines[0].get_xdata(), [0.5, -0.2, 0.1])
    assert "CMS" in _texts(ax)
    savefig(ax, plot_dir / "fit_pulls_unit.png")
    pax, iax = impact_ranking(
        names,
        [-0.1, -0.05, -0.02],
        [0.1, 0.06, 0.02],
        [-0.08, -0.04, -0.02],
        [0.07, 0.05, 0.02],
        [0.5, -0.2, 0.1],
        [0.6, 0.9, 1.0],
        lumi=59.8,
    )
    assert [t.get_text() for t in pax.get_yticklabels()] == names
    widths = sorted(round(p.get_width(), 3) for p in iax.patches)
    assert widths == sorted(
        [-0.1, -0.05, -0.02, 0.1, 0.06, 0.02, -0.08, -0.04, -0.02, 0.07, 0.05, 0.02]
    )
    assert r"\Delta\hat{\mu}" in iax.get_xlabel()
    assert "CMS" in _texts(pax) and "fb" in _texts(iax)
    savefig(pax, plot_dir / "fit_impacts_unit.png")
