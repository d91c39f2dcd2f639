"""Load and validate coffea filesets; sum the generator weights of a dataset.

Accepted forms (coffea's, see ``docs/filesets_and_remote.md``)::

    {dataset: [path, ...]}                                   # tree "Events", no metadata
    {dataset: {"files": [path, ...] | {path: tree}, "metadata": {...}}}

``files`` values may also be coffea's ``{"object_path": "Events", ...}`` dicts. Relative paths
are relative to the folder of the fileset JSON file; ``root://`` and ``http(s)://`` URLs (any
``scheme://``) are kept unchanged and handed to uproot.

Metadata defaults: ``is_data`` false, ``process`` = the dataset name, ``label`` -1 for data and
0 for simulation (it may also name a class). ``xsec`` (pb) is required only where simulation is
normalised (``require_xsec=True``). Unknown metadata keys are kept and reach
``events.metadata``; a key that is a close misspelling of a known one (``lumii``, ``xsecs``)
is an error, as are non-finite or non-positive ``lumi``/``xsec`` and datasets disagreeing on
``lumi``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import FilesetError, MissingBranchError

__all__ = [
    "DEFAULT_TREE",
    "KNOWN_METADATA",
    "file_genweight_sum",
    "is_url",
    "load_fileset",
    "sum_genweights",
]

DEFAULT_TREE = "Events"
DATASET_KEYS = ("files", "metadata")
IGNORED_DATASET_KEYS = ("form",)  # written by coffea's preprocessing; not needed here
#: Metadata keys hepml-coffea reads, with their meaning (others are kept untouched).
KNOWN_METADATA = {
    "is_data": "bool, collision data (default false)",
    "xsec": "float > 0, cross-section in pb (simulation)",
    "process": "str, physics process (default: the dataset name)",
    "label": "int or class name (default -1 data, 0 simulation)",
    "lumi": "float > 0, integrated luminosity in pb^-1 of the data",
    "sumw": "float, Σ genWeight (computed by the engine when absent)",
    "variation": "str, systematic variation this sample fills (e.g. ttbar_tuneUp)",
    "triggers": "list of str, trigger paths of this dataset",
}


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URL (``root://``, ``http(s)://``, ...) rather than a local path."""
    return "://" in str(path)


def _where(source: str | None) -> str:
    return f" in {source}" if source else ""


def _normalise_files(name: str, files: Any, base: Path, source: str | None) -> dict[str, str]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    if isinstance(files, Mapping):
        items = list(files.items())
    elif isinstance(files, Iterable):
        items = [(f, DEFAULT_TREE) for f in files]
    else:
        msg = (
            f"dataset {name!r}{_where(source)}: 'files' must be a list of paths or a dict "
            f"{{path: tree}}; got {type(files).__name__}."
        )
        raise FilesetError(msg)
    out: dict[str, str] = {}
    for path, tree in items:
        if isinstance(tree, Mapping):  # coffea's {"object_path": ..., "steps": ...} form
            tree = tree.get("object_path", DEFAULT_TREE)
        if tree is None:
            tree = DEFAULT_TREE
        if not isinstance(path, (str, os.PathLike)) or not isinstance(tree, str) or not str(path):
            msg = (
                f"dataset {name!r}{_where(source)}: 'files' entries must map a path (str) to a "
                f"tree name (str); got {path!r}: {tree!r}."
            )
            raise FilesetError(msg)
        if is_url(path):
            out[str(path)] = tree
            continue
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = base / p
        out[str(p.resolve())] = tree
    if not out:
        msg = f"dataset {name!r}{_where(source)}: 'files' is empty; list at least one ROOT file."
        raise FilesetError(msg)
    return out


