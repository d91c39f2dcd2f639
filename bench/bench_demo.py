"""The first impression: ``hepml-coffea demo`` at its default size, step by step.

    python bench/bench_demo.py [--events N]

Times every step of :func:`hepml_coffea.workflows.run_demo` (generate, run, train BDT and DNN,
evaluate, apply, plot, fit) and returns the total without ``generate`` (the samples are cached in
``bench/results/``; a new user pays for generating them once), ``evaluate`` alone, and ``plot``
per PNG. Goals (issue "Results you can trust"): whole demo ≤ 90 s, ``evaluate`` ≤ 15 s,
``plot`` ≤ 0.25 s per PNG, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def bench_demo(n_events: int = 100_000) -> dict[str, float]:
    """Run the demo into a temporary folder on cached generated samples; return its timings."""
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_demo

    sample = RESULTS / f"demo_sample_{n_events}"
    fileset = sample / "fileset.json"
    t0 = time.perf_counter()
    if not fileset.is_file():
        generate(sample, n_events=n_events, seed=42, compression="zstd", progress=False)
    t_generate = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp:
        out = Path(tmp) / "demo"
        t0 = time.perf_counter()
        report = run_demo(out, fileset=fileset, progress=False)
        total = time.perf_counter() - t0
        text = report.read_text()
        timings = _timings(text)
        n_png = len(list((out / "apply" / "plots").glob("*.png")))
        fit = json.loads((out / "fit" / "fit.json").read_text())
        shutil.rmtree(out, ignore_errors=True)
    return {
        "n_events": n_events,
        "demo_s": round(total, 1),
        "generate_s_first_time": round(t_generate, 1),
        "evaluate_s": timings.get("evaluate", float("nan")),
        "plot_s": timings.get("plot", float("nan")),
        "plot_s_per_png": round(timings.get("plot", float("nan")) / max(n_png, 1), 3),
        "fit_s": timings.get("fit", float("nan")),
        "steps": timings,
        "mu": fit["mu"]["value"],
        "mu_uncertainty": fit["mu"]["uncertainty"],
    }


def _timings(report: str) -> dict[str, float]:
    """The ``| step | s |`` table of report.md."""
    out: dict[str, float] = {}
    in_table = False
    for line in report.splitlines():
        if line.startswith("## Timings"):
            in_table = True
        elif in_table and line.startswith("| ") and not line.startswith("| step"):
            step, value = (c.strip() for c in line.strip("|").split("|")[:2])
            if step != "total":
                out[step] = float(value)
        elif in_table and line.startswith("## "):
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    print(json.dumps(bench_demo(args.events), indent=1))


if __name__ == "__main__":
    main()
