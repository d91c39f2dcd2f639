"""The ``fit`` step: a profile-likelihood fit of the signal strength to a ``run``/``apply`` output.

``run_fit(DIR, "score_bdt", OUT)`` reads the ``score_bdt/<region>/<process>/<variation>``
histograms of ``DIR/histograms.root``, builds the HistFactory model
(:func:`hepml_coffea.statistics.build_workspace`, settings from the ``[fit]`` table that ``run``
recorded in ``DIR/run.json``, plus overrides), fits it to the data with pyhf and writes to OUT:

- ``workspace.json`` — the pyhf workspace (``pyhf.Workspace(json.load(f))`` loads it);
- ``fit.json`` — μ̂ ± σ, every parameter's best fit ± uncertainty, the correlation matrix,
  observed and expected significance, observed and expected 95 % CL CLs upper limits on μ,
  the impacts, what was pruned, timings;
- ``plots/`` — ``prefit_<region>.png``, ``postfit_<region>.png``, ``pulls.png``, ``impacts.png``.

``DIR`` may also be a ``workspace.json`` (e.g. edited by hand): it is fitted as it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyhf

from hepml_coffea.errors import ConfigError, InputFileError
from hepml_coffea.statistics import inference
from hepml_coffea.statistics.model import FitConfig, PruningEntry, build_workspace
from hepml_coffea.statistics.templates import read_templates
from hepml_coffea.workflows.outputs import write_json

__all__ = ["FitResult", "load_fit_config", "load_workspace", "run_fit"]


@dataclass
class FitResult:
    """Everything ``run_fit`` measured (also written to ``fit.json``)."""

    mu: float
    mu_uncertainty: float
    parameters: inference.FitParameters
    significance_observed: float | None
    significance_expected: float | None
    limit_observed: float | None
    limit_expected: list[float | None]  # −2σ, −1σ, median, +1σ, +2σ
    impacts: list[inference.Impact] = field(default_factory=list)
    pruning: list[PruningEntry] = field(default_factory=list)
    out: Path = Path()
    plots: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # steps that failed (their results are None)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``fit.json``."""
        p = self.parameters
        exp = self.limit_expected
        return {
            "mu": {"value": self.mu, "uncertainty": self.mu_uncertainty},
            "parameters": {
                name: {"value": float(v), "uncertainty": float(e)}
                for name, v, e in zip(p.labels, p.bestfit, p.uncertainty, strict=True)
            },
            "correlation": {"labels": p.labels, "matrix": p.correlation},
            "twice_nll": p.twice_nll,
            "significance": {
                "observed": self.significance_observed,
                "expected": self.significance_expected,
                "p_value_observed": _p(self.significance_observed),
                "p_value_expected": _p(self.significance_expected),
            },
            "upper_limit_95cl": {
                "observed": self.limit_observed,
                "expected": exp[2],
                "expected_band": dict(
                    zip(("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"), exp, strict=True)
                ),
            },
            "impacts": [dataclasses.asdict(i) for i in self.impacts],
            "pruning": [dataclasses.asdict(e) for e in self.pruning],
            "plots": [p.name for p in self.plots],
            "timings_s": self.timings,
            "problems": self.problems,
        }

    def summary(self) -> str:
        """One line for the terminal."""
        lim = "n/a" if self.limit_observed is None else f"{self.limit_observed:.3g}"
        exp = "n/a" if self.limit_expected[2] is None else f"{self.limit_expected[2]:.3g}"
        z_obs, z_exp = (
            "n/a" if z is None else f"{z:.2f}σ"
            for z in (self.significance_observed, self.significance_expected)
        )
        return (
            f"mu = {self.mu:.3f} ± {self.mu_uncertainty:.3f}; significance {z_obs} "
            f"observed ({z_exp} expected); 95% CL limit mu < {lim} "
            f"(expected {exp}); {len(self.plots)} plots → {self.out}/"
        )


