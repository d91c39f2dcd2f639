"""Generator speed (P7: generated events per second per core).

Generates N events of each MC process in one process (single core), with ZSTD and with LZMA,
then writes the very same arrays with a bare ``uproot.recreate`` + ``mktree``/``extend`` at
the same compression, side by side, and prints:

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
                cols[field] = ak.to_numpy(arrays[field])
        for head, fields in groups.items():
            cols[head] = ak.zip(fields)
        with uproot.recreate(out / name, compression=compression_for(compression)) as f:
            t = f.mktree(
                "Events",
                {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in cols.items()},
            )
            t.extend(cols)
    return _cpu() - t0


def main(n: int) -> None:
    procs = ["ttbar_semilep", "wjets", "single_top", "dy"]
    n_total = n * len(procs)
    print(f"generator benchmark: {n} events x {len(procs)} MC processes, single process")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for comp in ("zstd", "lzma"):
            out = Path(tmp) / comp
            t0, w0 = _cpu(), time.perf_counter()
            generate(out, n_events=n, compression=comp, processes=procs, progress=False)
            ours_cpu, ours_wall = _cpu() - t0, time.perf_counter() - w0
            files = sorted(out.glob("*.root"))
            bare = _bare_write(files, Path(tmp), comp)
            results[comp] = (ours_cpu, bare)
            size = sum(f.stat().st_size for f in files) / 1e6
            print(
                f"  {comp:5s}: ours {n_total / ours_cpu:9.0f} ev/s/core (cpu {ours_cpu:.2f} s, wall {ours_wall:.2f} s, "
                f"{size:.1f} MB) | bare uproot write of the same arrays {n_total / bare:9.0f} ev/s/core (cpu {bare:.2f} s)"
            )
    zstd_rate = n_total / results["zstd"][0]
    ratio = results["lzma"][1] / results["lzma"][0]
    print(
        f"P7 generator events/s/core (ZSTD): {zstd_rate:.0f}   (target >= 20000: {'OK' if zstd_rate >= 20000 else 'MISS'})"
    )
    print(
        f"LZMA throughput ratio ours / bare uproot: {ratio:.2f}   (target >= 0.8: {'OK' if ratio >= 0.8 else 'MISS'})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
