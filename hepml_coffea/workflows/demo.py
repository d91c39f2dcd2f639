"""The main job, ``hepml-coffea demo``: from NanoAOD to a fitted signal strength in one command.

Steps, each a library call that the other subcommands also make:

1. ``generate`` NanoAOD-schema files (the offline default; ZSTD for speed) — or take the user's
   own coffea fileset (``--fileset``) and analysis (``--analysis``);
2. ``run`` the analysis → cutflow, region × process × variation histograms, training tables;
3. ``train`` a BDT and a DNN (analyses with a ``features`` list);
4. ``evaluate`` both → ROC/AUC, overtraining, significance scan, ...;
5. ``apply`` both inside the processor → score histograms with every systematic variation;
6. ``plot`` the data/MC histograms;
7. ``fit`` the signal strength on the BDT score with pyhf (analyses with a ``[fit]`` table);
8. write ``report.md``: μ̂, the significance, the limit, the ML figures and every PNG.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_EVENTS", "run_demo"]

DEFAULT_EVENTS = 100_000  # per MC process
ANALYSIS = "ttbar_ljets"
MODELS = ("bdt", "dnn")


def run_demo(
    out: str | os.PathLike = "demo_out",
    *,
    fileset: str | os.PathLike | None = None,
    analysis: str | os.PathLike = ANALYSIS,
    n_events: int | None = None,
    seed: int = 42,
    executor: str = "futures",
    workers: int = 2,
    chunksize: int = 100_000,
    overrides: Sequence[str] = (),
    models: Sequence[str] = MODELS,
    fit_observable: str | None = None,
    progress: bool = True,
) -> Path:
    """Run the whole chain into ``out``; return the path of ``report.md``.

    Parameters
    ----------
    out : path
        Output folder (created).
    fileset : path, optional
        A coffea fileset JSON of the user's own samples; default: generate samples offline.
    analysis : str or path
        Analysis name or folder (default ``ttbar_ljets``).
    n_events : int, optional
        Events per generated MC process (default :data:`DEFAULT_EVENTS`); unused with ``fileset``.
    seed : int
        Generator and training seed.
    executor, workers, chunksize
        coffea execution of the ``run`` and ``apply`` steps.
    overrides : sequence of str
        ``key=value`` analysis configuration overrides for every step.
    models : sequence of str
        Model kinds to train and apply (``bdt``, ``dnn``, ...); the first one's score is fitted.
    fit_observable : str, optional
        Histogram to fit (default ``score_<first model>``, or the first histogram of a ``run``
        without models).
    progress : bool
        Progress bars and step messages.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.datasets import generate
    from hepml_coffea.processing.options import ExecutionOptions
    from hepml_coffea.workflows import (
        apply_models,
        evaluate_models,
        plot_outputs,
        run_analysis,
        train_model,
    )
    from hepml_coffea.workflows.fit import run_fit

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = DEFAULT_EVENTS if n_events is None else int(n_events)
    options = ExecutionOptions(
        executor=executor, workers=workers, chunksize=chunksize, progress=progress
    )
    sets = list(overrides)
    cfg = load_analysis(analysis, overrides=sets)
    has_features = bool(cfg.get("features", None))
    has_fit = bool(cfg.get("fit", None))
    if has_features and "training.random_state" not in {o.split("=")[0] for o in sets}:
        sets.append(f"training.random_state={seed}")
    timings: dict[str, float] = {}

    def step(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if progress:
            print(f"[demo] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        if progress and isinstance(result, str):
            print(f"[demo] {result}", flush=True)
        return result

    def say(text: str) -> None:
        if progress:
            print(f"[demo] {text}", flush=True)

    if fileset is None:
        fileset = step(
            "generate",
            generate,
            out / "samples",
            n_events=n,
            seed=seed,
            compression="zstd",
            progress=progress,
        )
    step("run", run_analysis, analysis, fileset, out / "run", overrides=sets, options=options)
    final = out / "run"
    model_dirs: list[Path] = []
    if has_features and models:
        model_dirs = [out / "models" / m for m in models]
        for m, d in zip(models, model_dirs, strict=True):
            step(
                f"train {m}", train_model, analysis, out / "run", m, d,
                overrides=sets, progress=progress,
            )  # fmt: skip
        step(
            "evaluate",
            evaluate_models,
            model_dirs,
            out / "run",
            out / "evaluation",
            progress=progress,
        )
        step(
            "apply", apply_models, analysis, fileset, model_dirs, out / "apply",
            overrides=sets, options=options,
        )  # fmt: skip
        final = out / "apply"
    elif not has_features:
        say(f"analysis {cfg.name!r} has no `features` list: train, evaluate and apply are skipped")
    step("plot", plot_outputs, final, progress=progress)
    if has_fit:
        observable = fit_observable or (f"score_{models[0]}" if model_dirs else None)
        if observable is None:
            say("no model and no --fit-observable: the fit is skipped")
        else:
            # the impact ranking and the CLs limits refit the model once per parameter and per
            # mu: minutes, not seconds; `hepml-coffea fit` computes them
            result = step(
                "fit", run_fit, final, observable, out / "fit", impacts=False, limit=False
            )
            say(result.summary())
    else:
        say(f"analysis {cfg.name!r} has no [fit] table: the fit is skipped")
    report = write_report(out, timings)
    if progress:
        print(f"[demo] done in {sum(timings.values()):.0f} s → {report}", flush=True)
    return report


def write_report(out: Path, timings: dict[str, float] | None = None) -> Path:
    """``out/report.md``: the fit result, the ML summary table, the cutflow and every PNG."""
    run = json.loads((out / "run" / "run.json").read_text())
    lumi = float(run.get("lumi") or 0.0)
    lines = [
        "# hepml-coffea demo report",
        "",
        f"Analysis `{run.get('analysis', '?')}`; luminosity {lumi:.4g} pb⁻¹.",
    ]
    fit_json = out / "fit" / "fit.json"
    if fit_json.is_file():
        lines += ["", *_fit_lines(json.loads(fit_json.read_text()))]
    ev_json = out / "evaluation" / "evaluation.json"
    if ev_json.is_file():
        lines += ["", *_ml_lines(json.loads(ev_json.read_text()))]
    lines += ["", *_cutflow_lines(out, run)]
    if timings:
        lines += ["", "## Timings (s)", "", "| step | s |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in timings.items()]
        lines.append(f"| total | {sum(timings.values()):.1f} |")
    for title, folder in (
        ("Fit", out / "fit" / "plots"),
        ("Evaluation", out / "evaluation" / "plots"),
        ("Data/MC after apply", out / "apply" / "plots"),
        ("Data/MC", out / "run" / "plots"),
    ):
        pngs = sorted(folder.glob("*.png"))
        if not pngs:
            continue
        lines += ["", f"## {title}", ""]
        lines += [f"- [{p.stem}]({p.relative_to(out).as_posix()})" for p in pngs]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _fit_lines(fit: dict[str, Any]) -> list[str]:
    mu, err = (fit.get("mu") or {}).get("value"), (fit.get("mu") or {}).get("uncertainty")
    sig = fit.get("significance") or {}
    lim = fit.get("upper_limit_95cl") or {}
    return [
        "## Fitted signal strength",
        "",
        "Profile-likelihood fit with pyhf of the histograms of every region, with the systematic "
        "variations as nuisance parameters (`fit/workspace.json` opens with plain pyhf).",
        "",
        "| μ̂ | significance observed | expected | 95% CL limit on μ observed | expected |",
        "|---|---|---|---|---|",
        f"| {_f(mu)} ± {_f(err)} | {_f(sig.get('observed'), 2)} σ | {_f(sig.get('expected'), 2)} σ "
        f"| {_f(lim.get('observed'), none='not computed')} "
        f"| {_f(lim.get('expected'), none='not computed')} |",
        "",
        "Plots: `fit/plots/` (pre- and post-fit data/MC per region, pulls). The demo skips the "
        "impact ranking and the CLs limit (each refits the model many times); "
        "`hepml-coffea fit DIR --observable score_bdt --out fit` computes both.",
    ]


def _ml_lines(ev: dict[str, Any]) -> list[str]:
    lines = [
        "## Classifiers",
        "",
        "Expected significances are Asimov Z = √(2((s+b)ln(1+s/b) − s)) on the test events, scaled "
        "to the full luminosity; the cut-based selection is the analysis selection alone.",
        "",
        "| model | test AUC | KS p (signal) | KS p (background) | optimal cut | Z at optimal cut "
        "| Z cut-based | gain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in (ev.get("models") or {}).items():
        ks = r.get("ks") or {}
        zo, zb = r.get("z_optimal"), r.get("z_baseline")
        gain = f"{zo / zb:.2f}×" if zo and zb else "n/a"
        lines.append(
            f"| {name} | {_f(r.get('auc_test'), 4)} | {_p(ks.get('signal', {}).get('pvalue'))} | "
            f"{_p(ks.get('background', {}).get('pvalue'))} | {_f(r.get('optimal_cut'))} | "
            f"{_f(zo, 2)} | {_f(zb, 2)} | {gain} |"
        )
    return lines


def _cutflow_lines(out: Path, run: dict[str, Any]) -> list[str]:
    flows_path = out / "run" / "cutflow.json"
    if not flows_path.is_file():
        return []
    flows = json.loads(flows_path.read_text())
    cuts: list[str] = list(run.get("cut_names") or next(iter(flows.values()), {}).keys())
    lines = ["## Cutflow (events / weighted)", "", "| dataset | " + " | ".join(cuts) + " |"]
    lines.append("|---|" + "---|" * len(cuts))
    for ds, flow in flows.items():
        cells = [
            f"{flow[c]['events']:,} / {flow[c]['weighted']:.4g}" if c in flow else "" for c in cuts
        ]
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    return lines


def _f(x: float | None, digits: int = 3, none: str = "n/a") -> str:
    return none if x is None else f"{x:.{digits}f}"


def _p(x: float | None) -> str:
    """A p-value: scientific notation below 1e-3, so that 1.7e-9 does not print as 0.000."""
    if x is None:
        return "n/a"
    return f"{x:.2e}" if x < 1e-3 else f"{x:.3f}"
