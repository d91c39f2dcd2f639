"""Generator speed (P7: generated events per second per core).

Generates N events of each MC process in one process (single core), with ZSTD and with LZMA,
then writes the very same arrays with a bare ``uproot.recreate`` + ``mktree``/``extend`` at
the same compression and in the same blocks of ``BLOCK_SIZE`` events (so the same baskets: LZMA-9
costs ~30 ms of encoder set-up per basket, so fewer, larger baskets would compare another file
layout), side by side, and prints:

- events/s/core written with ZSTD (target ≥ 20k);
- LZMA: our throughput / bare-uproot throughput of the same arrays (target ≥ 0.8).

Usage: ``python bench/bench_generator.py [N]`` (default 50000 per process).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

from hepml_coffea.datasets import generate
from hepml_coffea.datasets.generator import BLOCK_SIZE
from hepml_coffea.datasets.writer import compression_for


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _bare_write(files: list[Path], out: Path, compression: str) -> float:
    """Seconds (CPU) to rewrite the Events trees of ``files`` with plain uproot."""
    blocks = []
    for f in files:
        with uproot.open(f) as src:
            tree = src["Events"]
            arrays = tree.arrays()
            blocks.append((f.name, arrays))
    t0 = _cpu()
    for name, arrays in blocks:
        cols = {}
        # regroup into collections as the generator wrote them
        groups: dict[str, dict] = {}
        heads = {f.partition("_")[0] for f in arrays.fields}
        for field in arrays.fields:
            head, _, tail = field.partition("_")
            if ("n" + head) in arrays.fields and tail:
                groups.setdefault(head, {})[tail] = arrays[field]
            elif not (field.startswith("n") and field[1:] in heads):
                col = arrays[field]
                cols[field] = col if col.ndim > 1 else ak.to_numpy(col)  # LHEScaleWeight: var
        for head, fields in groups.items():
            cols[head] = ak.zip(fields)
        with uproot.recreate(out / name, compression=compression_for(compression)) as f:
            t = f.mktree(
                "Events",
                {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in cols.items()},
            )
            n = len(arrays)
            for start in range(0, n, BLOCK_SIZE):  # the generator's basket layout: one per block
                t.extend({k: v[start : start + BLOCK_SIZE] for k, v in cols.items()})
    return _cpu() - t0


PROCESSES = ("ttbar_semilep", "wjets", "single_top", "dy")


def bench_generator(n: int = 50_000, verbose: bool = False) -> dict:
    """P7: generate ``n`` events of each MC process with ZSTD and with LZMA; return the figures.

    Returns
    -------
    dict
        ``events`` (total events per compression, ``n`` × 4), ``ev_per_s_core`` (ZSTD, CPU time of
        this process: the P7 figure), ``lzma_ratio`` (bare-uproot CPU ÷ ours, LZMA: ≥ 0.8 means we
        write at least 80% as fast as uproot alone), and per compression ``<comp>_cpu_s``,
        ``<comp>_wall_s``, ``<comp>_bare_cpu_s``, ``<comp>_mb``.
    """
    procs = list(PROCESSES)
    n_total = n * len(procs)
    out: dict = {"n_per_process": n, "events": n_total}
    with tempfile.TemporaryDirectory() as tmp:
        for comp in ("zstd", "lzma"):
            folder = Path(tmp) / comp
            t0, w0 = _cpu(), time.perf_counter()
            generate(folder, n_events=n, compression=comp, processes=procs, progress=False)
            ours_cpu, ours_wall = _cpu() - t0, time.perf_counter() - w0
            files = sorted(folder.glob("*.root"))
            bare = _bare_write(files, Path(tmp), comp)
            size = sum(f.stat().st_size for f in files) / 1e6
            out.update({f"{comp}_cpu_s": ours_cpu, f"{comp}_wall_s": ours_wall,
                        f"{comp}_bare_cpu_s": bare, f"{comp}_mb": size})  # fmt: skip
            if verbose:
                print(
                    f"  {comp:5s}: ours {n_total / ours_cpu:9.0f} ev/s/core (cpu {ours_cpu:.2f} s, "
                    f"wall {ours_wall:.2f} s, {size:.1f} MB) | bare uproot write of the same "
                    f"arrays {n_total / bare:9.0f} ev/s/core (cpu {bare:.2f} s)"
                )
    out["ev_per_s_core"] = n_total / out["zstd_cpu_s"]
    out["lzma_ratio"] = out["lzma_bare_cpu_s"] / out["lzma_cpu_s"]
    return out


def main(n: int) -> None:
    print(f"generator benchmark: {n} events x {len(PROCESSES)} MC processes, single process")
    r = bench_generator(n, verbose=True)
    rate, ratio = r["ev_per_s_core"], r["lzma_ratio"]
    print(
        f"P7 generator events/s/core (ZSTD): {rate:.0f}   "
        f"(target >= 20000: {'OK' if rate >= 20000 else 'MISS'})"
    )
    print(
        f"LZMA throughput ratio ours / bare uproot: {ratio:.2f}   "
        f"(target >= 0.8: {'OK' if ratio >= 0.8 else 'MISS'})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
