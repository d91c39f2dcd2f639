"""The ``evaluate`` step: judge trained models on the training tables; JSON numbers and plots.

For each model folder it recomputes the scores of the events the model did not train on (the
test split recorded in ``training.json``, or the out-of-fold scores of a k-fold model) and writes
to ``OUT/evaluation.json`` and ``OUT/plots/*.png``: ROC and AUC (all models on one plot), the KS
train-versus-test overtraining test per class, the confusion matrix with precision, recall and F1
at the optimal cut, the significance scan against the score cut (test weights scaled to the full
luminosity), permutation feature importance, a learning curve (BDT-based models: a DNN learning
curve retrains the network several times and is left out of the default run), and the signal and
background correlation matrices of the features.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["evaluate_models", "model_scores"]

MAX_IMPORTANCE_EVENTS = 20_000
MAX_LEARNING_EVENTS = 20_000


def model_scores(model_dir: str | os.PathLike, features: str | os.PathLike) -> dict[str, Any]:
    """Scores of one saved model on the tables, split as at training time.

    Returns
    -------
    dict
        ``estimator``, ``names`` (features), ``X`` (DataFrame), ``y``, ``w``, ``train``/``test``
        boolean masks, ``train_score``/``test_score`` with their ``y``/``w``, and ``scale`` (the
        factor bringing test weights to the full luminosity).
    """
    from hepml_coffea.estimators import load, read_card
    from hepml_coffea.workflows.tables import is_test_row, read_tables
    from hepml_coffea.workflows.train import score_of

    est = load(model_dir)
    _, card = read_card(model_dir)
    training_file = Path(model_dir) / "training.json"
    training = json.loads(training_file.read_text()) if training_file.is_file() else {}
    names = list(card["feature_names"])
    table = read_tables(features, names)
    X, y, w = table[names], table["label"].to_numpy(), table["weight"].to_numpy()
    event = table["event"].to_numpy()
    split = training.get("split", {"scheme": "none"})
    out: dict[str, Any] = {
        "estimator": est,
        "names": names,
        "X": X,
        "y": y,
        "w": w,
        "training": training,
    }
    if split.get("scheme") == "kfold":
        k = int(split["n_folds"])
        fold = event % k
        test_score = score_of(
            est, X, event=event
        )  # out-of-fold: each event by the clone that did not see it
        parts = [(fold != i, est.estimators_[i]) for i in range(k)]
        # the fold clones were fitted on plain arrays (KFoldEventClassifier strips the names)
        tr_s = np.concatenate([score_of(e, X[m].to_numpy()) for m, e in parts])
        tr_y = np.concatenate([y[m] for m, _ in parts])
        tr_w = np.concatenate([w[m] for m, _ in parts]) / (k - 1)  # each event trained on k-1 times
        out.update(
            train_score=tr_s, train_y=tr_y, train_w=tr_w, test=np.ones(len(y), bool), scale=1.0
        )
        out.update(importance_model=est.estimators_[0], importance_rows=fold == 0)
    else:
        if split.get("scheme") == "none":
            test = np.ones(len(y), bool)
            frac = 1.0
        else:
            frac = float(split["test_fraction"])
            test = is_test_row(table, frac, int(split["seed"]))
        test_score = score_of(est, X[test])
        train = ~test
        out.update(
            train_score=score_of(est, X[train]) if train.any() else np.zeros(0),
            train_y=y[train],
            train_w=w[train],
            test=test,
            scale=1.0 / frac,
            importance_model=est,
            importance_rows=test,
        )
        test_score_full = np.full(len(y), np.nan)
        test_score_full[test] = test_score
        test_score = test_score_full
    t = out["test"]
    out.update(test_score=test_score[t], test_y=y[t], test_w=w[t])
    return out


def evaluate_models(
    model_dirs: Sequence[str | os.PathLike] | str | os.PathLike,
    features: str | os.PathLike,
    out: str | os.PathLike,
    *,
    learning_curves: bool = True,
    progress: bool = True,
) -> str:
    """Evaluate saved models on ``run``'s tables; write ``evaluation.json`` and plots to ``out``.

    Returns
    -------
    str
        One line per model: AUC, KS p-values, optimal cut and Z against the cut-based selection.
    """
    from tqdm.auto import tqdm

    from hepml_coffea.evaluation import (
        classification_metrics,
        confusion_matrix_at,
        correlation_matrices,
        overtraining_report,
        permutation_importance,
        roc_auc,
        roc_curve,
        selection_significance,
        significance_scan,
    )
    from hepml_coffea.processing.outputs import write_json
    from hepml_coffea.workflows import plots as P
    from hepml_coffea.workflows.tables import run_info

    if isinstance(model_dirs, (str, os.PathLike)):
        model_dirs = [model_dirs]
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    lumi = run_info(features).get("lumi")
    lumi_fb = None if lumi is None else float(lumi) / 1000.0
    results: dict[str, Any] = {}
    rocs: dict[str, tuple] = {}
    first = None
    for d in tqdm(list(model_dirs), desc="evaluate", unit="model", disable=not progress):
        name = Path(d).name
        m = model_scores(d, features)
        first = first or m
        ys, ss, ws = m["test_y"], m["test_score"], m["test_w"]
        wl = ws * m["scale"]  # expected yields at the full luminosity
        fpr, tpr, _ = roc_curve(ys, ss, ws)
        auc = roc_auc(ys, ss, ws)
        rocs[name] = (fpr, tpr, auc)
        ks = (
            overtraining_report(m["train_y"], m["train_score"], ys, ss, m["train_w"], ws)
            if len(m["train_y"])
            else {}
        )
        scan = significance_scan(ys, ss, wl)
        base = selection_significance(ys, np.ones(len(ys), bool), wl)
        cut = float(scan.best_cut) if np.isfinite(scan.best_cut) else 0.5
        cm = confusion_matrix_at(ys, ss, cut, wl)
        res: dict[str, Any] = {
            "model_dir": str(Path(d).resolve()),
            "estimator": type(m["estimator"]).__name__,
            "n_test": len(ys),
            "auc_test": auc,
            "auc_train": roc_auc(m["train_y"], m["train_score"], m["train_w"])
            if len(m["train_y"])
            else None,
            "ks": ks,
            "significance": {**scan.to_dict(), "baseline": base},
            "optimal_cut": cut,
            "z_optimal": float(scan.best_z),
            "z_baseline": float(base["z"]),
            "confusion_matrix": {"threshold": cut, "matrix": cm.tolist()},
            "metrics_at_cut": classification_metrics(ys, ss, cut, wl),
        }
        rows = np.flatnonzero(m["importance_rows"])[:MAX_IMPORTANCE_EVENTS]
        Xi = m["X"].iloc[rows]
        if getattr(m["importance_model"], "feature_names_in_", None) is None:
            Xi = Xi.to_numpy()  # a k-fold clone, fitted without column names
        imp = permutation_importance(
            m["importance_model"],
            Xi,
            m["y"][rows],
            m["w"][rows],
            feature_names=m["names"],
            n_repeats=3,
            random_state=0,
        )
        res["importance"] = imp.to_dict()
        lc = _learning_curve(m) if learning_curves else None
        res["learning_curve"] = None if lc is None else lc.to_dict()
        results[name] = res
        P.model_plots(out / "plots", name, m, res, scan, imp, lc, lumi_fb)

    X = first["X"].to_numpy()
    corr = correlation_matrices(X, first["y"], first["w"])
    P.correlation_plots(out / "plots", corr, first["names"], lumi_fb)
    P.roc_plot(out / "plots", rocs, lumi_fb)
    write_json(out / "evaluation.json", {"lumi_pb": lumi, "models": results})
    lines = [
        f"{n}: AUC {r['auc_test']:.4f}; KS p (sig/bkg) "
        f"{r['ks'].get('signal', {}).get('pvalue', float('nan')):.3f}/"
        f"{r['ks'].get('background', {}).get('pvalue', float('nan')):.3f}; optimal cut {r['optimal_cut']:.3f}: "
        f"Z = {r['z_optimal']:.2f} vs cut-based {r['z_baseline']:.2f}"
        for n, r in results.items()
    ]
    return "\n".join([*lines, f"→ {out}/evaluation.json, {out}/plots/"])


def _learning_curve(m: dict[str, Any]):
    """Learning curve of BDT-based models on at most MAX_LEARNING_EVENTS training events."""
    from sklearn.base import clone

    from hepml_coffea.evaluation import learning_curve

    est = m["estimator"]
    inner = getattr(est, "estimator", None) or est
    if type(inner).__name__ != "BDTClassifier":
        return None
    train = ~m["test"] if not np.all(m["test"]) else np.ones(len(m["y"]), bool)
    rows = np.flatnonzero(train)[:MAX_LEARNING_EVENTS]
    return learning_curve(
        clone(inner),
        m["X"].iloc[rows],
        m["y"][rows],
        m["w"][rows],
        train_sizes=(0.1, 0.3, 0.6, 1.0),
        cv=3,
    )