def load_fit_config(
    folder: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()
) -> FitConfig:
    """The ``[fit]`` settings recorded by ``run`` in ``folder/run.json`` (defaults if none), with ``key=value`` overrides."""
    from hepml_coffea.config import apply_overrides

    table: dict[str, Any] = {}
    run_json = Path(folder) / "run.json" if folder is not None else None
    if run_json is not None and run_json.is_file():
        info = json.loads(run_json.read_text())
        table = dict((info.get("config") or {}).get("fit") or {})
    base = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(FitConfig()).items()
    }
    base.update(table)
    merged = apply_overrides(
        {"fit": base},
        [o if o.startswith("fit.") else f"fit.{o}" for o in overrides],
        source="the [fit] table",
    )
    return FitConfig.from_mapping(merged["fit"], source=f"[fit] of {run_json or 'the defaults'}")


def load_workspace(spec: dict[str, Any] | str | os.PathLike, name: str = "the workspace"):
    """A ``pyhf.Workspace`` from a spec or a JSON file; ConfigError (one line) if pyhf rejects it."""
    import pyhf

    if not isinstance(spec, dict):
        path = Path(spec)
        name = str(path)
        try:
            spec = json.loads(path.read_text())
        except OSError as exc:
            msg = (
                f"cannot read {path}: {exc.strerror}; give a workspace.json or a run output folder."
            )
            raise InputFileError(msg) from None
        except json.JSONDecodeError as exc:
            msg = f"{path} is not JSON ({exc.msg} at line {exc.lineno}); give a pyhf workspace."
            raise ConfigError(msg) from None
    try:
        ws = pyhf.Workspace(spec)
        model = ws.model()
        data = ws.data(model)
    except Exception as exc:  # pyhf raises InvalidSpecification, InvalidModel, KeyError ...
        text = " ".join(str(exc).split())[:300]
        msg = f"pyhf rejects {name}: {type(exc).__name__}: {text}. Fix the workspace (see the pyhf JSON schema)."
        raise ConfigError(msg) from None
    return ws, model, data


