"""Time of the profile-likelihood fit (issue 12: "the fit of the demo workspace, aiming at <= 10 s").

Generates ``n_events`` per MC process (cached in ``bench/results/fit_<n>``), runs ``ttbar_ljets``
with every configured systematic (the generator's corrections.json), then times ``run_fit`` on
``observable`` (two regions, every systematic as normsys + histosys, staterror, lumi), step by
step: building the workspace, the maximum-likelihood fit, the significance, the CLs limits, the
impacts and the plots. Prints one JSON line.

    python bench/bench_fit.py --events 20000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _run_dir(n_events: int) -> Path:
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_analysis

    base = RESULTS / f"fit_{n_events}"
    run_dir = base / "run"
    if (run_dir / "run.json").is_file():
        return run_dir
    fileset = generate(base / "gen", n_events=n_events, seed=42, compression="zstd", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_analysis(
            "ttbar_ljets",
            fileset,
            run_dir,
            executor="iterative",
            progress=False,
            overrides=[f"systematics.corrections={base / 'gen' / 'corrections.json'}"],
        )
    return run_dir


def bench_fit(n_events: int = 20_000, observable: str = "m_jjb", rebin: int = 5) -> dict:
    """Seconds per step of ``run_fit`` and the model's size."""
    from hepml_coffea.workflows.fit import run_fit

    run_dir = _run_dir(n_events)
    out = run_dir.parent / "fit"
    shutil.rmtree(out, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_fit(run_dir, observable, out, overrides=[f"rebin={rebin}"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    spec = json.loads((out / "workspace.json").read_text())
    t = result.timings
    return {
        "n_events": n_events,
        "observable": observable,
        "channels": len(spec["channels"]),
        "bins": sum(len(c["samples"][0]["data"]) for c in spec["channels"]),
        "parameters": len(result.parameters.labels),
        "mu": result.mu,
        "mu_uncertainty": result.mu_uncertainty,
        "build_s": t.get("build"),
        "fit_s": t.get("fit"),
        "significance_s": t.get("significance"),
        "limit_s": t.get("limit"),
        "impacts_s": t.get("impacts"),
        "plots_s": t.get("plots"),
        "fit_and_significance_s": t.get("build", 0) + t.get("fit", 0) + t.get("significance", 0),
        "total_s": wall,
        "total_cpu_s": cpu,  # on a shared machine the CPU time is the fairer figure
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="MC events per process")
    parser.add_argument("--observable", default="m_jjb")
    parser.add_argument("--rebin", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(bench_fit(args.events, args.observable, args.rebin)))


if __name__ == "__main__":
    main()
