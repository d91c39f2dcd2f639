"""Tests of ``bench/run_all.py``: goal table, formatting, error rows, subprocess isolation.

No real benchmark runs in the default suite; the one ``slow`` test runs ``--quick --only P3,P7``
at a tenth of the quick sizes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "run_all.py"

# issue #6, verbatim goals: (id, figure key) -> (direction, goal)
ISSUE_GOALS = {
    ("P1", "ratio"): ("<=", 1.5),
    ("P2", "P2"): ("<=", 1.2),
    ("P3", "ratio"): ("<=", 1.05),
    ("P4", "ratio_vs_call"): ("<=", 1.1),
    ("P4", "ratio_vs_predict"): ("<=", 0.33),
    ("P5", "speedup_2_vs_1"): (">=", 1.8),
    ("P5", "dask1_vs_iterative"): ("<=", 1.1),
    ("P6", "ratio"): ("<=", 1.2),
    ("P7", "ev_per_s_core"): (">=", 20_000),
    # issue "Systematics and a statistical result"
    ("P8", "time_ratio"): ("<=", 2.0),
    ("P8", "rss_ratio"): ("<=", 1.5),
    ("P9", "fit_and_significance_s"): ("<=", 10.0),
    # issue "Your own analysis on real inputs"
    ("P10", "ratio"): ("<=", 1.3),
    # issue "Results you can trust"
    ("P11", "s_per_png"): ("<=", 0.25),
    # issue "Machine learning beyond one binary event score"
    ("P12", "assignment"): ("<=", 1.5),
    ("P12", "per_object"): ("<=", 1.2),
    ("P13", "multiclass"): ("<=", 1.1),
    # issue "Results you can trust": the first impression
    ("P14", "demo_s"): ("<=", 90.0),
    ("P14", "evaluate_s"): ("<=", 15.0),
}
ORDER = ["P1", "P2", "P3", "P4", "P4", "P5", "P5", "P6", "P7", "P8", "P8", "P9", "P10", "P11",
         "P12", "P12", "P13", "P14", "P14"]  # fmt: skip
ALL_IDS = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12", "P13", "P14"]


@pytest.fixture(scope="module")
def ra():
    spec = importlib.util.spec_from_file_location("run_all", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("run_all", None)


def _results(values: dict[tuple[str, str], float]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for (bid, key), v in values.items():
        out.setdefault(bid, {"kwargs": {}, "result": {}})["result"][key] = v
    return out


def test_goal_table_is_the_issues(ra):
    got = {(f.id, f.key): (f.op, f.goal) for b in ra.BENCHMARKS for f in b.figures}
    assert got == ISSUE_GOALS
    assert [f.id for b in ra.BENCHMARKS for f in b.figures] == ORDER
    assert all(f.id == b.id for b in ra.BENCHMARKS for f in b.figures)


def test_meets_direction(ra):
    assert ra.meets(1.9, ">=", 1.8)
    assert not ra.meets(1.7, ">=", 1.8)
    assert not ra.meets(1.6, "<=", 1.5)
    assert ra.meets(1.5, "<=", 1.5) and ra.meets(1.8, ">=", 1.8)
    with pytest.raises(ValueError, match="'<=' or '>='; got '<'"):
        ra.meets(1.0, "<", 2.0)


def test_rows_pass_and_miss_in_goal_direction(ra):
    res = _results({("P5", "speedup_2_vs_1"): 1.9, ("P5", "dask1_vs_iterative"): 1.2,
                    ("P1", "ratio"): 1.6, ("P7", "ev_per_s_core"): 30_123.0})  # fmt: skip
    rows = ra.table_rows(res)
    assert [(r["id"], r["measured"], r["goal"], r["met"]) for r in rows] == [
        ("P1", "1.60", "≤ 1.5", "no"),
        ("P5", "1.90", "≥ 1.8", "yes"),
        ("P5", "1.20", "≤ 1.1", "no"),
        ("P7", "30.1k ev/s/core", "≥ 20k ev/s/core", "yes"),
    ]
    res["P5"]["result"]["speedup_2_vs_1"] = 1.7
    assert ra.table_rows(res)[1]["met"] == "no"


def test_table_one_row_per_figure_in_order(ra):
    values = {k: g * (0.9 if op == "<=" else 1.1) for k, (op, g) in ISSUE_GOALS.items()}
    res = _results(dict(reversed(list(values.items()))))  # insertion order must not matter
    assert list(res) == list(reversed(ALL_IDS))
    rows = ra.table_rows(res)
    assert [r["id"] for r in rows] == ORDER
    assert [r["met"] for r in rows] == ["yes"] * len(ORDER)
    lines = ra.markdown_table(rows).splitlines()
    assert lines[0] == "| id | what | measured | goal | met |"
    assert lines[1] == "|---|---|---|---|---|"
    assert [ln.split(" | ")[0] for ln in lines[2:]] == [f"| {i}" for i in ORDER]
    assert all(ln.count(" | ") == 4 and ln.endswith(" |") for ln in lines[:1] + lines[2:])


def test_what_is_filled_with_the_sizes(ra):
    res = {"P6": {"kwargs": {"n_events": 1_000_000, "factor": 10}, "result": {"ratio": 1.05}}}
    (row,) = ra.table_rows(res)
    assert "10 × 1,000,000 ÷ 1,000,000 events" in row["what"]
    assert row["measured"] == "1.05" and row["met"] == "yes"


def test_error_rows(ra):
    res = {
        "P4": {"kwargs": {"n": 10}, "error": "RuntimeError: boom\nTraceback line two"},
        "P3": {"kwargs": {}, "result": {"raw_s": 1.0}},  # the figure itself is missing
        "P2": {"kwargs": {}, "result": {"P2": 1.1}},
    }
    rows = ra.table_rows(res)
    assert [r["id"] for r in rows] == ["P2", "P3", "P4", "P4"]
    assert rows[0]["met"] == "yes"
    assert rows[1]["measured"] == "error: no figure 'ratio' in the result"
    for row in rows[2:]:
        assert row["measured"] == "error: RuntimeError: boom"
        assert row["met"] == "—"
    assert ra.one_line("x" * 300).endswith("…") and len(ra.one_line("x" * 300)) == 200
    table = ra.markdown_table([{**rows[2], "measured": "error: a | b"}])
    assert "error: a \\| b" in table


def test_formatting(ra):
    assert ra.format_value(1.234) == "1.23"
    assert ra.format_value(0.3349) == "0.33"
    assert ra.format_value(30_123, "rate") == "30.1k ev/s/core"
    assert ra.format_value(950, "rate") == "950 ev/s/core"
    fig = ra.Figure("P4", "x", "k", "<=", 0.33)
    assert ra.format_goal(fig) == "≤ 0.33"
    assert ra.format_duration(42.2) == "42 s"
    assert ra.format_duration(754) == "12.6 min"
    assert ra.format_value(0.1234, "seconds") == "0.12 s"
    assert ra.format_value(95.04, "seconds") == "95.0 s"
    assert ra.format_goal(ra.Figure("P14", "x", "k", "<=", 90.0, kind="seconds")) == "≤ 90 s"


def test_parse_only(ra):
    assert ra.parse_only(None) == ALL_IDS
    assert ra.parse_only("p7, P3") == ["P3", "P7"]
    with pytest.raises(ValueError, match=r"--only got 'P3,P99'; allowed ids are P1, P2"):
        ra.parse_only("P3,P99")
    with pytest.raises(ValueError, match="allowed ids"):
        ra.parse_only(",")


def test_sizes_full_quick_and_scaled(ra):
    by_id = {b.id: b for b in ra.BENCHMARKS}
    full = {i: ra.benchmark_kwargs(b) for i, b in by_id.items()}
    assert full["P1"]["n_events"] >= 1_000_000 and full["P2"]["n_events"] >= 1_000_000
    assert full["P5"]["n_events"] == 1_000_000
    assert (full["P6"]["n_events"], full["P6"]["factor"]) == (1_000_000, 10)
    quick = ra.benchmark_kwargs(by_id["P4"], quick=True)
    assert (quick["n"], quick["chunk"]) == (100_000, 10_000)
    small = ra.benchmark_kwargs(by_id["P4"], quick=True, scale=0.1)
    assert (small["n"], small["chunk"], small["repeat"]) == (10_000, 10_000, 1)
    tiny = ra.benchmark_kwargs(by_id["P1"], quick=True, scale=1e-6)
    assert (tiny["n_events"], tiny["chunksize"]) == (1000, 1000)  # floor 1000, chunk clipped
    assert by_id["P4"].quick["n"] == 100_000  # the table itself is not modified
    with pytest.raises(ValueError, match="scale must be > 0"):
        ra.benchmark_kwargs(by_id["P3"], scale=0)


def test_machine_info(ra):
    info = ra.machine_info()
    assert set(info) == {"cpu", "logical_cores", "usable_cores", "ram_gib", "os", "python",
                         "load_1min", "versions"}  # fmt: skip
    assert set(info["versions"]) == set(ra.PACKAGES)
    assert info["logical_cores"] == os.cpu_count()
    assert 1 <= info["usable_cores"] <= info["logical_cores"]
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    from importlib.metadata import version

    assert info["versions"]["uproot"] == version("uproot")
    line = ra.format_machine(info)
    assert line.startswith(f"Machine: {info['cpu']}, {os.cpu_count()} logical cores")
    assert f"uproot {version('uproot')}" in line and "GiB RAM" in line


# ---------------------------------------------------------------- the subprocess runner
FAKE = """
import os, subprocess, sys, time
import numpy as np

