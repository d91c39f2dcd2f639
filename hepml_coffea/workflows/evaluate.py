"""The ``evaluate`` step: judge trained models on the training tables; JSON numbers and plots.

For each model folder it scores, with :func:`hepml_coffea.estimators.signal_score`, only events
the model did not train on: the test split recorded in ``training.json`` (weights scaled by
1/test_fraction to the full luminosity), or the out-of-fold scores of a k-fold model (every
event scored by the fold that did not see it). It writes ``OUT/evaluation.json`` and
``OUT/plots/*.png``:

- binary models: ROC and AUC (all models on one plot), the KS train-versus-test test per class
  (warned about in the summary when p < 0.05), the score distributions, data against MC of the
  score with only unseen MC events, the confusion matrix in weighted events at the optimal cut,
  the significance scan, permutation importance, a learning curve (BDT-based models, stratified
  random subsamples of at most ``MAX_LEARNING_EVENTS`` events: cheap by default);
- multi-class models: one-vs-rest ROC and AUC per class, the N×N confusion matrix in weighted
  events, per-class precision, recall and F1 (equal to scikit-learn's);
- the signal and background correlation matrices of the features.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hepml_coffea.estimators import class_scores, load, read_card, signal_score
from hepml_coffea.evaluation import (
    BinaryEvaluation,
    MulticlassEvaluation,
    classification_metrics,
    confusion_matrix_at,
    correlation_matrices,
    evaluate_multiclass,
    learning_curve,
    overtraining_report,
    permutation_importance,
    roc_auc,
    roc_curve,
    selection_significance,
    significance_scan,
    stratified_subsample,
)

__all__ = ["ModelScores", "evaluate_models", "model_scores"]

MAX_IMPORTANCE_EVENTS = 5_000
MAX_LEARNING_EVENTS = 4_000
LEARNING_SIZES = (0.1, 0.3, 1.0)


@dataclass(frozen=True)
class ModelScores:
    """One saved model and its scores on the tables, split as at training time.

    ``test_*`` are the events the model did not train on; ``scale`` brings their weights to the
    full luminosity. ``data_score`` scores the collision-data rows (if the tables have any).
    """

    name: str
    estimator: Any
    names: list[str]
    X: pd.DataFrame
    y: NDArray
    w: NDArray[np.float64]
    dataset: NDArray
    honesty: str
    test: NDArray[np.bool_]
    scale: float
    train_y: NDArray
    train_score: NDArray[np.float64]
    train_w: NDArray[np.float64]
    test_y: NDArray
    test_score: NDArray[np.float64]
    test_w: NDArray[np.float64]
    importance_model: Any
    importance_rows: NDArray[np.bool_]
    data_score: NDArray[np.float64]
    data_dataset: NDArray
    multiclass: bool
    test_proba: NDArray[np.float64] | None = None


def model_scores(model_dir: str | os.PathLike, features: str | os.PathLike) -> ModelScores:
    """Scores of one saved model on ``run``'s tables, split as recorded in ``training.json``."""
    from hepml_coffea.workflows.tables import class_labels, is_test_row, read_tables, run_info
    from hepml_coffea.workflows.train import read_training_info

    model_dir = Path(model_dir)
    est = load(model_dir)
    _, card = read_card(model_dir)
    training = read_training_info(model_dir) or {}
    split = training.get("split", {"scheme": "none"})
    names = list(card["feature_names"])
    full = read_tables(features, names, include_data=True)
    datasets = run_info(features).get("datasets", {})
    data_sets = [d for d, meta in datasets.items() if meta.get("is_data")]
    is_data = full["dataset"].isin(data_sets).to_numpy() | (
        full["label"].astype(str).to_numpy() == "-1"
    )
    table = full[~is_data].reset_index(drop=True)
    data = full[is_data].reset_index(drop=True)
    classes = getattr(est, "classes_", None)
    multiclass = classes is not None and len(classes) > 2
    if multiclass:
        members = training.get("class_members") or {str(c): [str(c)] for c in list(classes or [])}
        y = class_labels(table, members, datasets)
    else:
        y = table["label"].to_numpy().astype(np.int64)
    X, w = table[names], table["weight"].to_numpy(np.float64)
    event = table["event"].to_numpy()
    common = {"name": model_dir.name, "estimator": est, "names": names, "X": X, "y": y, "w": w}
    common["dataset"] = table["dataset"].to_numpy()
    common["data_dataset"] = data["dataset"].to_numpy()
    common["multiclass"] = multiclass
    common["data_score"] = (
        signal_score(est, data[names], event=data["event"].to_numpy())
        if len(data) and not multiclass
        else np.zeros(0)
    )

    def score(e: Any, Xs: Any, ev: Any = None) -> NDArray[np.float64]:
        return np.zeros(len(Xs)) if multiclass else signal_score(e, Xs, event=ev)

    if split.get("scheme") == "kfold":
        k = int(split["n_folds"])
        fold = event % k
        test_score = score(
            est, X, event
        )  # out-of-fold: each event by the clone that did not see it
        parts = [(fold != i, est.estimators_[i]) for i in range(k)]
        # the fold clones were fitted on plain arrays (KFoldEventClassifier strips the names)
        tr_s = np.concatenate([score(e, X[m].to_numpy()) for m, e in parts])
        tr_y = np.concatenate([y[m] for m, _ in parts])
        tr_w = np.concatenate([w[m] for m, _ in parts]) / (k - 1)  # each event trained on k-1 times
        test = np.ones(len(y), bool)
        return ModelScores(
            **common,
            honesty=f"out-of-fold scores of the {k} k-fold models",
            test=test,
            scale=1.0,
            train_y=tr_y,
            train_score=tr_s,
            train_w=tr_w,
            test_y=y,
            test_score=test_score,
            test_w=w,
            importance_model=est.estimators_[0],
            importance_rows=fold == 0,
            test_proba=class_scores(est, X, event=event) if multiclass else None,
        )
    if split.get("scheme") == "none":
        test, frac = np.ones(len(y), bool), 1.0
        honesty = "all events: training.json records no split (scores may include training events)"
    else:
        frac = float(split["test_fraction"])
        test = is_test_row(table, frac, int(split["seed"]))
        honesty = f"test split only ({frac:.0%} of the events, weights ×{1 / frac:.3g})"
    train = ~test
    return ModelScores(
        **common,
        honesty=honesty,
        test=test,
        scale=1.0 / frac,
        train_y=y[train],
        train_score=score(est, X[train]) if train.any() else np.zeros(0),
        train_w=w[train],
        test_y=y[test],
        test_score=score(est, X[test]),
        test_w=w[test],
        importance_model=est,
        importance_rows=test,
        test_proba=class_scores(est, X[test]) if multiclass else None,
    )


