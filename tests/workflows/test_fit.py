"""The ``fit`` step end to end: outputs, a refit of workspace.json with plain pyhf, the CLI, and
(slow) generate --signal-strength / --jes-shift → run → fit."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pyhf
import pytest

from hepml_coffea.cli import main
from hepml_coffea.workflows.fit import FitResult, run_fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "statistics"))
from fit_helpers import toy_templates, write_root


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, FitResult]:
    folder = tmp_path_factory.mktemp("fit_input")
    write_root(folder / "histograms.root", toy_templates(mu=1.2, seed=3))
    fit_table = {"signal": ["ttbar"], "lumi_uncertainty": 0.02, "prune_threshold": 0.005}
    (folder / "run.json").write_text(json.dumps({"lumi": 59830.0, "config": {"fit": fit_table}}))
    result = run_fit(folder, "score_bdt", folder / "fit")
    return folder, result


def test_fit_json_and_workspace(fitted, plot_dir):
    folder, result = fitted
    out = folder / "fit"
    info = json.loads((out / "fit.json").read_text())
    spec = json.loads((out / "workspace.json").read_text())
    # workspace.json is a valid pyhf workspace, and plain pyhf refits the same mu-hat
    ws = pyhf.Workspace(spec)
    model = ws.model()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    ref = pyhf.infer.mle.fit(ws.data(model), model, return_uncertainties=True)
    i = model.config.par_names.index("mu")
    assert info["mu"]["value"] == pytest.approx(float(ref[i, 0]), abs=1e-4)
    assert info["mu"]["uncertainty"] == pytest.approx(float(ref[i, 1]), rel=1e-2)
    assert result.mu == info["mu"]["value"]
    assert abs(result.mu - 1.2) < 2 * result.mu_uncertainty
    # the configured [fit] table from run.json was used: lumi 2 %
    assert info["config"]["lumi_uncertainty"] == 0.02
    lumi = next(
        m
        for c in spec["channels"]
        for s in c["samples"]
        for m in s["modifiers"]
        if m["name"] == "lumi"
    )
    assert lumi["data"] == {"hi": 1.02, "lo": 0.98}
    # every parameter with value and uncertainty; a proper correlation matrix
    for name in ("mu", "JES", "btag", "lumi", "ttbar_tune", "staterror_SR[0]"):
        assert set(info["parameters"][name]) == {"value", "uncertainty"}
    assert "tiny" not in info["parameters"]
    corr = np.asarray(info["correlation"]["matrix"])
    assert corr.shape == (len(info["parameters"]),) * 2
    np.testing.assert_allclose(np.diag(corr), 1.0, atol=1e-6)
    np.testing.assert_allclose(corr, corr.T, atol=1e-9)
    # significance, limits, impacts
    sig = info["significance"]
    assert sig["observed"] > 5 and sig["expected"] > 5
    lim = info["upper_limit_95cl"]
    assert result.mu < lim["observed"] < result.mu + 3 * result.mu_uncertainty
    band = [lim["expected_band"][k] for k in ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")]
    assert band == sorted(band) and lim["expected"] == band[2]
    sizes = [max(abs(i["postfit_up"]), abs(i["postfit_down"])) for i in info["impacts"]]
    assert sizes == sorted(sizes, reverse=True)
    assert {i["name"] for i in info["impacts"]} == {"JES", "btag", "lumi", "ttbar_tune"}
    assert not info["problems"]
    names = {
        "prefit_SR.png",
        "prefit_CR.png",
        "postfit_SR.png",
        "postfit_CR.png",
        "pulls.png",
        "impacts.png",
    }
    assert set(info["plots"]) == names
    for name in names:
        assert (out / "plots" / name).stat().st_size > 10_000
        shutil.copy(out / "plots" / name, plot_dir / f"fit_{name}")


def test_fit_a_workspace_file_and_overrides(fitted, tmp_path):
    folder, result = fitted
    again = run_fit(
        folder / "fit" / "workspace.json", None, tmp_path / "ws", impacts=False, limit=False
    )
    assert again.mu == pytest.approx(result.mu, abs=1e-6)
    off = run_fit(
        folder,
        "score_bdt",
        tmp_path / "off",
        overrides=["lumi_uncertainty=0", "mc_stat=false"],
        impacts=False,
        limit=False,
        plots=False,
    )
    assert "lumi" not in off.parameters.labels
    assert not any(n.startswith("staterror") for n in off.parameters.labels)
    assert off.mu_uncertainty < result.mu_uncertainty


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--observable", "m_jjb"], "observable 'm_jjb' not found"),
        (["--observable", "score_bdt", "--set", "regions=['SR','VR']"], "region(s) ['VR'] not in"),
        (["--observable", "score_bdt", "--set", "signal=['tth']"], "signal process(es) ['tth']"),
        (
            ["--observable", "score_bdt", "--set", "lumi_uncertainy=0.1"],
            "Unknown --set key 'fit.lumi_uncertainy'",
        ),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(fitted, tmp_path, capsys, args, expected):
    folder, _ = fitted
    assert main(["fit", str(folder), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err


def test_cli_rejected_workspace_and_success(fitted, tmp_path, capsys):
    folder, result = fitted
    spec = json.loads((folder / "fit" / "workspace.json").read_text())
    del spec["measurements"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    assert main(["fit", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"pyhf rejects {bad}" in err and "\n" not in err
    code = main(
        [
            "fit",
            str(folder),
            "--observable",
            "score_bdt",
            "--out",
            str(tmp_path / "ok"),
            "--no-impacts",
            "--no-limit",
        ]
    )
    assert code == 0
    assert f"mu = {result.mu:.3f}" in capsys.readouterr().out


def _generate_and_run(tmp: Path, overrides: tuple[str, ...] = (), **kwargs) -> Path:
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_analysis

    fileset = generate(
        tmp / "gen", n_events=5000, seed=42, compression="zstd", progress=False, **kwargs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_analysis(
            "ttbar_ljets",
            fileset,
            tmp / "run",
            executor="iterative",
            progress=False,
            overrides=list(overrides),
        )
    return tmp / "run"


@pytest.mark.slow
@pytest.mark.parametrize("mu", [0.0, 1.5])
def test_end_to_end_signal_injection(tmp_path, mu):
    """generate --signal-strength MU → run (regions, systematics) → fit m_jjb: mu-hat within 2σ of MU."""
    corrections = f"systematics.corrections={tmp_path / 'gen' / 'corrections.json'}"
    run_dir = _generate_and_run(tmp_path, (corrections,), signal_strength=mu)
    result = run_fit(
        run_dir,
        "m_jjb",
        tmp_path / "fit",
        overrides=["rebin=5"],
        impacts=False,
        limit=False,
        plots=False,
    )
    assert abs(result.mu - mu) < 2 * result.mu_uncertainty
    assert result.mu_uncertainty < 0.5
    assert {"JES", "JER", "btag_sf", "pileup", "lumi"} <= set(result.parameters.labels)


@pytest.mark.slow
def test_end_to_end_generated_corrections_reach_the_fit(tmp_path):
    """Without --set systematics.corrections, the generator's corrections.json (named in the
    fileset metadata) must give the correctionlib systematics; if they equal the nominal they
    are pruned and JES/btag_sf are missing from the fit."""
    run_dir = _generate_and_run(tmp_path)
    result = run_fit(
        run_dir,
        "m_jjb",
        tmp_path / "fit",
        overrides=["rebin=5"],
        impacts=False,
        limit=False,
        plots=False,
    )
    assert {"JES", "btag_sf", "pileup"} <= set(result.parameters.labels)


@pytest.mark.slow
def test_end_to_end_jes_shape_injection(tmp_path):
    """generate --jes-shift 1 (20k events per process) → run → fit m_jjb.

    With the JES auxiliary measurement also at +1 (the shift is what the calibration says), the
    fitted JES parameter is +1 within 2σ̂: the JES templates describe the generator's shifted jets.
    With it at 0 (as for real data), data and constraint combine to 1 − σ̂², spread
    σ̂·sqrt(1 − σ̂²). (Within 1σ would fail one time in three for a correct fit.)
    """
    from hepml_coffea.statistics import fit_parameters
    from hepml_coffea.workflows.fit import load_workspace

    corrections = f"systematics.corrections={tmp_path / 'gen' / 'corrections.json'}"
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_analysis

    fileset = generate(
        tmp_path / "gen",
        n_events=20_000,
        seed=42,
        compression="zstd",
        progress=False,
        jes_shift=1.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_analysis(
            "ttbar_ljets",
            fileset,
            tmp_path / "run",
            executor="iterative",
            progress=False,
            overrides=[corrections],
        )
    result = run_fit(
        tmp_path / "run",
        "m_jjb",
        tmp_path / "fit",
        overrides=["rebin=5"],
        impacts=False,
        limit=False,
        plots=False,
    )
    p = result.parameters
    theta, sigma = p.bestfit[p.index("JES")], p.uncertainty[p.index("JES")]
    assert sigma < 0.6
    assert abs(theta - (1 - sigma**2)) < 2 * sigma * np.sqrt(1 - sigma**2)
    _, model, data = load_workspace(tmp_path / "fit" / "workspace.json")
    order = model.config.auxdata_order
    at = model.config.nmaindata + sum(
        model.config.param_set(n).n_parameters for n in order[: order.index("JES")]
    )
    shifted = np.asarray(data, dtype=float)
    shifted[at] = 1.0
    best = fit_parameters(model, shifted)
    i = best.index("JES")
    assert abs(best.bestfit[i] - 1.0) < 2 * best.uncertainty[i]
    assert abs(best.bestfit[best.index("mu")] - 1.0) < 2 * best.uncertainty[best.index("mu")]


def test_fit_plots_of_pseudo_data_say_simulation(tmp_path):
    """Generated pseudo-data must not be labelled "CMS Preliminary" on the fit plots either."""
    from hepml_coffea.workflows.fit import _status

    run = tmp_path / "run"
    run.mkdir()
    pseudo = {"data": {"is_data": True, "seed": 42}, "tt": {"is_data": False}}
    (run / "run.json").write_text(json.dumps({"datasets": pseudo}))
    assert _status(run) == "Simulation"
    (run / "run.json").write_text(json.dumps({"datasets": {"data": {"is_data": True}}}))
    assert _status(run) is None
    assert _status(tmp_path / "workspace.json") is None
