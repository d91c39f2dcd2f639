"""Writing the outputs of a run atomically: training tables (incrementally), histograms, JSON.

Every file is first written under a temporary name in its destination folder
(``.NAME.partial-PID``) and moved into place with :func:`os.replace` only when complete, so an
interrupted run never leaves a half-written file that looks like a finished one.

Training tables are appended batch by batch (:class:`TableWriter`): the engine never holds a
whole dataset's table in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TableWriter", "atomic_path", "write_histograms", "write_json"]


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_name(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON (see :func:`to_jsonable`), atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays, paths, sets and tuples turned into JSON types.

    Non-finite floats become ``None`` (``null``: NaN is not JSON) and mapping keys strings.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    return obj


def write_histograms(path: str | os.PathLike, hists: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{dataset: {name: hist.Hist}}`` to a ROOT file as ``DATASET/NAME``, atomically.

    Histograms with ``Weight()`` storage are written as TH1D/TH2D/TH3D with Σw² errors.
    """
    import uproot

    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            for dataset, named in hists.items():
                for name, h in named.items():
                    out[f"{dataset}/{name}"] = h
    return Path(path)


class TableWriter:
    """Append per-dataset training tables to ``FOLDER/DATASET.parquet`` and ``FOLDER/DATASET.root``.

    Rows are written as they arrive, to temporary files; :meth:`commit` moves them into place,
    :meth:`abort` deletes them. Use as a context manager: leaving the block by an exception aborts.

    Parameters
    ----------
    folder : path
        Destination folder (created if needed).
    treename : str
        Name of the flat TTree in the ROOT files.
    root, parquet : bool
        Which formats to write.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        treename: str = "Events",
        root: bool = True,
        parquet: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.treename = treename
        self.write_root = root
        self.write_parquet = parquet
        self._parquet: dict[str, Any] = {}
        self._root: dict[str, Any] = {}
        self._columns: dict[str, list[str]] = {}
        self.rows: dict[str, int] = {}

    # ------------------------------------------------------------------ writing
    def append(self, dataset: str, table: Mapping[str, np.ndarray]) -> None:
        """Append rows ``{column: array of shape (n_rows,)}`` of one dataset."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(table)
        arrays = {c: np.asarray(table[c]) for c in columns}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            msg = (
                f"Table of dataset {dataset!r} has columns of different lengths {sorted(lengths)}."
            )
            raise ValueError(msg)
        n = lengths.pop() if lengths else 0
        if dataset not in self._columns:
            self._columns[dataset] = columns
            self.rows[dataset] = 0
            self.folder.mkdir(parents=True, exist_ok=True)
        elif columns != self._columns[dataset]:
            msg = (
                f"Table of dataset {dataset!r} changed columns between chunks: "
                f"{self._columns[dataset]} then {columns}."
            )
            raise ValueError(msg)
        if n == 0:  # files are created with the first rows: no rows, no files
            return
        if self.write_parquet:
            batch = pa.table({c: arrays[c] for c in columns})
            if dataset not in self._parquet:
                tmp = _partial_name(self.folder / f"{dataset}.parquet")
                self._parquet[dataset] = (
                    tmp,
                    pq.ParquetWriter(tmp, batch.schema, compression="zstd"),
                )
            self._parquet[dataset][1].write_table(batch)
        if self.write_root:
            import uproot

            if dataset not in self._root:
                tmp = _partial_name(self.folder / f"{dataset}.root")
                file = uproot.recreate(tmp)
                file.mktree(self.treename, {c: arrays[c].dtype for c in columns})
                self._root[dataset] = (tmp, file)
            self._root[dataset][1][self.treename].extend({c: arrays[c] for c in columns})
        self.rows[dataset] += n

    # ------------------------------------------------------------------ finishing
    def _close(self) -> None:
        for _, writer in self._parquet.values():
            writer.close()
        for _, file in self._root.values():
            file.close()

    def commit(self) -> list[Path]:
        """Close all files and move them into place; returns the final paths."""
        self._close()
        done = []
        for dataset, (tmp, _) in self._parquet.items():
            final = self.folder / f"{dataset}.parquet"
            os.replace(tmp, final)
            done.append(final)
        for dataset, (tmp, _) in self._root.items():
            final = self.folder / f"{dataset}.root"
            os.replace(tmp, final)
            done.append(final)
        self._parquet.clear()
        self._root.clear()
        return done

    def abort(self) -> None:
        """Close and delete all temporary files."""
        with contextlib.suppress(Exception):
            self._close()
        for tmp, _ in [*self._parquet.values(), *self._root.values()]:
            Path(tmp).unlink(missing_ok=True)
        self._parquet.clear()
        self._root.clear()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
