"""Load and validate coffea filesets; sum generator weights of a dataset.

The fileset contract (see the README)::

    {dataset: {"files": {path: "Events"}, "metadata": {"is_data": bool, "xsec": float (pb),
                                                      "process": str, "label": int, ...}}}

``files`` may also be coffea's list form ``[path, ...]`` (tree ``Events``) or its dict form
with ``{"object_path": "Events", ...}`` values. Relative paths are relative to the folder of
the fileset JSON file.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from hepml_coffea.errors import FilesetError, MissingBranchError

__all__ = ["load_fileset", "sum_genweights"]

DATASET_KEYS = ("files", "metadata")
METADATA_TYPES: dict[str, tuple[type, ...]] = {
    "is_data": (bool,),
    "xsec": (int, float),
    "process": (str,),
    "label": (int,),
}
DEFAULT_TREE = "Events"


def _tree_names(path: Path) -> set[str]:
    try:
        with uproot.open(path) as f:
            return {k.split(";")[0] for k in f.keys(recursive=True, cycle=False)}
    except Exception as err:  # corrupt, truncated, not ROOT
        msg = f"{path}: cannot be opened as a ROOT file ({type(err).__name__}: {err})"
        raise FilesetError(msg.replace("\n", " ")) from err


def _normalise_files(name: str, files: Any, base: Path) -> dict[str, str]:
    if isinstance(files, str):
        files = [files]
    if isinstance(files, Mapping):
        items = list(files.items())
    elif isinstance(files, Iterable):
        items = [(f, DEFAULT_TREE) for f in files]
    else:
        msg = f"dataset {name!r}: 'files' must be a dict {{path: tree}} or a list of paths; got {type(files).__name__}"
        raise FilesetError(msg)
    out: dict[str, str] = {}
    for path, tree in items:
        if isinstance(tree, Mapping):  # coffea's {"object_path": ..., "steps": ...} form
            tree = tree.get("object_path", DEFAULT_TREE)
        if not isinstance(path, (str, Path)) or not isinstance(tree, str):
            msg = f"dataset {name!r}: 'files' entries must map a path (str) to a tree name (str); got {path!r}: {tree!r}"
            raise FilesetError(msg)
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = base / p
        out[str(p.resolve())] = tree
    if not out:
        msg = f"dataset {name!r}: 'files' is empty; list at least one ROOT file"
        raise FilesetError(msg)
    return out


def _check_metadata(name: str, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        msg = f"dataset {name!r}: 'metadata' must be a dict with keys {list(METADATA_TYPES)}; got {type(meta).__name__}"
        raise FilesetError(msg)
    missing = [k for k in METADATA_TYPES if k not in meta]
    if missing:
        msg = (
            f"dataset {name!r}: metadata lacks key(s) {missing}; required are {list(METADATA_TYPES)} "
            f"(is_data: bool, xsec: float in pb, process: str, label: 1 signal / 0 background / -1 data)"
        )
        raise FilesetError(msg)
    for key, types_ in METADATA_TYPES.items():
        value = meta[key]
        ok = isinstance(value, types_) and not (key != "is_data" and isinstance(value, bool))
        if not ok:
            allowed = " or ".join(t.__name__ for t in types_)
            msg = f"dataset {name!r}: metadata key {key!r} must be {allowed}; got {value!r}"
            raise FilesetError(msg)
    if meta["label"] not in (-1, 0, 1):
        msg = f"dataset {name!r}: metadata 'label' must be 1 (signal), 0 (background) or -1 (data); got {meta['label']!r}"
        raise FilesetError(msg)
    return dict(meta)


def load_fileset(
    fileset: str | Path | Mapping[str, Any], *, check_files: bool = True
) -> dict[str, dict]:
    """Load and validate a fileset; return it with absolute paths and ``{path: tree}`` files.

    Parameters
    ----------
    fileset : path-like or dict
        A fileset JSON file, or the fileset dict itself (relative paths then resolve against
        the current directory).
    check_files : bool, default True
        Also open every file and check that its tree exists.

    Returns
    -------
    dict
        ``{dataset: {"files": {abs_path: tree}, "metadata": {...}}}``.

    Raises
    ------
    FilesetError
        With a one-line message naming the dataset, the key and (where relevant) the file.
    """
    if isinstance(fileset, (str, Path)):
        path = Path(fileset).expanduser()
        if not path.is_file():
            msg = f"fileset file {str(path)!r} does not exist; run 'hepml-coffea generate' or give the right path"
            raise FilesetError(msg)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            msg = f"fileset file {str(path)!r} is not valid JSON: {err}"
            raise FilesetError(msg) from err
        base = path.resolve().parent
    else:
        data, base = fileset, Path.cwd()
    if not isinstance(data, Mapping) or not data:
        msg = "a fileset must be a non-empty dict {dataset: {'files': ..., 'metadata': ...}}"
        raise FilesetError(msg)
    out: dict[str, dict] = {}
    for name, entry in data.items():
        if not isinstance(entry, Mapping):
            msg = f"dataset {name!r}: must be a dict with keys {list(DATASET_KEYS)}; got {type(entry).__name__}"
            raise FilesetError(msg)
        unknown = [k for k in entry if k not in DATASET_KEYS]
        missing = [k for k in DATASET_KEYS if k not in entry]
        if unknown or missing:
            what = f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}"
            msg = f"dataset {name!r}: {what}; a dataset has exactly the keys {list(DATASET_KEYS)}"
            raise FilesetError(msg)
        files = _normalise_files(name, entry["files"], base)
        meta = _check_metadata(name, entry["metadata"])
        if check_files:
            for fpath, tree in files.items():
                if not Path(fpath).is_file():
                    msg = f"dataset {name!r}: file {fpath} does not exist"
                    raise FilesetError(msg)
                trees = _tree_names(Path(fpath))
                if tree not in trees:
                    msg = f"dataset {name!r}: file {fpath} has no tree {tree!r}; it has {sorted(trees)}"
                    raise FilesetError(msg)
        out[str(name)] = {"files": files, "metadata": meta}
    return out


def sum_genweights(files: Iterable[str | Path] | Mapping[str, str]) -> float:
    """Σ genWeight of a dataset, from the ``Runs`` trees of its files.

    Uses ``Runs/genEventSumw`` (or the older ``genEventSumw_``); a file without them falls back
    to summing ``Events/genWeight``, with a warning.

    Parameters
    ----------
    files : iterable of path-like, or dict {path: tree}
        The dataset's files (a fileset's ``files`` entry works as is).

    Returns
    -------
    float
        The sum (float64).

    Raises
    ------
    MissingBranchError
        If a file has neither Runs sums nor ``genWeight`` (e.g. collision data).
    """
    trees = dict(files) if isinstance(files, Mapping) else dict.fromkeys(files, DEFAULT_TREE)
    total = 0.0
    for path, tree in trees.items():
        with uproot.open(path) as f:
            runs = f.get("Runs") if "Runs" in f else None
            branches = set(runs.keys()) if runs is not None else set()
            name = next((b for b in ("genEventSumw", "genEventSumw_") if b in branches), None)
            if name is not None:
                total += float(np.sum(runs[name].array(library="np"), dtype=np.float64))
                continue
            events = f[tree]
            if "genWeight" not in events.keys():
                msg = (
                    f"{path}: no Runs/genEventSumw and no Events/genWeight; cannot normalise it as "
                    f"simulation (if it is collision data, set metadata is_data: true)"
                )
                raise MissingBranchError(msg)
            warnings.warn(
                f"{path}: no Runs/genEventSumw; summing Events/genWeight instead (correct only "
                f"if the file was not skimmed)",
                stacklevel=2,
            )
            total += float(np.sum(events["genWeight"].array(library="np"), dtype=np.float64))
    return total
