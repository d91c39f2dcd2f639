"""Benchmark (issue 11): the same run over ``root://localhost`` (a real XRootD server) ÷ local files.

A generated ttbar_semilep sample (ZSTD, cached in ``bench/results/``) is copied into a
world-readable folder under /tmp and served by ``xrootd`` started here on 127.0.0.1 (``-R
nobody`` when run as root) and stopped by PID at the end. The ``ttbar_ljets`` processor runs
through ``run_processor`` (iterative, one core, same chunk size) once on the local path and once
on the ``root://`` URL; the best of ``repeats`` wall times of each is compared. Goal: ≤ 1.3.

    python bench/bench_remote.py            # 10⁶ events
    python bench/bench_remote.py --quick    # 10⁵ events
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from bench_processor import _processor, sample


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_xrootd(work: Path) -> tuple[subprocess.Popen, int]:
    xrootd = shutil.which("xrootd")
    if xrootd is None:
        msg = "xrootd is not installed (apt-get install xrootd-server)"
        raise RuntimeError(msg)
    for sub in ("admin", "run", "logs"):
        (work / sub).mkdir()
        (work / sub).chmod(0o777)
    port = _free_port()
    cfg = work / "xrootd.cfg"
    cfg.write_text(
        f"all.export /\nall.adminpath {work}/admin\nall.pidpath {work}/run\nxrd.port {port}\n"
    )
    cmd = [xrootd, "-c", str(cfg), "-l", str(work / "logs" / "xrootd.log")]
    if os.geteuid() == 0:
        cmd += ["-R", "nobody"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    msg = "xrootd did not start"
    raise RuntimeError(msg)


def bench_remote(n_events: int = 1_000_000, chunksize: int = 100_000, repeats: int = 2) -> dict:
    """Wall time of the ttbar_ljets run over root://127.0.0.1 ÷ over the local file."""
    from hepml_coffea.filesets import load_fileset
    from hepml_coffea.processing.runner import run_processor

    fileset = load_fileset(sample(n_events))
    ((ds, entry),) = fileset.items()
    (local_src,) = entry["files"]
    work = Path(tempfile.mkdtemp(prefix="hepml-bench-remote-", dir="/tmp"))
    work.chmod(0o755)
    served = work / "data"
    served.mkdir()
    served.chmod(0o755)
    local = served / Path(local_src).name
    shutil.copy(local_src, local)
    local.chmod(0o644)
    proc, port = _start_xrootd(work)
    try:
        times = {}
        for where, path in (("local", str(local)), ("root", f"root://127.0.0.1:{port}/{local}")):
            fs = {ds: {"files": {path: "Events"}, "metadata": entry["metadata"]}}
            best = float("inf")
            for _ in range(repeats):
                tic = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run_processor(_processor(), fs, chunksize=chunksize, progress=False)
                best = min(best, time.perf_counter() - tic)
            times[where] = best
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "n_events": n_events,
        "chunksize": chunksize,
        "local_s": round(times["local"], 3),
        "root_s": round(times["root"], 3),
        "ratio": round(times["root"] / times["local"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10⁵ events instead of 10⁶")
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    res = bench_remote(n, args.chunksize, args.repeats)
    print(json.dumps(res, indent=2))
    print(f"root://localhost ÷ local: {res['ratio']:.2f} (goal ≤ 1.3)")


if __name__ == "__main__":
    main()
