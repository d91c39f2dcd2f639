"""Event weights and their variations as a coffea :class:`~coffea.analysis_tools.Weights`.

Computed once per chunk (they do not depend on the jet energy variations; the b-tag and lepton
scale factors use the nominal selected objects):

- ``norm``: ``genWeight × xsec × lumi / Σ genWeight`` (no variation; data: 1);
- one entry per configured weight systematic (:class:`~hepml_coffea.systematics.config.WeightDef`):
  a correctionlib correction ``correction(systematic, *inputs)`` evaluated at ``"nominal"``,
  ``"up"`` and ``"down"`` (event-level from a branch, or the product over the selected objects,
  optionally only those with a boolean field true: ``mask = "is_b"`` gives the b-tag SF of the
  tagged jets, a fixed-working-point approximation without the untagged jets' efficiency term),
  or entries of a per-event vector branch of relative weights (``PSWeight``: ISR/FSR), or the
  envelope of several entries (``LHEScaleWeight``: μR/μF).

A weight whose inputs are missing (no correctionlib file, no such branch) is added with
up = down = nominal, with a warning naming the dataset and what is missing, so every process
carries every variation and the fit sees no effect rather than a missing histogram.

The correctionlib file is taken from the configuration (``systematics.corrections``), else from the
dataset metadata key ``corrections``, else ``corrections.json`` beside the input file (where
``generate`` writes it); a relative path is resolved against the folder of the file being
processed, then the working directory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea.analysis_tools import Weights

from hepml_coffea.errors import ConfigError
from hepml_coffea.selection.branches import get_branch
from hepml_coffea.selection.weights import event_weights
from hepml_coffea.systematics.config import SystematicsConfig, WeightDef

_CSETS: dict[tuple[str, float], Any] = {}


def resolve_path(value: str, meta: Mapping[str, Any]) -> Path:
    """A path from the configuration or metadata: absolute, next to the processed file, or cwd."""
    p = Path(value)
    if p.is_absolute():
        return p
    filename = str(meta.get("filename", ""))
    if filename and "://" not in filename:
        beside = Path(filename).parent / p
        if beside.exists():
            return beside
    return Path.cwd() / p


DEFAULT_CORRECTIONS = "corrections.json"


def beside_input(name: str, meta: Mapping[str, Any]) -> Path | None:
    """``name`` in the folder of the processed (local) file, if it exists there."""
    filename = str(meta.get("filename", ""))
    if not filename or "://" in filename:
        return None
    path = Path(filename).parent / name
    return path if path.is_file() else None


def corrections_path(syst: SystematicsConfig, meta: Mapping[str, Any]) -> Path | None:
    """The correctionlib file for this dataset: ``systematics.corrections``, else the metadata
    ``corrections``, else a ``corrections.json`` beside the input file; None if there is none.

    Raises
    ------
    ConfigError
        If a file is named but does not exist.
    """
    value = syst.corrections or str(meta.get("corrections") or "")
    if not value:
        return beside_input(DEFAULT_CORRECTIONS, meta)
    path = resolve_path(value, meta)
    if not path.is_file():
        key = (
            "systematics.corrections" if syst.corrections else "the dataset metadata 'corrections'"
        )
        msg = (
            f"correctionlib file {str(path)!r} (from {key}) does not exist; give an existing file "
            f"with --set systematics.corrections=<path.json>."
        )
        raise ConfigError(msg)
    return path


def load_corrections(path: Path) -> Any:
    """``correctionlib.CorrectionSet`` of ``path``, loaded once per process (and file version)."""
    import correctionlib

    key = (str(path), os.path.getmtime(path))
    if key not in _CSETS:
        _CSETS[key] = correctionlib.CorrectionSet.from_file(str(path))
    return _CSETS[key]


def correction(cset: Any, name: str, path: Path | None) -> Any:
    """The correction ``name`` of ``cset``, with a one-line error listing the known ones."""
    known = list(cset)  # correctionlib's `in` raises IndexError for an unknown name
    if name not in known:
        msg = (
            f"correctionlib file {path} has no correction {name!r} (it has {sorted(known)}); fix the "
            f"'correction' key of its [systematics.definitions.*] table."
        )
        raise ConfigError(msg)
    return cset[name]


def _warn_missing(dataset: str, wdef: WeightDef, what: str) -> None:
    msg = (
        f"Dataset {dataset!r}: weight systematic {wdef.name!r} has no {what}; its up/down "
        f"variations equal the nominal. Remove it with --set systematics.weights=[...] if intended."
    )
    warnings.warn(msg, stacklevel=3)


def _object_inputs(
    objs: ak.Array, inputs: tuple[str, ...], mask: str = ""
) -> tuple[list[np.ndarray], np.ndarray]:
    if mask:
        objs = objs[objs[mask]]
    counts = ak.to_numpy(ak.num(objs, axis=1))
    flat = ak.flatten(objs, axis=1)
    values = []
    for f in inputs:
        v = ak.to_numpy(np.abs(flat["eta"]) if f == "abseta" else flat[f])
        values.append(v.astype(np.int64) if v.dtype.kind in "iub" else v.astype(np.float64))
    return values, counts


def _per_event_product(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    event = np.repeat(np.arange(len(counts)), counts)
    out = np.ones(len(counts))
    np.multiply.at(out, event, values)
    return out


def _correction_weight(
    events: Any, objects: Mapping[str, Any], wdef: WeightDef, corr: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if wdef.branch:
        x = ak.to_numpy(
            get_branch(events, wdef.branch, f"systematics.definitions.{wdef.name}.branch")
        )
        return tuple(
            np.asarray(corr.evaluate(s, x), dtype=np.float64) for s in ("nominal", "up", "down")
        )  # type: ignore[return-value]
    if wdef.object not in objects:
        msg = (
            f"systematics.definitions.{wdef.name}.object = {wdef.object!r} is not an object of "
            f"this processor (it has {sorted(objects)})."
        )
        raise ConfigError(msg)
    inputs, counts = _object_inputs(objects[wdef.object], wdef.inputs, wdef.mask)
    out = []
    for s in ("nominal", "up", "down"):
        sf = np.asarray(corr.evaluate(s, *inputs), dtype=np.float64) if len(counts) else np.ones(0)
        out.append(_per_event_product(sf, counts))
    return out[0], out[1], out[2]


def _branch_weight(
    events: Any, wdef: WeightDef
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    coll = wdef.branch
    if coll not in events.fields:
        return None
    arr = events[coll]
    n = len(events)
    idx = [wdef.up, wdef.down] if wdef.kind == "index" else list(wdef.indices)
    counts = ak.to_numpy(ak.num(arr, axis=1))
    if n and (counts <= max(idx)).any():
        return None
    mat = ak.to_numpy(arr[:, idx]) if n else np.ones((0, len(idx)))
    mat = mat.astype(np.float64)
    if wdef.kind == "index":
        return np.ones(n), mat[:, 0], mat[:, 1]
    return np.ones(n), mat.max(axis=1), mat.min(axis=1)


def build_weights(
    events: Any,
    objects: Mapping[str, Any],
    syst: SystematicsConfig,
    lumi: float,
    genweight_branch: str = "genWeight",
) -> Weights:
    """The coffea ``Weights`` of one chunk: ``norm`` and every configured weight systematic.

    Parameters
    ----------
    events : NanoEventsArray
        One chunk; ``events.metadata`` gives ``is_data``, ``xsec``, ``sumw``, ``dataset``,
        ``filename`` and optionally ``corrections``.
    objects : mapping
        The nominal selected objects (``muons``, ``electrons``, ``jets``...) that object-level
        scale factors multiply over.
    syst : SystematicsConfig
    lumi : float
        Integrated luminosity (pb^-1).

    Returns
    -------
    coffea.analysis_tools.Weights
        ``weight()`` is the nominal event weight; ``weight("<name>Up")`` etc. the variations.
        Data: all ones and no variations.
    """
    meta = dict(getattr(events, "metadata", None) or {})
    n = len(events)
    w = Weights(n)
    w.add("norm", event_weights(events, lumi, genweight_branch))
    if meta.get("is_data", False) or not syst.weights:
        return w
    dataset = str(meta.get("dataset", "?"))
    path = corrections_path(syst, meta)
    cset = load_corrections(path) if path is not None else None
    for wdef in syst.weights:
        values: tuple[np.ndarray, np.ndarray, np.ndarray] | None
        if wdef.kind == "correction":
            if cset is None:
                _warn_missing(dataset, wdef, "correctionlib file (systematics.corrections)")
                values = None
            else:
                values = _correction_weight(
                    events, objects, wdef, correction(cset, wdef.correction, path)
                )
        else:
            values = _branch_weight(events, wdef)
            if values is None:
                _warn_missing(dataset, wdef, f"branch {wdef.branch!r} with the configured entries")
        if values is None:
            values = (np.ones(n), np.ones(n), np.ones(n))
        nom, up, down = values
        w.add(wdef.name, nom, np.array(up, dtype=np.float64), np.array(down, dtype=np.float64))
    return w
