"""Bad configurations of regions, systematics, processes, triggers and lumi masks: one line each,
naming the key and the fix."""

from __future__ import annotations

import warnings

import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.errors import ConfigError
from hepml_coffea.processing.registry import processor_class

OPEN_DATA = ["btag.branch=Jet_btagCSVV2", "btag.threshold=0.5", "triggers=[]"]


def make(overrides=(), edit=None):
    cfg = load_analysis("ttbar_ljets", [*OPEN_DATA, *overrides])
    data = cfg.to_dict()
    if edit:
        edit(data)
    return processor_class(cfg)(data)


def events_of(path, **meta):
    md = {"dataset": "ttbar_semilep", "filename": str(path), "is_data": False, "xsec": 1.0,
          "sumw": 1e6, **meta}  # fmt: skip
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=md
    ).events()


def one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("overrides", "edit", "pattern"),
    [
        (['systematics.shapes=["jes", "jec"]'], None, r"systematics\.shapes: unknown shape .*'jec'"),
        (['systematics.weights=["pileup", "pdf"]'], None, r"'pdf'.*\[systematics\.definitions\.pdf\]"),
        ([], lambda d: d["systematics"]["definitions"]["isr"].update(kind="ratio"),
         r"systematics\.definitions\.isr\.kind must be one of"),
        ([], lambda d: d["systematics"]["definitions"]["isr"].pop("up"),
         r"systematics\.definitions\.isr .*needs the key 'up'"),
        (["systematics.jer_sf=1.1,1.2"], None, r"systematics\.jer_sf must name a correction or give 3"),
        (["systematics.jer_method=smear"], None, r"jer_method must be 'stochastic' or 'hybrid'"),
        ([], lambda d: d["processes"]["wjets"]["datasets"].append("ttbar_semilep"),
         r"'ttbar_semilep' is listed in processes\.ttbar and processes\.wjets"),
    ],
)  # fmt: skip
def test_bad_configuration_at_construction(overrides, edit, pattern):
    with pytest.raises(ConfigError, match=pattern) as exc:
        make(overrides, edit)
    one_line(exc)


@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:Dataset")
def test_region_with_unknown_selection(real_sample):
    proc = make(edit=lambda d: d["regions"].update({"5j": ["five_jets"]}))
    with pytest.raises(
        ConfigError, match=r"regions\.5j uses the selection 'five_jets'.*known:"
    ) as e:
        proc.process(events_of(real_sample("ttbar_2015")))
    one_line(e)


@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:Dataset")
def test_missing_files_and_corrections(real_sample, tmp_path, corrections_file):
    path = real_sample("ttbar_2015")
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"nope\.json.*--set systematics\.corrections=") as e:
        make([f"systematics.corrections={missing}"]).process(events_of(path))
    one_line(e)
    with pytest.raises(ConfigError, match=r"Golden JSON .*nope\.json.*--set lumi_mask=") as e:
        make([f"lumi_mask={missing}"]).process(events_of(path, is_data=True))
    one_line(e)
    bad = make([f"systematics.corrections={corrections_file}"],
               lambda d: d["systematics"]["definitions"]["pileup"].update(correction="pu_weight"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"has no correction 'pu_weight' \(it has \[") as e:
        bad.process(events_of(path))
    one_line(e)


@pytest.mark.realdata
def test_no_corrections_warns_and_keeps_every_variation(real_sample):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = make().process(events_of(real_sample("ttbar_2015")))
    msgs = {str(r.message) for r in rec if "Dataset 'ttbar_semilep'" in str(r.message)}
    assert any("'pileup' has no correctionlib file" in m for m in msgs)
    assert any("systematics.jes = 'jes_uncertainty'" in m and "--set systematics.corrections=" in m for m in msgs)  # fmt: skip
    h = out["hists"]["ht"]
    assert {"pileupUp", "JESUp", "JERDown"} <= set(h.axes["variation"])
    nominal = h[{"variation": "nominal"}].values()
    assert (h[{"variation": "pileupUp"}].values() == nominal).all()
    assert (h[{"variation": "JESUp"}].values() == nominal).all()
