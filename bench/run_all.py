"""One command for the performance figures P1–P14, each measured in a fresh subprocess.

    python bench/run_all.py                      # the issue's sizes (10⁶ events; P6 10⁶ vs 10⁷)
    python bench/run_all.py --quick              # small sizes: the whole suite in a few minutes
    python bench/run_all.py --only P3,P7 --json figures.json
    python bench/run_all.py --quick --scale 0.2  # smaller still (smoke test)

Every benchmark runs in its own ``python -c`` child (TensorFlow threads, Dask clusters and the
memory of one benchmark cannot disturb the next), which imports one ``bench/bench_*.py`` module,
calls its function and prints one JSON line. A benchmark that crashes or times out becomes an
``error: ...`` row and the suite goes on; the exit code is 1 if any did. Prints a ``Machine:``
line, a Markdown table ``| id | what | measured | goal | met |`` and the total wall time.
Generated samples are cached in ``bench/results/`` (git-ignored) by the benchmark modules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
MARKER = "@@RUN_ALL_RESULT@@ "
PACKAGES = ("uproot", "awkward", "coffea", "xgboost", "tensorflow", "keras", "numpy")
CHUNK_KEYS = ("chunksize", "chunk")


@dataclass(frozen=True)
class Figure:
    """One row of the table: ``result[key] <op> goal``; ``what`` is formatted with the kwargs."""

    id: str
    what: str
    key: str
    op: str  # "<=" or ">="
    goal: float
    kind: str = "ratio"  # "ratio" (2 decimals), "rate" (events/s/core) or "seconds"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: ``bench/<module>.py::<function>(**kwargs)`` returning a dict of figures."""

    id: str
    title: str
    module: str
    function: str
    full: dict[str, Any]
    quick: dict[str, Any]
    scaled: tuple[str, ...]  # kwargs that are event counts (multiplied by --scale)
    figures: tuple[Figure, ...] = field(default_factory=tuple)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "P1", "processor vs bare uproot.iterate", "bench_processor", "p1_ratio",
        full={"n_events": 1_000_000, "chunksize": 100_000, "repeats": 2},
        quick={"n_events": 200_000, "chunksize": 100_000, "repeats": 2},
        scaled=("n_events",),
        figures=(Figure("P1", "`ttbar_ljets` processor ÷ bare `uproot.iterate` of the same "
                        "branches, {n_events:,} events, 1 core", "ratio", "<=", 1.5),),
    ),
    Benchmark(
        "P2", "apply with models vs no models", "bench_apply", "bench_apply",
        full={"n_events": 1_000_000, "chunksize": 100_000},
        quick={"n_events": 100_000, "chunksize": 100_000},
        scaled=("n_events",),
        figures=(Figure("P2", "`apply` with a BDT and a DNN ÷ `run` with no models, "
                        "{n_events:,} MC events + pseudo-data, 1 core", "P2", "<=", 1.2),),
    ),
    Benchmark(
        "P3", "BDT wrapper vs raw xgboost", "bench_estimators", "bench_bdt_fit",
        full={"n": 1_000_000, "d": 25, "n_estimators": 50, "repeat": 2},
        quick={"n": 50_000, "d": 25, "n_estimators": 10, "repeat": 1},
        scaled=("n",),
        figures=(Figure("P3", "`BDTClassifier.fit` ÷ raw `xgboost.train`, {n:,} × {d}, "
                        "{n_estimators} trees", "ratio", "<=", 1.05),),
    ),
    Benchmark(
        "P4", "DNN wrapper vs model(x) and model.predict", "bench_estimators",
        "bench_dnn_predict",
        full={"n": 1_000_000, "chunk": 100_000, "repeat": 3},
        quick={"n": 100_000, "chunk": 10_000, "repeat": 1},
        scaled=("n",),
        figures=(
            Figure("P4", "DNN `predict_proba` ÷ raw `model(x)`, {n:,} events in chunks of "
                   "{chunk:,}", "ratio_vs_call", "<=", 1.1),
            Figure("P4", "DNN `predict_proba` ÷ `model.predict`, same chunks",
                   "ratio_vs_predict", "<=", 0.33),
        ),
    ),
    Benchmark(
        "P5", "Dask 2 vs 1 worker, 1 worker vs iterative", "bench_scaling", "p5_dask",
        full={"n_events": 1_000_000, "chunksize": 100_000, "repeats": 1},
        quick={"n_events": 200_000, "chunksize": 50_000, "repeats": 1},
        scaled=("n_events",),
        figures=(
            Figure("P5", "Dask speed-up, 2 workers over 1, {n_events:,} events",
                   "speedup_2_vs_1", ">=", 1.8),
            Figure("P5", "Dask 1 worker ÷ iterative, same events", "dask1_vs_iterative",
                   "<=", 1.1),
        ),
    ),
    Benchmark(
        "P6", "peak RSS at 10x events", "bench_scaling", "p6_memory",
        full={"n_events": 1_000_000, "factor": 10, "chunksize": 100_000},
        quick={"n_events": 100_000, "factor": 10, "chunksize": 50_000},
        scaled=("n_events",),
        figures=(Figure("P6", "peak RSS of `run`, {factor} × {n_events:,} ÷ {n_events:,} "
                        "events", "ratio", "<=", 1.2),),
    ),
    Benchmark(
        "P7", "generator events/s/core", "bench_generator", "bench_generator",
        full={"n": 50_000},
        quick={"n": 10_000},
        scaled=("n",),
        figures=(Figure("P7", "generator events/s/core (ZSTD), 4 × {n:,} MC events",
                        "ev_per_s_core", ">=", 20_000, kind="rate"),),
    ),
    Benchmark(
        "P8", "regions x all variations vs nominal", "bench_systematics", "bench_systematics",
        full={"n_events": 200_000},
        quick={"n_events": 30_000},
        scaled=("n_events",),
        figures=(
            Figure("P8", "`ttbar_ljets` with 4 shape + 14 weight variations and BDT inference ÷ "
                   "nominal only, {n_events:,} events, time", "time_ratio", "<=", 2.0),
            Figure("P8", "the same, peak RSS", "rss_ratio", "<=", 1.5),
        ),
    ),
    Benchmark(
        "P9", "pyhf fit of a generated ttbar_ljets run", "bench_fit", "bench_fit",
        full={"n_events": 100_000},
        quick={"n_events": 20_000},
        scaled=("n_events",),
        figures=(Figure("P9", "fit of the workspace (build + ML fit + significance), "
                        "{n_events:,} events/process, 2 regions, all systematics",
                        "fit_and_significance_s", "<=", 10.0, kind="seconds"),),
    ),
    Benchmark(
        "P10", "root://localhost vs local files", "bench_remote", "bench_remote",
        full={"n_events": 1_000_000, "chunksize": 100_000, "repeats": 2},
        quick={"n_events": 100_000, "chunksize": 50_000, "repeats": 2},
        scaled=("n_events",),
        figures=(Figure("P10", "`run` over a real XRootD server on localhost ÷ the same local "
                        "files, {n_events:,} events", "ratio", "<=", 1.3),),
    ),
    Benchmark(
        "P11", "plot seconds per PNG", "bench_plot", "bench_plot",
        full={"n_observables": 49},
        quick={"n_observables": 12},
        scaled=(),
        figures=(Figure("P11", "`plot`, wall time per PNG ({n_observables} observables × "
                        "regions, data/MC with ratio)", "s_per_png", "<=", 0.25,
                        kind="seconds"),),
    ),
    Benchmark(
        "P12", "per-object ML in the processor", "bench_ml_physics", "bench_ml_physics",
        full={"n_events": 200_000, "chunksize": 100_000, "repeats": 2},
        quick={"n_events": 40_000, "chunksize": 20_000, "repeats": 1},
        scaled=("n_events",),
        figures=(
            Figure("P12", "`run` with the jet–parton assignment BDT ÷ without, {n_events:,} "
                   "events", "assignment", "<=", 1.5),
            Figure("P12", "`run` scoring every jet with the b-tagger ÷ no scoring",
                   "per_object", "<=", 1.2),
        ),
    ),
    Benchmark(
        "P13", "multi-class vs binary apply", "bench_apply", "bench_multiclass",
        full={"n_events": 200_000, "chunksize": 100_000, "repeats": 2},
        quick={"n_events": 40_000, "chunksize": 20_000, "repeats": 1},
        scaled=("n_events",),
        figures=(Figure("P13", "`apply` with a 3-class BDT ÷ with a binary BDT, "
                        "{n_events:,} events (CPU time)", "multiclass", "<=", 1.1),),
    ),
    Benchmark(
        "P14", "the demo at its default size", "bench_demo", "bench_demo",
        full={"n_events": 100_000},
        quick={"n_events": 20_000},
        scaled=("n_events",),
        figures=(
            Figure("P14", "`demo` without generating, {n_events:,} events/process, 2 cores",
                   "demo_s", "<=", 90.0, kind="seconds"),
            Figure("P14", "its `evaluate` step (BDT + DNN)", "evaluate_s", "<=", 15.0,
                   kind="seconds"),
        ),
    ),
)  # fmt: skip
IDS = tuple(b.id for b in BENCHMARKS)


