"""Helpers of the fit tests: templates with the project's histogram naming, written by hand.

``toy_templates`` makes a two-region model (SR, CR) of one observable with ttbar (signal), wjets
and single_top, weight and shape systematics and a one-sided alternative sample; the pseudo-data
is Poisson(MU·s + b) or its expectation. ``write_root`` writes them as
``<observable>/<region>/<process>/<variation>`` TH1s, as ``run`` does.
"""

from __future__ import annotations

from pathlib import Path

import hist
import numpy as np
import uproot

from hepml_coffea.statistics.templates import Templates

EDGES = np.linspace(0.0, 1.0, 6)
SHAPES = {
    # process: {region: nominal yields}
    "ttbar": {"SR": [20.0, 40.0, 80.0, 160.0, 300.0], "CR": [60.0, 70.0, 80.0, 90.0, 100.0]},
    "wjets": {"SR": [300.0, 200.0, 120.0, 60.0, 30.0], "CR": [500.0, 400.0, 300.0, 200.0, 100.0]},
    "single_top": {"SR": [10.0, 12.0, 15.0, 20.0, 25.0], "CR": [5.0, 5.0, 5.0, 5.0, 5.0]},
}
SYSTEMATICS = ("JES", "btag")


def _variations(process: str, nominal: np.ndarray) -> dict[str, np.ndarray]:
    x = np.linspace(-1, 1, nominal.size)
    out = {
        # shape: tilts the distribution by ±8 % across the range, +3 % in yield
        "JESUp": nominal * (1.03 + 0.08 * x),
        "JESDown": nominal * (0.97 - 0.08 * x),
        # pure normalisation, 5 % (2 % for wjets)
        "btagUp": nominal * (1.05 if process != "wjets" else 1.02),
        "btagDown": nominal * (0.95 if process != "wjets" else 0.98),
        "ttbar_tuneUp": nominal * (1.0 + 0.06 * x) if process == "ttbar" else 0 * nominal,
        # negligible: pruned
        "tinyUp": nominal * 1.0001,
        "tinyDown": nominal * 0.9999,
    }
    return out


def toy_templates(
    mu: float = 1.0,
    *,
    seed: int | None = None,
    observable: str = "score_bdt",
    systematics: bool = True,
    mc_stat_scale: float = 0.01,
) -> Templates:
    """Templates with data = Poisson(mu·s + b) (seed given) or its expectation (seed None)."""
    t = Templates(observable, EDGES.copy(), source="toy", xlabel="BDT score")
    rng = np.random.default_rng(seed)
    for region in ("SR", "CR"):
        expected = np.zeros(EDGES.size - 1)
        for process, yields in SHAPES.items():
            nominal = np.asarray(yields[region])
            t.add(region, process, "nominal", nominal, nominal * mc_stat_scale)
            if systematics:
                for name, values in _variations(process, nominal).items():
                    t.add(region, process, name, values, values * mc_stat_scale)
            expected += nominal * (mu if process == "ttbar" else 1.0)
        data = rng.poisson(expected).astype(float) if seed is not None else expected
        t.add(region, "data", "nominal", data, data)
        if systematics:
            for name in _variations("data", expected):
                t.add(region, "data", name, 0 * expected, 0 * expected)
    return t


def write_root(
    path: Path, templates: Templates, *, skip: tuple[str, str, str] | None = None
) -> Path:
    """Write ``templates`` as ``<observable>/<region>/<process>/<variation>`` TH1Ds (Σw² kept)."""
    with uproot.recreate(path) as f:
        for key, values in templates.values.items():
            if key == skip:
                continue
            h = hist.Hist(
                hist.axis.Variable(templates.edges, name="x", label=templates.xlabel),
                storage=hist.storage.Weight(),
            )
            h.view().value = values
            h.view().variance = templates.variances[key]
            f["/".join((templates.observable, *key))] = h
    return path
