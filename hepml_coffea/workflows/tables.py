"""Reading the training tables written by ``run`` and splitting them reproducibly.

The train/test split is a pure function of each event's identity ``(run, luminosityBlock, event)``
(a 64-bit mix of the three numbers, compared with the test fraction), so ``train`` and ``evaluate``
agree on it without storing row lists, and an event lands on the same side whatever the chunking,
executor or dataset order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepml_coffea.errors import ConfigError

ID_COLUMNS = ("run", "luminosityBlock", "event")
META_COLUMNS = ("weight", "label", *ID_COLUMNS)


def features_folder(path: str | os.PathLike) -> Path:
    """The folder holding ``*.parquet`` tables: ``path`` itself or ``path/features``."""
    path = Path(path)
    for cand in (path, path / "features"):
        if cand.is_dir() and any(cand.glob("*.parquet")):
            return cand
    msg = f"No training tables (*.parquet) in {path} or {path / 'features'}; run `hepml-coffea run` first and pass its output folder."
    raise ConfigError(msg)


def run_info(path: str | os.PathLike) -> dict[str, Any]:
    """``run.json`` of the ``run`` output that holds ``path`` (empty dict if there is none)."""
    folder = features_folder(path)
    for cand in (folder / "run.json", folder.parent / "run.json"):
        if cand.is_file():
            return json.loads(cand.read_text())
    return {}


def read_tables(
    path: str | os.PathLike, feature_names: list[str], *, include_data: bool = False
) -> pd.DataFrame:
    """All datasets' tables concatenated, with a ``dataset`` column.

    Parameters
    ----------
    path : path
        ``run`` output folder or its ``features/`` folder.
    feature_names : list of str
        Feature columns required, in order; a table lacking one is an error.
    include_data : bool
        Keep collision-data rows (``label == -1``); training and evaluation use MC only.
    """
    folder = features_folder(path)
    frames = []
    for file in sorted(folder.glob("*.parquet")):
        df = pd.read_parquet(file)
        missing = [c for c in (*feature_names, *META_COLUMNS) if c not in df.columns]
        if missing:
            msg = (
                f"Table {file} lacks columns {missing}; it was written with another feature list. "
                "Re-run `hepml-coffea run` with this analysis configuration."
            )
            raise ConfigError(msg)
        df = df[[*feature_names, *META_COLUMNS]]
        _check_finite(df, [*feature_names, "weight"], file)
        df.insert(len(df.columns), "dataset", file.stem)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    if not include_data:
        table = table[table["label"] >= 0].reset_index(drop=True)
    return table


def _check_finite(df: pd.DataFrame, columns: list[str], file: Path) -> None:
    values = df[columns].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        cols = [c for c, b in zip(columns, bad.any(axis=0), strict=True) if b]
        msg = (
            f"Table {file} has {int(bad.any(axis=1).sum())} rows with NaN or infinite values in "
            f"{cols}; `hepml-coffea run` writes finite features (missing objects get the feature's "
            "pad value): re-run it, or drop or impute those rows."
        )
        raise ConfigError(msg)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-mixed 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def is_test_row(table: pd.DataFrame, test_fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the test rows: ``hash(run, lumi, event, seed) / 2**64 < test_fraction``."""
    if not 0.0 < test_fraction < 1.0:
        msg = f"training.test_fraction must be in (0, 1); got {test_fraction}."
        raise ConfigError(msg)
    h = _mix64(np.full(len(table), seed, dtype=np.uint64))
    for col in ID_COLUMNS:
        with np.errstate(over="ignore"):
            h = _mix64(h ^ table[col].to_numpy().astype(np.uint64))
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < test_fraction
