"""The ``train --target COLUMN`` step: a regressor on a continuous column of any table.

``train --target pt_ratio --model bdt`` fits a :class:`~hepml_coffea.estimators.BDTRegressor`
(``--model dnn``: a ``DNNRegressor``) to predict the column ``COLUMN`` of the tables in
``--features`` (Parquet, ROOT, CSV or HDF5; one row per event or per object, e.g. the per-jet
tables of the b-jet energy regression, whose target is ``GenJet pT / pT``). The inputs are the
analysis' feature list, or the columns given with ``columns`` (``--columns a,b,c``) for tables
that are not event-level. A ``weight`` column, when present, is the ``sample_weight`` (with the
``training.negative_weights`` policy); otherwise every row weighs 1. Hyperparameters are those of
``training.bdt`` / ``training.dnn`` that the regressor also takes.

The train/test split is the same hash of ``(run, luminosityBlock, event)`` as for classifiers
(:func:`~hepml_coffea.workflows.tables.is_test_row`), so the objects of one event stay together.
``training.json`` (covered by the card's hashes) records the split and, on the test rows, the
weighted RMSE, the median of prediction ÷ target (response) and half the 16–84 % width of that
ratio (resolution), before (a prediction of 1) and after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError

__all__ = ["REGRESSION_KINDS", "train_regressor"]

REGRESSION_KINDS = ("bdt", "dnn")


def _regressor(kind: str, training: Any, verbose: int) -> Any:
    from hepml_coffea import estimators

    if kind not in REGRESSION_KINDS:
        msg = f"--target trains a regressor: --model must be one of {list(REGRESSION_KINDS)}; got {kind!r}."
        raise ConfigError(msg)
    cls = estimators.BDTRegressor if kind == "bdt" else estimators.DNNRegressor
    valid = set(cls().get_params())
    given = {**dict(training.get(kind, {})), "random_state": training["random_state"]}
    given["negative_weights"] = training["negative_weights"]
    params = {k: v for k, v in given.items() if k in valid}
    if kind == "dnn":
        params.setdefault("verbose", verbose)
    return cls(**params)


def _quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Weighted quantiles (|w|), linear in the cumulative weight."""
    order = np.argsort(x)
    x, w = x[order], np.abs(w[order])
    cw = np.cumsum(w) - 0.5 * w
    return np.interp(np.asarray(qs) * w.sum(), cw, x)


def regression_summary(
    target: np.ndarray, prediction: np.ndarray, w: np.ndarray
) -> dict[str, float]:
    """Weighted RMSE, response (median of prediction/target) and resolution (half the 16–84 %
    width of prediction/target) of a regression on held-out rows."""
    ratio = prediction / np.where(target == 0, np.nan, target)
    ok = np.isfinite(ratio)
    q16, q50, q84 = _quantiles(ratio[ok], w[ok], (0.16, 0.5, 0.84))
    aw = np.abs(w)
    return {
        "rmse": float(np.sqrt(np.sum(aw * (prediction - target) ** 2) / aw.sum())),
        "response": float(q50),
        "resolution": float(0.5 * (q84 - q16)),
    }


def train_regressor(
    analysis: str | os.PathLike,
    features: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    target: str,
    *,
    columns: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> str:
    """Train a regressor of ``target`` and save it (model card + ``training.json``) to ``out``.

    Parameters
    ----------
    analysis : str or path
        Analysis name or folder (feature list, ``[training]``).
    features : path
        Folder of tables (see :mod:`hepml_coffea.workflows.tables`).
    model : {"bdt", "dnn"}
    out : path
        Model folder to write.
    target : str
        The column to predict.
    columns : sequence of str, optional
        Input columns; default the analysis' feature list (then the card stores its feature spec).

    Returns
    -------
    str
        A one-line summary with the test RMSE, response and resolution.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.features import FeatureSpec
    from hepml_coffea.workflows.tables import is_test_row, read_columns
    from hepml_coffea.workflows.train import MIN_EVENTS_PER_CLASS, check_model_out, save_with_info

    out = Path(out)
    check_model_out(out)
    cfg = load_analysis(analysis, overrides=list(overrides))
    training = cfg.get("training")
    spec = None if columns else FeatureSpec.from_config(cfg.get("features"))
    names = list(columns) if columns else list(spec.names)  # type: ignore[union-attr]
    if target in names:
        msg = f"The target {target!r} is also an input column; remove it from the inputs."
        raise ConfigError(msg)
    table = read_columns(features, [*names, target])
    if len(table) < 2 * MIN_EVENTS_PER_CLASS:
        msg = (
            f"The tables in {features} hold {len(table)} rows with a target; regression needs "
            f">= {2 * MIN_EVENTS_PER_CLASS}."
        )
        raise ConfigError(msg)
    test_fraction = float(training["test_fraction"])
    seed = int(training["random_state"])
    test = is_test_row(table, test_fraction, seed)
    train = ~test
    for split, mask in (("training split", train), ("test split", test)):
        if int(mask.sum()) < MIN_EVENTS_PER_CLASS:
            msg = (
                f"The {split} of {features} has {int(mask.sum())} rows; regression needs >= "
                f"{MIN_EVENTS_PER_CLASS} in each (change training.test_fraction)."
            )
            raise ConfigError(msg)
    X = table[names]
    y = table[target].to_numpy(np.float64)
    w = table["weight"].to_numpy(np.float64) if "weight" in table else np.ones(len(table))
    est = _regressor(model, training, int(progress))
    t0 = time.perf_counter()
    est.fit(X[train], y[train], sample_weight=w[train])
    fit_time = time.perf_counter() - t0
    pred = np.asarray(est.predict(X[test]), dtype=np.float64)
    after = regression_summary(y[test], pred, w[test])
    before = regression_summary(y[test], np.ones(int(test.sum())), w[test])
    info: dict[str, Any] = {
        "analysis": cfg.name,
        "model": model,
        "estimator": type(est).__name__,
        "features": names,
        "target": target,
        "split": {
            "scheme": "hash(run, luminosityBlock, event)",
            "test_fraction": test_fraction,
            "seed": seed,
        },
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "fit_time_s": round(fit_time, 2),
        "test": after,
        "test_before": before,
        "overrides": list(overrides),
    }
    save_with_info(est, out, None if spec is None else spec.to_dict(), info)
    return (
        f"{model} regression of {target}: trained on {info['n_train']:,} rows in {fit_time:.1f} s; "
        f"test RMSE {after['rmse']:.4g}, response {after['response']:.3f}, resolution "
        f"{after['resolution']:.3f} (prediction 1: {before['response']:.3f}, "
        f"{before['resolution']:.3f}) → {out}/"
    )
