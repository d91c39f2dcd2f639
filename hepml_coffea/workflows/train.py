"""The ``train`` step: a classifier from the training tables of ``run``, saved with its model card.

Labels come from the tables (the fileset's ``label`` metadata: 1 signal, 0 background; data rows
are never used). Training weights are the physics weights (``genWeight × xsec × lumi / Σ genWeight``)
passed as ``sample_weight`` with the analysis' ``training.negative_weights`` policy and
``class_weight="balanced"`` (signal and background scaled to equal total weight). The train/test
split is :func:`~hepml_coffea.workflows.tables.is_test_row` of each event's identity; k-fold models
train on everything and are judged on their out-of-fold scores.

Next to the model files, ``training.json`` records the split, the test AUC and the significance
scan on the test events (weights scaled by ``1 / test_fraction`` to the full luminosity), whose
optimal cut ``apply`` uses unless the configuration sets one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError

__all__ = ["MODEL_KINDS", "make_estimator", "train_model"]

MODEL_KINDS = ("bdt", "dnn", "kfold-bdt", "kfold-dnn", "autoencoder")


def make_estimator(kind: str, training: dict[str, Any], *, verbose: int = 0) -> Any:
    """The unfitted estimator for a model kind, with the analysis' ``[training]`` hyperparameters."""
    from hepml_coffea import estimators

    if kind not in MODEL_KINDS:
        msg = f"--model must be one of {list(MODEL_KINDS)}; got {kind!r}."
        raise ConfigError(msg)
    base = kind.removeprefix("kfold-")
    common = {
        "negative_weights": training["negative_weights"],
        "random_state": training["random_state"],
    }
    if base == "bdt":
        cls, params = (
            estimators.BDTClassifier,
            {**training.get("bdt", {}), "class_weight": "balanced"},
        )
    elif base == "dnn":
        cls, params = (
            estimators.DNNClassifier,
            {**training.get("dnn", {}), "class_weight": "balanced"},
        )
    else:
        cls, params = estimators.AutoencoderAnomalyDetector, dict(training.get("autoencoder", {}))
    params = {**common, **params}
    if base != "bdt":  # Keras progress bars; xgboost's per-round log is too chatty
        params.setdefault("verbose", verbose)
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        msg = (
            f"training.{base} has keys {unknown} that {cls.__name__} does not take; "
            f"valid: {sorted(cls().get_params())}."
        )
        raise ConfigError(msg)
    est = cls(**params)
    if kind.startswith("kfold-"):
        est = estimators.KFoldEventClassifier(est, n_splits=int(training["n_folds"]))
    return est


def score_of(est: Any, X: Any, event: np.ndarray | None = None) -> np.ndarray:
    """Signal-likeness of each row: P(signal), or the reconstruction error of an autoencoder."""
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X, event=event) if event is not None else est.predict_proba(X)
        return np.asarray(proba)[:, -1]
    return -np.asarray(est.score_samples(X))


def train_model(
    analysis: str | os.PathLike,
    features: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> str:
    """Train one model on ``run``'s tables and save it (model card + ``training.json``) to ``out``.

    Parameters
    ----------
    analysis : str or path
        Analysis name or folder: feature list, ``[training]`` hyperparameters.
    features : path
        ``run`` output folder or its ``features/`` folder.
    model : {"bdt", "dnn", "kfold-bdt", "kfold-dnn", "autoencoder"}
    out : path
        Model folder to write.
    overrides : sequence of str
        ``key=value`` configuration overrides, e.g. ``training.bdt.max_depth=3``.
    progress : bool
        Show training progress (Keras epochs).

    Returns
    -------
    str
        A one-line summary with the test AUC and the optimal cut.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.evaluation import roc_auc, selection_significance, significance_scan
    from hepml_coffea.features import FeatureSpec
    from hepml_coffea.processing.outputs import write_json
    from hepml_coffea.workflows.tables import is_test_row, read_tables

    cfg = load_analysis(analysis, overrides=list(overrides))
    training = cfg.get("training")
    spec = FeatureSpec.from_config(cfg.get("features"))
    names = list(spec.names)
    table = read_tables(features, names)
    labels = set(np.unique(table["label"]).tolist())
    if labels != {0, 1}:
        msg = (
            f"Training needs signal (label 1) and background (label 0) tables in {features}; found "
            f"labels {sorted(labels)}. Check the fileset's 'label' metadata and re-run `run`."
        )
        raise ConfigError(msg)

    for label, name in ((1, "signal"), (0, "background")):
        total = float(np.abs(table["weight"].to_numpy()[table["label"].to_numpy() == label]).sum())
        if not total > 0:
            msg = (
                f"The {name} rows of the tables in {features} have total |weight| {total:g}; "
                f"training needs a positive total weight per class. Check the 'xsec' metadata of "
                f"the {name} datasets in the fileset and the luminosity (--set lumi=...), then "
                "re-run `run`."
            )
            raise ConfigError(msg)

    est = make_estimator(model, training, verbose=int(progress))
    kfold = model.startswith("kfold-")
    test_fraction = float(training["test_fraction"])
    seed = int(training["random_state"])
    test = np.zeros(len(table), bool) if kfold else is_test_row(table, test_fraction, seed)
    train = ~test
    X = table[names]
    y = table["label"].to_numpy()
    w = table["weight"].to_numpy()
    event = table["event"].to_numpy()

    t0 = time.perf_counter()
    if model == "autoencoder":
        bkg = train & (y == 0)
        est.fit(X[bkg], sample_weight=w[bkg])
    elif kfold:
        est.fit(X[train], y[train], sample_weight=w[train], event=event[train])
    else:
        est.fit(X[train], y[train], sample_weight=w[train])
    fit_time = time.perf_counter() - t0

    out = Path(out)
    # training.json is written after the card; a stale one must not be hashed into the new card
    (out / "training.json").unlink(missing_ok=True)
    est.save(out, feature_spec=spec.to_dict())

    # Judge on the events the model did not see: the test split, or the out-of-fold scores.
    judged = train if kfold else test
    scale = 1.0 if kfold else 1.0 / test_fraction
    score = score_of(est, X[judged], event=event[judged] if kfold else None)
    yj, wj = y[judged], w[judged] * scale
    scan = significance_scan(yj, score, wj)
    baseline = selection_significance(yj, np.ones(len(yj), bool), wj)["z"]
    info = {
        "analysis": cfg.name,
        "model": model,
        "estimator": type(est).__name__,
        "features": names,
        "split": (
            {"scheme": "kfold", "n_folds": int(training["n_folds"]), "variable": "event"}
            if kfold
            else {
                "scheme": "hash(run, luminosityBlock, event)",
                "test_fraction": test_fraction,
                "seed": seed,
            }
        ),
        "negative_weights": training["negative_weights"],
        "n_train": int(train.sum()),
        "n_test": int(judged.sum()),
        "fit_time_s": round(fit_time, 2),
        "auc_test": float(roc_auc(yj, score, wj)),
        "selection": {
            "optimal_cut": scan.best_cut,
            "z_optimal": scan.best_z,
            "z_baseline": baseline,
        },
        "overrides": list(overrides),
    }
    write_json(out / "training.json", info)
    return (
        f"{model}: trained on {info['n_train']:,} events in {fit_time:.1f} s; test AUC "
        f"{info['auc_test']:.4f}; optimal cut {scan.best_cut:.3f} gives Z = {scan.best_z:.2f} "
        f"(cut-based selection alone: {baseline:.2f}) → {out}/"
    )
