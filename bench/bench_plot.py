"""``plot`` speed: seconds per PNG on an output folder shaped like the demo's (goal ≤ 0.25 s).

The folder is written with the engine's own writers (``histograms.json`` + ``histograms.root``,
``run.json``, ``cutflow.json``): ``--observables`` observables × 2 regions × 4 MC processes and
pseudo-data, with JES up/down variations that ``plot`` skips. Prints the wall time per PNG and
its ratio to the goal, and the CPU time per PNG (all processes): on a shared, loaded machine the
wall time grows with the load, the CPU time much less; CPU time / PNG ÷ cores is what the wall
time per PNG would be on idle cores.

    python bench/bench_plot.py                  # 49 observables x 2 regions = 98 PNGs + cutflow
    python bench/bench_plot.py --observables 10 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_S_PER_PNG = 0.25


def make_output(folder: Path, n_observables: int = 49, seed: int = 1) -> Path:
    """A run output folder with ``n_observables`` (region, process, variation, x) histograms."""
    import hist

    from hepml_coffea.workflows.outputs import write_histograms, write_json, write_uhi_json

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    processes = {
        "ttbar": (0.4, 20000),
        "wjets": (1.5, 15000),
        "single_top": (0.3, 4000),
        "dy": (0.8, 3000),
    }
    hists = {}
    for i in range(n_observables):
        integer = i % 7 == 0
        axis = (
            hist.axis.Integer(0, 12, name=f"obs{i}", label=f"Observable {i}")
            if integer
            else hist.axis.Regular(30, 0, 300, name=f"obs{i}", label=f"$x_{{{i}}}$ [GeV]")
        )
        h = hist.Hist(
            hist.axis.StrCategory(["SR", "CR"], name="region"),
            hist.axis.StrCategory([], name="process", growth=True),
            hist.axis.StrCategory([], name="variation", growth=True),
            axis,
            storage=hist.storage.Weight(),
        )
        for proc, (w, n) in processes.items():
            for var in ("nominal", "JESUp", "JESDown"):
                x = rng.integers(0, 12, n) if integer else rng.gamma(3, 30, n)
                h.fill(rng.choice(["SR", "CR"], n), proc, var, x, weight=w)
        x = rng.integers(0, 12, 30000) if integer else rng.gamma(3, 30, 30000)
        h.fill(rng.choice(["SR", "CR"], 30000), "data", "nominal", x)
        hists[f"obs{i}"] = h
    write_histograms(folder / "histograms.root", {"hists": hists})
    write_uhi_json(folder / "histograms.json", {"hists": hists})
    datasets = {p: {"is_data": False, "process": p, "label": int(p == "ttbar")} for p in processes}
    datasets["data"] = {"is_data": True, "process": "data", "label": -1, "seed": seed}
    write_json(folder / "run.json", {"lumi": 44.4, "datasets": datasets})
    cuts = ["all", "trigger", "1 lepton", ">= 4 jets", ">= 1 b"]
    flows = {
        d: {
            c: {"events": 1000 // (k + 1), "weighted": 1000.0 / (k + 1)} for k, c in enumerate(cuts)
        }
        for d in datasets
    }
    write_json(folder / "cutflow.json", flows)
    return folder


def bench_plot(n_observables: int = 49, workers: int | None = None) -> dict[str, float]:
    """Time ``plot_outputs`` on a fresh synthetic folder; return seconds per PNG and the ratio."""
    from hepml_coffea.workflows import plot_outputs

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_output(Path(tmp) / "out", n_observables)
        cpu0 = _cpu()
        t0 = time.perf_counter()
        written = plot_outputs(folder, workers=workers)
        dt = time.perf_counter() - t0
        cpu = _cpu() - cpu0
    per = dt / len(written)
    n_workers = workers or os.cpu_count() or 1
    return {
        "cpu_s_per_png": round(cpu / len(written), 3),
        "idle_estimate_s_per_png": round(cpu / len(written) / n_workers, 3),
        "pngs": len(written),
        "seconds": round(dt, 2),
        "s_per_png": round(per, 3),
        "ratio_to_goal": round(per / GOAL_S_PER_PNG, 2),
        "workers": n_workers,
        "load_avg_1min": round(os.getloadavg()[0], 1),
    }


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children (the pool)."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--observables", type=int, default=49)
    p.add_argument("--workers", type=int, default=None, help="drawing processes (default: cores)")
    p.add_argument("--quick", action="store_true", help="10 observables")
    args = p.parse_args(argv)
    res = bench_plot(10 if args.quick else args.observables, args.workers)
    print(json.dumps(res))
    print(
        f"plot: {res['pngs']} PNGs in {res['seconds']} s = {res['s_per_png']} s/PNG "
        f"({res['workers']} workers, load {res['load_avg_1min']}); goal <= {GOAL_S_PER_PNG} s/PNG "
        f"-> ratio {res['ratio_to_goal']}; CPU {res['cpu_s_per_png']} s/PNG, on idle cores "
        f"~{res['idle_estimate_s_per_png']} s/PNG"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
