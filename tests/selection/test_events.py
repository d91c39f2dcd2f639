"""Event-level selection helpers: the golden JSON lookup against coffea's LumiMask, trigger paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepml_coffea.errors import ConfigError
from hepml_coffea.selection.events import GoldenJSON, parse_regions, trigger_paths


def test_golden_json_equals_coffea_lumimask(tmp_path):
    from coffea.lumi_tools import LumiMask

    rng = np.random.default_rng(5)
    golden = {}
    for run in (273158, 273302, 297050, 315267):
        edges = np.sort(rng.choice(np.arange(6, 400), 12, replace=False))
        golden[str(run)] = [[int(a), int(b)] for a, b in edges.reshape(-1, 2)]
    golden["297050"].insert(0, [5, 5])  # a single lumi section
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(golden))
    run = rng.choice([273158, 273302, 297050, 315267, 999999], 20_000).astype(np.uint32)
    lumi = rng.integers(0, 420, 20_000).astype(np.uint32)
    ours = GoldenJSON(path)(run, lumi)
    np.testing.assert_array_equal(ours, LumiMask(str(path))(run, lumi))
    assert 0.1 < ours.mean() < 0.9
    assert GoldenJSON(path)(np.array([297050]), np.array([5]))[0]


def test_golden_json_overlapping_ranges_and_bad_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"1": [[1, 10], [3, 5], [20, 20]]}))
    got = GoldenJSON(path)(np.ones(6, int), np.array([0, 1, 7, 10, 11, 20]))
    np.testing.assert_array_equal(got, [False, True, True, True, False, True])
    path.write_text('{"1": [1, 10]}')
    with pytest.raises(ConfigError, match=r"g\.json.*--set lumi_mask="):
        GoldenJSON(path)


def test_trigger_paths_per_dataset_and_process():
    table = {"triggers": {"default": ["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"],
                          "SingleMuon": ["HLT_IsoMu24"], "ttbar": []}}  # fmt: skip
    assert trigger_paths(table, {"dataset": "SingleMuon"}) == ["HLT_IsoMu24"]
    assert trigger_paths(table, {"dataset": "x", "process": "ttbar"}) == []
    assert trigger_paths(table, {"dataset": "x"}) == ["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"]
    assert trigger_paths(table, {"dataset": "x", "triggers": ["HLT_Mu50"]}) == ["HLT_Mu50"]
    assert trigger_paths({"triggers": ["HLT_A"]}, {"dataset": "x"}) == ["HLT_A"]
    assert trigger_paths({}, {"dataset": "x"}) == []


def test_regions_default_and_bad_table():
    assert parse_regions({}) == {"selected": ()}
    assert parse_regions({"regions": {"SR": ["a", "!b"]}}) == {"SR": ("a", "!b")}
    with pytest.raises(ConfigError, match="regions must be a table"):
        parse_regions({"regions": ["SR"]})


def test_processed_luminosity_equals_coffea_lumidata(tmp_path):
    from coffea.lumi_tools import LumiData

    from hepml_coffea.selection.events import processed_luminosity

    lines = ["#Data tag : test , Norm tag: None",
             "#run:fill,ls,time,beamstatus,E(GeV),delivered(/pb),recorded(/pb),avgpu,source"]  # fmt: skip
    rng = np.random.default_rng(2)
    rec = {}
    for run in (316000, 316001):
        for ls in range(1, 60):
            rec[(run, ls)] = float(rng.uniform(0.05, 0.2))
            lines.append(f"{run}:7000,{ls}:{ls},01/01/25 00:00:00,STABLE BEAMS,6500,"
                         f"{rec[(run, ls)]:.10g},{rec[(run, ls)]:.10g},30.0,HFOC")  # fmt: skip
    csv = tmp_path / "lumi.csv"
    csv.write_text("\n".join(lines) + "\n")
    sections = {(316000, ls) for ls in range(3, 40)} | {(316001, 7), (316001, 59), (999, 1)}
    got = processed_luminosity(sections, csv)
    expected = sum(rec.get(s, 0.0) for s in sections)
    assert got == pytest.approx(expected, rel=1e-9)
    ref = LumiData(str(csv)).get_lumi(np.array(sorted(s for s in sections if s[0] != 999)))
    assert got == pytest.approx(ref, rel=1e-6)