def _number(name: str, key: str, value: Any, source: str | None) -> float:
    """A finite, positive float, else a one-line error naming dataset, key and file."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        msg = (
            f"dataset {name!r}{_where(source)}: metadata {key!r} must be a finite number > 0 "
            f"({KNOWN_METADATA[key]}); got {value!r}."
        )
        raise FilesetError(msg)
    return float(value)


def _check_metadata(name: str, meta: Any, source: str | None, require_xsec: bool) -> dict[str, Any]:
    where = _where(source)
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        msg = f"dataset {name!r}{where}: 'metadata' must be a dict; got {type(meta).__name__}."
        raise FilesetError(msg)
    meta = dict(meta)
    for key in meta:
        if not isinstance(key, str):
            msg = f"dataset {name!r}{where}: metadata keys must be strings; got {key!r}."
            raise FilesetError(msg)
        if key in KNOWN_METADATA:
            continue
        close = difflib.get_close_matches(key.lower(), KNOWN_METADATA, n=1, cutoff=0.75)
        if close:
            msg = (
                f"dataset {name!r}{where}: metadata key {key!r} is not known; did you mean "
                f"{close[0]!r} ({KNOWN_METADATA[close[0]]})? Fix the key in the fileset."
            )
            raise FilesetError(msg)
    is_data = meta.setdefault("is_data", False)
    if not isinstance(is_data, bool):
        msg = f"dataset {name!r}{where}: metadata 'is_data' must be true or false; got {is_data!r}."
        raise FilesetError(msg)
    process = meta.setdefault("process", str(name))
    if not isinstance(process, str) or not process:
        msg = f"dataset {name!r}{where}: metadata 'process' must be a non-empty string; got {process!r}."
        raise FilesetError(msg)
    label = meta.setdefault("label", -1 if is_data else 0)
    if isinstance(label, bool) or not isinstance(label, (int, str)) or label == "":
        msg = (
            f"dataset {name!r}{where}: metadata 'label' must be an integer (1 signal, 0 "
            f"background, -1 data) or a class name; got {label!r}."
        )
        raise FilesetError(msg)
    if "lumi" in meta:
        meta["lumi"] = _number(name, "lumi", meta["lumi"], source)
    if not is_data:
        if "xsec" in meta:
            meta["xsec"] = _number(name, "xsec", meta["xsec"], source)
        elif require_xsec:
            msg = (
                f"dataset {name!r}{where}: simulation needs metadata 'xsec' (cross-section in "
                'pb) to be normalised; add it, or set "is_data": true for collision data.'
            )
            raise FilesetError(msg)
    if "sumw" in meta and meta["sumw"] is not None:
        s = meta["sumw"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s == 0:
            msg = f"dataset {name!r}{where}: metadata 'sumw' must be a finite non-zero number; got {s!r}."
            raise FilesetError(msg)
    return meta


def load_fileset(
    fileset: str | os.PathLike | Mapping[str, Any],
    *,
    check_files: bool = False,
    require_xsec: bool = False,
) -> dict[str, dict]:
    """Load and validate a fileset; return it with absolute paths and ``{path: tree}`` files.

    Parameters
    ----------
    fileset : path-like or dict
        A fileset JSON file, or the fileset dict itself (relative paths then resolve against
        the current directory).
    check_files : bool, default False
        Also check that every local file exists (the engine opens and checks every file
        itself, see :func:`hepml_coffea.processing.inputs.inspect_files`).
    require_xsec : bool, default False
        Require ``xsec`` for every simulated dataset (analyses that normalise simulation).

    Returns
    -------
    dict
        ``{dataset: {"files": {path_or_url: tree}, "metadata": {...}}}`` with defaults filled.

    Raises
    ------
    FilesetError
        With a one-line message naming the dataset, the key and the fileset file.
    """
    source: str | None = None
    if isinstance(fileset, (str, os.PathLike)):
        path = Path(fileset).expanduser()
        source = str(path)
        if path.is_dir():
            msg = f"fileset {source!r} is a folder; give the fileset JSON file (e.g. {source}/fileset.json)."
            raise FilesetError(msg)
        if not path.is_file():
            msg = f"fileset file {source!r} does not exist; run 'hepml-coffea generate' or give the right path."
            raise FilesetError(msg)
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            msg = f"fileset file {source!r} is not valid JSON: {' '.join(str(err).split())}."
            raise FilesetError(msg) from err
        except OSError as err:
            msg = f"fileset file {source!r} cannot be read: {err.strerror or err}."
            raise FilesetError(msg) from err
        base = path.resolve().parent
    else:
        data, base = fileset, Path.cwd()
    if not isinstance(data, Mapping) or not data:
        msg = f"a fileset{_where(source)} must be a non-empty dict {{dataset: [paths] or {{'files': ..., 'metadata': ...}}}}."
        raise FilesetError(msg)
    out: dict[str, dict] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not name:
            msg = f"dataset names{_where(source)} must be non-empty strings; got {name!r}."
            raise FilesetError(msg)
        if isinstance(entry, (list, tuple, str)):
            entry = {"files": entry}
        if not isinstance(entry, Mapping):
            msg = f"dataset {name!r}{_where(source)}: must be a list of files or a dict with 'files'; got {type(entry).__name__}."
            raise FilesetError(msg)
        for key in entry:
            if key in DATASET_KEYS or key in IGNORED_DATASET_KEYS:
                continue
            close = difflib.get_close_matches(str(key), DATASET_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = (
                f"dataset {name!r}{_where(source)}: unknown key {key!r}; {hint}a dataset has "
                f"'files' and optionally 'metadata' (put extra information inside 'metadata')."
            )
            raise FilesetError(msg)
        if "files" not in entry:
            msg = f"dataset {name!r}{_where(source)}: missing key 'files' (a list of ROOT files)."
            raise FilesetError(msg)
        files = _normalise_files(name, entry["files"], base, source)
        meta = _check_metadata(name, entry.get("metadata"), source, require_xsec)
        if check_files:
            for fpath in files:
                if not is_url(fpath) and not Path(fpath).is_file():
                    msg = f"dataset {name!r}{_where(source)}: file {fpath} does not exist."
                    raise FilesetError(msg)
        out[name] = {"files": files, "metadata": meta}
    lumis = {ds: e["metadata"]["lumi"] for ds, e in out.items() if "lumi" in e["metadata"]}
    if len(set(lumis.values())) > 1:
        shown = ", ".join(f"{ds}: {v:g}" for ds, v in lumis.items())
        msg = (
            f"datasets{_where(source)} disagree on metadata 'lumi' ({shown}); the luminosity of "
            "the data is one number: make them equal (or use --set lumi=...)."
        )
        raise FilesetError(msg)
    return out


def file_genweight_sum(
    path: str, tree: str = DEFAULT_TREE, *, timeout: float | None = None
) -> float:
    """Σ genWeight of one file: ``Runs/genEventSumw`` (or ``genEventSumw_``), else ``genWeight``.

    Works on local paths and URLs. A file without Runs sums falls back to summing
    ``Events/genWeight``, with a warning.

    Raises
    ------
    MissingBranchError
        If the file has neither Runs sums nor ``genWeight`` (e.g. collision data).
    """
    import uproot

    options = {"timeout": int(timeout)} if timeout is not None and is_url(path) else {}
    with uproot.open(path, **options) as f:
        runs = f["Runs"] if "Runs" in f else None
        branches = set(runs.keys()) if runs is not None else set()
        name = next((b for b in ("genEventSumw", "genEventSumw_") if b in branches), None)
        if runs is not None and name is not None:
            return float(np.sum(runs[name].array(library="np"), dtype=np.float64))
        events = f[tree]
        if "genWeight" not in events.keys():
            msg = (
                f"{path}: no Runs/genEventSumw and no {tree}/genWeight; cannot normalise it as "
                "simulation (if it is collision data, set metadata is_data: true)."
            )
            raise MissingBranchError(msg)
        warnings.warn(
            f"{path}: no Runs/genEventSumw; summing {tree}/genWeight instead (correct only if "
            "the file was not skimmed).",
            stacklevel=2,
        )
        return float(np.sum(events["genWeight"].array(library="np"), dtype=np.float64))


def sum_genweights(files: Iterable[str | os.PathLike] | Mapping[str, str]) -> float:
    """Σ genWeight of a dataset, from the ``Runs`` trees of its files (see :func:`file_genweight_sum`).

    Parameters
    ----------
    files : iterable of path-like or URL, or dict {path: tree}
        The dataset's files (a fileset's ``files`` entry works as is).

    Returns
    -------
    float
        The sum (float64).
    """
    trees = (
        dict(files)
        if isinstance(files, Mapping)
        else dict.fromkeys((str(f) for f in files), DEFAULT_TREE)
    )
    return float(sum(file_genweight_sum(str(p), t) for p, t in trees.items()))