# --------------------------------------------------------------------------- pure logic
def parse_only(text: str | None) -> list[str]:
    """``"p3,P7"`` → ``["P3", "P7"]`` in suite order; ``None`` → all. ValueError if unknown."""
    if not text:
        return list(IDS)
    wanted = {t.strip().upper() for t in text.split(",") if t.strip()}
    unknown = sorted(wanted - set(IDS))
    if unknown or not wanted:
        msg = (
            f"--only got {text!r}; allowed ids are {', '.join(IDS)} (comma-separated), e.g. P3,P7."
        )
        raise ValueError(msg)
    return [i for i in IDS if i in wanted]


def benchmark_kwargs(bench: Benchmark, quick: bool = False, scale: float = 1.0) -> dict[str, Any]:
    """Keyword arguments of one benchmark: full or quick sizes, event counts × ``scale``.

    Scaled counts are at least 1000; chunk sizes are clipped to the scaled event count.
    """
    if not scale > 0:
        msg = f"scale must be > 0; got {scale!r}."
        raise ValueError(msg)
    kw = dict(bench.quick if quick else bench.full)
    for key in bench.scaled:
        kw[key] = max(1000, round(kw[key] * scale))
    if bench.scaled:
        n = min(kw[key] for key in bench.scaled)
        for key in CHUNK_KEYS:
            if key in kw:
                kw[key] = min(kw[key], n)
    return kw


