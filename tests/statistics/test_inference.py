"""Inference against independent references: closed forms, pyhf's own calculators, cabinetry."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest
from fit_helpers import toy_templates, write_root
from scipy import stats

from hepml_coffea.statistics import (
    FitConfig,
    Templates,
    build_workspace,
    fit_parameters,
    impacts,
    significance,
    upper_limit,
)
from hepml_coffea.workflows.fit import load_workspace, run_fit

NO_SYST = FitConfig(lumi_uncertainty=0.0, mc_stat=False)


def one_bin(s: float, b: float, n: float, *, bkg_norm: float | None = None):
    """A one-bin workspace, no systematics (or one normsys on the background)."""
    t = Templates("x", np.array([0.0, 1.0]), source="one bin")
    t.add("SR", "sig", "nominal", [s])
    t.add("SR", "bkg", "nominal", [b])
    t.add("SR", "data", "nominal", [n])
    if bkg_norm is not None:
        t.add("SR", "bkg", "normUp", [b * bkg_norm])
        t.add("SR", "bkg", "normDown", [b * (2 - bkg_norm)])
        t.add("SR", "sig", "normUp", [0.0])
        t.add("SR", "sig", "normDown", [0.0])
        t.add("SR", "data", "normUp", [0.0])
        t.add("SR", "data", "normDown", [0.0])
    spec, *_ = build_workspace(t, FitConfig(signal=("sig",), lumi_uncertainty=0.0, mc_stat=False))
    _, model, data = load_workspace(spec)
    return model, data


def cowan(s, b):
    return np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))


@pytest.mark.parametrize(("s", "b"), [(10.0, 100.0), (50.0, 200.0), (3.0, 1.5), (400.0, 50.0)])
def test_reduction_expected_significance_is_cowan_asimov(s, b):
    """All systematics off, one bin: pyhf's expected Z equals sqrt(2((s+b)ln(1+s/b)-s)) to 1e-3."""
    model, data = one_bin(s, b, n=b)  # observed = background only: the expected Z must not care
    z_obs, z_exp = significance(model, data)
    assert z_exp == pytest.approx(cowan(s, b), abs=1e-3)
    assert z_obs == pytest.approx(0.0, abs=1e-3)
    # and pyhf's own hypotest p-value gives the same expected significance
    pyhf.set_backend("numpy", "scipy")
    _, p_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True)
    assert stats.norm.isf(float(p_exp)) == pytest.approx(cowan(s, b), abs=1e-3)


def test_one_bin_fit_and_observed_significance_closed_form():
    s, b, n = 50.0, 200.0, 262.0
    model, data = one_bin(s, b, n)
    best = fit_parameters(model, data)
    mu = best.bestfit[best.index("mu")]
    assert mu == pytest.approx((n - b) / s, abs=1e-4)
    assert best.uncertainty[best.index("mu")] == pytest.approx(np.sqrt(n) / s, rel=1e-2)
    z_obs, _ = significance(model, data)
    assert z_obs == pytest.approx(np.sqrt(2 * (n * np.log(n / b) - (n - b))), abs=1e-3)


def test_upper_limit_equals_pyhf_root_finding():
    model, data = one_bin(20.0, 100.0, 108.0)
    obs, exp = upper_limit(model, data)
    pyhf.set_backend("numpy", "scipy")
    ref_obs, ref_exp = pyhf.infer.intervals.upper_limits.upper_limit(
        data, model, scan=None, level=0.05
    )
    assert obs == pytest.approx(float(ref_obs), rel=2e-3)
    np.testing.assert_allclose(exp, np.asarray(ref_exp, dtype=float), rtol=2e-3)
    assert exp == sorted(exp)


def test_impacts_closed_form_one_bin():
    """One bin, a 10 % background normsys: fixing it at +1 moves mu to (n - 1.1 b)/s exactly."""
    s, b, n = 50.0, 200.0, 262.0
    model, data = one_bin(s, b, n, bkg_norm=1.1)
    best = fit_parameters(model, data)
    assert best.bestfit[best.index("norm")] == pytest.approx(0.0, abs=1e-3)
    (imp,) = impacts(model, data, best)
    mu_hat = (n - b) / s
    assert imp.name == "norm"
    assert imp.prefit_up == pytest.approx((n - 1.1 * b) / s - mu_hat, abs=1e-3)
    assert imp.prefit_down == pytest.approx((n - 0.9 * b) / s - mu_hat, abs=1e-3)
    # mu absorbs the normalisation: theta is not constrained by the data (post-fit sigma = 1)
    assert imp.constraint == pytest.approx(1.0, abs=1e-2)


def test_cabinetry_fits_the_same_workspace(tmp_path):
    """Cross-check: cabinetry's fit of workspace.json gives the same mu-hat to 1e-4."""
    import cabinetry

    write_root(tmp_path / "histograms.root", toy_templates(mu=1.2, seed=7))
    result = run_fit(
        tmp_path, "score_bdt", tmp_path / "fit", impacts=False, limit=False, plots=False
    )
    spec = json.loads((tmp_path / "fit" / "workspace.json").read_text())
    model, data = cabinetry.model_utils.model_and_data(spec)
    ref = cabinetry.fit.fit(model, data)
    i = ref.labels.index("mu")
    assert result.mu == pytest.approx(ref.bestfit[i], abs=1e-4)
    assert result.mu_uncertainty == pytest.approx(ref.uncertainty[i], rel=1e-2)
    fit_json = json.loads((tmp_path / "fit" / "fit.json").read_text())
    for name, label in zip(ref.labels, ref.labels, strict=True):
        j = ref.labels.index(label)
        assert fit_json["parameters"][name]["value"] == pytest.approx(ref.bestfit[j], abs=2e-3)
