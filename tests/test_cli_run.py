"""``hepml-coffea run`` from the command line: one-line errors for bad inputs, skip report, outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "processing"))
from engine_helpers import bad_entry, make_bad_files, real_fileset, write_fileset

from hepml_coffea.cli import main

pytestmark = pytest.mark.realdata


def _run(capsys, *argv):
    rc = main(["-q", "run", *map(str, argv)])
    err = capsys.readouterr().err
    return rc, err


def _one_line_error(rc, err):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hepml-coffea run: error: ")
    return lines[0]


@pytest.mark.parametrize("kind", ["missing", "corrupt", "truncated", "no_tree"])
def test_bad_file_one_line(real_sample, tmp_path, capsys, kind):
    bad = make_bad_files(tmp_path / "bad", real_sample("dy"))[kind]
    fs = write_fileset(tmp_path / "fs.json", real_fileset(real_sample, bad=bad_entry(kind, bad)))
    line = _one_line_error(*_run(capsys, "dimuon", "--fileset", fs, "--out", tmp_path / "o"))
    assert str(bad) in line and "--skip-bad-files" in line
    assert not (tmp_path / "o" / "cutflow.json").exists()


def test_empty_file_warns_and_runs(real_sample, tmp_path, capsys):
    empty = make_bad_files(tmp_path / "bad", real_sample("dy"))["empty"]
    fileset = real_fileset(real_sample)
    fileset["dy"]["files"][str(empty)] = "Events"
    fs = write_fileset(tmp_path / "fs.json", fileset)
    with pytest.warns(UserWarning, match="has zero events"):
        rc, _ = _run(capsys, "dimuon", "--fileset", fs, "--out", tmp_path / "o")
    assert rc == 0
    cutflow = json.loads((tmp_path / "o" / "cutflow.json").read_text())
    assert cutflow["dy"]["all"]["events"] == 40


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_missing_branch_one_line(real_sample, tmp_path, capsys, executor):
    fs = write_fileset(tmp_path / "fs.json", real_fileset(real_sample))
    line = _one_line_error(
        *_run(
            capsys,
            "dimuon",
            "--fileset",
            fs,
            "--out",
            tmp_path / "o",
            "--executor",
            executor,
            "--set",
            "muons.iso_branch=Muon_isoNope",
        )
    )
    assert "Muon_isoNope" in line and "muons.iso_branch" in line


def test_fileset_wrong_keys_one_line(real_sample, tmp_path, capsys):
    fileset = real_fileset(real_sample)
    fileset["dy"]["metdata"] = fileset["dy"].pop("metadata")
    fs = write_fileset(tmp_path / "fs.json", fileset)
    line = _one_line_error(*_run(capsys, "dimuon", "--fileset", fs, "--out", tmp_path / "o"))
    assert "'dy'" in line and "metdata" in line


def test_skip_bad_files_report(real_sample, tmp_path, capsys):
    bad = make_bad_files(tmp_path / "bad", real_sample("dy"))
    fs = write_fileset(
        tmp_path / "fs.json",
        real_fileset(real_sample, **{k: bad_entry(k, p) for k, p in bad.items()}),
    )
    out = tmp_path / "o"
    rc = main(["-q", "run", "dimuon", "--fileset", str(fs), "--out", str(out), "--skip-bad-files"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "5 bad file(s)/chunk(s) skipped or empty (see report.json)" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["skip_bad_files"] is True
    assert {(s["kind"], s["file"]) for s in report["skipped"]} == {
        (k, str(p)) for k, p in bad.items()
    }
    acc = report["accounting"]
    assert acc["balanced"] is True
    assert (acc["in_fileset"], acc["processed"], acc["skipped"], acc["unreadable_files"]) == (
        80,
        80,
        0,
        4,
    )
    cutflow = json.loads((out / "cutflow.json").read_text())
    assert cutflow["missing"]["all"] == {"events": 0, "weighted": 0.0}
    assert cutflow["data"]["all"]["events"] == 40
