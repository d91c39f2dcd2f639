"""Processor contract: picklable, does not mutate events, clear errors for branches and metadata."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from hepml_coffea.config import load_analysis
from hepml_coffea.errors import ConfigError, MissingBranchError
from hepml_coffea.processing.base import AnalysisProcessor
from hepml_coffea.processing.registry import processor_class

pytestmark = [pytest.mark.realdata, pytest.mark.filterwarnings("ignore:Dataset 'dy'")]


def events_of(path, **meta):
    metadata = {"dataset": "dy", "filename": str(path), **meta}
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=metadata
    ).events()


def make(analysis, overrides=()):
    cfg = load_analysis(analysis, list(overrides))
    return processor_class(cfg)(cfg.to_dict())


MC = {"is_data": False, "xsec": 100.0, "sumw": 1e6, "label": 0}


@pytest.mark.parametrize("analysis", ["ttbar_ljets", "dimuon"])
def test_cloudpickle_round_trip_gives_same_output(real_sample, analysis):
    proc = make(analysis)
    assert isinstance(proc, AnalysisProcessor)
    clone = cloudpickle.loads(cloudpickle.dumps(proc))
    assert clone.cut_names == proc.cut_names and clone.config == proc.config
    a = proc.process(events_of(real_sample("dy"), **MC))
    b = clone.process(events_of(real_sample("dy"), **MC))
    assert a["dy"]["cutflow"] == b["dy"]["cutflow"]
    assert a["hists"].keys() == b["hists"].keys() and len(a["hists"]) > 1
    for k in a["hists"]:
        assert a["hists"][k].axes == b["hists"][k].axes
        np.testing.assert_array_equal(a["hists"][k].values(), b["hists"][k].values())


def test_process_does_not_mutate_events(real_sample):
    events = events_of(real_sample("dy"), **MC)
    fields = list(events.fields)
    jet_fields = list(events.Jet.fields)
    meta = dict(events.metadata)
    pt_before = events.Jet.pt.to_list()
    make("ttbar_ljets").process(events)
    assert list(events.fields) == fields and list(events.Jet.fields) == jet_fields
    assert dict(events.metadata) == meta
    assert events.Jet.pt.to_list() == pt_before


@pytest.mark.parametrize(
    ("overrides", "branch", "key"),
    [
        (["btag.branch=Jet_btagDeepFlavBB"], "Jet_btagDeepFlavBB", "btag.branch"),
        (["met.branch=PFMET"], "PFMET_pt", "met.branch"),
        (["muons.iso_branch=Muon_miniIsoX"], "Muon_miniIsoX", "muons.iso_branch"),
    ],
)
def test_missing_branch_error_names_branch_dataset_file_and_key(
    real_sample, overrides, branch, key
):
    path = real_sample("dy")
    with pytest.raises(MissingBranchError) as exc:
        make("ttbar_ljets", overrides).process(events_of(path, **MC))
    msg = str(exc.value)
    assert "\n" not in msg
    assert repr(branch) in msg and "'dy'" in msg and str(path) in msg and f"--set {key}=" in msg


def test_missing_branch_suggests_close_names(real_sample):
    with pytest.raises(MissingBranchError, match="close: Jet_btagDeepFlavB"):
        make("ttbar_ljets", ["btag.branch=Jet_btagDeepFlavBB"]).process(
            events_of(real_sample("dy"), **MC)
        )


def test_mc_without_genweight_is_a_missing_branch(real_sample):
    # the dimuon data file has no genWeight: treating it as MC must fail clearly
    with pytest.raises(MissingBranchError, match="'genWeight'"):
        make("dimuon").process(events_of(real_sample("dimuon_data"), **MC))


def test_mc_without_sumw_tells_to_use_the_engine(real_sample):
    meta = {k: v for k, v in MC.items() if k != "sumw"}
    with pytest.raises(ConfigError, match=r"no 'sumw'.*hepml-coffea run"):
        make("ttbar_ljets").process(events_of(real_sample("dy"), **meta))


def test_jet_id_can_be_switched_off(real_sample):
    # NanoAOD v15 has no Jet_jetId: with jets.jet_id=false the branch is never read
    on = make("ttbar_ljets").process(events_of(real_sample("dy"), **MC))["dy"]
    off = make("ttbar_ljets", ["jets.jet_id=false", "jets.id_branch=Jet_doesNotExist"]).process(
        events_of(real_sample("dy"), **MC)
    )["dy"]
    assert off["cutflow"]["one_lepton"] == on["cutflow"]["one_lepton"]
    with pytest.raises(MissingBranchError, match=r"jets\.id_branch"):
        make("ttbar_ljets", ["jets.id_branch=Jet_doesNotExist"]).process(
            events_of(real_sample("dy"), **MC)
        )