def ok(n):
    print("noise on stdout")
    return {"ratio": np.float64(n / 4), "count": np.int64(n)}

def boom():
    raise ValueError("boom\\nsecond line")

def hard_exit():
    print("dying", file=sys.stderr)
    os._exit(3)

def hang(pidfile):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(pidfile, "w").write(str(child.pid))
    time.sleep(60)
"""


@pytest.fixture
def fake_dir(tmp_path):
    (tmp_path / "fake_bench.py").write_text(FAKE)
    return tmp_path


def _bench(ra, function):
    return ra.Benchmark("P99", "fake", "fake_bench", function, {}, {}, ())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_run_benchmark_result_and_errors(ra, fake_dir):
    out = ra.run_benchmark(_bench(ra, "ok"), {"n": 6}, bench_dir=fake_dir)
    assert out["result"] == {"ratio": 1.5, "count": 6}
    assert out["wall_s"] > 0
    out = ra.run_benchmark(_bench(ra, "boom"), {}, bench_dir=fake_dir)
    assert out["error"] == "ValueError: boom"
    assert any("Traceback" in s for s in out["stderr_tail"])
    out = ra.run_benchmark(_bench(ra, "hard_exit"), {}, bench_dir=fake_dir)
    assert out["error"] == "exit code 3: dying"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_run_benchmark_timeout_kills_the_whole_group(ra, fake_dir):
    pidfile = fake_dir / "pid"
    out = ra.run_benchmark(_bench(ra, "hang"), {"pidfile": str(pidfile)}, 3, fake_dir)
    assert out["error"] == "timed out after 3 s"
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_main_error_row_exit_code_and_json(ra, monkeypatch, tmp_path, capsys):
    def fake_run(bench, kwargs, timeout=None, bench_dir=None):
        if bench.id == "P3":
            return {"wall_s": 0.1, "error": "MemoryError: out of memory", "stderr_tail": ["x"]}
        return {"wall_s": 0.2, "result": {"ev_per_s_core": 12_345.0, "lzma_ratio": 0.9}}

    monkeypatch.setattr(ra, "run_benchmark", fake_run)
    rc = ra.main(["--quick", "--only", "P7,P3", "--json", str(tmp_path / "r.json")])
    assert rc == 1
    text = capsys.readouterr()
    assert (
        "| P3 | " in text.out and "| error: MemoryError: out of memory | ≤ 1.05 | — |" in text.out
    )
    assert "| 12.3k ev/s/core | ≥ 20k ev/s/core | no |" in text.out
    assert text.out.index("Machine: ") < text.out.index("| id |")
    assert "[1/2] P3" in text.err and "[2/2] P7" in text.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report) == {"machine", "quick", "scale", "wall_s", "benchmarks", "rows"}
    assert report["benchmarks"]["P7"]["result"]["lzma_ratio"] == 0.9
    assert report["benchmarks"]["P7"]["kwargs"] == {"n": 10_000}
    assert [r["id"] for r in report["rows"]] == ["P3", "P7"]


def test_main_rejects_unknown_ids(ra, capsys):
    with pytest.raises(SystemExit) as exc:
        ra.main(["--only", "P99"])
    assert exc.value.code == 2
    assert "allowed ids are P1" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_suite_p3_p7_end_to_end(tmp_path):
    """Real P3 and P7 runs at a tenth of the quick sizes (~15 s)."""
    out_json = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "P3,P7", "--scale", "0.1",
         "--json", str(out_json)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| P")]
    assert [ln.split(" | ")[0] for ln in rows] == ["| P3", "| P7"]
    assert re.fullmatch(r"\| P3 \| .+ \| \d+\.\d\d \| ≤ 1\.05 \| (yes|no) \|", rows[0])
    assert re.fullmatch(
        r"\| P7 \| .+ \| \d+\.\dk ev/s/core \| ≥ 20k ev/s/core \| (yes|no) \|", rows[1]
    )
    report = json.loads(out_json.read_text())
    p3, p7 = report["benchmarks"]["P3"], report["benchmarks"]["P7"]
    assert p3["kwargs"]["n"] == 5000 and p7["kwargs"]["n"] == 1000
    assert p3["result"]["ratio"] == pytest.approx(p3["result"]["wrapper_s"] / p3["result"]["raw_s"])
    assert p7["result"]["events"] == 4 * 1000
    assert p7["result"]["ev_per_s_core"] == pytest.approx(4000 / p7["result"]["zstd_cpu_s"])
    assert 0 < p7["result"]["lzma_ratio"] < 10
