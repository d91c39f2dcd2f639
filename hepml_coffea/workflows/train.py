"""The ``train`` step: a classifier from the training tables of ``run``, saved with its model card.

Binary training (the default): labels come from the tables (the fileset's ``label`` metadata:
1 signal, 0 background; data rows are never used). Multi-class training (``multiclass=True``,
``train --multiclass``): the classes are the analysis' ``[classes]`` table (class name → the
processes in it, the first class being the signal); the model is a softmax over them, with class
``i`` the ``i``-th class of the table (so ``signal_score`` is the first class' probability).

Training weights are the physics weights (``genWeight × xsec × lumi / Σ genWeight``) passed as
``sample_weight`` with the analysis' ``training.negative_weights`` policy and
``class_weight="balanced"`` (each class scaled to the same total weight). The train/test split is
:func:`~hepml_coffea.workflows.tables.is_test_row` of each event's identity; k-fold models train on
everything and are judged on their out-of-fold scores.

Before anything is fitted, ``train`` refuses: an ``out`` that is a file; fewer than
:data:`MIN_EVENTS_PER_CLASS` events of a class in a split (train, test, or a k-fold fold); a class
whose physics weights do not sum to a positive number in a split.

Next to the model files, ``training.json`` records the split, the test AUC (signal class vs the
rest) and the significance scan on the test events (weights scaled by ``1 / test_fraction`` to the
full luminosity), whose optimal cut ``apply`` uses unless the configuration sets one, and, for a
multi-class model, the class names. It is covered by the model card's SHA-256 hashes
(:func:`read_training_info` reads it only after checking them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, OutputError

__all__ = [
    "MIN_EVENTS_PER_CLASS",
    "MODEL_KINDS",
    "TRAINING_INFO",
    "check_model_out",
    "make_estimator",
    "read_training_info",
    "save_with_info",
    "train_model",
]

MODEL_KINDS = ("bdt", "dnn", "kfold-bdt", "kfold-dnn", "autoencoder")
"""The model kinds of ``train --model`` (the one definition; the CLI imports it)."""
MIN_EVENTS_PER_CLASS = 20
"""Fewest events of each class in each split (train, test, every k-fold fold)."""
TRAINING_INFO = "training.json"


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


def read_training_info(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``training.json`` of a model folder, or None when the model card's hashes do not cover it.

    The card's hashes are checked first (:func:`hepml_coffea.estimators.read_card`), so a
    returned file is the one ``train`` wrote.
    """
    import json

    from hepml_coffea.estimators import read_card
    from hepml_coffea.estimators.persistence import load_extra

    folder, card = read_card(model_dir)
    if TRAINING_INFO not in (card.get("files") or {}):
        return None
    return json.loads(load_extra(folder, TRAINING_INFO))


