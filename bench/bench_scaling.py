"""Scaling benchmarks P5 (Dask speed-up) and P6 (peak memory vs number of events).

P5: the ``ttbar_ljets`` processor over the same N events, side by side: iterative (1 core), an
external Dask ``LocalCluster`` of 1 and of 2 single-threaded worker processes (cluster start-up
and worker imports are left out by a warm-up run). Figures (issue #6): speed-up = t(1 worker) ÷
t(2 workers) (goal ≥ 1.8; needs ≥ 2 free cores) and Dask overhead = t(1 worker) ÷ t(iterative)
(goal ≤ 1.1).

P6: peak RSS of the ``run`` step (``run_analysis``, iterative, tables written to disk) over N and
over 10·N events at the same chunk size, each in a fresh subprocess that reports its own
``ru_maxrss``. Goal: RSS(10·N) ÷ RSS(N) ≤ 1.2. The 10·N sample is 10 files of N events.

    python bench/bench_scaling.py            # N = 10⁶ (P6: 10⁶ and 10⁷)
    python bench/bench_scaling.py --quick    # N = 2·10⁵ (P6: 2·10⁵ and 2·10⁶)

Samples are generated once (ZSTD) and cached in ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def sample(n_events: int, copies: int = 1) -> Path:
    """Fileset of ``copies`` ttbar_semilep files of ``n_events`` each (ZSTD, generated once).

    ``copies == 1`` is the one-file sample of ``bench_processor.py`` (P1). Copies of one file
    would not do: coffea identifies files by their ROOT UUID and processes a copy once.
    """
    from hepml_coffea.datasets import generate

    if copies == 1:
        base = RESULTS / f"p1_ttbar_{n_events}"  # shared with bench_processor.py (P1)
    else:
        base = RESULTS / f"scaling_ttbar_{n_events}x{copies}"
    fileset = base / "fileset.json"
    if not fileset.is_file():
        generate(base, n_events=n_events * copies, seed=1, compression="zstd",
                 events_per_file=n_events if copies > 1 else None,
                 processes=["ttbar_semilep"], progress=True)  # fmt: skip
    return fileset


def _processor():
    from hepml_coffea.config import load_analysis
    from hepml_coffea.processing.registry import processor_class

    cfg = load_analysis("ttbar_ljets")
    return processor_class(cfg)(cfg.to_dict())


def _timed(proc, fileset, chunksize: int, **kw) -> float:
    from hepml_coffea.processing.runner import run_processor

    tic = time.perf_counter()
    r = run_processor(proc, fileset, chunksize=chunksize, progress=False,
                      table_sink=lambda ds, rows: None, **kw)  # fmt: skip
    assert r.accounting()["balanced"]
    return time.perf_counter() - tic


def p5_dask(n_events: int = 1_000_000, chunksize: int = 100_000, repeats: int = 1) -> dict:
    """P5: iterative vs Dask with 1 and 2 workers on the same ``n_events``; best of ``repeats``."""
    import logging

    from hepml_coffea.processing.execution import local_cluster

    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    fileset = sample(n_events)
    proc = _processor()
    times: dict[str, list[float]] = {"iterative": [], "dask1": [], "dask2": []}
    clusters = {}
    try:
        for k in (1, 2):
            clusters[k] = local_cluster(k)  # the cluster `--executor dask` starts
            # warm-up: one full pass, so that every worker has imported and run the processor
            _timed(proc, fileset, chunksize, scheduler=clusters[k].scheduler_address)
        for _ in range(repeats):
            times["iterative"].append(_timed(proc, fileset, chunksize, executor="iterative"))
            for k in (1, 2):
                address = clusters[k].scheduler_address
                times[f"dask{k}"].append(_timed(proc, fileset, chunksize, scheduler=address))
    finally:
        for c in clusters.values():
            c.close()
    best = {k: min(v) for k, v in times.items()}
    return {
        "n_events": n_events,
        "chunksize": chunksize,
        **{f"{k}_s": v for k, v in best.items()},
        "speedup_2_vs_1": best["dask1"] / best["dask2"],
        "dask1_vs_iterative": best["dask1"] / best["iterative"],
        "goal_speedup": 1.8,
        "goal_overhead": 1.1,
        "cpu_count": os.cpu_count(),
    }


_CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from hepml_coffea.workflows import run_analysis
fileset, out, chunksize = sys.argv[1], sys.argv[2], int(sys.argv[3])
tic = time.perf_counter()
run_analysis("ttbar_ljets", fileset, out, chunksize=chunksize, progress=False)
info = json.load(open(out + "/run.json"))
print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "events": info["datasets"]["ttbar_semilep"]["events"]["processed"],
                  "wall_s": time.perf_counter() - tic}))
"""


def _peak_rss(fileset: Path, chunksize: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(fileset), str(Path(tmp) / "out"), str(chunksize)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        msg = f"P6 child failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def p6_memory(n_events: int = 1_000_000, factor: int = 10, chunksize: int = 100_000) -> dict:
    """P6: peak RSS (MB) of ``run`` over ``n_events`` and ``factor`` × ``n_events``."""
    small = _peak_rss(sample(n_events), chunksize)
    large = _peak_rss(sample(n_events, copies=factor), chunksize)
    assert large["events"] == factor * small["events"] == factor * n_events
    return {
        "n_events": n_events,
        "factor": factor,
        "chunksize": chunksize,
        "rss_small_mb": small["maxrss_mb"],
        "rss_large_mb": large["maxrss_mb"],
        "wall_small_s": small["wall_s"],
        "wall_large_s": large["wall_s"],
        "ratio": large["maxrss_mb"] / small["maxrss_mb"],
        "goal": 1.2,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 2·10⁵ instead of 10⁶")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", choices=["p5", "p6"], default=None)
    args = ap.parse_args(argv)
    n = args.events or (200_000 if args.quick else 1_000_000)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs")
    if args.only != "p6":
        p5 = p5_dask(n, args.chunksize, args.repeats)
        print(json.dumps(p5, indent=2))
        print(
            f"P5: iterative {p5['iterative_s']:.1f} s, Dask 1 worker {p5['dask1_s']:.1f} s, "
            f"2 workers {p5['dask2_s']:.1f} s -> speed-up {p5['speedup_2_vs_1']:.2f}x "
            f"(goal >= 1.8), Dask 1 worker / iterative {p5['dask1_vs_iterative']:.2f} (goal <= 1.1)"
        )
    if args.only != "p5":
        p6 = p6_memory(n, 10, args.chunksize)
        print(json.dumps(p6, indent=2))
        print(
            f"P6: peak RSS {p6['rss_small_mb']:.0f} MB ({n:,} ev) -> {p6['rss_large_mb']:.0f} MB "
            f"({10 * n:,} ev) = {p6['ratio']:.2f}x (goal <= 1.2)"
        )


if __name__ == "__main__":
    main()
