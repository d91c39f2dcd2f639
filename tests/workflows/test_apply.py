"""The ``apply`` step: friend-tree scores vs the saved model on the training tables, k-fold by
``event % k``, input-file entries, score/after-cut histograms, and model errors before any event."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import uproot

from hepml_coffea.errors import ModelError

ANALYSIS = "ttbar_ljets"
ID = ["run", "luminosityBlock", "event"]


def _friends(apply_dir, dataset) -> pd.DataFrame:
    files = sorted((apply_dir / "friends" / dataset).glob("*_friend.root"))
    assert files, f"no friend tree for {dataset}"
    frames = []
    for f in files:
        with uproot.open(f) as fh:
            frames.append(fh["Friends"].arrays(library="pd").assign(_file=f.name))
    return pd.concat(frames, ignore_index=True)


def _datasets(run_dir) -> dict:
    return json.loads((run_dir / "run.json").read_text())["datasets"]


def test_friend_scores_equal_model_on_tables(run_dir, apply_dir, bdt_dir):
    from hepml_coffea.estimators import load

    est = load(bdt_dir)
    names = list(est.feature_names_in_)
    n_checked = 0
    for dataset in _datasets(run_dir):
        table = pd.read_parquet(run_dir / "features" / f"{dataset}.parquet")
        friends = _friends(apply_dir, dataset)
        # every selected event has exactly one friend row, and no other event has one
        assert len(friends) == len(table)
        assert not friends.duplicated(ID).any()
        merged = table.merge(friends, on=ID, how="inner", validate="one_to_one")
        assert len(merged) == len(table)
        expected = est.predict_proba(merged[names])[:, 1]
        np.testing.assert_allclose(merged["score_bdt"].to_numpy(), expected, rtol=0, atol=1e-6)
        n_checked += len(merged)
    assert n_checked > 1000


def test_friend_entry_points_to_input_event(run_dir, apply_dir):
    info = _datasets(run_dir)
    for dataset, meta in info.items():
        friends = _friends(apply_dir, dataset)
        by_stem = {
            f"{p.rsplit('/', 1)[-1].removesuffix('.root')}_friend.root": p for p in meta["files"]
        }
        for fname, rows in friends.groupby("_file"):
            with uproot.open(by_stem[fname]) as fh:
                ids = fh["Events"].arrays(ID, library="np")
            entry = rows["entry"].to_numpy()
            assert np.all(np.diff(entry) > 0), "friend rows are sorted by entry"
            for col in ID:
                np.testing.assert_array_equal(ids[col][entry], rows[col].to_numpy())


def test_kfold_scores_use_event_mod_k(apply_dir, kfold_dir, run_dir):
    from hepml_coffea.estimators import load

    est = load(kfold_dir)
    k = est.n_splits
    assert k == 2 and len(est.estimators_) == k
    names = list(est.feature_names_in_)
    table = pd.read_parquet(run_dir / "features" / "ttbar_semilep.parquet")
    merged = table.merge(_friends(apply_dir, "ttbar_semilep"), on=ID, validate="one_to_one")
    X = merged[names].to_numpy()
    fold = (merged["event"].to_numpy() % k).astype(int)
    per_fold = np.column_stack([e.predict_proba(X)[:, 1] for e in est.estimators_])
    own = per_fold[np.arange(len(X)), fold]
    other = per_fold[np.arange(len(X)), 1 - fold]
    got = merged["score_kbdt"].to_numpy()
    np.testing.assert_allclose(got, own, rtol=0, atol=1e-6)
    assert set(fold) == {0, 1}
    assert np.mean(np.abs(got - other) > 1e-3) > 0.5, "the other fold's model would differ"


def _hist(apply_dir, key):
    with uproot.open(apply_dir / "histograms.root") as f:
        return f[key].to_hist()


def _process_tables(apply_dir, models=()) -> dict[str, pd.DataFrame]:
    """The apply tables merged by physics process (the histograms' process axis), with the
    honest-weight factor of each model in ``models`` as column ``honest_<model>``."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for dataset, meta in _datasets(apply_dir).items():
        table = pd.read_parquet(apply_dir / "features" / f"{dataset}.parquet")
        ids = [table[c].to_numpy() for c in ID]
        for m in models:
            table[f"honest_{m.name}"] = m.honest_weight(dataset, *ids)
        frames.setdefault(meta["process"], []).append(table)
    return {p: pd.concat(f, ignore_index=True) for p, f in frames.items()}


def _scorers(*dirs):
    from hepml_coffea.config import load_analysis
    from hepml_coffea.workflows.apply import make_scorers

    return make_scorers(list(dirs), load_analysis(ANALYSIS))


REGIONS = ("4j1b", "4j2b")  # [regions] of config.toml: together every selected event


def test_score_histograms_total_weight(apply_dir, bdt_dir, kfold_dir):
    """Score histograms hold each event with weight x honest_weight: the events the split BDT
    trained on are left out and its test events scaled up; the k-fold model keeps all."""
    models = _scorers(bdt_dir, kfold_dir)
    n_checked = 0
    left_out = 0
    for process, table in _process_tables(apply_dir, models).items():
        for m in models:
            w = table["weight"].to_numpy() * table[f"honest_{m.name}"].to_numpy()
            left_out += int((table[f"honest_{m.name}"] == 0).sum())
            hs = [_hist(apply_dir, f"score_{m.name}/{r}/{process}/nominal") for r in REGIONS]
            total = sum(h.values(flow=True).sum() for h in hs)
            assert total == pytest.approx(w.sum(), rel=1e-9, abs=1e-9)
            edges = hs[0].axes[0].edges
            x = np.clip(table[f"score_{m.name}"], edges[0], np.nextafter(edges[-1], 0))
            # weights² per bin: the stored variances of a Weight histogram
            w2, _ = np.histogram(x, bins=edges, weights=w**2)
            got = sum(h.variances(flow=True) for h in hs)
            got = np.concatenate([[got[0] + got[1]], got[2:-2], [got[-2] + got[-1]]])
            np.testing.assert_allclose(got, w2, rtol=1e-9, atol=1e-12)
            n_checked += len(table)
    assert n_checked > 1000
    assert left_out > 100, "the split BDT's training events are left out"


def test_after_cut_histograms_equal_hand_fill(apply_dir, bdt_dir):
    cut = json.loads((bdt_dir / "training.json").read_text())["selection"]["optimal_cut"]
    assert 0.0 < cut < 1.0
    names = json.loads((apply_dir / "run.json").read_text())["feature_names"]
    n_passed = 0
    (bdt,) = _scorers(bdt_dir)
    tables = _process_tables(apply_dir, [bdt])
    for process in ("ttbar", "wjets", "data"):
        table = tables[process]
        passed = table[table["score_bdt"] >= cut]
        n_passed += len(passed)
        for feat in ("ht", "m_jjb", names[0]):
            h = _hist(apply_dir, f"{feat}/pass_bdt/{process}/nominal")
            edges = h.axes[0].edges
            x = passed[feat].to_numpy(np.float64)
            w = passed["weight"].to_numpy() * passed["honest_bdt"].to_numpy()
            ref, _ = np.histogram(x, bins=edges, weights=w)
            np.testing.assert_allclose(h.values(), ref, rtol=1e-9, atol=1e-9)
            assert h.values(flow=True).sum() == pytest.approx(w.sum(), rel=1e-9, abs=1e-9)
            # the histograms of the regions (no model cut) hold every selected event, unscaled
            before = sum(
                _hist(apply_dir, f"{feat}/{r}/{process}/nominal").values(flow=True).sum()
                for r in REGIONS
            )
            assert before == pytest.approx(table["weight"].sum(), rel=1e-9, abs=1e-9)
    assert n_passed > 50


def test_tampered_model_fails_before_any_event(tmp_path, bdt_dir, generated_fileset, monkeypatch):
    import hepml_coffea.processing.runner as runner
    from hepml_coffea.workflows import apply_models

    bad = tmp_path / "tampered"
    shutil.copytree(bdt_dir, bad)
    card = json.loads((bad / "model_card.json").read_text())
    model_file = bad / sorted(card["files"])[0]
    with model_file.open("ab") as f:
        f.write(b" ")

    def no_events(*args, **kwargs):
        raise AssertionError("events were processed with a tampered model")

    monkeypatch.setattr(runner, "run_processor", no_events)
    with pytest.raises(ModelError, match=r"SHA-256 .* modified after saving"):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "run.json").exists()