def _score_range(m: ModelScores) -> tuple[float, float]:
    """0-1 for probabilities; otherwise (e.g. an autoencoder's reconstruction error) from the
    lowest score to the 99.5 % quantile, so that a few outliers do not squeeze the picture: the
    scores above are folded into the last bin, and the plots say so."""
    if hasattr(m.estimator, "predict_proba"):
        return 0.0, 1.0
    s = np.concatenate([m.train_score, m.test_score, m.data_score])
    lo, hi = float(s.min()), float(np.quantile(s, 0.995))
    hi = hi if hi > lo else float(s.max())
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def evaluate_binary(m: ModelScores, *, learning_curves: bool = True) -> BinaryEvaluation:
    """All the numbers of one binary model (see the module docstring)."""
    ys, ss, ws = m.test_y, m.test_score, m.test_w
    wl = ws * m.scale  # expected yields at the full luminosity
    fpr, tpr, _ = roc_curve(ys, ss, ws)
    ks = (
        overtraining_report(m.train_y, m.train_score, ys, ss, m.train_w, ws)
        if len(m.train_y)
        else {}
    )
    scan = significance_scan(ys, ss, wl)
    base = selection_significance(ys, np.ones(len(ys), bool), wl)
    cut = float(scan.best_cut) if np.isfinite(scan.best_cut) else float(np.median(ss))
    rows = np.flatnonzero(m.importance_rows)
    rows = rows[stratified_subsample(m.y[rows], MAX_IMPORTANCE_EVENTS, 0)]
    Xi: Any = m.X.iloc[rows]
    if getattr(m.importance_model, "feature_names_in_", None) is None:
        Xi = Xi.to_numpy()  # a k-fold clone, fitted without column names
    imp = permutation_importance(
        m.importance_model, Xi, m.y[rows], m.w[rows], feature_names=m.names, n_repeats=3
    )
    return BinaryEvaluation(
        name=m.name,
        estimator=type(m.estimator).__name__,
        honesty=m.honesty,
        n_test=len(ys),
        auc_test=roc_auc(ys, ss, ws),
        auc_train=roc_auc(m.train_y, m.train_score, m.train_w) if len(m.train_y) else np.nan,
        roc=(fpr, tpr),
        ks=ks,
        scan=scan,
        baseline=base,
        optimal_cut=cut,
        confusion=confusion_matrix_at(ys, ss, cut, wl),
        metrics_at_cut=classification_metrics(ys, ss, cut, wl),
        score_range=_score_range(m),
        importance=imp,
        learning_curve=_learning_curve(m) if learning_curves else None,
    )