def meets(value: float, op: str, goal: float) -> bool:
    """Whether ``value`` meets ``goal`` in direction ``op`` ("<=": at most, ">=": at least)."""
    if op == "<=":
        return value <= goal
    if op == ">=":
        return value >= goal
    msg = f"goal direction must be '<=' or '>='; got {op!r}."
    raise ValueError(msg)


def format_value(value: float, kind: str = "ratio") -> str:
    """``1.234`` → ``"1.23"``; a rate ``30123`` → ``"30.1k ev/s/core"``."""
    if kind == "rate":
        return f"{value / 1000:.1f}k ev/s/core" if value >= 1000 else f"{value:.0f} ev/s/core"
    if kind == "seconds":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:.2f}"


def format_goal(fig: Figure) -> str:
    """``"≤ 1.5"``, ``"≥ 1.8"``, ``"≥ 20k ev/s/core"``."""
    sign = {"<=": "≤", ">=": "≥"}[fig.op]
    if fig.kind == "rate":
        return f"{sign} {fig.goal / 1000:g}k ev/s/core"
    if fig.kind == "seconds":
        return f"{sign} {fig.goal:g} s"
    return f"{sign} {fig.goal:g}"


def _what(fig: Figure, kwargs: dict[str, Any]) -> str:
    try:
        return fig.what.format(**kwargs)
    except (KeyError, IndexError, ValueError):
        return fig.what


