"""Writing the outputs of a run atomically: training tables (incrementally), histograms, JSON.

Every file is first written under a temporary name in its destination folder
(``.NAME.partial-PID``) and moved into place with :func:`os.replace` only when complete, so an
interrupted run never leaves a half-written file that looks like a finished one. A full disk
(or any ``OSError`` while writing) becomes an :class:`~hepml_coffea.errors.OutputError` naming
the file.

- :class:`TableWriter` appends training tables batch by batch (the engine never holds a whole
  dataset's table in memory);
- :func:`write_histograms` writes every ``hist.Hist`` of an output to ROOT, splitting
  ``StrCategory`` axes into one TH1 per category combination (the naming of
  ``histograms.root``, see ``docs/own_processor.md``); :func:`write_uhi_json` writes the same
  histograms losslessly with ``uhi.io.json``;
- :func:`safe_name` validates a name (dataset, model) before it becomes a file name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, OutputError

__all__ = [
    "TableWriter",
    "atomic_path",
    "histogram_paths",
    "safe_name",
    "split_categories",
    "write_histograms",
    "write_json",
    "write_uhi_json",
]

_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def safe_name(name: str, what: str = "dataset") -> str:
    """``name`` if it can be a file name inside an output folder, else a one-line ConfigError.

    Allowed: letters, digits, ``_ . + -``, not starting with ``.`` or ``-`` (no ``/``, no
    ``..``), at most 200 characters.
    """
    if not isinstance(name, str) or len(name) > 200 or not _SAFE.match(name):
        msg = (
            f"{what} name {name!r} cannot be used as a file name (allowed: letters, digits, "
            f"'_', '.', '+', '-'; no '/' or leading '.'); rename the {what}."
        )
        raise ConfigError(msg)
    return name


@contextlib.contextmanager
def output_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` (disk full, permission) into an OutputError."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        why = (
            "no space left on the device"
            if exc.errno == errno.ENOSPC
            else (exc.strerror or str(exc))
        )
        msg = f"cannot write {os.fspath(path)}: {why}; free space or choose another --out."
        raise OutputError(" ".join(msg.split())) from None


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it to ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = _partial_name(path)
    try:
        with output_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def histogram_paths(output: Any) -> dict[str, Any]:
    """``{ROOT path: hist.Hist}`` of every histogram of a nested output, before splitting.

    The path is the dictionary path joined by ``/``, without ``hists`` levels: the contract's
    ``{"hists": {"m_jjb": H}}`` gives ``m_jjb``, a dataset-keyed ``{"dy": {"hists": {"pt": H}}}``
    gives ``dy/pt`` and a plain ``{"dy": {"mass": H}}`` gives ``dy/mass``.
    """
    import hist

    from hepml_coffea.processing.execution import iter_leaves

    found: dict[str, Any] = {}
    for path, leaf in iter_leaves(output):
        if isinstance(leaf, hist.Hist):
            key = "/".join(p for p in path.split("/") if p != "hists") or "hist"
            found[key] = found[key] + leaf if key in found else leaf
    return found


def split_categories(path: str, h: Any) -> Iterator[tuple[str, Any]]:
    """One histogram per combination of the ``StrCategory`` axes' values, path extended by them.

    If every axis is a ``StrCategory``, the last one stays (labelled bins).
    """
    import hist

    cats = [i for i, ax in enumerate(h.axes) if isinstance(ax, hist.axis.StrCategory)]
    if len(cats) == len(h.axes):
        cats = cats[:-1]
    if not cats:
        yield path, h
        return
    i = cats[0]
    name = h.axes[i].name or f"axis{i}"
    for value in h.axes[i]:
        yield from split_categories(
            f"{path}/{value}", h[{name if h.axes[i].name else i: hist.loc(value)}]
        )


def write_histograms(path: str | os.PathLike, output: Any) -> list[str]:
    """Write every ``hist.Hist`` of ``output`` to a ROOT file, atomically; return the ROOT paths.

    Paths as :func:`histogram_paths`, then one TH1/TH2/TH3 per combination of ``StrCategory``
    values, e.g. ``m_jjb/SR/ttbar/JESUp``. Histograms with ``Weight()`` storage are written with
    Σw² errors.
    """
    import uproot

    written = []
    with atomic_path(path) as tmp, uproot.recreate(tmp) as out:
        for base, h in histogram_paths(output).items():
            for key, part in split_categories(base, h):
                try:
                    out[key] = part
                except Exception as exc:
                    msg = (
                        f"histogram {key!r} ({type(h).__name__} with axes "
                        f"{[type(a).__name__ for a in h.axes]}) cannot be written to ROOT: "
                        f"{' '.join(str(exc).split())[:160]}."
                    )
                    raise OutputError(msg) from None
                written.append(key)
    return written


def write_uhi_json(path: str | os.PathLike, output: Any) -> Path:
    """Write every histogram of ``output`` losslessly with ``uhi.io.json`` (never pickle).

    ``{path: serialised hist}`` with paths as :func:`histogram_paths` (categories not split).
    Read back with ``json.load(f, object_hook=uhi.io.json.object_hook)`` and ``hist.Hist(d)``.
    """
    import uhi.io.json

    text = json.dumps(histogram_paths(output), default=uhi.io.json.default)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")
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
        safe_name(dataset, "dataset")
        with output_errors(self.folder / f"{dataset}.parquet"):
            self._append(dataset, table)

    def _append(self, dataset: str, table: Mapping[str, np.ndarray]) -> None:
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

    def scale(self, factors: Mapping[str, float], column: str = "weight") -> None:
        """Multiply ``column`` of the datasets in ``factors`` by their factor (renormalisation).

        The dataset's files are closed, read back, scaled and rewritten under temporary names;
        call before :meth:`commit`.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq
        import uproot

        for dataset, factor in factors.items():
            if dataset in self._parquet:
                tmp, writer = self._parquet[dataset]
                writer.close()
                table = pq.read_table(tmp)
                i = table.schema.get_field_index(column)
                if i >= 0:
                    scaled = pa.array(table.column(i).to_numpy() * factor)
                    table = table.set_column(i, column, scaled)
                pq.write_table(table, tmp, compression="zstd")
                self._parquet[dataset] = (tmp, _Closed())
            if dataset in self._root:
                tmp, file = self._root[dataset]
                file.close()
                with uproot.open(tmp) as f:
                    arrays = f[self.treename].arrays(library="np")
                if column in arrays:
                    arrays[column] = arrays[column] * factor
                new = uproot.recreate(tmp)
                new.mktree(self.treename, {c: a.dtype for c, a in arrays.items()})
                new[self.treename].extend(arrays)
                self._root[dataset] = (tmp, new)

    def commit(self) -> list[Path]:
        """Close all files and move them into place; returns the final paths."""
        with output_errors(self.folder):
            return self._commit()

    def _commit(self) -> list[Path]:
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


class _Closed:
    """Stands for a writer already closed (after :meth:`TableWriter.scale`)."""

    def close(self) -> None:
        pass