def score_range(score: np.ndarray, quantile: float = 0.995) -> list[float]:
    """Histogram range of an unbounded score (an anomaly score): from its minimum to its
    ``quantile`` on the test events, so that the bulk is binned and only the tail overflows."""
    finite = np.asarray(score, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return [0.0, 1.0]
    low, high = float(finite.min()), float(np.quantile(finite, quantile))
    return [low, high if high > low else low + 1.0]


def check_model_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file, before anything is trained."""
    if out.exists() and not out.is_dir():
        msg = f"--out {out} is a file; give a folder for the model (it is created if missing)."
        raise OutputError(msg)


def _policy_weights(w: np.ndarray, policy: str) -> np.ndarray:
    """The weights the estimator trains with under ``training.negative_weights``."""
    if policy == "abs":
        return np.abs(w)
    if policy == "ignore":
        return np.where(w < 0, 0.0, w)
    return w


def _check_splits(
    y: np.ndarray,
    w: np.ndarray,
    splits: dict[str, tuple[np.ndarray, bool]],
    class_names: list[str],
    policy: str,
    where: Any,
) -> None:
    """Each class has ≥ MIN_EVENTS_PER_CLASS events and a positive total weight in each split.

    ``splits``: name → (row mask, whether the estimator trains on it). Physics weights are checked
    where the model is judged; training weights (after the negative-weight policy) where it trains.
    """
    for split, (mask, trains) in splits.items():
        for c, cname in enumerate(class_names):
            rows = mask & (y == c)
            n = int(rows.sum())
            if n < MIN_EVENTS_PER_CLASS:
                msg = (
                    f"The {split} has {n} {cname} events in the tables of {where}; training needs "
                    f">= {MIN_EVENTS_PER_CLASS} events of each class in each split. Generate or "
                    "select more events (or change training.test_fraction / training.n_folds)."
                )
                raise ConfigError(msg)
            total = float((_policy_weights(w[rows], policy) if trains else w[rows]).sum())
            if not total > 0:
                kind = f"training weights (negative_weights={policy!r})" if trains else "weights"
                msg = (
                    f"The {cname} events of the {split} in {where} have total {kind} {total:.4g} "
                    f"({int((w[rows] < 0).sum())} of {n} weights negative); a class needs a "
                    "positive total weight. Check the datasets' 'xsec' and genWeight, or set "
                    "training.negative_weights='abs'."
                )
                raise ConfigError(msg)


def train_model(
    analysis: str | os.PathLike,
    features: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    progress: bool = True,
    multiclass: bool = False,
    target: str | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """Train one model on ``run``'s tables and save it (model card + ``training.json``) to ``out``.

    Parameters
    ----------
    analysis : str or path
        Analysis name or folder: feature list, ``[training]`` hyperparameters, ``[classes]``.
    features : path
        ``run`` output folder, its ``features/`` folder, or a folder of tables (Parquet, ROOT,
        CSV, HDF5; see :mod:`hepml_coffea.workflows.tables`).
    model : {"bdt", "dnn", "kfold-bdt", "kfold-dnn", "autoencoder"}
    out : path
        Model folder to write.
    overrides : sequence of str
        ``key=value`` configuration overrides, e.g. ``training.bdt.max_depth=3``.
    progress : bool
        Show training progress (Keras epochs).
    multiclass : bool
        Train one softmax output per class of the ``[classes]`` table.
    target, columns : str, sequence of str, optional
        Train a regressor of the column ``target`` instead (inputs: ``columns``, default the
        feature list); see :func:`hepml_coffea.workflows.train_regression.train_regressor`.

    Returns
    -------
    str
        A one-line summary with the test AUC and the optimal cut.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.estimators import signal_score
    from hepml_coffea.evaluation import roc_auc, selection_significance, significance_scan
    from hepml_coffea.features import FeatureSpec
    from hepml_coffea.workflows.tables import (
        binary_labels,
        class_definitions,
        class_labels,
        is_test_row,
        read_tables,
        run_info,
    )

    if target is not None:
        from hepml_coffea.workflows.train_regression import train_regressor

        if multiclass:
            msg = "--target (regression) and --multiclass exclude each other; give one."
            raise ConfigError(msg)
        return train_regressor(
            analysis, features, model, out, target, columns=columns, overrides=overrides,
            progress=progress,
        )  # fmt: skip
    if columns is not None:
        msg = "--columns selects the inputs of a regression; give --target COLUMN with it."
        raise ConfigError(msg)
    out = Path(out)
    check_model_out(out)
    cfg = load_analysis(analysis, overrides=list(overrides))
    training = cfg.get("training")
    spec = FeatureSpec.from_config(cfg.get("features"))
    names = list(spec.names)
    table = read_tables(features, names)
    if multiclass:
        if model == "autoencoder":
            msg = "--multiclass needs a classifier (--model bdt, dnn, kfold-bdt or kfold-dnn)."
            raise ConfigError(msg)
        classes = class_definitions(cfg.get("classes"), f"[classes] of {cfg.path / 'config.toml'}")
        class_names = list(classes)
        y = class_labels(table, classes, run_info(features).get("datasets", {}))
    else:
        class_names = ["background", "signal"]
        y = binary_labels(table, features)

    kfold = model.startswith("kfold-")
    test_fraction = float(training["test_fraction"])
    seed = int(training["random_state"])
    policy = str(training["negative_weights"])
    test = np.zeros(len(table), bool) if kfold else is_test_row(table, test_fraction, seed)
    train = ~test
    w = table["weight"].to_numpy()
    event = table["event"].to_numpy()
    if kfold:
        k = int(training["n_folds"])
        fold = (event % k).astype(np.int64)
        splits = {f"k-fold fold {i} (event % {k} == {i})": (fold == i, False) for i in range(k)}
        splits["training set"] = (train, True)
    else:
        splits = {"training split": (train, True), "test split": (test, False)}
    if model == "autoencoder":  # trains on background only; judged on both classes
        splits["training split"] = (train & (y == 0), True)
        _check_splits(
            y, w, {"training split": splits["training split"]}, class_names[:1], policy, features
        )
        _check_splits(y, w, {"test split": splits["test split"]}, class_names, policy, features)
    else:
        _check_splits(y, w, splits, class_names, policy, features)

    est = make_estimator(model, training, verbose=int(progress))
    X = table[names]
    t0 = time.perf_counter()
    if model == "autoencoder":
        bkg = train & (y == 0)
        est.fit(X[bkg], sample_weight=w[bkg])
    elif kfold:
        est.fit(X[train], y[train], sample_weight=w[train], event=event[train])
    else:
        est.fit(X[train], y[train], sample_weight=w[train])
    fit_time = time.perf_counter() - t0

    # Judge on the events the model did not see: the test split, or the out-of-fold scores.
    judged = train if kfold else test
    scale = 1.0 if kfold else 1.0 / test_fraction
    score = signal_score(est, X[judged], event=event[judged] if kfold else None)
    signal = 0 if multiclass else 1
    yj, wj = (y[judged] == signal).astype(np.int64), w[judged] * scale
    scan = significance_scan(yj, score, wj)
    baseline = selection_significance(yj, np.ones(len(yj), bool), wj)["z"]
    info: dict[str, Any] = {
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
        "negative_weights": policy,
        "datasets": sorted(set(table["dataset"])),
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
    if model == "autoencoder":
        info["score_range"] = score_range(score)
    if multiclass:
        info["classes"] = class_names
        info["signal_class"] = class_names[0]
        info["class_members"] = {c: classes[c] for c in class_names}
    save_with_info(est, out, spec.to_dict(), info)
    what = f"{len(class_names)}-class " if multiclass else ""
    return (
        f"{what}{model}: trained on {info['n_train']:,} events in {fit_time:.1f} s; test AUC "
        f"{info['auc_test']:.4f}; optimal cut {scan.best_cut:.3f} gives Z = {scan.best_z:.2f} "
        f"(cut-based selection alone: {baseline:.2f}) → {out}/"
    )


def save_with_info(
    est: Any, out: Path, feature_spec: dict[str, Any] | None, info: dict[str, Any]
) -> None:
    """Save the model atomically with ``training.json`` as an extra file covered by the card's
    hashes; a write error (disk full, permissions) is one line naming the file."""
    from hepml_coffea.workflows.outputs import output_errors, to_jsonable

    with output_errors(out):
        est.save(out, feature_spec=feature_spec, extra_files={TRAINING_INFO: to_jsonable(info)})
