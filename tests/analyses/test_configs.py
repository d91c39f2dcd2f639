"""The reference analysis configurations load, resolve their processors and are complete."""

from __future__ import annotations

import pytest

from hepml_coffea.config import load_analysis
from hepml_coffea.errors import ConfigError
from hepml_coffea.features import FeatureSpec, registered_features
from hepml_coffea.processing.registry import processor_class


@pytest.mark.parametrize(
    ("name", "cls", "cuts"),
    [
        (
            "ttbar_ljets",
            "TTbarLJetsProcessor",
            ("all", "trigger", "lumi_mask", "one_lepton", "four_jets", "one_btag"),
        ),
        (
            "dimuon",
            "DimuonProcessor",
            ("all", "trigger", "lumi_mask", "two_muons", "opposite_charge", "mass_window"),
        ),
    ],
)
def test_processor_resolves(name, cls, cuts):
    cfg = load_analysis(name)
    klass = processor_class(cfg)
    assert klass.__name__ == cls and klass.cut_names == cuts
    assert cfg["lumi"] > 0


def test_ttbar_features_and_training_defaults():
    cfg = load_analysis("ttbar_ljets")
    spec = FeatureSpec.from_config(cfg["features"])
    required = {"lep_pt", "lep_eta", "n_jets", "n_bjets", "ht", "met", "mt_w", "m_jj", "m_jjb",
                "m_top_lep", "dr_bb", "min_dr_lb", "sphericity", "aplanarity"}  # fmt: skip
    required |= {f"jet{i}_{v}" for i in range(1, 5) for v in ("pt", "eta", "btag")}
    assert required <= set(spec.names) <= set(registered_features())
    assert 0 < cfg["training.test_fraction"] < 1
    assert cfg["training.negative_weights"] in {"ignore", "abs", "keep"}
    assert cfg["training.bdt.max_depth"] >= 1 and cfg["training.dnn.epochs"] >= 1


def test_ttbar_regions_systematics_processes():
    cfg = load_analysis("ttbar_ljets")
    proc = processor_class(cfg)(cfg.to_dict())
    assert proc.regions == {"4j1b": ("!two_btags",), "4j2b": ("two_btags",)}
    syst = proc.systematics
    assert [v.name for v in syst.shape_variations()] == [
        "nominal", "JESUp", "JESDown", "JERUp", "JERDown"]  # fmt: skip
    assert len(syst.weight_variations()) >= 12  # >= 6 weight systematics, up and down
    assert proc.processes["ttbar"].label == r"$t\bar{t}$"
    assert "ttbar_semilep" in proc.processes["ttbar"].datasets
    assert cfg["triggers"] == ["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"]


def test_open_data_overrides():
    cfg = load_analysis("ttbar_ljets", ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5"])
    proc = processor_class(cfg)(cfg.to_dict())
    assert proc.config["btag"] == {"branch": "Jet_btagCSVV2", "threshold": 0.5}
    with pytest.raises(ConfigError, match=r"Did you mean btag\.threshold"):
        load_analysis("ttbar_ljets", ["btag.treshold=0.5"])
