"""The ``demo`` chain end to end on a small sample, its report.md, and the CLI's ``--events``."""

from __future__ import annotations

import json
import re

import pytest


@pytest.mark.slow  # 80-100 s on 2 busy cores (TF, DNN, 80 plots): would double this suite
@pytest.mark.keras
def test_demo_end_to_end(tmp_path):
    from hepml_coffea.workflows import run_demo

    report = run_demo(
        tmp_path,
        n_events=3000,
        executor="iterative",
        overrides=("training.dnn.epochs=2",),
        progress=False,
    )
    assert report == tmp_path / "report.md"
    text = report.read_text()

    # every link points to an existing file, and every PNG written is linked
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links
    for link in links:
        assert (tmp_path / link).is_file(), link
    pngs = {
        p.relative_to(tmp_path).as_posix()
        for folder in ("evaluation/plots", "apply/plots")
        for p in (tmp_path / folder).glob("*.png")
    }
    assert set(links) == pngs
    assert "evaluation/plots/roc.png" in pngs and "apply/plots/cutflow.png" in pngs

    # the summary table has one row per model with the numbers of evaluation.json
    ev = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())["models"]
    assert set(ev) == {"bdt", "dnn"}
    for name in ("bdt", "dnn"):
        rows = [ln for ln in text.splitlines() if ln.startswith(f"| {name} |")]
        assert len(rows) == 1, name
        assert f"| {ev[name]['auc_test']:.4f} |" in rows[0]
        assert ev[name]["auc_test"] > 0.75
    # the DNN override reached the training
    dnn_info = json.loads((tmp_path / "models" / "dnn" / "training.json").read_text())
    assert "training.dnn.epochs=2" in dnn_info["overrides"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["datasets"]["ttbar_semilep"]["events"]["processed"] == 3000


def test_cli_events_reach_run_demo(monkeypatch, tmp_path):
    import hepml_coffea.workflows as wf
    from hepml_coffea.cli import main

    seen = {}

    def fake_run_demo(out, **kwargs):
        seen.update(kwargs, out=out)
        return tmp_path / "report.md"

    monkeypatch.setattr(wf, "run_demo", fake_run_demo, raising=False)
    argv = ["demo", "--out", str(tmp_path), "--events", "1234", "--executor", "iterative"]
    assert main(argv) == 0
    assert seen["n_events"] == 1234 and seen["executor"] == "iterative"
    assert str(seen["out"]) == str(tmp_path)
