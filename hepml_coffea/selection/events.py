"""Event-level requirements shared by every analysis: triggers, the golden-JSON lumi mask, regions,
and the sentinel-value check of the branches used in cuts.

Configuration keys (top level of ``config.toml``):

- ``triggers``: a list of HLT paths taken as an OR (``["HLT_IsoMu24", "HLT_Ele32_WPTight_Gsf"]``),
  or a table ``{default = [...], <process or dataset> = [...]}`` for per-dataset paths (a
  SingleMuon dataset takes the muon paths). A dataset's metadata key ``triggers`` (a list) takes
  precedence. An empty list requires nothing.
- ``lumi_mask``: a CMS golden JSON applied to DATA only (:class:`GoldenJSON`, which answers as
  :class:`coffea.lumi_tools.LumiMask` does without its ~10 s numba compilation per process);
  ``""`` uses the dataset metadata key ``lumi_mask``, else a ``golden.json`` beside the input
  file (where ``generate`` writes it for its pseudo-data), else none. A relative path is
  resolved against the folder of the processed file, then the working directory.
- ``[regions]``: ``name = ["sel", "!other", ...]``: a region is the events passing every cut of the
  cutflow AND each listed selection (``!`` negates); the names are those of the processor's
  ``PackedSelection`` (cuts and extra masks such as ``two_btags``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from hepml_coffea.errors import ConfigError, MissingBranchError
from hepml_coffea.selection.branches import _available, _source

SENTINELS = (-3000.0, -999.0, -99.0, -10.0, -1.0, 0.0)
"""Default values NanoAOD writers put in branches that were not computed."""
MIN_SENTINEL_VALUES = 20
DEFAULT_GOLDEN = "golden.json"
_LUMI_MASKS: dict[tuple[str, float], Any] = {}


def trigger_paths(config: Mapping[str, Any], meta: Mapping[str, Any]) -> list[str]:
    """The HLT paths of this dataset: metadata ``triggers``, else the config (list or table)."""
    if meta.get("triggers") is not None:
        return [str(t) for t in meta["triggers"]]
    trig = config.get("triggers", [])
    if isinstance(trig, Mapping):
        for key in (meta.get("dataset"), meta.get("process")):
            if key is not None and key in trig:
                return [str(t) for t in trig[key]]
        return [str(t) for t in trig.get("default", [])]
    return [str(t) for t in trig]


def trigger_mask(events: Any, paths: Sequence[str]) -> np.ndarray:
    """OR of the ``paths`` (all true when empty).

    Raises
    ------
    MissingBranchError
        Naming the missing HLT branch, the dataset, the file and the ``--set triggers`` key.
    """
    mask = np.zeros(len(events), dtype=bool) if paths else np.ones(len(events), dtype=bool)
    for path in paths:
        name = path.removeprefix("HLT_")
        hlt = events["HLT"] if "HLT" in events.fields else None
        if hlt is not None and name in hlt.fields:
            values = hlt[name]
        elif path in events.fields:
            values = events[path]
        else:
            dataset, filename = _source(events)
            known = [f"HLT_{f}" for f in hlt.fields] if hlt is not None else []
            import difflib

            close = difflib.get_close_matches(path, known or _available(events, "HLT"), n=3)
            hint = f" (close: {', '.join(close)})" if close else ""
            msg = (
                f"Trigger branch {path!r} is missing from dataset {dataset!r}, file {filename}; "
                f"choose existing paths with --set triggers=[...] (or per dataset in a [triggers] "
                f"table / the metadata key 'triggers'){hint}."
            )
            raise MissingBranchError(msg)
        mask |= ak.to_numpy(values).astype(bool)
    return mask


def lumi_mask_path(config: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """The golden JSON for this dataset (None: no lumi mask; MC never has one)."""
    if not meta.get("is_data", False):
        return None
    from hepml_coffea.systematics.weights import beside_input, resolve_path

    value = str(config.get("lumi_mask") or meta.get("lumi_mask") or "")
    if not value:
        found = beside_input(DEFAULT_GOLDEN, meta)
        return None if found is None else str(found)

    path = resolve_path(value, meta)
    if not path.is_file():
        src = "lumi_mask" if config.get("lumi_mask") else "the dataset metadata 'lumi_mask'"
        msg = f"Golden JSON {str(path)!r} (from {src}) does not exist; give one with --set lumi_mask=<path.json>."
        raise ConfigError(msg)
    return str(path)


class GoldenJSON:
    """A CMS golden JSON (``{"run": [[first, last], ...]}``) as a vectorised (run, lumi) lookup.

    Same answers as :class:`coffea.lumi_tools.LumiMask` (tested), in plain numpy: importing
    ``coffea.lumi_tools`` compiles its numba kernels, ~10 s in every worker process.

    Raises
    ------
    ConfigError
        If the file is not valid JSON of that form.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            data = json.loads(Path(path).read_text())
            pairs = [(int(run), int(a), int(b)) for run, rs in data.items() for a, b in rs]
        except (ValueError, TypeError, AttributeError) as exc:
            msg = f'Golden JSON {str(path)!r} is not {{"run": [[first, last], ...]}}: {exc}; fix the file or --set lumi_mask=<path.json>.'
            raise ConfigError(" ".join(msg.split())) from None
        arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 3)
        lo = (arr[:, 0] << 32) | arr[:, 1]
        hi = (arr[:, 0] << 32) | arr[:, 2]
        hi = np.maximum.accumulate(hi) if len(hi) else hi  # overlapping ranges of a run
        self._lo, self._hi = lo, hi

    def __call__(self, run: np.ndarray, lumi: np.ndarray) -> np.ndarray:
        """Boolean mask of the (run, lumi) pairs inside the JSON's ranges."""
        key = (np.asarray(run, dtype=np.int64) << 32) | np.asarray(lumi, dtype=np.int64)
        i = np.searchsorted(self._lo, key, side="right") - 1
        ok = i >= 0
        ok[ok] = key[ok] <= self._hi[i[ok]]
        return ok