def _learning_curve(m: ModelScores) -> Any:
    """Learning curve of BDT-based models on a stratified random sample of training events."""
    from sklearn.base import clone

    inner = getattr(m.estimator, "estimator", None) or m.estimator
    if type(inner).__name__ != "BDTClassifier":
        return None
    train = ~m.test if not np.all(m.test) else np.ones(len(m.y), bool)
    rows = np.flatnonzero(train)
    rows = rows[stratified_subsample(m.y[rows], MAX_LEARNING_EVENTS, 0)]
    est = clone(inner)
    if "n_jobs" in est.get_params():
        # fits of a few thousand events: one thread costs 5-10x less CPU than xgboost's default
        # (threads spin-waiting on tiny histograms), and is faster on a loaded machine
        est.set_params(n_jobs=1)
    return learning_curve(
        est, m.X.iloc[rows], m.y[rows], m.w[rows], train_sizes=LEARNING_SIZES, cv=2
    )


def evaluate_models(
    model_dirs: Sequence[str | os.PathLike] | str | os.PathLike,
    features: str | os.PathLike,
    out: str | os.PathLike,
    *,
    learning_curves: bool = True,
    progress: bool = True,
    label: Any = None,
) -> str:
    """Evaluate saved models on ``run``'s tables; write ``evaluation.json`` and plots to ``out``.

    Parameters
    ----------
    model_dirs : path or sequence of paths
    features : path
        ``run`` output folder or its ``features/`` folder.
    out : path
    learning_curves : bool, default True
        BDT learning curves (2 folds × 3 sizes on at most ``MAX_LEARNING_EVENTS`` events).
    progress : bool
    label : hepml_coffea.plotting.LabelOptions, optional
        CMS label text and √s; the luminosity comes from ``run.json``.

    Returns
    -------
    str
        One line per model (AUC, KS p-values, optimal cut, Z) and a WARNING line per problem.
    """
    from tqdm.auto import tqdm

    from hepml_coffea.workflows import plots as P
    from hepml_coffea.workflows.outputs import write_json
    from hepml_coffea.workflows.tables import run_info
    from hepml_coffea.workflows.train import read_training_info

    if isinstance(model_dirs, (str, os.PathLike)):
        model_dirs = [model_dirs]
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    info = run_info(features)
    lumi = info.get("lumi")
    label = P.label_for_run(info, label)
    results: dict[str, Any] = {}
    rocs: dict[str, tuple] = {}
    lines: list[str] = []
    first: ModelScores | None = None
    for d in tqdm(list(model_dirs), desc="evaluate", unit="model", disable=not progress):
        m = model_scores(d, features)
        first = first or m
        if m.multiclass:
            assert m.test_proba is not None
            n_classes = len(m.estimator.classes_)
            names = (read_training_info(d) or {}).get("classes") or [
                str(c) for c in m.estimator.classes_
            ]
            mc: MulticlassEvaluation = evaluate_multiclass(
                m.test_y, m.test_proba, list(range(n_classes)), m.test_w * m.scale,
                class_names=names,
            )  # fmt: skip
            results[m.name] = {"estimator": type(m.estimator).__name__, **mc.to_dict()}
            P.multiclass_plots(out / "plots", m.name, mc, label)
            aucs = ", ".join(f"{c} {a:.3f}" for c, a in zip(mc.classes, mc.auc, strict=True))
            lines.append(f"{m.name}: one-vs-rest AUC {aucs}; accuracy {mc.accuracy:.3f}")
            continue
        ev = evaluate_binary(m, learning_curves=learning_curves)
        rocs[m.name] = (*ev.roc, ev.auc_test)
        results[m.name] = ev.to_dict()
        P.model_plots(out / "plots", m, ev, label, run_info=info)
        lines += [ev.summary(), *ev.all_warnings()]

    assert first is not None
    if not first.multiclass:
        corr = correlation_matrices(first.X.to_numpy(), first.y, first.w)
        P.correlation_plots(out / "plots", corr, first.names, label)
    if rocs:
        P.roc_plot(out / "plots", rocs, label)
    write_json(out / "evaluation.json", {"lumi_pb": lumi, "models": results})
    return "\n".join([*lines, f"→ {out}/evaluation.json, {out}/plots/"])
