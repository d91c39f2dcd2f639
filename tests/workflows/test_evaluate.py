"""The ``evaluate`` step: evaluation.json numbers recomputed independently, and its PNGs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest


def _tables(run_dir) -> pd.DataFrame:
    frames = [
        pd.read_parquet(f).assign(dataset=f.stem)
        for f in sorted((run_dir / "features").glob("*.parquet"))
    ]
    table = pd.concat(frames, ignore_index=True)
    return table[table["label"] >= 0].reset_index(drop=True)


def _test_rows(run_dir, model_dir):
    """The bdt's test rows: those ``is_test_row`` picks, as many as training.json says."""
    from hepml_coffea.workflows.tables import is_test_row

    info = json.loads((model_dir / "training.json").read_text())
    table = _tables(run_dir)
    split = info["split"]
    test = is_test_row(table, split["test_fraction"], split["seed"])
    assert int(test.sum()) == info["n_test"]
    return table[test], split["test_fraction"], info


def test_auc_recomputed_from_model_and_tables(run_dir, bdt_dir, kfold_dir, eval_dir, pairwise_auc):
    from hepml_coffea.estimators import load

    ev = json.loads((eval_dir / "evaluation.json").read_text())["models"]
    assert set(ev) == {"bdt", "kbdt"}
    test, _, info = _test_rows(run_dir, bdt_dir)
    est = load(bdt_dir)
    score = est.predict_proba(test[info["features"]])[:, 1]
    ref = pairwise_auc(test["label"].to_numpy(), score, test["weight"].to_numpy())
    assert ev["bdt"]["auc_test"] == pytest.approx(ref, abs=1e-9)
    assert ev["bdt"]["auc_test"] == pytest.approx(info["auc_test"], abs=1e-12)
    assert ev["bdt"]["n_test"] == info["n_test"]

    # k-fold: every MC event, scored by the fold model that did not train on it
    table = _tables(run_dir)
    kf = load(kfold_dir)
    X = table[list(kf.feature_names_in_)].to_numpy()
    fold = (table["event"].to_numpy() % kf.n_splits).astype(int)
    oof = np.empty(len(table))
    for i, e in enumerate(kf.estimators_):
        oof[fold == i] = e.predict_proba(X[fold == i])[:, 1]
    ref = pairwise_auc(table["label"].to_numpy(), oof, table["weight"].to_numpy())
    assert ev["kbdt"]["n_test"] == len(table)
    assert ev["kbdt"]["auc_test"] == pytest.approx(ref, abs=1e-9)
    assert ev["kbdt"]["auc_train"] > ev["kbdt"]["auc_test"] - 0.05


def test_optimal_cut_significance_by_hand(run_dir, bdt_dir, eval_dir):
    from hepml_coffea.estimators import load
    from hepml_coffea.evaluation import asimov_significance

    res = json.loads((eval_dir / "evaluation.json").read_text())["models"]["bdt"]
    test, frac, info = _test_rows(run_dir, bdt_dir)
    score = load(bdt_dir).predict_proba(test[info["features"]])[:, 1]
    y, w = test["label"].to_numpy(), test["weight"].to_numpy() / frac
    cut = res["optimal_cut"]
    passed = score >= cut
    s, b = w[passed & (y == 1)].sum(), w[passed & (y == 0)].sum()
    z_hand = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    assert res["z_optimal"] == pytest.approx(z_hand, rel=1e-9)
    assert res["z_optimal"] == pytest.approx(asimov_significance(s, b), rel=1e-12)
    # the cut-based baseline keeps every test event
    sb, bb = w[y == 1].sum(), w[y == 0].sum()
    assert res["z_baseline"] == pytest.approx(asimov_significance(sb, bb), rel=1e-9)
    assert res["z_optimal"] > res["z_baseline"]
    # ... and it is the best of the scanned cuts (training.json records the same optimum)
    z = np.array([np.nan if v is None else v for v in res["significance"]["z"]])
    assert res["z_optimal"] == pytest.approx(np.nanmax(z))
    assert info["selection"]["optimal_cut"] == pytest.approx(cut)


