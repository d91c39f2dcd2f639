"""Analysis configuration values: NaN, wrong numeric types and missing keys are one-line errors."""

from __future__ import annotations

import copy
import pickle
import shutil
from pathlib import Path

import pytest

from hepml_coffea.config import ConfigDict, find_analysis, load_analysis
from hepml_coffea.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("cuts.min_jets=4.5", r"cuts\.min_jets: expected an integer \(like 4\); got 4\.5"),
        ("cuts.min_jets=nan", r"cuts\.min_jets: NaN is not a valid value"),
        ("muons.pt_min=nan", r"muons\.pt_min: NaN"),
        ("lumi=nan", r"lumi: NaN"),
    ],
)
def test_bad_override_values(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_analysis("ttbar_ljets", [override])


def test_integral_float_for_an_integer_becomes_int() -> None:
    cfg = load_analysis("ttbar_ljets", ["cuts.min_jets=5.0", "muons.pt_min=30"])
    assert cfg["cuts.min_jets"] == 5 and type(cfg["cuts.min_jets"]) is int
    assert cfg["muons.pt_min"] == 30.0 and type(cfg["muons.pt_min"]) is float


def _copy_analysis(tmp_path: Path, edit) -> Path:
    src = find_analysis("ttbar_ljets")
    dst = tmp_path / "ana"
    shutil.copytree(src, dst)
    toml = dst / "config.toml"
    toml.write_text(edit(toml.read_text()))
    # the processor path is relative to the analysis folder: point it back at the original
    text = toml.read_text()
    proc = load_analysis(src)["processor"]
    rel = (src / proc.split(":")[0]).resolve()
    toml.write_text(text.replace(proc.split(":")[0], str(rel)))
    return dst


def test_nan_in_the_file_is_refused(tmp_path: Path) -> None:
    folder = _copy_analysis(tmp_path, lambda t: t.replace("pt_min = 25.0", "pt_min = nan", 1))
    with pytest.raises(ConfigError, match=r"config\.toml: muons\.pt_min is NaN"):
        load_analysis(folder)


def test_missing_key_names_key_and_file(tmp_path: Path) -> None:
    folder = _copy_analysis(tmp_path, lambda t: t.replace("min_bjets = 1", "", 1))
    config = load_analysis(folder).to_dict()
    for c in (config, pickle.loads(pickle.dumps(config)), copy.deepcopy(config)):
        with pytest.raises(ConfigError, match=r"config\.toml has no key 'cuts\.min_bjets'"):
            c["cuts"]["min_bjets"]
    assert isinstance(config["cuts"], ConfigDict) and config["cuts"]["min_jets"] == 4
