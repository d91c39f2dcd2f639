"""Workspace building: modifiers, symmetrisation, pruning, and the bad inputs, against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest
from fit_helpers import EDGES, SHAPES, toy_templates, write_root

from hepml_coffea.errors import ConfigError, FilesetError, InputFileError
from hepml_coffea.statistics import FitConfig, build_workspace, read_templates
from hepml_coffea.workflows.fit import load_fit_config, load_workspace


def _modifiers(spec, region, sample):
    channel = next(c for c in spec["channels"] if c["name"] == region)
    s = next(s for s in channel["samples"] if s["name"] == sample)
    return {(m["name"], m["type"]): m["data"] for m in s["modifiers"]}, s


def test_read_templates_round_trip(toy_root):
    t = read_templates(toy_root, "score_bdt")
    ref = toy_templates()
    assert sorted(t.regions) == ["CR", "SR"]
    assert set(t.processes()) == {"ttbar", "wjets", "single_top", "data"}
    np.testing.assert_array_equal(t.edges, EDGES)
    assert t.xlabel == "BDT score"
    assert set(t.values) == set(ref.values)
    for key, values in ref.values.items():
        np.testing.assert_allclose(t.values[key], values, rtol=1e-12)
        np.testing.assert_allclose(t.variances[key], ref.variances[key], rtol=1e-12)


def test_modifiers_match_hand_computation():
    t = toy_templates()
    spec, pruning, _ = build_workspace(t, FitConfig(lumi_uncertainty=0.016, prune_threshold=0.005))
    mods, sample = _modifiers(spec, "SR", "ttbar")
    n = np.asarray(SHAPES["ttbar"]["SR"])
    np.testing.assert_allclose(sample["data"], n)
    assert mods[("mu", "normfactor")] is None
    assert mods[("lumi", "normsys")] == {"hi": 1.016, "lo": 0.984}
    np.testing.assert_allclose(mods[("staterror_SR", "staterror")], np.sqrt(0.01 * n))
    # JES: normsys = yield ratio, histosys = the shape at the nominal yield
    x = np.linspace(-1, 1, n.size)
    up, down = n * (1.03 + 0.08 * x), n * (0.97 - 0.08 * x)
    assert mods[("JES", "normsys")]["hi"] == pytest.approx(up.sum() / n.sum(), rel=1e-12)
    assert mods[("JES", "normsys")]["lo"] == pytest.approx(down.sum() / n.sum(), rel=1e-12)
    np.testing.assert_allclose(mods[("JES", "histosys")]["hi_data"], up * n.sum() / up.sum())
    np.testing.assert_allclose(mods[("JES", "histosys")]["lo_data"], down * n.sum() / down.sum())
    # btag is a pure normalisation: its histosys is pruned, the normsys kept
    assert mods[("btag", "normsys")] == pytest.approx({"hi": 1.05, "lo": 0.95})
    assert ("btag", "histosys") not in mods
    # one-sided alternative sample: down = 2 nominal - up
    tune_up = n * (1 + 0.06 * x)
    tune_down = 2 * n - tune_up
    assert mods[("ttbar_tune", "normsys")]["lo"] == pytest.approx(tune_down.sum() / n.sum())
    np.testing.assert_allclose(
        mods[("ttbar_tune", "histosys")]["lo_data"], tune_down * n.sum() / tune_down.sum()
    )
    # negligible systematic: pruned, and recorded as such
    assert ("tiny", "normsys") not in mods and ("tiny", "histosys") not in mods
    tiny = [e for e in pruning if e.systematic == "tiny" and e.region == "SR"]
    assert len(tiny) == 6 and not any(e.kept for e in tiny)
    assert all(e.symmetrised for e in pruning if e.systematic == "ttbar_tune")
    # the alternative sample's variation is empty for the other processes: no modifier there
    wmods, _ = _modifiers(spec, "SR", "wjets")
    assert not any(name == "ttbar_tune" for name, _ in wmods)
    assert ("mu", "normfactor") not in wmods
    # observations are the data histograms
    obs = {o["name"]: o["data"] for o in spec["observations"]}
    np.testing.assert_allclose(obs["CR"], t.get("CR", "data"))
    pyhf.Workspace(spec)  # valid against pyhf's schema


def test_pruning_threshold_and_switches():
    t = toy_templates()
    spec, *_ = build_workspace(
        t, FitConfig(prune_threshold=0.04, lumi_uncertainty=0.0, mc_stat=False)
    )
    mods, _ = _modifiers(spec, "SR", "wjets")
    # wjets btag is 2 % (pruned at 4 %), JES normsys 0.83 % pruned, JES shape 12 % kept
    assert set(mods) == {("JES", "histosys")}
    spec, *_ = build_workspace(t, FitConfig(regions=("SR",)))
    assert [c["name"] for c in spec["channels"]] == ["SR"]


def test_missing_region_and_observable(toy_root):
    t = read_templates(toy_root, "score_bdt")
    with pytest.raises(
        ConfigError, match=r"region\(s\) \['VR'\] not in .*available: \['SR', 'CR'\]"
    ):
        build_workspace(t, FitConfig(regions=("SR", "VR")))
    with pytest.raises(ConfigError, match=r"observable 'm_jjb' not found in .*'score_bdt'"):
        read_templates(toy_root, "m_jjb")
    with pytest.raises(InputFileError, match="does not exist"):
        read_templates(toy_root.parent / "nothing.root", "score_bdt")


def test_missing_variation_for_one_process(tmp_path):
    path = write_root(tmp_path / "h.root", toy_templates(), skip=("CR", "wjets", "JESDown"))
    t = read_templates(path, "score_bdt")
    with pytest.raises(
        FilesetError, match="variation 'JESDown' is missing for process 'wjets' in region 'CR'"
    ):
        build_workspace(t, FitConfig())


def test_empty_bin_without_mc():
    t = toy_templates(systematics=False)
    for p in ("ttbar", "wjets", "single_top"):
        t.values[("SR", p, "nominal")][2] = 0.0
    with pytest.raises(
        FilesetError,
        match=r"bin 2 \[0.4, 0.6\) of 'score_bdt' in region 'SR' has no MC prediction but 215",
    ):
        build_workspace(t, FitConfig())
    # empty in MC and in data: no information, the bin is left out of the model
    t.values[("SR", "data", "nominal")][2] = 0.0
    spec, _, bins = build_workspace(t, FitConfig())
    np.testing.assert_array_equal(bins["SR"], [0, 1, 3, 4])
    np.testing.assert_array_equal(bins["CR"], np.arange(5))
    sr = next(c for c in spec["channels"] if c["name"] == "SR")
    ttbar = next(s for s in sr["samples"] if s["name"] == "ttbar")
    np.testing.assert_allclose(ttbar["data"], np.asarray(SHAPES["ttbar"]["SR"])[[0, 1, 3, 4]])
    obs = next(o for o in spec["observations"] if o["name"] == "SR")["data"]
    np.testing.assert_allclose(obs, t.get("SR", "data")[[0, 1, 3, 4]])
    pyhf.Workspace(spec).model()


def test_no_data_unknown_signal_and_nan(tmp_path):
    t = toy_templates(systematics=False)
    del t.values[("CR", "data", "nominal")]
    with pytest.raises(FilesetError, match="no data histogram score_bdt/CR/data/nominal"):
        build_workspace(t, FitConfig())
    t = toy_templates(systematics=False)
    with pytest.raises(ConfigError, match=r"signal process\(es\) \['tth'\] not in the regions"):
        build_workspace(t, FitConfig(signal=("tth",)))
    t.values[("SR", "wjets", "nominal")][0] = np.nan
    path = write_root(tmp_path / "nan.root", t)
    with pytest.raises(FilesetError, match=r"score_bdt/SR/wjets/nominal .* holds NaN"):
        read_templates(path, "score_bdt")


def test_workspace_rejected_by_pyhf(tmp_path):
    spec, *_ = build_workspace(toy_templates(), FitConfig())
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "x", "type": "shapesysx", "data": None}
    )
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=f"pyhf rejects {path}: "):
        load_workspace(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not JSON"):
        load_workspace(path)


def test_fit_config_from_run_json_and_overrides(tmp_path):
    (tmp_path / "run.json").write_text(
        json.dumps(
            {"config": {"fit": {"signal": ["ttbar", "single_top"], "lumi_uncertainty": 0.025}}}
        )
    )
    cfg = load_fit_config(tmp_path, ["prune_threshold=0.01", "fit.regions=['SR']"])
    assert cfg == FitConfig(
        signal=("ttbar", "single_top"),
        lumi_uncertainty=0.025,
        prune_threshold=0.01,
        regions=("SR",),
    )
    assert load_fit_config(tmp_path / "elsewhere") == FitConfig()
    with pytest.raises(ConfigError, match=r"Unknown --set key 'fit\.lumi_unc'"):
        load_fit_config(tmp_path, ["lumi_unc=0.1"])
    with pytest.raises(ConfigError, match="lumi_uncertainty is relative"):
        FitConfig.from_mapping({"lumi_uncertainty": 1.6})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['poi'\]"):
        FitConfig.from_mapping({"poi": "mu"})
