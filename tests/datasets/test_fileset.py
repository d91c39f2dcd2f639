"""load_fileset validation and sum_genweights, on generated and real NanoAOD files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from hepml_coffea.cli import main
from hepml_coffea.errors import FilesetError, MissingBranchError
from hepml_coffea.filesets import load_fileset, sum_genweights

META = {"is_data": False, "xsec": 1.0, "process": "dy", "label": 0}


@pytest.mark.realdata
def test_real_samples_load_and_sum_genweights(tmp_path, real_sample):
    spec = {
        "dy": {"files": {str(real_sample("dy")): "Events"}, "metadata": META},
        "tt2015": {"files": [str(real_sample("ttbar_2015"))], "metadata": META | {"label": 1}},
        "data": {
            "files": {str(real_sample("dimuon_data")): {"object_path": "Events"}},
            "metadata": META | {"is_data": True, "label": -1, "xsec": 0.0},
        },
    }
    path = tmp_path / "real.json"
    path.write_text(json.dumps(spec))
    fs = load_fileset(path)
    assert fs["tt2015"]["files"] == {str(real_sample("ttbar_2015")): "Events"}
    assert fs["data"]["files"] == {str(real_sample("dimuon_data")): "Events"}

    ref = uproot.open(real_sample("dy"))["Runs"]["genEventSumw_"].array(library="np").sum()
    assert sum_genweights(fs["dy"]["files"]) == pytest.approx(ref, rel=1e-12)
    ref_tt = uproot.open(real_sample("ttbar_2015"))["Events"]["genWeight"].array(library="np")
    with pytest.warns(UserWarning, match="no Runs/genEventSumw"):
        total = sum_genweights(fs["tt2015"]["files"])
    assert total == pytest.approx(ref_tt.astype(np.float64).sum(), rel=1e-12)
    with pytest.raises(MissingBranchError, match="no Events/genWeight"):
        sum_genweights(fs["data"]["files"])


def test_sum_genweights_generated(generated_fileset):
    fs = load_fileset(generated_fileset)
    for name in ("ttbar_semilep", "dy"):
        files = fs[name]["files"]
        ref = sum(
            uproot.open(f)["Events"]["genWeight"].array(library="np").astype(np.float64).sum()
            for f in files
        )
        assert sum_genweights(files) == pytest.approx(ref, rel=1e-9)
        assert sum_genweights(list(files)) == pytest.approx(ref, rel=1e-9)


def _write(tmp_path, spec):
    path = tmp_path / "fs.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def good(generated_fileset):
    raw = json.loads(generated_fileset.read_text())
    base = generated_fileset.parent
    (f,) = raw["dy"]["files"]
    return {"dy": {"files": {str(base / f): "Events"}, "metadata": raw["dy"]["metadata"]}}


def _set(key, value):
    return lambda d: d["dy"]["metadata"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["dy"].__setitem__("file", d["dy"].pop("files")), r"dataset 'dy' in .*fs.json: unknown key 'file'; did you mean 'files'\?"),
        (lambda d: d["dy"].__setitem__("extra", 1), r"dataset 'dy' in .*: unknown key 'extra'; a dataset has 'files'"),
        (lambda d: d["dy"]["metadata"].pop("xsec"), r"dataset 'dy' in .*: simulation needs metadata 'xsec'"),
        (lambda d: d["dy"]["metadata"].__setitem__("lumii", 59830.0), r"metadata key 'lumii' is not known; did you mean 'lumi'"),
        (lambda d: d["dy"]["metadata"].__setitem__("xsecs", 1.0), r"metadata key 'xsecs' is not known; did you mean 'xsec'"),
        (lambda d: d["dy"]["metadata"].__setitem__("isdata", True), r"did you mean 'is_data'"),
        (_set("is_data", "no"), r"dataset 'dy' in .*: metadata 'is_data' must be true or false"),
        (_set("label", 2.5), r"dataset 'dy' in .*: metadata 'label' must be an integer"),
        (_set("lumi", "abc"), r"metadata 'lumi' must be a finite number > 0 .*got 'abc'"),
        (_set("lumi", 0), r"metadata 'lumi' must be a finite number > 0"),
        (_set("lumi", -5.0), r"metadata 'lumi' must be a finite number > 0"),
        (_set("lumi", float("inf")), r"metadata 'lumi' must be a finite number > 0"),
        (_set("xsec", float("nan")), r"metadata 'xsec' must be a finite number > 0 .*got nan"),
        (_set("xsec", -1.0), r"metadata 'xsec' must be a finite number > 0"),
        (_set("xsec", True), r"metadata 'xsec' must be a finite number > 0"),
        (lambda d: d.__setitem__("dy2", {"files": list(d["dy"]["files"]), "metadata": {"lumi": 1.0, "xsec": 1.0}}) or _set("lumi", 2.0)(d), r"datasets in .*fs.json disagree on metadata 'lumi' \(dy: 2, dy2: 1\)"),
        (lambda d: d["dy"].__setitem__("files", {}), r"dataset 'dy' in .*: 'files' is empty"),
        (lambda d: d["dy"].__setitem__("files", 3), r"'files' must be a list of paths"),
    ],
)  # fmt: skip
def test_load_fileset_errors_are_one_line(tmp_path, good, mutate, match):
    assert load_fileset(_write(tmp_path, good), require_xsec=True)  # the unmutated one is fine
    mutate(good)
    with pytest.raises(FilesetError, match=match) as err:
        load_fileset(_write(tmp_path, good), require_xsec=True)
    assert "\n" not in str(err.value)


def test_coffea_forms_defaults_and_extra_metadata(tmp_path):
    """coffea's {dataset: [paths]} and {dataset: {"files": ...}} forms, with defaults filled."""
    spec = {
        "DYJets": ["a.root", "root://eospublic.cern.ch//eos/opendata/x.root"],
        "SingleMuon": {
            "files": {"b.root": "Events", "https://example.org/c.root": {"object_path": "T"}},
            "metadata": {"is_data": True, "era": "2016G", "golden": {"runs": [1]}},
        },
        "TT": {"files": ["t.root"], "metadata": {"xsec": 831.76, "label": "ttbar", "lumi": 59.8}},
    }
    fs = load_fileset(_write(tmp_path, spec))
    assert fs["DYJets"]["files"] == {
        str(tmp_path / "a.root"): "Events",
        "root://eospublic.cern.ch//eos/opendata/x.root": "Events",  # URLs unchanged
    }
    assert fs["DYJets"]["metadata"] == {"is_data": False, "process": "DYJets", "label": 0}
    assert fs["SingleMuon"]["files"] == {
        str(tmp_path / "b.root"): "Events",
        "https://example.org/c.root": "T",
    }
    meta = fs["SingleMuon"]["metadata"]
    assert meta["label"] == -1 and meta["process"] == "SingleMuon"
    assert meta["era"] == "2016G" and meta["golden"] == {"runs": [1]}  # unknown keys kept
    assert fs["TT"]["metadata"]["label"] == "ttbar"
    with pytest.raises(FilesetError, match=r"'DYJets'.*needs metadata 'xsec'"):
        load_fileset(_write(tmp_path, spec), require_xsec=True)


def test_relative_paths_resolve_against_the_json_folder(tmp_path, generated_fileset):
    fs = load_fileset(generated_fileset)
    assert all(str(generated_fileset.parent) in f for d in fs.values() for f in d["files"])
    with pytest.raises(FilesetError, match="does not exist"):
        load_fileset(tmp_path / "missing.json")


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "gen"
    rc = main(["-q", "generate", "--events", "500", "--out", str(out), "--compression", "zstd"])
    assert rc == 0
    assert f"wrote fileset {out / 'fileset.json'}" in capsys.readouterr().out
    fs = load_fileset(out / "fileset.json")
    assert set(fs) == {"ttbar_semilep", "wjets", "single_top", "dy", "data"}
    (f,) = fs["wjets"]["files"]
    assert uproot.open(f)["Events"].num_entries == 500


def test_cli_generate_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--events" in text and "--compression" in text
