"""load_fileset validation and sum_genweights, on generated and real NanoAOD files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from hepml_coffea.cli import main
from hepml_coffea.datasets import load_fileset, sum_genweights
from hepml_coffea.errors import FilesetError, MissingBranchError

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


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["dy"].__setitem__("file", d["dy"].pop("files")), r"dataset 'dy': unknown key\(s\) \['file'\]"),
        (lambda d: d["dy"].__setitem__("extra", 1), r"dataset 'dy': unknown key\(s\) \['extra'\]"),
        (lambda d: d["dy"].pop("metadata"), r"dataset 'dy': missing key\(s\) \['metadata'\]"),
        (lambda d: d["dy"]["metadata"].pop("xsec"), r"dataset 'dy': metadata lacks key\(s\) \['xsec'\]"),
        (lambda d: d["dy"]["metadata"].__setitem__("is_data", "no"), r"dataset 'dy': metadata key 'is_data'"),
        (lambda d: d["dy"]["metadata"].__setitem__("label", 3), r"dataset 'dy': metadata 'label'"),
        (lambda d: d["dy"].__setitem__("files", {"/nonexistent/x.root": "Events"}), r"dataset 'dy': file /nonexistent/x.root does not exist"),
        (lambda d: d["dy"].__setitem__("files", {k: "Evts" for k in d["dy"]["files"]}), r"dataset 'dy': file .*dy_0.root has no tree 'Evts'"),
        (lambda d: d["dy"].__setitem__("files", {}), r"dataset 'dy': 'files' is empty"),
    ],
)  # fmt: skip
def test_load_fileset_errors_are_one_line(tmp_path, good, mutate, match):
    assert load_fileset(_write(tmp_path, good))  # the unmutated one is fine
    mutate(good)
    with pytest.raises(FilesetError, match=match) as err:
        load_fileset(_write(tmp_path, good))
    assert "\n" not in str(err.value)


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
