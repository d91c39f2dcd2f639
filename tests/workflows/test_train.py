"""The ``train`` step: training.json vs independent recomputation, model card, overrides, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib

from hepml_coffea.errors import ConfigError

ANALYSIS = "ttbar_ljets"
REPO_ANALYSES = Path(__file__).resolve().parents[2] / "analyses"


def _mc_table(run_dir) -> pd.DataFrame:
    frames = [pd.read_parquet(f) for f in sorted((run_dir / "features").glob("*.parquet"))]
    table = pd.concat(frames, ignore_index=True)
    return table[table["label"] >= 0].reset_index(drop=True)


def _config() -> dict:
    return tomllib.loads((REPO_ANALYSES / ANALYSIS / "config.toml").read_text())


def test_training_json_split_and_auc(run_dir, bdt_dir, pairwise_auc):
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows.tables import is_test_row

    info = json.loads((bdt_dir / "training.json").read_text())
    table = _mc_table(run_dir)
    cfg = _config()["training"]
    assert info["model"] == "bdt" and info["estimator"] == "BDTClassifier"
    assert info["split"]["test_fraction"] == cfg["test_fraction"]
    # the split covers every MC row once, and is close to the configured fraction
    assert info["n_train"] + info["n_test"] == len(table)
    assert info["n_test"] / len(table) == pytest.approx(cfg["test_fraction"], abs=0.03)
    test = is_test_row(table, info["split"]["test_fraction"], info["split"]["seed"])
    assert int(test.sum()) == info["n_test"]

    est = load(bdt_dir)
    names = info["features"]
    score = est.predict_proba(table.loc[test, names])[:, 1]
    y, w = table["label"].to_numpy()[test], table["weight"].to_numpy()[test]
    assert (w < 0).any(), "the generated ttbar sample has negative weights; the check needs them"
    assert info["auc_test"] == pytest.approx(pairwise_auc(y, score, w), abs=1e-9)
    assert 0.8 < info["auc_test"] < 1.0
    # same reference as sklearn where sklearn's weighted AUC is defined (|w| ≥ 0)
    from sklearn.metrics import roc_auc_score

    assert pairwise_auc(y, score, np.abs(w)) == pytest.approx(
        roc_auc_score(y, score, sample_weight=np.abs(w)), abs=1e-9
    )


def test_model_card_carries_feature_spec(bdt_dir):
    from hepml_coffea.estimators import read_card
    from hepml_coffea.features import FeatureSpec

    _, card = read_card(bdt_dir)
    features = _config()["features"]
    assert card["feature_names"] == features
    assert list(FeatureSpec.from_dict(card["feature_spec"]).names) == features
    assert card["feature_spec"] == FeatureSpec.from_config(features).to_dict()


def test_set_override_reaches_estimator(bdt_dir):
    from hepml_coffea.estimators import load

    est = load(bdt_dir)
    assert est.max_depth == 2 and est.n_estimators == 80
    assert est.class_weight == "balanced"
    trees = est.booster_.trees_to_dataframe()
    # depth of each node = number of ancestors; a max_depth=2 tree has no node deeper than 2
    depth = {}
    for row in trees.itertuples():
        depth.setdefault(row.ID, 0)
        for child in (row.Yes, row.No):
            if isinstance(child, str):
                depth[child] = depth[row.ID] + 1
    assert max(depth.values()) == 2
    info = json.loads((bdt_dir / "training.json").read_text())
    assert "training.bdt.max_depth=2" in info["overrides"]


def test_unknown_hyperparameter_is_one_line_error(run_dir, tmp_path, capsys):
    from hepml_coffea.cli import main
    from hepml_coffea.workflows import train_model
    from hepml_coffea.workflows.train import make_estimator

    with pytest.raises(ConfigError, match=r"Unknown --set key 'training\.bdt\.foo'"):
        train_model(ANALYSIS, run_dir, "bdt", tmp_path / "m", overrides=["training.bdt.foo=3"])
    # a key that reaches the estimator (e.g. written into config.toml) is refused there
    training = {"negative_weights": "abs", "random_state": 0, "bdt": {"foo": 3}}
    with pytest.raises(ConfigError, match=r"training\.bdt has keys \['foo'\].*BDTClassifier"):
        make_estimator("bdt", training)
    assert not (tmp_path / "m").exists()
    rc = main(
        ["--quiet", "train", ANALYSIS, "--features", str(run_dir / "features"), "--model", "bdt",
         "--out", str(tmp_path / "m2"), "--set", "training.bdt.foo=3"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "'training.bdt.foo'" in err, err


def test_single_class_tables_error(run_dir, tmp_path):
    from hepml_coffea.workflows import train_model

    feats = tmp_path / "features"
    feats.mkdir()
    shutil.copy(run_dir / "features" / "ttbar_semilep.parquet", feats)
    shutil.copy(run_dir / "features" / "data.parquet", feats)  # data rows are never training rows
    with pytest.raises(ConfigError, match=r"found labels \[1\]"):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()


def test_retrain_into_same_folder(run_dir, tmp_path):
    """A second training into a folder holding an older model and training.json loads cleanly."""
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows import train_model

    out = tmp_path / "m"
    sets = ["training.bdt.n_estimators=5"]
    train_model(ANALYSIS, run_dir, "bdt", out, overrides=sets, progress=False)
    train_model(
        ANALYSIS, run_dir, "bdt", out, overrides=["training.bdt.n_estimators=7"], progress=False
    )
    assert load(out).n_estimators == 7