def run_fit(
    input_dir: str | os.PathLike,
    observable: str | None,
    out: str | os.PathLike,
    *,
    config: FitConfig | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    impacts: bool = True,
    limit: bool = True,
    plots: bool = True,
    lumi: float | None = None,
) -> FitResult:
    """Build the model, fit it to the data and write ``workspace.json``, ``fit.json`` and plots.

    Parameters
    ----------
    input_dir : path
        Output folder of ``run`` or ``apply`` (holding ``histograms.root``), or a
        ``workspace.json`` to fit as it is.
    observable : str or None
        Histogram to fit, e.g. ``"score_bdt"`` (ignored for a workspace file).
    out : path
        Output folder (created).
    config : FitConfig, optional
        Model settings; default from ``input_dir/run.json`` (``[fit]``) and ``overrides``.
    overrides : list of str
        ``key=value`` changes of the ``[fit]`` settings (``signal=["ttbar"]``, ``lumi_uncertainty=0``).
    impacts, limit, plots : bool
        Whether to compute the impact ranking, the CLs limits, and draw the plots.
    lumi : float, optional
        Luminosity label in fb⁻¹ (default: from ``run.json``).

    Returns
    -------
    FitResult
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    source = Path(input_dir)
    out = Path(out)
    pruning: list[PruningEntry] = []
    templates = None
    bins = None
    cfg: FitConfig | None = None
    if source.is_file():
        ws, model, data = load_workspace(source)
        spec = dict(ws)
    else:
        if not source.is_dir():
            msg = f"{source} does not exist; give the output folder of `run`/`apply` or a workspace.json."
            raise InputFileError(msg)
        if observable is None:
            msg = "give the observable to fit (--observable, e.g. score_bdt)."
            raise ConfigError(msg)
        cfg = config if config is not None else load_fit_config(source, overrides)
        templates = read_templates(source / "histograms.root", observable)
        spec, pruning, bins = build_workspace(templates, cfg)
        templates = templates.rebinned(cfg.rebin)  # as in the model, for the plots
        ws, model, data = load_workspace(spec, f"the workspace built from {source}")
        if lumi is None:
            lumi = _lumi_fb(source)
    timings["build"] = time.perf_counter() - t0

    t = time.perf_counter()
    try:
        best = inference.fit_parameters(model, data)
    except pyhf.exceptions.FailedMinimization as exc:
        msg = (
            f"the fit of {source} did not converge ({exc}); bins with data but a tiny prediction "
            "are the usual cause: merge bins with --set rebin=N or choose fewer regions."
        )
        raise ConfigError(msg) from None
    poi = model.config.poi_index
    timings["fit"] = time.perf_counter() - t
    problems: list[str] = []
    t = time.perf_counter()
    z_obs: float | None = None
    z_exp: float | None = None
    try:
        z_obs, z_exp = inference.significance(model, data)
        if z_exp is None:
            problems.append(
                "expected significance: the background-only fit to the mu = 1 Asimov data "
                "failed (nuisance parameters at their bounds: the expected significance is huge)"
            )
    except pyhf.exceptions.FailedMinimization as exc:
        problems.append(
            f"significance: the background-only fit failed ({exc}); bins with data but only "
            "signal MC make it undefined: merge them with --set rebin=N"
        )
    timings["significance"] = time.perf_counter() - t
    lim_obs: float | None = None
    lim_exp: list[float | None] = [None] * 5
    if limit:
        t = time.perf_counter()
        try:
            lim_obs, lim_exp = inference.upper_limit(
                model, data, guess=max(best.bestfit[poi], 0.0) + 2 * best.uncertainty[poi]
            )
        except pyhf.exceptions.FailedMinimization as exc:
            problems.append(f"upper limit: a fit failed ({exc})")
        timings["limit"] = time.perf_counter() - t
    ranked: list[inference.Impact] = []
    if impacts:
        t = time.perf_counter()
        try:
            ranked = inference.impacts(model, data, best)
        except pyhf.exceptions.FailedMinimization as exc:
            problems.append(f"impacts: a fit failed ({exc})")
        timings["impacts"] = time.perf_counter() - t
    for problem in problems:
        warnings.warn(f"fit of {source}: {problem}; reported as null in fit.json.", stacklevel=2)

    result = FitResult(
        mu=float(best.bestfit[poi]),
        mu_uncertainty=float(best.uncertainty[poi]),
        parameters=best,
        significance_observed=z_obs,
        significance_expected=z_exp,
        limit_observed=lim_obs,
        limit_expected=lim_exp,
        impacts=ranked,
        pruning=pruning,
        problems=problems,
        out=out,
        timings=timings,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "workspace.json", spec)
    if plots:
        from hepml_coffea.workflows.fit_plots import draw_fit_plots

        t = time.perf_counter()
        labels, colors = _process_styles(source) if source.is_dir() else ({}, {})
        result.plots = draw_fit_plots(
            model,
            data,
            best,
            ranked,
            templates,
            out / "plots",
            lumi=lumi,
            status=_status(source),
            bins=bins,
            labels=labels,
            colors=colors,
        )
        timings["plots"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    info = {
        "input": os.fspath(source),
        "observable": observable if templates is not None else None,
        "config": dataclasses.asdict(cfg) if cfg is not None else None,
        "bins": bins,
        **result.to_dict(),
    }
    write_json(out / "fit.json", info)
    return result


def _p(z: float | None) -> float | None:
    return None if z is None else inference.p_value(z)


def _process_styles(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Legend labels and colours per process from the ``[processes]`` table recorded in run.json."""
    run_json = folder / "run.json"
    if not run_json.is_file():
        return {}, {}
    table = (json.loads(run_json.read_text()).get("config") or {}).get("processes") or {}
    labels = {p: str(v["label"]) for p, v in table.items() if isinstance(v, dict) and "label" in v}
    colors = {p: str(v["color"]) for p, v in table.items() if isinstance(v, dict) and "color" in v}
    return labels, colors


def _status(source: Path) -> str | None:
    """ "Simulation" when the run's data are generated pseudo-data (as `plot` says), else the
    default label."""
    run_json = source / "run.json" if source.is_dir() else None
    if run_json is None or not run_json.is_file():
        return None
    from hepml_coffea.workflows.plots import is_pseudo_data

    info = json.loads(run_json.read_text())
    return "Simulation" if is_pseudo_data(info.get("datasets") or {}) else None


def _lumi_fb(folder: Path) -> float | None:
    run_json = folder / "run.json"
    if not run_json.is_file():
        return None
    value = json.loads(run_json.read_text()).get("lumi")
    return float(value) / 1000.0 if value is not None else None
