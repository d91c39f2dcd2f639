"""Write NanoAOD-layout ROOT files with uproot, byte-for-byte reproducibly.

uproot stamps every file with uuid1 UUIDs and ``datetime.now()`` timestamps (TFile, TDirectory,
TKey, TTree). :func:`write_nanoaod` passes a seeded ``uuid_function`` and freezes the clock of
uproot's writing modules while it writes, so the same arrays give the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import threading
import types
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot
import uproot.writing._cascadetree

__all__ = [
    "COMPRESSIONS",
    "compression_for",
    "empty_collections",
    "reduce_precision",
    "write_nanoaod",
]

COMPRESSIONS = {
    "lzma": (uproot.LZMA, 9),
    "zstd": (uproot.ZSTD, 5),
    "zlib": (uproot.ZLIB, 4),
    "lz4": (uproot.LZ4, 4),
}
"""Algorithm name → (uproot class, default level). LZMA 9 is the CMS NanoAOD default."""

_EPOCH = _dt.datetime(2025, 1, 1, 0, 0, 0)
_LOCK = threading.Lock()
_UPROOT_WRITING_MODULES = ("writable", "_cascade", "_cascadetree", "_cascadentuple")

# Collections coffea's NanoAODSchema cross-references; our detector reconstructs none of them,
# so they are written empty (as a NanoAOD with no such objects would be) to keep every
# ``*Idx`` cross-reference resolvable without warnings.
_EMPTY = {
    "Tau": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "charge": "i4", "jetIdx": "i4"},
    "FatJet": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "subJetIdx1": "i4", "subJetIdx2": "i4"},
    "SubJet": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4"},
    "FsrPhoton": {"pt": "f4", "eta": "f4", "phi": "f4", "muonIdx": "i4"},
    "LowPtElectron": {
        "pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "charge": "i4",
        "electronIdx": "i4", "photonIdx": "i4",
    },
}  # fmt: skip


def reduce_precision(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 values rounded to ``bits`` mantissa bits, as NanoAOD stores many branches
    (``precision=bits`` in its table producers): better compression, relative error ≤ 2^-(bits+1).
    """
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    shift = 23 - bits
    u = (u + np.uint32(1 << (shift - 1))) & np.uint32((0xFFFFFFFF >> shift) << shift)
    return u.view(np.float32)


def compression_for(name: str, level: int | None = None):
    """uproot compression object for ``name`` (one of ``COMPRESSIONS``) at ``level``."""
    cls, default = COMPRESSIONS[name]
    return cls(default if level is None else level)


# Simulation: with GenPart present, coffea also resolves these generator cross-references
_EMPTY_MC_FIELDS = {"Tau": {"genPartIdx": "i4"}, "LowPtElectron": {"genPartIdx": "i4"},
                    "FatJet": {"genJetAK8Idx": "i4"}}  # fmt: skip
_EMPTY_MC = {
    "GenJetAK8": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4"},
    "GenVisTau": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "genPartIdxMother": "i4"},
}


def empty_collections(n: int, *, mc: bool = False) -> dict[str, ak.Array]:
    """Empty jagged collections (``nTau == 0`` ...) for ``n`` events (``mc``: with the
    generator-level ones and cross-references)."""
    zero = np.zeros(n, np.int64)
    spec = {name: dict(fields) for name, fields in _EMPTY.items()}
    if mc:
        for name, extra in _EMPTY_MC_FIELDS.items():
            spec[name] |= extra
        spec |= _EMPTY_MC
    return {
        name: ak.zip(
            {k: ak.unflatten(np.zeros(0, np.dtype(dt)), zero) for k, dt in fields.items()},
        )
        for name, fields in spec.items()
    }


class _FrozenDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return _EPOCH


@contextlib.contextmanager
def _uproot_patches() -> Iterator[None]:
    """Patch uproot's writer for NanoAOD fidelity and reproducibility, while writing.

    - ``datetime.datetime.now()`` inside uproot's writing modules returns a fixed time;
    - counters of jagged branches (``nMuon`` ...) are ``uint32`` as in NanoAOD, not uproot's
      hard-coded ``int32`` (``Tree._branch_np`` is wrapped for ``kind="counter"``).
    """
    fake = types.SimpleNamespace(datetime=_FrozenDatetime)
    found = [getattr(uproot.writing, m, None) for m in _UPROOT_WRITING_MODULES]
    mods: list[Any] = [m for m in found if m is not None and hasattr(m, "datetime")]
    tree_cls = uproot.writing._cascadetree.Tree
    branch_np = tree_cls._branch_np

    def _branch_np(self, name, branch_type, branch_dtype, counter=None, kind="normal"):
        if kind == "counter":
            branch_type = branch_dtype = np.dtype(np.uint32)
        return branch_np(self, name, branch_type, branch_dtype, counter=counter, kind=kind)

    with _LOCK:
        saved = [m.datetime for m in mods]
        try:
            for m in mods:
                m.datetime = fake
            tree_cls._branch_np = _branch_np
            yield
        finally:
            tree_cls._branch_np = branch_np
            for m, s in zip(mods, saved, strict=True):
                m.datetime = s


def _uuid_factory(key: str):
    counter = iter(range(1 << 30))

    def make() -> uuid.UUID:
        digest = hashlib.sha256(f"{key}/{next(counter)}".encode()).digest()
        return uuid.UUID(bytes=digest[:16], version=4)

    return make


def write_nanoaod(
    path: str | Path,
    blocks: Iterable[dict[str, Any]],
    runs: dict[str, np.ndarray] | None,
    *,
    compression,
    key: str,
) -> int:
    """Write event ``blocks`` (one basket each) to TTree ``Events`` and ``runs`` to ``Runs``.

    Parameters
    ----------
    path : path-like
        Output ROOT file (overwritten).
    blocks : iterable of dict
        Column name → numpy array (flat branch) or awkward record array of jagged fields
        (a collection: written as ``n<Name>`` + ``<Name>_<field>``). Every block must have
        the same columns and types.
    runs : dict or None
        Flat columns of the ``Runs`` tree, read after all ``blocks`` are consumed (so a
        generator of blocks may fill it as it goes); ``None`` writes no ``Runs`` tree.
    compression : uproot compression object
    key : str
        Seed of the file's deterministic UUIDs.

    Returns
    -------
    int
        Number of events written.
    """
    n = 0
    with (
        _uproot_patches(),
        uproot.recreate(path, compression=compression, uuid_function=_uuid_factory(key)) as f,
    ):
        tree = None
        for block in blocks:
            if tree is None:
                types_ = {
                    k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in block.items()
                }
                tree = f.mktree("Events", types_, title="Events", initial_basket_capacity=50)
            tree.extend(block)
            n += len(next(iter(block.values())))
        if runs is not None:
            f.mktree("Runs", {k: v.dtype for k, v in runs.items()}, title="Runs").extend(runs)
    return n
