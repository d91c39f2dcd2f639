"""Run outputs: atomic folder, lock, leftovers, names as file names, disk full, Ctrl-C (exit 130)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "processing"))
from corrupt import make_sample

from hepml_coffea.cli import main
from hepml_coffea.errors import ConfigError, OutputError
from hepml_coffea.workflows import run_analysis
from hepml_coffea.workflows.folder import output_folder

TOY = Path(__file__).resolve().parents[1] / "processing" / "toy_processor.py"
PLAIN = Path(__file__).resolve().parents[1] / "processing" / "plain_processor.py"


def _toy_analysis(folder: Path) -> Path:
    folder.mkdir()
    text = f'processor = "{TOY.as_posix()}:ToyProcessor"\nlumi = 1000.0\n'
    (folder / "config.toml").write_text(text)
    return folder


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "s.root"
    make_sample(path, n=2000, seed=5)
    return path


def _fs(sample, name="tt"):
    return {name: {"files": [str(sample)], "metadata": {"xsec": 1.0}}}


def _one_line(capsys, argv):
    rc = main(["-q", *map(str, argv)])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_out_is_a_file_is_refused_before_any_work(sample, tmp_path, capsys):
    target = tmp_path / "out.txt"
    target.write_text("x")
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps(_fs(sample)))
    line = _one_line(capsys, ["run", f"{PLAIN}:DimuonProcessor", "--fileset", fs, "--out", target])
    assert f"--out {target} is a file" in line
    assert target.read_text() == "x"


def test_foreign_non_empty_folder_is_not_replaced(sample, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not an output of hepml-coffea"):
        run_analysis(_toy_analysis(tmp_path / "a"), _fs(sample), home, progress=False)
    assert (home / "thesis.tex").read_text() == "precious"


def test_dataset_name_cannot_escape_out(sample, tmp_path):
    with pytest.raises(
        ConfigError, match=r"dataset name '\.\./\.\./evil' cannot be used as a file"
    ):
        run_analysis(
            _toy_analysis(tmp_path / "a"),
            _fs(sample, "../../evil"),
            tmp_path / "o" / "p",
            progress=False,
        )
    assert not (tmp_path / "evil.parquet").exists() and not (tmp_path / "o").exists()


def test_second_run_into_the_same_out_is_refused(sample, tmp_path):
    out = tmp_path / "out"
    with output_folder(out):
        with pytest.raises(
            OutputError, match=rf"another run \(PID {os.getpid()}\) is writing to --out"
        ):
            run_analysis(_toy_analysis(tmp_path / "a"), _fs(sample), out, progress=False)


def test_leftovers_of_killed_runs_are_removed(sample, tmp_path):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_tmp = tmp_path / f".out.tmp-{dead.pid}"
    stale_tmp.mkdir()
    (stale_tmp / "run.json").write_text("{}")
    run_analysis(_toy_analysis(tmp_path / "a"), _fs(sample), out, progress=False)
    partial = out / "features" / f".tt.parquet.partial-{dead.pid}"
    partial.write_text("half")
    run_analysis(tmp_path / "a", _fs(sample), out, progress=False)
    assert not stale_tmp.exists() and not partial.exists()
    assert (out / "run.json").is_file()


def test_disk_full_names_the_file(sample, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as err:
        run_analysis(_toy_analysis(tmp_path / "a"), _fs(sample), out, progress=False)
    text = str(err.value)
    assert "no space left on the device" in text and "tt.parquet" in text and "\n" not in text
    assert not out.exists()


@pytest.mark.slow
def test_ctrl_c_always_exits_130_and_leaves_nothing(tmp_path):
    """SIGINT at a few moments of a real subprocess run: exit 130, no --out, no temp folder."""
    samples = tmp_path / "samples"
    samples.mkdir()
    files = []
    for i in range(6):
        make_sample(samples / f"s{i}.root", n=20_000, seed=10 + i)
        files.append(str(samples / f"s{i}.root"))
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"tt": {"files": files, "metadata": {"xsec": 1.0}}}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for i, delay in enumerate([4.0, 5.0, 6.0, 7.0]):
        out = tmp_path / f"out{i}"
        cmd = [sys.executable, "-m", "hepml_coffea.cli", "-q", "run", f"{PLAIN}:DimuonProcessor"]
        cmd += ["--fileset", str(fs), "--out", str(out), "--chunksize", "2000"]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        if proc.poll() is not None:
            pytest.skip(f"the run finished in under {delay} s; make the sample larger")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert not out.exists()
        assert not any(p.name.startswith(f".out{i}.tmp") for p in tmp_path.iterdir())