def lumi_mask(events: Any, path: str | None) -> np.ndarray:
    """The golden JSON ``path`` at the events' (run, luminosityBlock); all true if None."""
    if path is None:
        return np.ones(len(events), dtype=bool)
    key = (path, os.path.getmtime(path))
    if key not in _LUMI_MASKS:
        _LUMI_MASKS[key] = GoldenJSON(path)
    run = ak.to_numpy(events.run)
    lumi = ak.to_numpy(events.luminosityBlock)
    return np.asarray(_LUMI_MASKS[key](run, lumi), dtype=bool)


def lumi_sections(events: Any, mask: np.ndarray) -> set[tuple[int, int]]:
    """The distinct ``(run, luminosityBlock)`` pairs of the events with ``mask`` true."""
    run = ak.to_numpy(events.run)[mask].astype(np.uint64)
    lumi = ak.to_numpy(events.luminosityBlock)[mask].astype(np.uint64)
    packed = np.unique((run << np.uint64(32)) | lumi)
    return {(int(p >> np.uint64(32)), int(p & np.uint64(0xFFFFFFFF))) for p in packed}


def processed_luminosity(sections: Iterable[tuple[int, int]], lumi_csv: str | os.PathLike) -> float:
    """Integrated luminosity of the distinct ``(run, lumi)`` ``sections``, from a brilcalc CSV.

    The sum of the ``recorded`` column (the 7th, in the CSV's unit: run brilcalc with
    ``-u /pb``) over the sections, as :meth:`coffea.lumi_tools.LumiData.get_lumi` computes it
    (tested equal), in numpy. Sections absent from the CSV count 0.

    Parameters
    ----------
    sections : iterable of (run, lumi)
        E.g. the union of ``output[dataset]["lumi_sections"]`` of the data datasets.
    lumi_csv : path
        ``brilcalc lumi --byls --output-style csv`` output (``generate`` writes ``lumi.csv``).
    """
    rows = [
        line.split(",")
        for line in Path(lumi_csv).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    try:
        run = np.array([int(r[0].split(":")[0]) for r in rows], dtype=np.int64)
        ls = np.array([int(r[1].split(":")[0]) for r in rows], dtype=np.int64)
        rec = np.array([float(r[6]) for r in rows], dtype=np.float64)
    except (IndexError, ValueError) as exc:
        msg = f"Luminosity CSV {str(lumi_csv)!r} is not brilcalc --byls CSV output: {exc}."
        raise ConfigError(msg) from None
    pairs = np.array(sorted(set(sections)), dtype=np.int64).reshape(-1, 2)
    want = (pairs[:, 0] << 32) | pairs[:, 1]
    have = (run << 32) | ls
    return float(rec[np.isin(have, want)].sum())


def check_sentinels(events: Any, branches: Mapping[str, str]) -> list[str]:
    """Warn, per dataset, about cut branches whose values are all one default value.

    Parameters
    ----------
    branches : mapping
        ``{branch: config key}`` of the branches the cuts use (e.g. ``Jet_btagDeepFlavB`` →
        ``btag.branch``). Branches absent from the file are left to the selection's own error.

    Returns
    -------
    list of str
        The branches found filled with one sentinel (``SENTINELS``), each with a warning naming
        the branch, the dataset and the ``--set`` key. At least ``MIN_SENTINEL_VALUES`` values are
        needed to judge.
    """
    from hepml_coffea.selection.branches import get_branch

    dataset, _ = _source(events)
    found = []
    for branch, key in branches.items():
        try:
            arr = get_branch(events, branch, key)
        except MissingBranchError:
            continue
        values = ak.to_numpy(ak.flatten(arr, axis=None)) if arr.ndim > 1 else ak.to_numpy(arr)
        if len(values) < MIN_SENTINEL_VALUES:
            continue
        first = float(values[0])
        if first in SENTINELS and bool(np.all(values == values[0])):
            found.append(branch)
            msg = (
                f"Dataset {dataset!r}: branch {branch!r} (used in a cut) holds only the default "
                f"value {first:g}, so that cut cannot select anything meaningful; choose another "
                f"branch with --set {key}=<branch>."
            )
            warnings.warn(msg, stacklevel=2)
    return found


def parse_regions(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``[regions]`` as ``{name: (selection, "!selection", ...)}``; ``{"selected": ()}`` if absent."""
    table = config.get("regions") or {}
    if not isinstance(table, Mapping):
        msg = f"regions must be a table name = [selections]; got {table!r}."
        raise ConfigError(msg)
    regions = {str(k): tuple(str(s) for s in v) for k, v in table.items()}
    return regions or {"selected": ()}


def region_masks(
    selection: PackedSelection,
    cut_names: Sequence[str],
    regions: Mapping[str, Sequence[str]],
) -> dict[str, np.ndarray]:
    """Boolean masks of the regions: all ``cut_names`` AND each region's (negatable) selections.

    Raises
    ------
    ConfigError
        If a region names a selection the processor does not define.
    """
    base = np.asarray(selection.all(*cut_names), dtype=bool)
    out = {}
    for name, terms in regions.items():
        req: dict[str, bool] = {}
        for t in terms:
            sel = t.removeprefix("!")
            if sel not in selection.names:
                msg = (
                    f"regions.{name} uses the selection {sel!r}, which this processor does not "
                    f"define; known: {list(selection.names)}."
                )
                raise ConfigError(msg)
            req[sel] = not t.startswith("!")
        mask = base & np.asarray(selection.require(**req), dtype=bool) if req else base
        out[name] = mask
    return out
