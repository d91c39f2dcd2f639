"""The ``plot`` step: one PNG per histogram + cutflow.png; the data/MC figure's content."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import uproot

from hepml_coffea.errors import ConfigError


def _hist_names(folder) -> set[str]:
    with uproot.open(folder / "histograms.root") as f:
        keys = [k for k, c in f.classnames(cycle=False).items() if "/" in k and c.startswith("TH1")]
    return {k.split("/", 1)[1] for k in keys} - {"cutflow"}


def test_one_png_per_histogram(apply_dir, monkeypatch, tmp_path):
    """Every histogram of histograms.root gets a PNG (drawing stubbed: 80 real plots take ~40 s)."""
    import hepml_coffea.plotting as pl
    from hepml_coffea.workflows import plot_outputs

    drawn = []

    def fake_data_mc(mc, data=None, **kw):
        drawn.append((sorted(mc), data is not None, kw))
        return "ax", "rax"

    def fake_savefig(ax, path):
        path.write_bytes(b"png")

    monkeypatch.setattr(pl, "data_mc", fake_data_mc)
    monkeypatch.setattr(pl, "savefig", fake_savefig)
    monkeypatch.setattr(pl, "cutflow", lambda *a, **k: "ax")
    written = plot_outputs(apply_dir, out=tmp_path)
    names = _hist_names(apply_dir)
    assert len(names) == 27 * 3 + 2  # features before and after each model's cut, two scores
    assert {p.name for p in written} == {f"{n}.png" for n in names} | {"cutflow.png"}
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in written}
    mc = ["dy", "single_top", "ttbar_semilep", "wjets"]
    assert all(d[0] == mc and d[1] for d in drawn)
    lumi = json.loads((apply_dir / "run.json").read_text())["lumi"] / 1000.0
    assert all(d[2]["signal"] == ["ttbar_semilep"] and d[2]["lumi"] == lumi for d in drawn)


def test_real_plots_and_figure_content(apply_dir, plot_dir, tmp_path):
    import matplotlib.pyplot as plt

    from hepml_coffea import plotting as pl
    from hepml_coffea.workflows import plot_outputs
    from hepml_coffea.workflows.plot import read_histograms

    variables = ["ht", "score_bdt", "m_jjb__bdt"]
    written = plot_outputs(apply_dir, out=tmp_path, variables=variables)
    assert [p.name for p in written] == [f"{v}.png" for v in sorted(variables)] + ["cutflow.png"]
    for p in written:
        assert p.stat().st_size > 10_000
        shutil.copy(p, plot_dir / f"workflow_plot_{p.name}")

    # the figure as plot.py draws it: stacked MC, data points, signal, CMS label with the lumi
    hists = read_histograms(apply_dir / "histograms.root")
    mc = {d: hists[d]["ht"] for d in ("dy", "single_top", "ttbar_semilep", "wjets")}
    ax, rax = pl.data_mc(mc, hists["data"]["ht"], signal=["ttbar_semilep"], lumi=1.33)
    texts = [t.get_text() for t in ax.texts]
    assert "CMS" in texts and "Preliminary" in texts
    assert any("fb^{-1}" in t for t in texts), texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("Data" in t for t in legend), legend
    assert len(legend) >= 5
    assert rax.get_ylabel() != ""
    # the histograms read back hold the run's yields
    total_mc = sum(h.values(flow=True).sum() for h in mc.values())
    assert total_mc == pytest.approx(
        sum(hists[d]["score_bdt"].values(flow=True).sum() for d in mc), rel=1e-9
    )
    assert np.isclose(
        hists["data"]["ht"].values(flow=True).sum(), hists["data"]["n_jets"].values(flow=True).sum()
    )
    plt.close("all")


def test_not_an_output_folder(tmp_path):
    from hepml_coffea.workflows import plot_outputs

    with pytest.raises(ConfigError, match="not an output folder"):
        plot_outputs(tmp_path)
