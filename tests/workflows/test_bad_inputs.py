"""Issue #6 bad inputs 8–14, each through the library and through the CLI.

Every case must give one line naming the thing that is wrong and how to fix it; the CLI exits
with 2 and prints no traceback. Cases 1–7 (files, trees, branches, filesets) are in
``tests/processing/test_runner.py`` and ``tests/test_cli_run.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hepml_coffea.cli import main
from hepml_coffea.config import load_analysis
from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.workflows import apply_models, train_model

ANALYSIS = "ttbar_ljets"
FAST = ["--set", "training.bdt.n_estimators=5"]


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI, check exit code 2 and one stderr line without traceback; return the line."""
    rc = main(["--quiet", *map(str, argv)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def train_cli(capsys, features: Path, out: Path) -> str:
    return cli_error(capsys, "train", ANALYSIS, "--features", features, "--model", "bdt",
                     "--out", out, *FAST)  # fmt: skip


def copy_tables(run_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "features"
    shutil.copytree(run_dir / "features", out, ignore=shutil.ignore_patterns("*.root"))
    return out


# -- 8: NaN / inf features at training ---------------------------------------------------------------
def test_nan_and_inf_features_at_training(run_dir, tmp_path, capsys):
    feats = copy_tables(run_dir, tmp_path)
    table = feats / "wjets.parquet"
    df = pd.read_parquet(table)
    df.loc[df.index[:3], "m_jj"] = np.nan
    df.loc[df.index[5], "ht"] = np.inf
    df.to_parquet(table)
    pattern = r"wjets\.parquet has 4 rows with NaN or infinite values in \['ht', 'm_jj'\]"
    with pytest.raises(ConfigError, match=pattern):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    err = train_cli(capsys, feats, tmp_path / "m2")
    assert "wjets.parquet" in err and "['ht', 'm_jj']" in err and "re-run it" in err
    assert not (tmp_path / "m").exists() and not (tmp_path / "m2").exists()


# -- 9: single-class labels ----------------------------------------------------------------------------
def test_single_class_labels(run_dir, tmp_path, capsys):
    feats = copy_tables(run_dir, tmp_path)
    (feats / "ttbar_semilep.parquet").unlink()  # no signal left
    with pytest.raises(ConfigError, match=r"found labels \[0\]"):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    err = train_cli(capsys, feats, tmp_path / "m2")
    assert "found labels [0]" in err and "'label' metadata" in err


# -- 10: zero total weight -------------------------------------------------------------------------------
def test_zero_total_weight(run_dir, tmp_path, capsys):
    feats = copy_tables(run_dir, tmp_path)
    for table in feats.glob("*.parquet"):
        df = pd.read_parquet(table)
        if (df["label"] == 0).any():
            df["weight"] = 0.0
            df.to_parquet(table)
    with pytest.raises(ConfigError, match=r"background events of the training split .* total training weights .* 0 \("):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    err = train_cli(capsys, feats, tmp_path / "m2")
    assert "background" in err and "'xsec'" in err and "total training weights" in err


# -- 11: feature-name mismatch at apply ------------------------------------------------------------------
def test_feature_mismatch_at_apply(bdt_dir, generated_fileset, tmp_path, capsys):
    with pytest.raises(ModelError, match=r"swapped.*(names and order must be equal|different order)"):
        apply_models(ANALYSIS, generated_fileset, [_swapped(bdt_dir, tmp_path)], tmp_path / "a",
                     progress=False)  # fmt: skip
    err = cli_error(capsys, "apply", ANALYSIS, "--fileset", generated_fileset,
                    "--model", _swapped(bdt_dir, tmp_path / "cli"), "--out", tmp_path / "a2")  # fmt: skip
    assert "swapped" in err and ("names and order must be equal" in err or "different order" in err)
    assert not (tmp_path / "a" / "run.json").exists()
    assert not (tmp_path / "a2" / "run.json").exists()


def _swapped(bdt_dir: Path, where: Path) -> Path:
    """The BDT with two features swapped in its card's spec (its hashes still match)."""
    from hepml_coffea.features import FeatureSpec

    bad = where / "swapped"
    shutil.copytree(bdt_dir, bad)
    card_file = bad / "model_card.json"
    card = json.loads(card_file.read_text())
    names = list(card["feature_names"])
    names[0], names[1] = names[1], names[0]
    card["feature_spec"] = FeatureSpec.from_config(names).to_dict()
    card_file.write_text(json.dumps(card))
    return bad


# -- 12: tampered model file ------------------------------------------------------------------------------
def test_tampered_model(bdt_dir, generated_fileset, tmp_path, capsys):
    bad = tmp_path / "tampered"
    shutil.copytree(bdt_dir, bad)
    card = json.loads((bad / "model_card.json").read_text())
    with (bad / sorted(card["files"])[0]).open("ab") as f:
        f.write(b" ")
    with pytest.raises(ModelError, match=r"SHA-256 .* modified after saving"):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "a", progress=False)
    err = cli_error(capsys, "apply", ANALYSIS, "--fileset", generated_fileset, "--model", bad,
                    "--out", tmp_path / "a2")  # fmt: skip
    assert "SHA-256" in err and str(bad) in err


# -- 13: a model of the wrong type --------------------------------------------------------------------------
def test_wrong_model_type(bdt_dir, run_dir, generated_fileset, tmp_path, capsys):
    bad = tmp_path / "svc"
    shutil.copytree(bdt_dir, bad)
    card_file = bad / "model_card.json"
    card_file.write_text(json.dumps({**json.loads(card_file.read_text()), "estimator": "SVC"}))
    with pytest.raises(ModelError, match=r"names estimator 'SVC'.*known: \["):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "a", progress=False)
    err = cli_error(capsys, "apply", ANALYSIS, "--fileset", generated_fileset, "--model", bad,
                    "--out", tmp_path / "a2")  # fmt: skip
    assert "'SVC'" in err and "BDTClassifier" in err
    # not a model at all: the run folder
    err = cli_error(capsys, "apply", ANALYSIS, "--fileset", generated_fileset, "--model", run_dir,
                    "--out", tmp_path / "a3")  # fmt: skip
    assert "holds no model_card.json" in err


# -- 14: unknown --set key -----------------------------------------------------------------------------------
def test_unknown_set_key(generated_fileset, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"Unknown --set key 'btag\.brnach'.*btag\.branch"):
        load_analysis(ANALYSIS, overrides=["btag.brnach=Jet_btagCSVV2"])
    err = cli_error(capsys, "run", ANALYSIS, "--fileset", generated_fileset,
                    "--out", tmp_path / "r", "--set", "btag.brnach=Jet_btagCSVV2")  # fmt: skip
    assert "'btag.brnach'" in err and "btag.branch" in err
    assert not (tmp_path / "r").exists()
