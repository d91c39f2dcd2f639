"""Benchmark P1: the ttbar_ljets processor through the engine vs a bare ``uproot.iterate``.

Both read the same generated ZSTD file (≥ 10⁶ events, cached in ``bench/results/``), on one core,
with the same chunk size: the engine runs ``run_processor(..., executor="iterative")`` (coffea
Runner → NanoEvents → selection, features, histograms, table), the reference only reads the
branches the processor touches with ``uproot.iterate``. Goal: ratio ≤ 1.5.

    python bench/bench_processor.py            # 10⁶ events
    python bench/bench_processor.py --quick    # 2·10⁵ events
    python bench/bench_processor.py --profile  # also print pyinstrument's top items
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def sample(n_events: int, compression: str = "zstd") -> Path:
    """A one-file ttbar_semilep sample of ``n_events`` (generated once; ZSTD unless asked)."""
    from hepml_coffea.datasets import generate

    suffix = "" if compression == "zstd" else f"_{compression}"
    out = RESULTS / f"p1_ttbar_{n_events}{suffix}"
    fileset = out / "fileset.json"
    if not fileset.is_file():
        generate(
            out,
            n_events=n_events,
            seed=1,
            compression=compression,
            processes=["ttbar_semilep"],
            progress=True,
        )
    return fileset


def _processor():
    from hepml_coffea.config import load_analysis
    from hepml_coffea.processing.registry import processor_class

    cfg = load_analysis("ttbar_ljets")
    return processor_class(cfg)(cfg.to_dict())


def branches_read(proc, path: str) -> list[str]:
    """Branches the processor materialises, from NanoEvents' access log on a small chunk."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from hepml_coffea.datasets import sum_genweights

    log: list = []
    meta = {
        "dataset": "ttbar_semilep",
        "filename": path,
        "is_data": False,
        "xsec": 1.0,
        "label": 1,
        "process": "ttbar_semilep",
        "sumw": sum_genweights([path]),
    }
    events = NanoEventsFactory.from_root(
        {path: "Events"},
        schemaclass=NanoAODSchema,
        metadata=meta,
        mode="virtual",
        entry_stop=5000,
        access_log=log,
    ).events()
    proc.process(events)
    return sorted({x.branch for x in log})


def _time_engine(proc, fileset, chunksize: int) -> float:
    from hepml_coffea.processing.runner import run_processor

    tic = time.perf_counter()
    r = run_processor(
        proc,
        fileset,
        executor="iterative",
        chunksize=chunksize,
        progress=False,
        table_sink=lambda ds, rows: None,
    )
    dt = time.perf_counter() - tic
    assert r.accounting()["balanced"]
    return dt


class ReadOnly:
    """A processor that only materialises the given branches: the engine's own cost (coffea
    Runner + NanoEvents + our batching), without the physics."""

    def __init__(self, branches: list[str]) -> None:
        self.branches = branches
        self.cut_names = ()

    def process(self, events):
        import awkward as ak

        from hepml_coffea.selection.branches import get_branch

        for b in self.branches:
            if not b.startswith("n"):  # counts come with their collection
                ak.materialize(get_branch(events, b))
        return {events.metadata["dataset"]: {"n_events": len(events)}}

    def postprocess(self, acc):
        return acc


def _time_uproot(path: str, branches: list[str], chunksize: int) -> float:
    import uproot

    tic = time.perf_counter()
    n = 0
    for arrays in uproot.iterate({path: "Events"}, branches, step_size=chunksize, library="ak"):
        n += len(arrays)
    return time.perf_counter() - tic


def p1_ratio(
    n_events: int = 1_000_000, chunksize: int = 100_000, repeats: int = 2, compression: str = "zstd"
) -> dict:
    """Run P1 and return its figures (best of ``repeats``, measured alternately)."""
    from hepml_coffea.datasets import load_fileset

    warnings.simplefilter("ignore")
    fileset = sample(n_events, compression)
    (path,) = next(iter(load_fileset(fileset).values()))["files"]
    proc = _processor()
    branches = branches_read(proc, path)
    engine, bare, read_only = [], [], []
    for _ in range(repeats):
        bare.append(_time_uproot(path, branches, chunksize))
        engine.append(_time_engine(proc, fileset, chunksize))
        read_only.append(_time_engine(ReadOnly(branches), fileset, chunksize))
    return {
        "n_events": n_events,
        "chunksize": chunksize,
        "compression": compression,
        "n_branches": len(branches),
        "engine_s": min(engine),
        "uproot_s": min(bare),
        "ratio": min(engine) / min(bare),
        "engine_read_only_s": min(read_only),
        "ratio_read_only": min(read_only) / min(bare),
        "engine_all_s": engine,
        "uproot_all_s": bare,
        "goal": 1.5,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2·10⁵ events instead of 10⁶")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--compression",
        default="zstd",
        choices=["zstd", "lzma", "zlib", "lz4"],
        help="of the sample (default zstd: the fastest to read, so the strictest ratio)",
    )
    ap.add_argument("--profile", action="store_true", help="profile one engine run (pyinstrument)")
    args = ap.parse_args()
    n = args.events or (200_000 if args.quick else 1_000_000)
    res = p1_ratio(n, args.chunksize, args.repeats, args.compression)
    print(json.dumps(res, indent=2))
    print(
        f"P1: engine {res['engine_s']:.2f} s / uproot.iterate {res['uproot_s']:.2f} s "
        f"= {res['ratio']:.2f}x  (goal ≤ {res['goal']}) on {n:,} events, {res['n_branches']} branches, "
        f"{args.compression}"
    )
    print(
        f"    engine reading the same branches, no physics: {res['engine_read_only_s']:.2f} s "
        f"= {res['ratio_read_only']:.2f}x uproot.iterate"
    )
    if args.profile:
        from pyinstrument import Profiler

        prof = Profiler()
        prof.start()
        _time_engine(_processor(), sample(n, args.compression), args.chunksize)
        prof.stop()
        print(prof.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
