"""Injection: the fit recovers an injected signal strength and an injected JES shift.

Pseudo-data are drawn from the model's own templates (Poisson of MU·s + b per bin); the
end-to-end version through ``generate --signal-strength`` lives in tests/workflows/test_fit.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import toy_templates

from hepml_coffea.statistics import FitConfig, Templates, build_workspace, fit_parameters
from hepml_coffea.statistics.inference import sample_toys
from hepml_coffea.workflows.fit import load_workspace


def _fit(t: Templates):
    spec, *_ = build_workspace(t, FitConfig())
    _, model, data = load_workspace(spec)
    return fit_parameters(model, data)


@pytest.mark.parametrize("mu", [0.0, 1.0, 1.5])
def test_asimov_injection_is_recovered_exactly(mu):
    best = _fit(toy_templates(mu=mu))
    i = best.index("mu")
    assert best.bestfit[i] == pytest.approx(mu, abs=2e-3)
    assert 0.02 < best.uncertainty[i] < 0.5


@pytest.mark.parametrize(("mu", "seed"), [(0.0, 11), (1.0, 12), (1.5, 13)])
def test_poisson_injection_within_two_sigma(mu, seed):
    best = _fit(toy_templates(mu=mu, seed=seed))
    i = best.index("mu")
    assert abs(best.bestfit[i] - mu) < 2 * best.uncertainty[i]


def test_pulls_over_toys():
    """60 toys at MU = 1 (main bins and auxiliary measurements drawn from the model): the pull
    (mu-hat - MU)/sigma has mean 0 ± 0.3 and width 1 ± 0.3.

    60 toys, not 20: the mean of N pulls scatters by 1/sqrt(N), 0.13 here (0.22 with 20, so
    that ± 0.3 would fail for one seed in five of a correct fit).
    """
    spec, *_ = build_workspace(toy_templates(), FitConfig())
    _, model, _ = load_workspace(spec)
    toys = sample_toys(model, 1.0, 60, seed=7)
    assert toys.shape == (60, len(model.config.auxdata) + 10)
    pulls = []
    for data in toys:
        best = fit_parameters(model, data)
        i = best.index("mu")
        pulls.append((best.bestfit[i] - 1.0) / best.uncertainty[i])
    pulls = np.asarray(pulls)
    assert abs(pulls.mean()) < 0.3
    assert abs(pulls.std(ddof=1) - 1.0) < 0.3
    # the same seed gives the same toys, and numpy's global generator is left as it was
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    np.testing.assert_array_equal(sample_toys(model, 1.0, 60, seed=7), toys)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def _jes_shifted(seed: int | None) -> Templates:
    """Templates whose data are the JES-up prediction (signal at MU = 1), Poisson or Asimov."""
    t = toy_templates()
    rng = np.random.default_rng(seed)
    for region in ("SR", "CR"):
        expected = sum(t.get(region, p, "JESUp") for p in ("ttbar", "wjets", "single_top"))
        data = rng.poisson(expected).astype(float) if seed is not None else expected
        t.add(region, "data", "nominal", data, data)
    return t


def test_jes_shape_injection():
    """Data = the JES-up prediction. With the JES auxiliary measurement also at +1 the fit returns
    theta_JES = +1 exactly; with it at 0 (what the data of an experiment are) the constraint pulls
    it back to the Gaussian combination theta = 1 - sigma_post^2, within sigma_post of +1."""
    t = _jes_shifted(None)
    spec, *_ = build_workspace(t, FitConfig())
    _, model, data = load_workspace(spec)
    order = model.config.auxdata_order
    aux_at = sum(model.config.param_set(n).n_parameters for n in order[: order.index("JES")])
    shifted = np.asarray(data, dtype=float)
    assert shifted[model.config.nmaindata + aux_at] == 0.0
    shifted[model.config.nmaindata + aux_at] = 1.0
    best = fit_parameters(model, shifted)
    i = best.index("JES")
    assert best.bestfit[i] == pytest.approx(1.0, abs=0.02)
    assert best.bestfit[best.index("mu")] == pytest.approx(1.0, abs=0.02)
    best = fit_parameters(model, data)
    theta, sigma = best.bestfit[i], best.uncertainty[i]
    assert sigma < 0.6  # the data constrain JES
    assert theta == pytest.approx(1 - sigma**2, abs=0.05)
    assert abs(theta - 1.0) < sigma
    best = _fit(_jes_shifted(5))  # with Poisson noise
    assert abs(best.bestfit[i] - 1.0) < 2 * best.uncertainty[i]
    assert best.bestfit[i] > 0
