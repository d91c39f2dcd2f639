"""Per-chunk checks that catch corrupted baskets before they become numbers.

A byte flip in a basket (ZSTD, LZ4, ZLIB or uncompressed) can decompress "successfully" into
values like ±3.4e38 or NaN. These checks find them, per chunk:

- :func:`check_physical` — on the *input* branches a processor reads: finite, ``|x| < 1e30``,
  and the physical ranges known for NanoAOD (``0 ≤ pt < 1e5 GeV``, ``|eta| < 10``,
  ``-1 GeV ≤ mass < 1e5 GeV``);
  processors call it on the collections they use;
- :func:`check_finite` — on *output* columns and weights: finite and ``|x| < 1e30``; the
  engine's guarded processor runs it on every returned table column and weight.

Both raise :class:`~hepml_coffea.errors.BadValueError` naming the file, the entry range and the
branch (or column) of the first bad value; the engine turns it into a failed chunk (exit 2), or,
with ``--skip-bad-files``, a skipped chunk accounted for in ``report.json``.

Masses are allowed down to -1 GeV: NanoAOD stores them with reduced precision, and real
electron, photon and jet masses reach -0.07 GeV.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import BadValueError

__all__ = ["LIMIT", "PHYSICAL_RANGES", "check_finite", "check_physical"]

#: No value of a NanoAOD branch, feature or weight is this large: corruption (float32 max 3.4e38).
LIMIT = 1e30
#: Known physical ranges of reconstructed-object fields: (lowest allowed, highest allowed).
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "pt": (0.0, 1e5),
    "eta": (-10.0, 10.0),
    "phi": (-10.0, 10.0),
    "mass": (-1.0, 1e5),
    "sumEt": (0.0, 1e6),
}
DEFAULT_COLLECTIONS = ("Jet", "Muon", "Electron", "Photon", "MET", "PuppiMET")


def _where(events: Any) -> str:
    md = getattr(events, "metadata", None) or {}
    file = md.get("filename", "?")
    start, stop = md.get("entrystart"), md.get("entrystop")
    entries = f"entries {start}-{stop}" if start is not None else "its entries"
    return f"{file} ({entries}, dataset {md.get('dataset', '?')!r})"


def _first_bad(values: np.ndarray, low: float, high: float) -> int | None:
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < low) | (values > high) | (np.abs(values) >= LIMIT)
    idx = np.flatnonzero(bad)
    return int(idx[0]) if len(idx) else None


def _flat(array: Any) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)), dtype=np.float64)


def check_physical(
    events: Any,
    collections: Iterable[str] = DEFAULT_COLLECTIONS,
    fields: Iterable[str] = ("pt", "eta", "phi", "mass"),
) -> None:
    """Check the fields of the given collections of a chunk for corrupt or unphysical values.

    Collections or fields absent from the events are passed over (``MET`` has no eta).

    Parameters
    ----------
    events : coffea NanoEvents
        The chunk (its ``metadata`` names the file and entry range in the error).
    collections : iterable of str
        Collection names (``"Jet"``, ``"Muon"``, ...).
    fields : iterable of str
        Fields to check; those in :data:`PHYSICAL_RANGES` get their range, others finiteness.

    Raises
    ------
    BadValueError
        Naming the file, entry range, branch and value of the first bad value.
    """
    present = set(getattr(events, "fields", ()))
    for coll in collections:
        if coll not in present:
            continue
        obj = events[coll]
        have = set(getattr(obj, "fields", ()))
        for field in fields:
            if field not in have:
                continue
            low, high = PHYSICAL_RANGES.get(field, (-LIMIT, LIMIT))
            values = _flat(obj[field])
            i = _first_bad(values, low, high)
            if i is not None:
                msg = (
                    f"Input file {_where(events)}: branch {coll}_{field} holds {values[i]:.6g}, "
                    f"outside [{low:g}, {high:g}] (corrupt basket?); replace the file, or pass "
                    "--skip-bad-files to skip this chunk and list it in report.json."
                )
                raise BadValueError(msg)


def check_finite(
    columns: Mapping[str, Any], *, what: str = "column", where: str = "", events: Any = None
) -> None:
    """Check numeric arrays (table columns, weights) for non-finite or absurdly large values.

    Parameters
    ----------
    columns : mapping of str to array-like
        Name → values (numpy, awkward, or a list of arrays, as in a processor's table).
    what : str
        How the names are called in the message (``"column"``, ``"weight"``).
    where : str
        Where the values come from, for the message (default: from ``events.metadata``).
    events : NanoEvents, optional
        The chunk, to name its file and entry range.

    Raises
    ------
    BadValueError
        Naming the column and the first bad value.
    """
    place = where or (_where(events) if events is not None else "output")
    for name, value in columns.items():
        parts = value if isinstance(value, list) else [value]
        for part in parts:
            try:
                arr = _flat(part) if isinstance(part, ak.Array) else np.asarray(part)
            except (TypeError, ValueError):
                continue
            if arr.dtype.kind != "f":
                continue
            i = _first_bad(arr.ravel().astype(np.float64), -LIMIT, LIMIT)
            if i is not None:
                msg = (
                    f"{place}: {what} {name!r} holds {arr.ravel()[i]:.6g} (non-finite or "
                    "|x| >= 1e30, corrupt input?); replace the file, or pass --skip-bad-files to "
                    "skip this chunk and list it in report.json."
                )
                raise BadValueError(msg)