def _no_events(monkeypatch):
    import hepml_coffea.processing.runner as runner

    def no_events(*args, **kwargs):
        raise AssertionError("events were processed with a model that should have been refused")

    monkeypatch.setattr(runner, "run_processor", no_events)


def _edit_card(folder, edit) -> None:
    card_file = folder / "model_card.json"
    card = json.loads(card_file.read_text())
    edit(card)
    card_file.write_text(json.dumps(card))


def test_repadded_model_spec_refused_before_any_event(
    tmp_path, bdt_dir, generated_fileset, monkeypatch
):
    from hepml_coffea.workflows import apply_models

    bad = tmp_path / "repadded"
    shutil.copytree(bdt_dir, bad)

    def repad(card):
        for item in card["feature_spec"]["features"]:
            if item["name"] == "dr_bb":
                item["pad"] = -2.0

    _edit_card(bad, repad)  # same names and order: the old names-only check accepted it
    _no_events(monkeypatch)
    with pytest.raises(
        ModelError, match=r"'dr_bb' pads with -2\.0 in model .* but -1\.0 in the analysis"
    ):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "run.json").exists()


def test_swapped_model_spec_refused(tmp_path, bdt_dir, generated_fileset, monkeypatch):
    from hepml_coffea.workflows import apply_models

    bad = tmp_path / "swapped"
    shutil.copytree(bdt_dir, bad)

    def swap(card):  # spec and fitted names swapped consistently: the card itself is coherent
        feats = card["feature_spec"]["features"]
        feats[0], feats[1] = feats[1], feats[0]
        names = card["feature_names"]
        names[0], names[1] = names[1], names[0]

    _edit_card(bad, swap)
    _no_events(monkeypatch)
    with pytest.raises(ModelError, match=r"different order: feature 0 is 'lep_eta' in model"):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "out", progress=False)


