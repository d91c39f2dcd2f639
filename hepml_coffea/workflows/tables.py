"""Reading training tables (Parquet, ROOT, CSV, HDF5), their classes, and the reproducible split.

``run`` writes one table per dataset into ``DIR/features``; :func:`read_tables` reads a folder of
tables in any of the formats of :data:`TABLE_FORMATS` — those of ``run --table-format`` and
hand-written CSV files — one file per dataset (the dataset is the file name's stem). A table holds
the feature columns, ``weight``, ``label`` (1 signal, 0 background, -1 collision data; or a class
name) and the event identity ``run``, ``luminosityBlock``, ``event``.

The train/test split is a pure function of each event's identity ``(run, luminosityBlock, event)``
(a 64-bit mix of the three numbers, compared with the test fraction), so ``train`` and ``evaluate``
agree on it without storing row lists, and an event lands on the same side whatever the chunking,
executor or dataset order.

Multi-class training (:func:`class_labels`) takes the classes from the analysis' ``[classes]``
table: ``class name = [processes]``, the first class being the signal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepml_coffea.errors import ConfigError
from hepml_coffea.processing.ids import ID_COLUMNS

META_COLUMNS = ("weight", "label", *ID_COLUMNS)
TABLE_FORMATS = {
    ".parquet": "parquet",
    ".root": "root",
    ".csv": "csv",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}
"""Table file suffix → format read by :func:`read_table`."""
HDF5_KEY = "events"
"""The HDF5 dataset/group holding a table (a pandas ``to_hdf`` key or an h5py compound dataset)."""
WRITE_FORMATS = ("parquet", "root", "csv", "hdf5")
"""Formats of ``run --table-format`` (Parquet is what ``apply`` and ``evaluate`` read)."""
CLASS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def features_folder(path: str | os.PathLike) -> Path:
    """The folder holding the tables: ``path/features`` (a ``run`` output) or ``path`` itself.

    When both Parquet and ROOT tables of ``run`` are there, Parquet is read.
    """
    path = Path(path)
    for cand in (path / "features", path):
        if cand.is_dir() and _table_files(cand):
            return cand
    msg = (
        f"No training tables ({', '.join('*' + s for s in TABLE_FORMATS)}) in {path} or "
        f"{path / 'features'}; run `hepml-coffea run` first and pass its output folder."
    )
    raise ConfigError(msg)


def _table_files(folder: Path) -> list[Path]:
    """One table file per dataset: the first format of :data:`TABLE_FORMATS` present."""
    files = [
        p for p in folder.iterdir() if p.suffix in TABLE_FORMATS and not p.name.startswith(".")
    ]
    by_stem: dict[str, Path] = {}
    order = list(TABLE_FORMATS)
    for p in sorted(files):
        best = by_stem.get(p.stem)
        if best is None or order.index(p.suffix) < order.index(best.suffix):
            by_stem[p.stem] = p
    return [by_stem[s] for s in sorted(by_stem)]


def check_table_formats(formats: Sequence[str]) -> list[str]:
    """The requested table formats, checked (``run --table-format``)."""
    fmts = [f.strip().lower() for f in formats if f.strip()]
    bad = [f for f in fmts if f not in WRITE_FORMATS]
    if bad or not fmts:
        msg = f"--table-format must be among {list(WRITE_FORMATS)}; got {list(formats)}."
        raise ConfigError(msg)
    return fmts


def export_tables(written: Sequence[Path], formats: Sequence[str]) -> list[Path]:
    """Convert the Parquet tables ``run`` wrote into the requested ``formats``.

    Each ``DATASET.parquet`` of ``written`` is read row group by row group (never whole) into
    ``DATASET.csv`` (header line, ``pyarrow.csv``) and/or ``DATASET.h5`` (pandas/PyTables table
    under the key ``events``), each written atomically. Files of formats not requested are
    deleted (Parquet last). Returns the table files now in the folder.
    """
    import pyarrow.parquet as pq

    from hepml_coffea.workflows.outputs import atomic_path

    fmts = check_table_formats(formats)
    kept = []
    for path in written:
        fmt = TABLE_FORMATS.get(path.suffix)
        if fmt != "parquet":
            if fmt in fmts:
                kept.append(path)
            else:
                path.unlink()
            continue
        pf = pq.ParquetFile(path)
        if "csv" in fmts:
            import pyarrow.csv as pacsv

            target = path.with_suffix(".csv")
            with atomic_path(target) as tmp, pacsv.CSVWriter(tmp, pf.schema_arrow) as w:
                for i in range(pf.num_row_groups):
                    w.write_table(pf.read_row_group(i))
            kept.append(target)
        if "hdf5" in fmts:
            target = path.with_suffix(".h5")
            with atomic_path(target) as tmp, pd.HDFStore(tmp, mode="w") as store:
                for i in range(pf.num_row_groups):
                    store.append(HDF5_KEY, pf.read_row_group(i).to_pandas(), index=False)
            kept.append(target)
        if "parquet" in fmts:
            kept.append(path)
        else:
            path.unlink()
    return kept


def run_info(path: str | os.PathLike) -> dict[str, Any]:
    """``run.json`` of the ``run`` output that holds ``path`` (empty dict if there is none)."""
    folder = features_folder(path)
    for cand in (folder / "run.json", folder.parent / "run.json"):
        if cand.is_file():
            return json.loads(cand.read_text())
    return {}


def read_table(file: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """One table file as a DataFrame (format from the suffix, see :data:`TABLE_FORMATS`)."""
    file = Path(file)
    fmt = TABLE_FORMATS.get(file.suffix)
    try:
        if fmt == "parquet":
            return pd.read_parquet(file, columns=columns)
        if fmt == "csv":
            return pd.read_csv(file, usecols=columns)
        if fmt == "hdf5":
            return _read_hdf5(file, columns)
        if fmt == "root":
            import uproot

            with uproot.open(file) as f:
                return f["Events"].arrays(columns, library="pd")
    except (ValueError, KeyError, OSError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"Cannot read table {file} ({text}); it must hold the columns {columns}."
        raise ConfigError(msg) from None
    msg = f"Table {file} has an unknown format; known suffixes: {sorted(TABLE_FORMATS)}."
    raise ConfigError(msg)


def _read_hdf5(file: Path, columns: list[str] | None) -> pd.DataFrame:
    """An HDF5 table: pandas/PyTables ``to_hdf(key="events")`` or an h5py compound dataset."""
    import h5py

    with h5py.File(file, "r") as f:
        node = f.get(HDF5_KEY)
        if isinstance(node, h5py.Dataset) and node.dtype.names:
            data = node[()]
            names = columns or list(node.dtype.names)
            missing = [c for c in names if c not in node.dtype.names]
            if missing:
                raise KeyError(f"columns {missing} not in the HDF5 dataset '{HDF5_KEY}'")
            return pd.DataFrame({c: data[c] for c in names})
    df = pd.read_hdf(file, key=HDF5_KEY)
    return df if columns is None else df[columns]


def read_tables(
    path: str | os.PathLike, feature_names: list[str], *, include_data: bool = False
) -> pd.DataFrame:
    """All datasets' tables concatenated, with a ``dataset`` column.

    Parameters
    ----------
    path : path
        ``run`` output folder, its ``features/`` folder, or any folder of table files.
    feature_names : list of str
        Feature columns required, in order; a table lacking one is an error.
    include_data : bool
        Keep collision-data rows (``label == -1``, or a dataset that ``run.json`` marks
        ``is_data``); training and evaluation use MC only. Rows of datasets that are an
        alternative sample (``variation`` in their metadata, e.g. ``ttbar_tuneUp``) are never
        training rows and are left out unless ``include_data``.
    """
    folder = features_folder(path)
    datasets = run_info(folder).get("datasets", {})
    frames = []
    for file in _table_files(folder):
        df = read_table(file)
        missing = [c for c in (*feature_names, *META_COLUMNS) if c not in df.columns]
        if missing:
            msg = (
                f"Table {file} lacks columns {missing}; it was written with another feature list. "
                "Re-run `hepml-coffea run` with this analysis configuration."
            )
            raise ConfigError(msg)
        df = df[[*feature_names, *META_COLUMNS]]
        _check_finite(df, [*feature_names, "weight"], file)
        meta = datasets.get(file.stem, {})
        if not include_data and (
            meta.get("is_data") or meta.get("variation") not in (None, "nominal")
        ):
            continue
        df.insert(len(df.columns), "dataset", file.stem)
        frames.append(df)
    if not frames:
        msg = f"The tables in {folder} hold no simulated (MC) rows to train or evaluate on."
        raise ConfigError(msg)
    table = pd.concat(frames, ignore_index=True)
    if not include_data:
        table = table[~_is_data_label(table["label"])].reset_index(drop=True)
    return table


def read_columns(path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """The ``columns`` (and ``weight``, ``dataset`` and the event identity) of every simulated
    table in ``path``: for regression, whose tables need no ``label`` (e.g. one row per jet).

    Collision-data tables (``run.json``'s ``is_data``, or ``label == -1`` rows) are left out.
    """
    folder = features_folder(path)
    datasets = run_info(folder).get("datasets", {})
    frames = []
    for file in _table_files(folder):
        meta = datasets.get(file.stem, {})
        if meta.get("is_data") or meta.get("variation") not in (None, "nominal"):
            continue
        df = read_table(file)
        missing = [c for c in (*columns, *ID_COLUMNS) if c not in df.columns]
        if missing:
            msg = f"Table {file} lacks columns {missing}; its columns are {list(df.columns)}."
            raise ConfigError(msg)
        if "label" in df.columns:
            df = df[~_is_data_label(df["label"])]
        keep = [*columns, *ID_COLUMNS, *(["weight"] if "weight" in df.columns else [])]
        df = df[keep]
        _check_finite(df, [c for c in keep if c not in ID_COLUMNS], file)
        frames.append(df.assign(dataset=file.stem))
    if not frames:
        msg = f"The tables in {folder} hold no simulated (MC) rows."
        raise ConfigError(msg)
    return pd.concat(frames, ignore_index=True)


def _is_data_label(label: pd.Series) -> np.ndarray:
    """Rows labelled as collision data: ``-1`` (numeric labels) or ``"data"``."""
    if pd.api.types.is_numeric_dtype(label):
        return label.to_numpy() < 0
    text = label.astype(str).str.strip()
    return np.isin(text.to_numpy(), ["-1", "data"])


def binary_labels(table: pd.DataFrame, source: Any) -> np.ndarray:
    """The ``label`` column as 1 (signal) / 0 (background), int64; anything else is an error."""
    label = table["label"]
    if pd.api.types.is_numeric_dtype(label):
        values = label.to_numpy()
        found = sorted(set(np.unique(values).tolist()))
        if set(found) == {0, 1}:
            return values.astype(np.int64)
    else:
        found = sorted(set(label.astype(str)))
    msg = (
        f"Binary training needs labels 1 (signal) and 0 (background) in the tables of {source}; "
        f"found labels {found}. For class names train with --multiclass (the [classes] table), "
        "or fix the fileset's 'label' metadata and re-run `run`."
    )
    raise ConfigError(msg)


def class_definitions(
    classes_cfg: Mapping[str, Any], source: str = "[classes]"
) -> dict[str, list[str]]:
    """The ``[classes]`` table checked: ``{class name: [process or dataset names]}`` in order.

    Raises
    ------
    ConfigError
        Fewer than three classes, a name that is not an identifier, an empty or non-list entry,
        or a process in two classes.
    """
    out: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for name, members in dict(classes_cfg).items():
        if not CLASS_NAME.match(str(name)):
            msg = (
                f"Class name {name!r} in {source} must start with a letter and hold only letters, "
                "digits and '_' (it names the score columns score_<model>_<class>)."
            )
            raise ConfigError(msg)
        if isinstance(members, str):
            members = [members]
        if (
            not isinstance(members, list)
            or not members
            or not all(isinstance(m, str) for m in members)
        ):
            msg = f'{source}: class {name!r} must list its processes, e.g. {name} = ["{name}"]; got {members!r}.'
            raise ConfigError(msg)
        for m in members:
            if m in seen:
                msg = f"{source}: process {m!r} is in both class {seen[m]!r} and class {name!r}."
                raise ConfigError(msg)
            seen[m] = str(name)
        out[str(name)] = list(members)
    if len(out) < 3:
        msg = (
            f"{source} defines {len(out)} class(es) {list(out)}; multi-class training needs at "
            "least 3 (for two, train the binary model with labels 1/0)."
        )
        raise ConfigError(msg)
    return out


def class_labels(
    table: pd.DataFrame, classes: Mapping[str, list[str]], datasets: Mapping[str, Any]
) -> np.ndarray:
    """Class index (position in ``classes``) of each row, int64.

    A row's class is its ``label`` when that is a class name (a string label in the fileset or a
    hand-written table); else the class listing its dataset's ``process`` (from ``run.json``), or
    its dataset name.

    Raises
    ------
    ConfigError
        A row whose dataset belongs to no class (the message names the dataset and its process).
    """
    names = list(classes)
    member_of = {m: i for i, c in enumerate(names) for m in classes[c]}
    out = np.full(len(table), -1, dtype=np.int64)
    label = table["label"].astype(str).str.strip().to_numpy()
    dataset = table["dataset"].to_numpy()
    for ds in pd.unique(dataset):
        rows = dataset == ds
        meta = datasets.get(ds, {})
        process = str(meta.get("process", ds))
        meta_label = meta.get("label")
        if isinstance(meta_label, str) and meta_label in names:
            out[rows] = names.index(meta_label)
            continue
        by_label = np.array([names.index(x) if x in names else -1 for x in np.unique(label[rows])])
        if by_label.size and np.all(by_label >= 0):  # the table's labels name classes
            lookup = {x: names.index(x) for x in np.unique(label[rows])}
            out[rows] = [lookup[x] for x in label[rows]]
        elif process in member_of or ds in member_of:
            out[rows] = member_of.get(process, member_of.get(ds, -1))
        else:
            msg = (
                f"Dataset {ds!r} (process {process!r}) belongs to no class of the [classes] table "
                f"({', '.join(f'{c} = {m}' for c, m in classes.items())}); add its process there."
            )
            raise ConfigError(msg)
    return out


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


def is_test_row(table: Any, test_fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the test rows of a table (DataFrame or mapping of arrays with the ID
    columns): :func:`hepml_coffea.processing.inference.is_test_event` of each row."""
    from hepml_coffea.processing.inference import is_test_event

    if not 0.0 < test_fraction < 1.0:
        msg = f"training.test_fraction must be in (0, 1); got {test_fraction}."
        raise ConfigError(msg)
    ids = [np.asarray(table[col]) for col in ID_COLUMNS]
    return is_test_event(*ids, test_fraction=test_fraction, seed=seed)
