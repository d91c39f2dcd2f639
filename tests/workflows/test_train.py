"""The ``train`` step: training.json vs independent recomputation, model card, overrides, errors."""

from __future__ import annotations

import json
import re
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


def _copy_tables(run_dir, dest, edit=None) -> Path:
    """The MC tables of ``run_dir`` (and run.json), optionally edited, in a new folder."""
    feats = dest / "features"
    feats.mkdir(parents=True)
    shutil.copy(run_dir / "run.json", dest / "run.json")
    for f in sorted((run_dir / "features").glob("*.parquet")):
        df = pd.read_parquet(f)
        if edit is not None:
            df = edit(f.stem, df)
        df.to_parquet(feats / f.name)
    return dest


def test_training_json_is_covered_by_the_card_hashes(bdt_dir):
    from hepml_coffea.estimators import read_card
    from hepml_coffea.workflows.train import read_training_info

    _, card = read_card(bdt_dir)
    assert "training.json" in card["files"]
    assert read_training_info(bdt_dir) == json.loads((bdt_dir / "training.json").read_text())


def test_too_few_events_per_class_refused_before_training(run_dir, tmp_path):
    """5 signal events once gave 'test AUC 1.0' with exit 0."""
    from hepml_coffea.workflows import train_model

    def five_signal(name, df):
        return df[df["label"] == 1].head(5) if name == "ttbar_semilep" else df

    feats = _copy_tables(run_dir, tmp_path / "few", five_signal)
    with pytest.raises(ConfigError, match=r"has \d signal events .* >= 20 events of each class"):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()
    # k-fold: every fold is checked
    with pytest.raises(
        ConfigError, match=r"k-fold fold \d \(event % 2 == \d\) has \d signal events"
    ):
        train_model(ANALYSIS, feats, "kfold-bdt", tmp_path / "m", progress=False)