def test_expected_pngs(eval_dir, plot_dir):
    import shutil

    pngs = {p.name for p in (eval_dir / "plots").glob("*.png")}
    expected = {"roc.png", "correlation_signal.png", "correlation_background.png"}
    for m in ("bdt", "kbdt"):
        expected |= {
            f"{kind}_{m}.png"
            for kind in (
                "overtraining", "scores", "significance", "confusion", "importance",
                "learning_curve", "data_mc_score",
            )
        }  # fmt: skip
    assert pngs == expected
    for name in pngs:
        assert (eval_dir / "plots" / name).stat().st_size > 10_000
    for name in ("roc.png", "significance_bdt.png", "overtraining_kbdt.png"):
        shutil.copy(eval_dir / "plots" / name, plot_dir / f"workflow_evaluate_{name}")


def test_importance_and_confusion_consistent(eval_dir, run_dir, bdt_dir):
    res = json.loads((eval_dir / "evaluation.json").read_text())["models"]["bdt"]
    imp = res["importance"]
    names = json.loads((bdt_dir / "training.json").read_text())["features"]
    assert sorted(imp["feature_names"]) == sorted(names)
    cm = np.asarray(res["confusion_matrix"]["matrix"])
    assert cm.shape == (2, 2)
    test, frac, _ = _test_rows(run_dir, bdt_dir)
    y, w = test["label"].to_numpy(), test["weight"].to_numpy() / frac
    # rows are the true classes: each sums to that class's weighted yield
    np.testing.assert_allclose(cm.sum(axis=1), [w[y == 0].sum(), w[y == 1].sum()], rtol=1e-9)


def test_evaluation_json_states_honesty_and_warns(eval_dir, bdt_dir):
    from hepml_coffea.evaluation import format_pvalue

    ev = json.loads((eval_dir / "evaluation.json").read_text())["models"]
    frac = json.loads((bdt_dir / "training.json").read_text())["split"]["test_fraction"]
    assert (
        ev["bdt"]["test_events"]
        == f"test split only ({frac:.0%} of the events, weights ×{1 / frac:.3g})"
    )
    assert ev["kbdt"]["test_events"] == "out-of-fold scores of the 2 k-fold models"
    for r in ev.values():
        for cls, k in r["ks"].items():
            assert r["ks_pvalue_text"][cls] == format_pvalue(k["pvalue"])
            flagged = any(
                f"of {cls} p = {format_pvalue(k['pvalue'])} < 0.05" in w for w in r["warnings"]
            )
            assert flagged == (k["pvalue"] < 0.05)
        cm = r["confusion_matrix"]
        assert cm["threshold"] == r["optimal_cut"] and "weighted_counts" in cm


def test_data_mc_score_histograms_exclude_training_events(run_dir, bdt_dir, kfold_dir):
    """The MC of the data/MC score plot: test-split events only, weights × 1/f (hold-out
    model); out-of-fold scores of every event (k-fold). Recomputed independently."""
    from hepml_coffea.estimators import load
    from hepml_coffea.workflows.evaluate import model_scores
    from hepml_coffea.workflows.plots import score_histograms
    from hepml_coffea.workflows.tables import run_info

    info = run_info(run_dir)
    test, frac, tinfo = _test_rows(run_dir, bdt_dir)
    m = model_scores(bdt_dir, run_dir)
    mc, data, signal = score_histograms(m, (0.0, 1.0), info)
    est = load(bdt_dir)
    s = est.predict_proba(test[tinfo["features"]])[:, 1]
    w = test["weight"].to_numpy() / frac
    proc = test["dataset"].map(lambda d: info["datasets"][d]["process"]).to_numpy()
    edges = np.linspace(0, 1, 26)
    for p, h in mc.items():
        ref, _ = np.histogram(s[proc == p], edges, weights=w[proc == p])
        inside = h.values(flow=True)
        inside[-2] += inside[-1]  # a score of exactly 1: numpy's last bin is closed
        np.testing.assert_allclose(inside[1:-1], ref, rtol=1e-9)
    assert set(mc) == set(proc)
    assert (
        signal
        == [
            info["datasets"][d]["process"]
            for d, meta in info["datasets"].items()
            if meta.get("label") == 1
        ][:1]
    )
    n_data = sum(meta["selected_rows"] for meta in info["datasets"].values() if meta.get("is_data"))
    assert data.values().sum() == n_data > 0
    # k-fold: every MC event, by the fold model that did not train on it, weight × 1
    table = _tables(run_dir)
    km = model_scores(kfold_dir, run_dir)
    kmc, _, _ = score_histograms(km, (0.0, 1.0), info)
    assert sum(h.values().sum() for h in kmc.values()) == pytest.approx(
        table["weight"].sum(), rel=1e-9
    )
    kf = load(kfold_dir)
    X = table[list(kf.feature_names_in_)].to_numpy()
    fold = (table["event"].to_numpy() % kf.n_splits).astype(int)
    oof = np.empty(len(table))
    for i, e in enumerate(kf.estimators_):
        oof[fold == i] = e.predict_proba(X[fold == i])[:, 1]
    np.testing.assert_allclose(np.sort(km.test_score), np.sort(oof), rtol=1e-9)