def test_apply_model_to_analysis_without_features_refused(
    tmp_path, bdt_dir, generated_fileset, capsys
):
    from hepml_coffea.cli import main

    rc = main(
        ["--quiet", "apply", "dimuon", "--fileset", str(generated_fileset), "--model",
         str(bdt_dir), "--out", str(tmp_path / "out"), "--executor", "iterative"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "'dimuon' computes no feature table" in err, err
    assert not (tmp_path / "out" / "run.json").exists()


def test_training_json_is_hash_checked_before_its_cut_is_used(
    tmp_path, bdt_dir, generated_fileset, monkeypatch
):
    from hepml_coffea.estimators import read_card
    from hepml_coffea.workflows import apply_models

    _, card = read_card(bdt_dir)
    assert "training.json" in card["files"], "training.json must be covered by the card's hashes"
    bad = tmp_path / "edited_cut"
    shutil.copytree(bdt_dir, bad)
    info = json.loads((bad / "training.json").read_text())
    info["selection"]["optimal_cut"] = 0.01
    (bad / "training.json").write_text(json.dumps(info))
    _no_events(monkeypatch)
    with pytest.raises(ModelError, match=r"SHA-256 of .*training\.json"):
        apply_models(ANALYSIS, generated_fileset, [bad], tmp_path / "out", progress=False)


def test_score_cut_resolution(tmp_path, bdt_dir):
    from hepml_coffea.config import load_analysis
    from hepml_coffea.workflows.apply import make_scorers, resolve_score_cut

    optimal = json.loads((bdt_dir / "training.json").read_text())["selection"]["optimal_cut"]
    assert resolve_score_cut(bdt_dir, -1.0) == (optimal, "training.json")
    assert resolve_score_cut(bdt_dir, 0.25) == (0.25, "apply.score_cut")
    (scorer,) = make_scorers([bdt_dir], load_analysis(ANALYSIS))
    assert type(scorer.score_cut) is float and scorer.score_cut == optimal
    (scorer,) = make_scorers([bdt_dir], load_analysis(ANALYSIS, ["apply.score_cut=0.4"]))
    assert scorer.score_cut == 0.4

    # a model without training.json (e.g. wrapped from a plain xgboost file): no silent default
    bare = tmp_path / "bare"
    shutil.copytree(bdt_dir, bare)
    (bare / "training.json").unlink()
    _edit_card(bare, lambda card: card["files"].pop("training.json"))
    with pytest.raises(ModelError, match=r"no hash-checked training\.json.*--set apply\.score_cut"):
        make_scorers([bare], load_analysis(ANALYSIS))
    (scorer,) = make_scorers([bare], load_analysis(ANALYSIS, ["apply.score_cut=0.3"]))
    assert scorer.score_cut == 0.3


def test_scorer_scores_numpy_and_pickles_without_model(run_dir, bdt_dir, kfold_dir):
    import pickle

    from hepml_coffea.estimators import load
    from hepml_coffea.processing.inference import ModelScorer

    table = pd.read_parquet(run_dir / "features" / "wjets.parquet")
    for folder in (bdt_dir, kfold_dir):
        est = load(folder)
        names = list(est.feature_names_in_)
        X = table[names].to_numpy(np.float32)
        event = table["event"].to_numpy()
        scorer = ModelScorer(folder, 0.5)
        got = scorer.score(X, event=event)
        kw = {"event": event} if folder == kfold_dir else {}
        np.testing.assert_allclose(got, est.predict_proba(table[names], **kw)[:, 1], atol=1e-6)
        assert scorer.score_columns(X, event=event).keys() == {f"score_{folder.name}"}
        blob = pickle.dumps(scorer)  # after loading: the model never travels
        assert len(blob) < 20_000
        again = pickle.loads(blob)
        assert again._model is None
        np.testing.assert_array_equal(again.score(X, event=event), got)
    assert scorer.score(np.zeros((0, len(names)), np.float32)).shape == (0,)
    with pytest.raises(ModelError, match=f"expects {len(names)} features"):
        scorer.score(np.zeros((3, 2), np.float32))


def test_stale_friend_trees_of_an_earlier_apply_removed(tmp_path, apply_dir):
    from hepml_coffea.workflows.apply import write_friend_trees

    out = tmp_path / "apply"
    shutil.copytree(apply_dir, out)
    stale = [
        out / "friends" / "gone_dataset" / "x_friend.root",
        out / "friends" / "wjets" / "old_friend.root",
    ]
    for f in stale:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"stale")
    written = write_friend_trees(out)
    assert not any(f.exists() for f in stale)
    on_disk = sorted((out / "friends").rglob("*_friend.root"))
    assert on_disk == sorted(written) and len(written) > 0


def test_honest_weight_leaves_out_the_events_a_model_trained_on(run_dir, bdt_dir, kfold_dir):
    from hepml_coffea.config import load_analysis
    from hepml_coffea.workflows.apply import make_scorers
    from hepml_coffea.workflows.tables import is_test_row

    bdt, kbdt = make_scorers([bdt_dir, kfold_dir], load_analysis(ANALYSIS))
    info = json.loads((bdt_dir / "training.json").read_text())
    frac, seed = info["split"]["test_fraction"], info["split"]["seed"]
    datasets = _datasets(run_dir)
    mc = [ds for ds, m in datasets.items() if not m["is_data"]]
    assert sorted(info["datasets"]) == sorted(mc)
    n_test = 0
    for ds in datasets:
        table = pd.read_parquet(run_dir / "features" / f"{ds}.parquet")
        ids = [table[c].to_numpy() for c in ID]
        f = bdt.honest_weight(ds, *ids)
        np.testing.assert_array_equal(kbdt.honest_weight(ds, *ids), 1.0)  # out-of-fold
        if ds not in mc:
            np.testing.assert_array_equal(f, 1.0)
            continue
        test = is_test_row(table, frac, seed)
        np.testing.assert_array_equal(f, np.where(test, 1.0 / frac, 0.0))
        n_test += int(test.sum())
    assert n_test == info["n_test"]  # exactly the events train judged the model on


def test_apply_keeps_parquet_for_its_friend_trees(tmp_path, bdt_dir, generated_fileset, apply_dir):
    from hepml_coffea.workflows import apply_models

    out = tmp_path / "out"
    apply_models(ANALYSIS, generated_fileset, [bdt_dir], out, progress=False, table_formats=["csv"])
    suffixes = {p.suffix for p in (out / "features").iterdir()}
    assert suffixes == {".csv", ".parquet"}
    want = sorted(p.relative_to(apply_dir) for p in (apply_dir / "friends").rglob("*.root"))
    assert sorted(p.relative_to(out) for p in (out / "friends").rglob("*.root")) == want


@pytest.mark.slow
def test_multiclass_model_applied_end_to_end(tmp_path, run_dir, generated_fileset):
    """A 3-class model writes score_<model>_<class> columns, friend branches and histograms."""
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows import apply_models, train_model

    model = tmp_path / "mc"
    sets = ["training.bdt.n_estimators=20", "training.test_fraction=0.5"]
    train_model(ANALYSIS, run_dir, "bdt", model, overrides=sets, progress=False, multiclass=True)
    out = tmp_path / "apply"
    apply_models(ANALYSIS, generated_fileset, [model], out, progress=False)
    cols = ["score_mc_ttbar", "score_mc_wjets", "score_mc_single_top_dy"]
    est = load(model)
    for dataset in _datasets(out):
        table = pd.read_parquet(out / "features" / f"{dataset}.parquet")
        proba = est.predict_proba(table[list(est.feature_names_in_)])
        np.testing.assert_allclose(table[cols].to_numpy(), proba, atol=1e-6)
        friends = _friends(out, dataset)
        assert set(cols) <= set(friends.columns) and len(friends) == len(table)
    (scorer,) = _scorers(model)
    for process, table in _process_tables(out, [scorer]).items():
        w = table["weight"] * table["honest_mc"]
        for c in cols:
            total = sum(
                _hist(out, f"{c}/{r}/{process}/nominal").values(flow=True).sum() for r in REGIONS
            )
            assert total == pytest.approx(w.sum(), rel=1e-9, abs=1e-9)


def _plain_xgboost_model(run_dir, tmp_path):
    """A model trained with plain xgboost on the run tables, wrapped with from_xgboost and saved
    with the analysis' feature spec: no hepml-coffea training, no training.json."""
    import xgboost as xgb

    from hepml_coffea.config import load_analysis
    from hepml_coffea.estimators import from_xgboost
    from hepml_coffea.features import FeatureSpec

    features = load_analysis(ANALYSIS).get("features")
    frames = [pd.read_parquet(f) for f in sorted((run_dir / "features").glob("*.parquet"))]
    table = pd.concat(frames, ignore_index=True)
    table = table[table["label"].astype(int) >= 0]
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgb.DMatrix(table[features].to_numpy(np.float32), label=table["label"].astype(int)),
        num_boost_round=15,
    )
    booster.save_model(tmp_path / "plain.json")
    est = from_xgboost(tmp_path / "plain.json", feature_names=features)
    folder = est.save(tmp_path / "plain", feature_spec=FeatureSpec.from_config(features).to_dict())
    return folder, booster, features


