"""The main job, ``hepml-coffea demo``: from nothing to a CMS-style result on the embedded default.

Steps, each a library call that the other subcommands also make:

1. ``generate`` NanoAOD-schema files (the offline default; ZSTD for speed);
2. ``run`` ``ttbar_ljets`` → cutflow, histograms, training tables;
3. ``train`` a BDT and a DNN;
4. ``evaluate`` both → ROC/AUC, overtraining, significance scan, ...;
5. ``apply`` both inside the processor → scores, histograms after the score cut, friend trees;
6. ``plot`` the data/MC histograms;
7. write ``report.md`` linking every PNG, with a summary table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["DEFAULT_EVENTS", "run_demo"]

DEFAULT_EVENTS = 100_000  # per MC process: a few minutes on 2 cores
ANALYSIS = "ttbar_ljets"
MODELS = ("bdt", "dnn")


def run_demo(
    out: str | os.PathLike = "demo_out",
    *,
    n_events: int | None = None,
    seed: int = 42,
    executor: str = "futures",
    workers: int = 2,
    chunksize: int = 100_000,
    overrides: tuple[str, ...] = (),
    progress: bool = True,
) -> Path:
    """Run the whole chain into ``out``; return the path of ``report.md``.

    Parameters
    ----------
    out : path
        Output folder (created).
    n_events : int, optional
        Events per MC process (default :data:`DEFAULT_EVENTS`).
    seed : int
        Generator and training seed.
    executor, workers, chunksize
        coffea execution of the ``run`` and ``apply`` steps.
    overrides : tuple of str
        ``key=value`` analysis configuration overrides for every step (e.g. smaller DNN epochs).
    progress : bool
        Progress bars and step messages.
    """
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import (
        apply_models,
        evaluate_models,
        plot_outputs,
        run_analysis,
        train_model,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = DEFAULT_EVENTS if n_events is None else int(n_events)
    ex = {"executor": executor, "workers": workers, "chunksize": chunksize, "progress": progress}
    sets = [f"training.random_state={seed}", *overrides]
    timings: dict[str, float] = {}

    def step(name: str, func, *args, **kwargs):
        if progress:
            print(f"[demo] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        if progress and isinstance(result, str):
            print(f"[demo] {result}", flush=True)
        return result

    fileset = step(
        "generate",
        generate,
        out / "samples",
        n_events=n,
        seed=seed,
        compression="zstd",
        progress=progress,
    )
    step("run", run_analysis, ANALYSIS, fileset, out / "run", overrides=sets, **ex)
    model_dirs = [out / "models" / m for m in MODELS]
    for m, d in zip(MODELS, model_dirs, strict=True):
        step(
            f"train {m}",
            train_model,
            ANALYSIS,
            out / "run",
            m,
            d,
            overrides=sets,
            progress=progress,
        )
    step(
        "evaluate", evaluate_models, model_dirs, out / "run", out / "evaluation", progress=progress
    )
    step("apply", apply_models, ANALYSIS, fileset, model_dirs, out / "apply", overrides=sets, **ex)
    step("plot", plot_outputs, out / "apply", progress=progress)
    report = write_report(out, timings)
    if progress:
        print(f"[demo] done in {sum(timings.values()):.0f} s → {report}", flush=True)
    return report


def write_report(out: Path, timings: dict[str, float] | None = None) -> Path:
    """``out/report.md``: summary table (AUC, KS p-values, optimal cut, Z vs cut-based) and every PNG."""
    ev = json.loads((out / "evaluation" / "evaluation.json").read_text())
    run = json.loads((out / "run" / "run.json").read_text())
    lines = [
        "# hepml-coffea demo report",
        "",
        f"Analysis `{run['analysis']}` on generated NanoAOD; luminosity {float(run['lumi']):.4g} pb⁻¹. "
        "Expected significances are Asimov Z = √(2((s+b)ln(1+s/b) − s)) on the test events, scaled to the "
        "full luminosity; the cut-based selection is `ttbar_ljets` alone (1 lepton, ≥4 jets, ≥1 b-tag).",
        "",
        "| model | test AUC | KS p (signal) | KS p (background) | optimal cut | Z at optimal cut | Z cut-based | gain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in ev["models"].items():
        ks = r.get("ks") or {}
        zo, zb = r.get("z_optimal"), r.get("z_baseline")
        gain = f"{zo / zb:.2f}×" if zo and zb else "n/a"
        lines.append(
            f"| {name} | {r['auc_test']:.4f} | {_f(ks.get('signal', {}).get('pvalue'))} | "
            f"{_f(ks.get('background', {}).get('pvalue'))} | {_f(r.get('optimal_cut'))} | {_f(zo, 2)} | {_f(zb, 2)} | {gain} |"
        )
    lines += [
        "",
        "## Cutflow (events / weighted)",
        "",
        "| dataset | " + " | ".join(run["cut_names"]) + " |",
    ]
    lines.append("|---|" + "---|" * len(run["cut_names"]))
    flows = json.loads((out / "run" / "cutflow.json").read_text())
    for ds, cuts in flows.items():
        cells = [
            f"{cuts[c]['events']:,} / {cuts[c]['weighted']:.4g}"
            for c in run["cut_names"]
            if c in cuts
        ]
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    if timings:
        lines += ["", "## Timings (s)", "", "| step | s |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in timings.items()]
    for title, folder in (
        ("Evaluation", out / "evaluation" / "plots"),
        ("Data/MC after apply", out / "apply" / "plots"),
    ):
        lines += ["", f"## {title}", ""]
        for png in sorted(folder.glob("*.png")):
            rel = png.relative_to(out).as_posix()
            lines.append(f"- [{png.stem}]({rel})")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"
