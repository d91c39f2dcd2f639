"""The ``plot`` step: one PNG per histogram + cutflow.png; the data/MC figure's content."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import uproot

from hepml_coffea.errors import ConfigError


def _hist_names(folder) -> set[str]:
    """``<observable>_<region>`` of every nominal TH1 ``<observable>/<region>/<process>/nominal``."""
    with uproot.open(folder / "histograms.root") as f:
        keys = [k for k, c in f.classnames(cycle=False).items() if c.startswith("TH1")]
    parts = [k.split("/") for k in keys if not k.startswith("cutflow")]
    return {f"{p[0]}_{p[1]}" for p in parts if len(p) == 4 and p[3] == "nominal"}


def test_one_png_per_histogram(apply_dir, monkeypatch, tmp_path):
    """Every nominal (observable, region) of histograms.root gets a PNG (drawing stubbed)."""
    import hepml_coffea.plotting as pl
    from hepml_coffea.workflows import plot_outputs

    drawn = []

    def fake_data_mc(mc, data=None, **kw):
        drawn.append((sorted(mc), data is not None, kw))
        return "ax", "rax"

    def fake_savefig(ax, path, **kw):
        path.write_bytes(b"png")

    monkeypatch.setattr(pl, "data_mc", fake_data_mc)
    monkeypatch.setattr(pl, "savefig", fake_savefig)
    monkeypatch.setattr(pl, "cutflow", lambda *a, **k: "ax")
    written = plot_outputs(apply_dir, out=tmp_path, workers=1)
    names = _hist_names(apply_dir)
    assert len(names) > 20
    assert {p.name for p in written} == {f"{n}.png" for n in names} | {"cutflow.png"}
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in written}
    info = json.loads((apply_dir / "run.json").read_text())
    meta = info["datasets"].values()
    mc = sorted({m["process"] for m in meta if not m.get("is_data") and "variation" not in m})
    signal = sorted({m["process"] for m in meta if m.get("label") == 1})
    assert all(d[0] == mc and d[1] for d in drawn)
    lumi = info["lumi"] / 1000.0
    assert all(d[2]["signal"] == signal and d[2]["lumi"] == lumi for d in drawn)
    # after a model's cut the plot says so
    after = [d for d, n in zip(drawn, sorted(names), strict=True) if "_pass_" in n]
    assert after and all(any("score ≥" in t for t in d[2]["notes"]) for d in after)


def test_real_plots_and_figure_content(apply_dir, plot_dir, tmp_path):
    import matplotlib.pyplot as plt

    from hepml_coffea import plotting as pl
    from hepml_coffea.workflows import plot_outputs
    from hepml_coffea.workflows.plot import read_histograms

    written = plot_outputs(apply_dir, out=tmp_path, variables=["ht", "score_bdt"])
    assert written and all(p.stat().st_size > 10_000 for p in written)
    assert {p.name for p in written} >= {"cutflow.png"}
    assert all(p.name.startswith(("ht_", "score_bdt_", "cutflow")) for p in written)
    for p in written:
        shutil.copy(p, plot_dir / f"workflow_plot_{p.name}")

    # the figure as plot.py draws it: stacked MC, pseudo-data, signal, CMS label with the lumi
    info = json.loads((apply_dir / "run.json").read_text())
    hists = read_histograms(apply_dir)
    mc_procs = sorted(
        {m["process"] for m in info["datasets"].values() if not m.get("is_data")} & set(hists)
    )
    key = next(n for n in hists[mc_procs[0]] if n.startswith("ht_"))
    mc = {d: hists[d][key] for d in mc_procs}
    ax, rax = pl.data_mc(mc, hists["data"][key], lumi=1.33, pseudo_data=True)
    texts = [t.get_text() for t in ax.texts]
    assert "CMS" in texts and "Simulation" in texts and "Preliminary" not in texts
    assert "1.33 fb$^{-1}$ (13 TeV)" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Pseudo-data" in legend
    assert rax.get_ylabel() == "Data / MC"
    # the histograms read back hold the run's yields: every observable of a region has the
    # same total (all events passing the region's cuts)
    other = next(n for n in hists[mc_procs[0]] if n.startswith("n_jets_") and n[7:] == key[3:])
    for d in mc_procs:
        assert hists[d][key].values(flow=True).sum() == pytest.approx(
            hists[d][other].values(flow=True).sum(), rel=1e-9
        )
    plt.close("all")


def test_not_an_output_folder(tmp_path):
    from hepml_coffea.workflows import plot_outputs

    with pytest.raises(ConfigError, match="not an output folder"):
        plot_outputs(tmp_path)


# --- any run output: (region, process, variation, x) hists, a user's processor, empty outputs ---


def _synthetic_output(folder, *, json_too=True, root_too=True):
    """An output folder as the engine writes it: hists with (region, process, variation, x)
    axes, a user-style nested dict, run.json with data/MC, signal, [processes] and lumi."""
    import hist

    from hepml_coffea.workflows.outputs import write_histograms, write_json, write_uhi_json

    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)

    def h4(axis):
        return hist.Hist(
            hist.axis.StrCategory(["SR", "CR"], name="region"),
            hist.axis.StrCategory([], name="process", growth=True),
            hist.axis.StrCategory([], name="variation", growth=True),
            axis,
            storage=hist.storage.Weight(),
        )

    mjjb = h4(hist.axis.Regular(20, 0, 400, name="m_jjb", label=r"$m_{jjb}$ [GeV]"))
    njets = h4(hist.axis.Integer(4, 10, name="n_jets", label="Jets"))
    for proc, n, w in (("ttbar", 4000, 0.5), ("wjets", 3000, 1.0), ("data", 3500, 1.0)):
        for region in ("SR", "CR"):
            for var in ("nominal", "JESUp", "JESDown") if proc != "data" else ("nominal",):
                mjjb.fill(region, proc, var, rng.normal(170, 40, n), weight=w)
                njets.fill(region, proc, var, rng.integers(4, 9, n), weight=w)
    own = hist.Hist(hist.axis.Regular(10, 60, 120, name="mass"), storage=hist.storage.Weight())
    own.fill(rng.normal(91, 3, 500))
    output = {"hists": {"m_jjb": mjjb, "n_jets": njets}, "user": {"zpeak": own}}
    if root_too:
        write_histograms(folder / "histograms.root", output)
    if json_too:
        write_uhi_json(folder / "histograms.json", output)
    datasets = {
        "ttbar_powheg": {"is_data": False, "process": "ttbar", "label": 1},
        "wjets": {"is_data": False, "process": "wjets", "label": 0},
        "SingleMuon": {"is_data": True, "process": "data", "label": -1},
    }
    config = {"processes": {"ttbar": {"label": r"$t\bar{t}$", "color": "#e42536"}}}
    write_json(folder / "run.json", {"lumi": 250.0, "datasets": datasets, "config": config})
    cuts = {"all": 1000.0, "trigger": 800.0, "4 jets": 300.0}
    write_json(
        folder / "cutflow.json",
        {
            "ttbar_powheg": {c: {"events": int(v), "weighted": v} for c, v in cuts.items()},
            "wjets": {c: {"events": int(v), "weighted": v / 2} for c, v in cuts.items()},
            "SingleMuon": {c: {"events": int(v), "weighted": 1.4 * v} for c, v in cuts.items()},
        },
    )
    return folder


@pytest.mark.parametrize("source", ["json", "root"])
def test_any_output_one_png_per_nominal_histogram(tmp_path, monkeypatch, source):
    """One PNG per (observable, region) and per user histogram, nominal only; MC grouped by
    process with the [processes] label, data (is_data) as data; JSON and ROOT agree."""
    import hepml_coffea.plotting as pl
    from hepml_coffea.workflows import plot_outputs

    folder = _synthetic_output(tmp_path / "out", json_too=source == "json")
    drawn = {}

    def fake_data_mc(mc, data=None, **kw):
        drawn[len(drawn)] = (mc, data, kw)
        return "ax", "rax"

    def fake_savefig(ax, path, **kw):
        path.write_bytes(b"png")

    monkeypatch.setattr(pl, "data_mc", fake_data_mc)
    monkeypatch.setattr(pl, "savefig", fake_savefig)
    monkeypatch.setattr(pl, "cutflow", lambda *a, **k: "ax")
    written = plot_outputs(folder, workers=1)
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "m_jjb_SR.png",
            "m_jjb_CR.png",
            "n_jets_SR.png",
            "n_jets_CR.png",
            "user_zpeak.png",
            "cutflow.png",
        ]
    )
    by_name = dict(
        zip(sorted(p.name for p in written if p.name != "cutflow.png"), drawn.values(), strict=True)
    )
    mc, data, kw = by_name["m_jjb_SR.png"]
    assert sorted(mc) == ["ttbar", "wjets"] and data is not None
    assert kw["signal"] == ["ttbar"] and kw["labels"]["ttbar"] == r"$t\bar{t}$"
    assert kw["lumi"] == pytest.approx(0.25) and kw["pseudo_data"] is False
    # nominal only: the weighted yields equal the nominal fills
    assert mc["ttbar"].values(flow=True).sum() == pytest.approx(0.5 * 4000)
    assert data.values(flow=True).sum() == pytest.approx(3500)
    if source == "json":  # uhi keeps the integer axis (bins centred on integers when drawn)
        import hist

        assert isinstance(by_name["n_jets_SR.png"][0]["ttbar"].axes[0], hist.axis.Integer)
    user_mc, user_data, _ = by_name["user_zpeak.png"]
    assert list(user_mc) == ["MC"] and user_data is None


def test_any_output_real_pngs_and_cutflow(tmp_path, plot_dir):
    from hepml_coffea.workflows import plot_outputs

    folder = _synthetic_output(tmp_path / "out")
    written = plot_outputs(folder, status="Private Work", com=13.6, log=True)
    assert {p.parent for p in written} == {folder / "plots"}
    for p in written:
        assert p.stat().st_size > 10_000
    for name in ("n_jets_SR.png", "cutflow.png", "m_jjb_CR.png"):
        shutil.copy(folder / "plots" / name, plot_dir / f"any_output_{name}")


def test_empty_output_is_one_line_error(tmp_path):
    from hepml_coffea.workflows import plot_outputs
    from hepml_coffea.workflows.outputs import write_histograms, write_json

    folder = tmp_path / "empty"
    folder.mkdir()
    write_histograms(folder / "histograms.root", {})
    write_json(folder / "run.json", {"datasets": {}})
    with pytest.raises(ConfigError, match="holds no 1-D histogram") as err:
        plot_outputs(folder)
    assert "\n" not in str(err.value)


def test_cli_plot_prints_the_plots_folder(tmp_path, capsys):
    from hepml_coffea.cli import main

    folder = _synthetic_output(tmp_path / "out")
    assert main(["plot", str(folder), "--lumi", "44.4", "--cms-label", "Open Data"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 6 plots to {folder / 'plots'}"


def test_score_plots_say_whether_mc_saw_training_events():
    from hepml_coffea.workflows.plot import _score_notes

    assert _score_notes("m_jjb", {}) == []
    biased = _score_notes("score_bdt", {})
    assert "MC includes the events bdt trained on (biased);" in biased
    assert any("data_mc_score_bdt.png" in n for n in biased)
    models = {"kbdt": {"kfold": True}, "bdt": {"kfold": False}}
    assert _score_notes("score_kbdt", models) == ["MC: out-of-fold scores (k-fold)"]
    assert _score_notes("score_kbdt_ttbar", models) == ["MC: out-of-fold scores (k-fold)"]
    assert _score_notes("score_bdt", models)[0].startswith("MC includes")


def test_plot_outputs_leaves_no_figure_open(tmp_path):
    """A notebook shows every open figure at the end of a cell: plot leaves none behind."""
    import matplotlib.pyplot as plt

    from hepml_coffea.workflows import plot_outputs

    plt.close("all")
    folder = _synthetic_output(tmp_path / "out")
    written = plot_outputs(folder, workers=1)
    assert written and plt.get_fignums() == []