def test_model_wrapped_from_plain_xgboost_is_applied(run_dir, tmp_path):
    import xgboost as xgb

    from hepml_coffea.config import load_analysis
    from hepml_coffea.workflows.apply import make_scorers

    folder, booster, features = _plain_xgboost_model(run_dir, tmp_path)
    with pytest.raises(ModelError, match=r"no hash-checked training\.json.*apply\.score_cut"):
        make_scorers([folder], load_analysis(ANALYSIS))
    (scorer,) = make_scorers([folder], load_analysis(ANALYSIS, ["apply.score_cut=0.5"]))
    table = pd.read_parquet(run_dir / "features" / "wjets.parquet")
    X = table[features].to_numpy(np.float32)
    want = booster.predict(xgb.DMatrix(X))
    np.testing.assert_allclose(scorer.score(X), want, rtol=0, atol=1e-6)


def test_bdt_scorer_imports_neither_tensorflow_nor_coffea_ml_tools(bdt_dir, run_dir):
    """Scoring with a BDT in a fresh process loads no TensorFlow (coffea.ml_tools would)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from hepml_coffea.processing.inference import ModelScorer\n"
        f"s = ModelScorer({str(bdt_dir)!r}, 0.5)\n"
        f"t = pd.read_parquet({str(run_dir / 'features' / 'wjets.parquet')!r})\n"
        "x = s.score(t[s.feature_names].to_numpy(np.float32))\n"
        "print(len(x), 'tensorflow' in sys.modules, 'coffea.ml_tools' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n = len(pd.read_parquet(run_dir / "features" / "wjets.parquet"))
    assert out.stdout.split() == [str(n), "False", "False"], out.stderr


def test_run_json_records_the_models_and_which_mc_fills_their_scores(apply_dir, bdt_dir, kfold_dir):
    """plot reads run.json to say on each score plot which MC events it holds."""
    from pathlib import Path

    from hepml_coffea.workflows.plot import _score_notes
    from hepml_coffea.workflows.train import read_training_info

    info = json.loads((apply_dir / "run.json").read_text())
    models = info["models"]
    bdt, kfold = Path(bdt_dir).name, Path(kfold_dir).name
    assert set(models) == {bdt, kfold}
    assert models[kfold]["kfold"] is True and models[bdt]["kfold"] is False
    f = read_training_info(bdt_dir)["split"]["test_fraction"]
    assert models[bdt]["honest"] == f"test split only (weights x {1 / f:.3g})"
    assert info["score_cuts"][bdt] == models[bdt]["score_cut"]
    assert models[bdt]["score_range"] == [0.0, 1.0]
    assert _score_notes(f"score_{bdt}", models)[0] == f"MC: {models[bdt]['honest']}"
    assert _score_notes(f"score_{kfold}", models) == ["MC: out-of-fold scores (k-fold)"]
