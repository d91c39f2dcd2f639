"""Pseudo-data: golden JSON (exact number of dropped sections), signal injection, data seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from coffea.lumi_tools import LumiData, LumiMask

from hepml_coffea.cli import main
from hepml_coffea.datasets import MC_PROCESSES, generate, load_fileset


def _run_lumi(fileset) -> tuple[np.ndarray, np.ndarray]:
    arrays = [
        uproot.open(f)["Events"].arrays(["run", "luminosityBlock"], library="np")
        for f in fileset["data"]["files"]
    ]
    return (
        np.concatenate([a["run"] for a in arrays]),
        np.concatenate([a["luminosityBlock"] for a in arrays]),
    )


def _golden_pairs(path: Path) -> set[tuple[int, int]]:
    golden = json.loads(path.read_text())
    return {
        (int(run), ls)
        for run, ranges in golden.items()
        for a, b in ranges
        for ls in range(a, b + 1)
    }


def test_golden_json_drops_exactly_the_known_fraction(generated_fileset):
    fs = load_fileset(generated_fileset)
    meta = fs["data"]["metadata"]
    run, ls = _run_lumi(fs)
    assert np.all(np.diff(run.astype(np.int64) * 10_000 + ls) >= 0)  # recording order
    sections = set(zip(run.tolist(), ls.tolist(), strict=True))
    assert len(sections) == meta["n_lumi_sections"] == 40  # every section has events
    good = _golden_pairs(generated_fileset.parent / "golden.json")
    assert good <= sections
    n_drop = len(sections) - len(good)
    assert n_drop == round(0.05 * len(sections)) == 2
    assert len(good) == meta["n_lumi_sections_golden"]
    # events: plain numpy membership = coffea's LumiMask
    keep = np.array([p in good for p in zip(run.tolist(), ls.tolist(), strict=True)])
    mask = LumiMask(str(generated_fileset.parent / "golden.json"))(run, ls)
    np.testing.assert_array_equal(mask, keep)
    assert 0 < (~keep).sum() < 0.2 * len(keep)
    # luminosity: brilcalc CSV summed by coffea's LumiData = fileset lumi (golden) / recorded
    lumi = LumiData(str(generated_fileset.parent / "lumi.csv"))
    pairs = np.array(sorted(good), dtype=np.uint32)
    assert lumi.get_lumi(pairs) == pytest.approx(meta["lumi"], rel=1e-8)
    every = np.array(sorted(sections), dtype=np.uint32)
    assert lumi.get_lumi(every) == pytest.approx(meta["recorded_lumi"], rel=1e-8)
    assert meta["recorded_lumi"] == pytest.approx(meta["lumi"] * 40 / 38)
    # the events in the golden sections are a Poisson sample of the expectation at lumi
    expected = sum(p.xsec for p in MC_PROCESSES.values()) * meta["lumi"]
    assert abs(keep.sum() - expected) < 4 * np.sqrt(expected)


def test_golden_drop_fraction_zero_and_many_runs(tmp_path):
    fs = load_fileset(generate(tmp_path / "a", n_events=10, processes=["data"], lumi=5.0,
                               golden_drop_fraction=0.0, compression="zstd", progress=False))  # fmt: skip
    run, ls = _run_lumi(fs)
    sections = set(zip(run.tolist(), ls.tolist(), strict=True))
    assert _golden_pairs(tmp_path / "a" / "golden.json") == sections
    assert len(np.unique(run)) == 1
    path = generate(tmp_path / "b", n_events=10, processes=["data"], lumi=25.0,
                    golden_drop_fraction=0.1, compression="zstd", events_per_file=9000,
                    progress=False)  # fmt: skip
    fs = load_fileset(path)
    assert len(fs["data"]["files"]) > 1
    run, ls = _run_lumi(fs)
    meta = fs["data"]["metadata"]
    n_ls = meta["n_lumi_sections"]
    assert n_ls > 200 and len(np.unique(run)) == -(-n_ls // 200)
    good = _golden_pairs(tmp_path / "b" / "golden.json")
    assert n_ls - len(good) == round(0.1 * n_ls)
    assert np.all(np.diff(run.astype(np.int64) * 10_000 + ls) >= 0)
    runs_tree = np.concatenate(
        [uproot.open(f)["Runs"]["run"].array(library="np") for f in fs["data"]["files"]]
    )
    assert set(np.unique(runs_tree)) == set(np.unique(run))


@pytest.mark.parametrize("mu", [0.0, 1.5])
def test_signal_strength_scales_the_signal_in_pseudo_data(tmp_path, mu):
    lumi = 8.0
    path = generate(tmp_path, n_events=10, processes=["data"], lumi=lumi, signal_strength=mu,
                    compression="zstd", progress=False)  # fmt: skip
    meta = load_fileset(path)["data"]["metadata"]
    assert meta["signal_strength"] == mu
    rec = meta["recorded_lumi"]
    expected = sum(p.xsec * (mu if p.label == 1 else 1.0) for p in MC_PROCESSES.values()) * rec
    n = meta["n_events"]
    assert abs(n - expected) < 4 * np.sqrt(expected)
    signal = MC_PROCESSES["ttbar_semilep"].xsec * rec
    assert signal > 8 * np.sqrt(expected)  # a mis-scaled signal would fail the check above


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_seed_changes_only_the_pseudo_data(tmp_path):
    kw = dict(n_events=200, processes=["dy", "data"], lumi=0.2, compression="zstd", progress=False)
    generate(tmp_path / "a", seed=3, **kw)
    generate(tmp_path / "b", seed=3, data_seed=4, **kw)
    generate(tmp_path / "c", seed=3, data_seed=3, **kw)
    assert _sha(tmp_path / "a" / "dy_0.root") == _sha(tmp_path / "b" / "dy_0.root")
    assert _sha(tmp_path / "a" / "data_0.root") != _sha(tmp_path / "b" / "data_0.root")
    assert _sha(tmp_path / "a" / "data_0.root") == _sha(tmp_path / "c" / "data_0.root")
    meta = json.loads((tmp_path / "b" / "fileset.json").read_text())
    assert meta["data"]["metadata"]["seed"] == 4 and meta["dy"]["metadata"]["seed"] == 3


def test_cli_options_reach_the_pseudo_data(tmp_path):
    rc = main(["-q", "generate", "--out", str(tmp_path), "--events", "10", "--processes", "data",
               "--lumi", "0.5", "--compression", "zstd", "--signal-strength", "0.5",
               "--jes-shift", "-1", "--data-seed", "9", "--golden-drop-fraction", "0.1"])  # fmt: skip
    assert rc == 0
    meta = json.loads((tmp_path / "fileset.json").read_text())["data"]["metadata"]
    assert (meta["signal_strength"], meta["jes_shift"], meta["seed"]) == (0.5, -1.0, 9)
    assert meta["n_lumi_sections"] - meta["n_lumi_sections_golden"] == 4


@pytest.mark.parametrize(
    ("option", "value"),
    [("--signal-strength", "-1"), ("--jes-shift", "nan"), ("--golden-drop-fraction", "0.7")],
)
def test_cli_bad_injection_values_are_one_line_errors(tmp_path, capsys, option, value):
    rc = main(["-q", "generate", "--out", str(tmp_path), "--events", "10", option, value])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err