def test_multiclass_evaluation_equals_sklearn(run_dir, chain_dir, tmp_path, pairwise_auc):
    """A 3-class BDT: evaluate's one-vs-rest AUCs, weighted N×N confusion matrix and per-class
    precision/recall/F1 equal scikit-learn's on the test split, recomputed from the tables
    (the AUC from its pairwise definition: sklearn refuses the negative weights)."""
    from sklearn import metrics

    from hepml_coffea.estimators import load
    from hepml_coffea.workflows import evaluate_models, train_model
    from hepml_coffea.workflows.tables import class_labels, is_test_row, run_info

    model = chain_dir / "models" / "mc3"
    if not model.is_dir():
        sets = (
            "training.bdt.n_estimators=20",
            "training.bdt.max_depth=2",
            "training.test_fraction=0.5",
        )
        train_model(
            "ttbar_ljets", run_dir, "bdt", model, overrides=sets, multiclass=True, progress=False
        )
    out = tmp_path / "ev"
    summary = evaluate_models([model], run_dir, out, progress=False)
    res = json.loads((out / "evaluation.json").read_text())["models"]["mc3"]
    info = json.loads((model / "training.json").read_text())
    classes = info["classes"]
    assert res["classes"] == classes and "one-vs-rest AUC" in summary
    table = _tables(run_dir)
    y = class_labels(table, info["class_members"], run_info(run_dir)["datasets"])
    split = info["split"]
    test = is_test_row(table, split["test_fraction"], split["seed"])
    est = load(model)
    proba = est.predict_proba(table.loc[test, info["features"]])
    yt, w = y[test], table.loc[test, "weight"].to_numpy() / split["test_fraction"]
    pred = np.argmax(proba, axis=1)
    k = len(classes)
    cm = metrics.confusion_matrix(yt, pred, labels=list(range(k)), sample_weight=w)
    np.testing.assert_allclose(res["confusion_matrix"]["weighted_counts"], cm, rtol=1e-9)
    p, r, f, _ = metrics.precision_recall_fscore_support(
        yt, pred, labels=list(range(k)), sample_weight=w
    )
    for i, c in enumerate(classes):
        assert res["per_class"][c]["precision"] == pytest.approx(p[i], rel=1e-9)
        assert res["per_class"][c]["recall"] == pytest.approx(r[i], rel=1e-9)
        assert res["per_class"][c]["f1"] == pytest.approx(f[i], rel=1e-9)
        ref_auc = pairwise_auc(
            (yt == i).astype(int), proba[:, i], w
        )  # negative weights: no sklearn
        assert res["auc_one_vs_rest"][c] == pytest.approx(ref_auc, rel=1e-9)
    pngs = {p.name for p in (out / "plots").glob("*.png")}
    assert pngs == {"roc_ovr_mc3.png", "confusion_mc3.png", "class_metrics_mc3.png"}


@pytest.mark.slow
def test_cli_evaluate_options(run_dir, bdt_dir, tmp_path, capsys):
    """``evaluate --no-learning-curve --cms-label ... --com 13.6`` through the CLI."""
    from hepml_coffea.cli import main

    out = tmp_path / "ev"
    argv = ["evaluate", str(bdt_dir), "--features", str(run_dir), "--out", str(out)]
    assert (
        main([*argv, "--no-learning-curve", "--cms-label", "Private Work", "--com", "13.6", "-q"])
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("bdt: AUC ") and "KS p (sig/bkg) " in text
    res = json.loads((out / "evaluation.json").read_text())["models"]["bdt"]
    assert res["learning_curve"] is None
    assert not (out / "plots" / "learning_curve_bdt.png").exists()
    assert (out / "plots" / "data_mc_score_bdt.png").is_file()
