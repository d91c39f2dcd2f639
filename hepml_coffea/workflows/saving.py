"""Saving any processor's output, whatever its nesting: numbers to JSON, columns to Parquet.

Histograms go to ``histograms.root`` / ``histograms.json``
(:func:`~hepml_coffea.workflows.outputs.write_histograms`); this module saves the rest:

- numbers, strings, booleans, and sets/lists of them → ``output.json`` at their dictionary path
  (non-finite floats become ``null``);
- numpy arrays, ``column_accumulator`` and awkward arrays → ``columns/<path>.parquet`` (one
  file per array, its column named after the last key);
- anything else → a one-line :class:`~hepml_coffea.errors.OutputError` naming the key path and
  the type (never a silent, empty output). Nothing is pickled.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import OutputError
from hepml_coffea.processing.execution import iter_leaves
from hepml_coffea.workflows.outputs import atomic_path, write_json

__all__ = ["save_generic"]

_SCALARS = (bool, int, float, str, np.bool_, np.integer, np.floating, np.str_, type(None))


def _file_name(path: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", path.replace("/", "__")).lstrip(".-")
    return name or "output"


def save_generic(output: Any, folder: Path) -> dict[str, Any]:
    """Save the non-histogram leaves of ``output`` into ``folder``; return the files written.

    Raises
    ------
    OutputError
        For a leaf that cannot be saved, naming its key path and type; or an output that is
        not a dict.
    """
    import awkward as ak
    import hist

    if not isinstance(output, dict):
        msg = (
            f"the processor's output is a {type(output).__name__}, not a dict; return a dict "
            "(of histograms, numbers, columns) from process()."
        )
        raise OutputError(msg)
    numbers: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    n_hists = 0
    for path, leaf in iter_leaves(output):
        if isinstance(leaf, hist.Hist):
            n_hists += 1
        elif isinstance(leaf, _SCALARS) or _scalar_collection(leaf):
            numbers[path] = leaf
        elif isinstance(leaf, dict):  # an empty dict
            continue
        elif isinstance(leaf, np.ndarray) or isinstance(leaf, ak.Array):
            columns[path] = leaf
        elif hasattr(leaf, "value") and isinstance(leaf.value, np.ndarray):
            columns[path] = leaf.value  # coffea column_accumulator
        else:
            msg = (
                f"output key {path!r} holds a {type(leaf).__module__}.{type(leaf).__name__}, "
                "which cannot be saved; return hist.Hist, numbers, or numpy/awkward columns."
            )
            raise OutputError(msg)
    if not numbers and not columns and not n_hists:
        msg = "the processor's output holds no histogram, number or column; nothing to save."
        raise OutputError(msg)
    written: dict[str, Any] = {}
    if numbers:
        write_json(folder / "output.json", _nest(numbers))
        written["numbers"] = "output.json"
    files = []
    for path, values in columns.items():
        target = folder / "columns" / f"{_file_name(path)}.parquet"
        name = path.rsplit("/", 1)[-1] or "values"
        with atomic_path(target) as tmp:
            ak.to_parquet(ak.Array({name: values}), tmp)
        files.append(str(target.relative_to(folder)))
    if files:
        written["columns"] = sorted(files)
    return written


def _scalar_collection(leaf: Any) -> bool:
    return isinstance(leaf, (set, frozenset, list, tuple)) and all(
        isinstance(v, _SCALARS) or _scalar_collection(v) for v in leaf
    )


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        parts = path.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):  # pragma: no cover - a key both leaf and branch
                break
        else:
            node[parts[-1]] = (
                sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
            )
    return out