def table_rows(outcomes: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per figure of the benchmarks in ``outcomes``, in suite order.

    ``outcomes[id]`` is ``{"kwargs": ..., "result": {...}}`` or ``{"kwargs": ..., "error": str}``.
    A row is ``{"id", "what", "measured", "goal", "met"}``; met is "yes", "no" or "—" (error,
    or the figure is missing from the result).
    """
    rows = []
    for bench in BENCHMARKS:
        if bench.id not in outcomes:
            continue
        out = outcomes[bench.id]
        kwargs = out.get("kwargs", {})
        for fig in bench.figures:
            row = {"id": fig.id, "what": _what(fig, kwargs), "goal": format_goal(fig)}
            value = (out.get("result") or {}).get(fig.key)
            if "error" in out:
                row.update(measured=f"error: {one_line(out['error'])}", met="—")
            elif not isinstance(value, int | float):
                row.update(measured=f"error: no figure {fig.key!r} in the result", met="—")
            else:
                ok = meets(value, fig.op, fig.goal)
                row.update(measured=format_value(value, fig.kind), met="yes" if ok else "no")
            rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, str]]) -> str:
    """``| id | what | measured | goal | met |`` with one line per row (``|`` escaped)."""
    cols = ("id", "what", "measured", "goal", "met")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(row[c].replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def one_line(text: str, limit: int = 200) -> str:
    """First non-empty line of ``text``, cut to ``limit`` characters."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def format_duration(seconds: float) -> str:
    """``42.0`` → ``"42 s"``; ``754`` → ``"12.6 min"``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, RAM, OS, Python and package versions (without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    try:
        import psutil

        ram_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        ram_gib = None
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_1min": load,
        "versions": versions,
    }


def format_machine(info: dict[str, Any]) -> str:
    """The ``Machine: ...`` line above the table."""
    vers = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    load = f", load {info['load_1min']:.1f} at start" if info.get("load_1min") is not None else ""
    return (
        f"Machine: {info['cpu']}, {info['logical_cores']} logical cores "
        f"({info['usable_cores']} usable), {info['ram_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}{load}; {vers}"
    )


# --------------------------------------------------------------------------- running
_CHILD = """
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
module, function, kwargs, marker = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
def _default(o):
    return o.item() if hasattr(o, "item") else str(o)
try:
    result = getattr(__import__(module), function)(**kwargs)
except BaseException as exc:
    traceback.print_exc()
    text = str(exc).strip().splitlines()
    print(marker + json.dumps({"error": type(exc).__name__ + (": " + text[0] if text else "")}))
    sys.exit(1)
print(marker + json.dumps({"result": result}, default=_default), flush=True)
"""


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process group that ``proc`` leads (started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_benchmark(
    bench: Benchmark,
    kwargs: dict[str, Any],
    timeout: float | None = None,
    bench_dir: Path = BENCH_DIR,
) -> dict:
    """Run one benchmark in a fresh ``python -c`` child; return ``{"result"}`` or ``{"error"}``.

    ``bench.module`` is imported from ``bench_dir``. Also returns ``wall_s`` and, on error,
    ``stderr_tail`` (the child's last 30 lines).
    """
    cmd = [sys.executable, "-c", _CHILD, str(bench_dir), bench.module, bench.function,
           json.dumps(kwargs), MARKER]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    tic = time.perf_counter()
    # own session: on a timeout the child's own children (Dask workers, P6's runs) go too
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException as exc:  # TimeoutExpired, KeyboardInterrupt
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        return {"error": f"timed out after {timeout:g} s", "wall_s": time.perf_counter() - tic,
                "stderr_tail": stderr.splitlines()[-30:]}  # fmt: skip
    out = {"wall_s": time.perf_counter() - tic}
    lines = [s[len(MARKER) :] for s in stdout.splitlines() if s.startswith(MARKER)]
    payload = json.loads(lines[-1]) if lines else {}
    if proc.returncode == 0 and "result" in payload:
        out["result"] = payload["result"]
        return out
    last = next((s for s in reversed(stderr.splitlines()) if s.strip()), "no output")
    out["error"] = payload.get("error") or f"exit code {proc.returncode}: {last}"
    out["stderr_tail"] = stderr.splitlines()[-30:]
    return out


def run_suite(ids: list[str], quick: bool, scale: float, timeout: float | None) -> dict:
    """Run the benchmarks ``ids`` in order with a progress line each; return their outcomes."""
    outcomes: dict[str, dict[str, Any]] = {}
    selected = [b for b in BENCHMARKS if b.id in ids]
    for i, bench in enumerate(selected, 1):
        kwargs = benchmark_kwargs(bench, quick, scale)
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        print(f"[{i}/{len(selected)}] {bench.id} {bench.title} ({args}) ...", end="",
              file=sys.stderr, flush=True)  # fmt: skip
        out = {"kwargs": kwargs, **run_benchmark(bench, kwargs, timeout)}
        status = "ok" if "result" in out else f"ERROR {one_line(out['error'])}"
        print(f" {out['wall_s']:.1f} s, {status}", file=sys.stderr, flush=True)
        if "error" in out:
            print("\n".join("    " + s for s in out["stderr_tail"][-15:]), file=sys.stderr)
        outcomes[bench.id] = out
    return outcomes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes in all)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(IDS)}")
    ap.add_argument("--json", type=Path, default=None, help="write raw figures + machine here")
    ap.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every event count by this (default 1; at least 1000 events)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds per benchmark before it is killed (default 3600; 0: none)",
    )
    args = ap.parse_args(argv)
    try:
        ids = parse_only(args.only)
        if not args.scale > 0:
            msg = f"--scale must be > 0; got {args.scale!r}."
            raise ValueError(msg)
    except ValueError as exc:
        ap.error(str(exc))
    info = machine_info()
    tic = time.perf_counter()
    outcomes = run_suite(ids, args.quick, args.scale, args.timeout or None)
    wall = time.perf_counter() - tic
    rows = table_rows(outcomes)
    sizes = "quick sizes" if args.quick else "full sizes"
    if args.scale != 1:
        sizes += f" × {args.scale:g}"
    print()
    print(format_machine(info))
    print()
    print(markdown_table(rows))
    print()
    print(f"Total wall time {format_duration(wall)} ({sizes}, each benchmark in a fresh process).")
    if args.json:
        report = {"machine": info, "quick": args.quick, "scale": args.scale, "wall_s": wall,
                  "benchmarks": outcomes, "rows": rows}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"Raw figures written to {args.json}.")
    return 1 if any("error" in out for out in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