def test_all_negative_weights_refused_before_training(run_dir, tmp_path):
    """All-negative background weights once saved a loadable model, then crashed (exit 1)."""
    from hepml_coffea.workflows import train_model

    def negative(name, df):
        if name != "ttbar_semilep":
            df = df.assign(weight=-df["weight"].abs())
        return df

    feats = _copy_tables(run_dir, tmp_path / "neg", negative)
    with pytest.raises(
        ConfigError, match=r"background events of the test split .* total weights -"
    ):
        train_model(ANALYSIS, feats, "bdt", tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()
    # with negative_weights='keep' the training weights themselves are refused
    with pytest.raises(ConfigError, match=r"training split .*\(negative_weights='keep'\) -"):
        train_model(
            ANALYSIS, feats, "dnn", tmp_path / "m", progress=False,
            overrides=["training.negative_weights=keep"],
        )  # fmt: skip
    assert not (tmp_path / "m").exists()


def test_out_file_refused_before_training(run_dir, tmp_path, monkeypatch, capsys):
    import hepml_coffea.workflows.train as train
    from hepml_coffea.cli import main

    def no_fit(*args, **kwargs):
        raise AssertionError("training started although --out is a file")

    monkeypatch.setattr(train, "make_estimator", no_fit)
    target = tmp_path / "model.txt"
    target.write_text("keep me")
    rc = main(["--quiet", "train", ANALYSIS, "--features", str(run_dir), "--out", str(target)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"--out {target} is a file" in err, err
    assert target.read_text() == "keep me"


def test_disk_full_is_one_line_naming_the_file(run_dir, tmp_path, monkeypatch, capsys):
    import errno

    from hepml_coffea.cli import main

    real_write = Path.write_bytes

    def full(self, *args, **kwargs):
        if "training.json" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "m"
    rc = main(
        ["--quiet", "train", ANALYSIS, "--features", str(run_dir), "--out", str(out),
         "--set", "training.bdt.n_estimators=3"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and re.search("no space left on (the )?device", err, re.I), err
    assert "training.json" in err
    assert not (out / "model_card.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "hdf5-pandas", "hdf5-h5py", "root"])
def test_train_reads_csv_hdf5_root_tables(run_dir, tmp_path, fmt):
    """Hand-written tables in other formats (no run.json) train the same model as Parquet."""
    import h5py

    from hepml_coffea.workflows import train_model

    sets = ["training.bdt.n_estimators=10", "training.bdt.max_depth=2"]
    ref = train_model(ANALYSIS, run_dir, "bdt", tmp_path / "ref", overrides=sets, progress=False)
    assert ref
    folder = tmp_path / fmt
    folder.mkdir()
    for f in sorted((run_dir / "features").glob("*.parquet")):
        df = pd.read_parquet(f)
        if fmt == "csv":
            df.to_csv(folder / f"{f.stem}.csv", index=False)
        elif fmt == "hdf5-pandas":
            df.to_hdf(folder / f"{f.stem}.h5", key="events", format="table")
        elif fmt == "hdf5-h5py":
            with h5py.File(folder / f"{f.stem}.hdf5", "w") as h:
                h["events"] = df.to_records(index=False)
        else:
            shutil.copy(run_dir / "features" / f"{f.stem}.root", folder)
    train_model(ANALYSIS, folder, "bdt", tmp_path / "m", overrides=sets, progress=False)
    got = json.loads((tmp_path / "m" / "training.json").read_text())
    want = json.loads((tmp_path / "ref" / "training.json").read_text())
    assert (got["n_train"], got["n_test"]) == (want["n_train"], want["n_test"])
    assert got["auc_test"] == pytest.approx(want["auc_test"], abs=1e-9)


MC_SETS = ["training.bdt.n_estimators=30", "training.bdt.max_depth=3", "training.test_fraction=0.5"]


@pytest.fixture(scope="module")
def multiclass_dir(run_dir, tmp_path_factory) -> Path:
    from hepml_coffea.workflows import train_model

    out = tmp_path_factory.mktemp("multiclass") / "mc"
    train_model(ANALYSIS, run_dir, "bdt", out, overrides=MC_SETS, progress=False, multiclass=True)
    return out


def test_multiclass_training_classes_and_scores(run_dir, multiclass_dir, pairwise_auc):
    from hepml_coffea.estimators import load, signal_score
    from hepml_coffea.workflows.tables import is_test_row

    info = json.loads((multiclass_dir / "training.json").read_text())
    assert info["classes"] == ["ttbar", "wjets", "single_top_dy"] == list(_config()["classes"])
    assert info["signal_class"] == "ttbar"
    est = load(multiclass_dir)
    assert est.classes_.tolist() == [0, 1, 2]
    # classes by hand: each MC dataset's process (run.json) → its class in config.toml
    datasets = json.loads((run_dir / "run.json").read_text())["datasets"]
    of_process = {"ttbar": 0, "wjets": 1, "single_top": 2, "dy": 2}
    frames = [
        pd.read_parquet(run_dir / "features" / f"{ds}.parquet").assign(
            cls=of_process[meta["process"]]
        )
        for ds, meta in sorted(datasets.items())
        if not meta["is_data"]
    ]
    table = pd.concat(frames, ignore_index=True)
    y = table["cls"].to_numpy()
    assert sorted(set(y)) == [0, 1, 2]
    test = is_test_row(table, info["split"]["test_fraction"], info["split"]["seed"])
    assert (info["n_train"], info["n_test"]) == (int((~test).sum()), int(test.sum()))
    proba = est.predict_proba(table[info["features"]])
    assert proba.shape == (len(table), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # the signal score of the 3-class model is P(ttbar); the recorded AUC is ttbar vs the rest
    s = signal_score(est, table.loc[test, info["features"]])
    np.testing.assert_array_equal(s, proba[test, 0])
    w = table["weight"].to_numpy()[test]
    assert info["auc_test"] == pytest.approx(pairwise_auc(y[test] == 0, s, w), abs=1e-9)
    assert info["auc_test"] > 0.75
    # the softmax separates the backgrounds too: W+jets events score highest as W+jets on average
    wj = y == 1
    assert proba[wj, 1].mean() > proba[~wj, 1].mean() + 0.1


def test_multiclass_scorer_writes_one_column_per_class(run_dir, multiclass_dir):
    from hepml_coffea.config import load_analysis
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows.apply import make_scorers

    (scorer,) = make_scorers([multiclass_dir], load_analysis(ANALYSIS))
    assert scorer.class_names == ["ttbar", "wjets", "single_top_dy"]
    assert scorer.columns == ["score_mc_ttbar", "score_mc_wjets", "score_mc_single_top_dy"]
    assert scorer.signal_column == "score_mc_ttbar"
    info = json.loads((multiclass_dir / "training.json").read_text())
    assert scorer.score_cut == info["selection"]["optimal_cut"]
    table = pd.read_parquet(run_dir / "features" / "wjets.parquet")
    X = table[scorer.feature_names].to_numpy(np.float32)
    cols = scorer.score_columns(X)
    proba = load(multiclass_dir).predict_proba(table[scorer.feature_names])
    for i, c in enumerate(scorer.columns):
        np.testing.assert_allclose(cols[c], proba[:, i], atol=1e-6)


def test_multiclass_needs_every_dataset_in_a_class(run_dir, tmp_path):
    from hepml_coffea.workflows import train_model

    with pytest.raises(ConfigError, match=r"Dataset 'dy' \(process 'dy'\) belongs to no class"):
        train_model(
            ANALYSIS, run_dir, "bdt", tmp_path / "m", multiclass=True, progress=False,
            overrides=['classes.single_top_dy=["single_top"]'],
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"needs at least 3"):
        from hepml_coffea.workflows.tables import class_definitions

        class_definitions({"a": ["x"], "b": ["y"]})


def test_regression_target_trains_a_regressor(run_dir, tmp_path, capsys):
    """train --target: a BDTRegressor of a continuous column; RMSE and response vs numpy."""
    from hepml_coffea.cli import main
    from hepml_coffea.estimators import BDTRegressor, load
    from hepml_coffea.workflows.tables import is_test_row

    # a per-object-like table written by hand: the target is a known function of two columns
    rng = np.random.default_rng(3)
    n = 3000
    pt = rng.uniform(30, 300, n)
    eta = rng.uniform(-2.4, 2.4, n)
    ratio = 1.1 - 0.1 * np.exp(-pt / 100) + 0.02 * np.abs(eta) + rng.normal(0, 0.01, n)
    df = pd.DataFrame(
        {"Jet_pt": pt, "Jet_eta": eta, "pt_ratio": ratio, "run": 1,
         "luminosityBlock": np.arange(n) // 100, "event": np.arange(n), "index": 0}
    )  # fmt: skip
    folder = tmp_path / "jets"
    folder.mkdir()
    df.to_csv(folder / "ttbar.csv", index=False)
    out = tmp_path / "reg"
    rc = main(
        ["--quiet", "train", ANALYSIS, "--features", str(folder), "--model", "bdt", "--target",
         "pt_ratio", "--columns", "Jet_pt,Jet_eta", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    est = load(out)
    assert isinstance(est, BDTRegressor)
    info = json.loads((out / "training.json").read_text())
    assert info["target"] == "pt_ratio" and info["features"] == ["Jet_pt", "Jet_eta"]
    test = is_test_row(df, info["split"]["test_fraction"], info["split"]["seed"])
    pred = est.predict(df.loc[test, ["Jet_pt", "Jet_eta"]])
    rmse = float(np.sqrt(np.mean((pred - ratio[test]) ** 2)))
    assert info["test"]["rmse"] == pytest.approx(rmse, rel=1e-6)
    assert info["test"]["rmse"] < 0.5 * info["test_before"]["rmse"]
    assert info["test"]["response"] == pytest.approx(np.median(pred / ratio[test]), abs=2e-3)
    assert info["test_before"]["response"] == pytest.approx(np.median(1 / ratio[test]), abs=2e-3)
    with pytest.raises(ConfigError, match="--target trains a regressor"):
        from hepml_coffea.workflows import train_model

        train_model(ANALYSIS, folder, "kfold-bdt", tmp_path / "r2", target="pt_ratio",
                    columns=["Jet_pt"])  # fmt: skip


def test_alternative_samples_are_never_training_rows(run_dir, tmp_path):
    """A dataset that run.json marks as a variation (e.g. ttbar_tuneUp) is left out of training."""
    from hepml_coffea.workflows.tables import read_tables

    names = _config()["features"]
    feats = _copy_tables(run_dir, tmp_path / "alt")
    info = json.loads((feats / "run.json").read_text())
    info["datasets"]["wjets"]["variation"] = "ttbar_tuneUp"
    (feats / "run.json").write_text(json.dumps(info))
    table = read_tables(feats, names)
    assert "wjets" not in set(table["dataset"])
    assert len(table) == len(_mc_table(run_dir)) - len(
        pd.read_parquet(feats / "features" / "wjets.parquet")
    )


def test_multiclass_from_hand_written_csv_with_class_name_labels(run_dir, tmp_path):
    """CSV tables whose label column holds class names (no run.json) train a 3-class model."""
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows import train_model

    of_file = {
        "ttbar_semilep": "ttbar",
        "wjets": "wjets",
        "single_top": "single_top_dy",
        "dy": "single_top_dy",
    }
    folder = tmp_path / "csv"
    folder.mkdir()
    counts = {}
    for f in sorted((run_dir / "features").glob("*.parquet")):
        if f.stem not in of_file:
            continue
        df = pd.read_parquet(f).assign(label=of_file[f.stem])
        df.to_csv(folder / f"sample_{f.stem}.csv", index=False)  # file names say nothing
        counts[of_file[f.stem]] = counts.get(of_file[f.stem], 0) + len(df)
    assert len(counts) == 3
    out = tmp_path / "m"
    train_model(ANALYSIS, folder, "bdt", out, overrides=MC_SETS, progress=False, multiclass=True)
    info = json.loads((out / "training.json").read_text())
    assert info["n_train"] + info["n_test"] == sum(counts.values())
    assert load(out).classes_.tolist() == [0, 1, 2]


def test_run_table_format_csv_hdf5_then_train(generated_fileset, run_dir, tmp_path, capsys):
    """run --table-format csv,hdf5 writes only those tables, with the Parquet rows, and train
    reads them."""
    from hepml_coffea.cli import main
    from hepml_coffea.workflows.tables import read_table

    out = tmp_path / "run"
    rc = main(
        ["--quiet", "run", ANALYSIS, "--fileset", str(generated_fileset), "--out", str(out),
         "--table-format", "csv,hdf5", "--executor", "iterative"]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    files = sorted(p.name for p in (out / "features").iterdir())
    ref = sorted((run_dir / "features").glob("*.parquet"))
    assert files == sorted([f"{p.stem}.csv" for p in ref] + [f"{p.stem}.h5" for p in ref])
    for p in ref:
        want = pd.read_parquet(p)
        for suffix in (".csv", ".h5"):
            got = read_table(out / "features" / f"{p.stem}{suffix}")
            assert list(got.columns) == list(want.columns)
            np.testing.assert_array_equal(got["event"].to_numpy(), want["event"].to_numpy())
            np.testing.assert_allclose(got["weight"], want["weight"], rtol=1e-15)
            np.testing.assert_allclose(got["ht"], want["ht"], rtol=1e-6)
    rc = main(["--quiet", "train", ANALYSIS, "--features", str(out), "--out", str(tmp_path / "m"),
               "--set", "training.bdt.n_estimators=5"])  # fmt: skip
    assert rc == 0
    n = json.loads((tmp_path / "m" / "training.json").read_text())
    assert n["n_train"] + n["n_test"] == len(_mc_table(run_dir))
    assert main(["--quiet", "run", ANALYSIS, "--fileset", str(generated_fileset), "--out",
                 str(tmp_path / "x"), "--table-format", "xlsx"]) == 2  # fmt: skip
