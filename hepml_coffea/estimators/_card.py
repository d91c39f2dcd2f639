"""Pieces of the model card: JSON encoding of parameters, hashes, and safe file names.

Used by :mod:`hepml_coffea.estimators.persistence`; nothing here reads a model.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import re
import struct
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from hepml_coffea.errors import ModelError

CARD = "model_card.json"
FORMAT = "hepml-coffea-model"
FORMAT_VERSION = 1
#: The estimator classes a card may name, and their modules (nothing else is ever imported).
ESTIMATORS = {
    "BDTClassifier": "hepml_coffea.estimators.bdt",
    "BDTRegressor": "hepml_coffea.estimators.bdt",
    "DNNClassifier": "hepml_coffea.estimators.dnn",
    "DNNRegressor": "hepml_coffea.estimators.dnn",
    "AutoencoderAnomalyDetector": "hepml_coffea.estimators.autoencoder",
    "KFoldEventClassifier": "hepml_coffea.estimators.kfold",
}
#: Environment variable holding an optional secret key: cards are then signed (HMAC-SHA256).
KEY_ENV = "HEPML_COFFEA_MODEL_KEY"
_VERSIONED = ("hepml-coffea", "numpy", "scikit-learn", "xgboost", "keras", "tensorflow")
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Names allowed for extra files (``save(..., extra_files=...)``): one plain file name.
EXTRA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_pickle(head: bytes) -> bool:
    # protocol 2+ pickles start with PROTO (0x80) and the protocol number
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def refuse_pickle(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(2)
    if _is_pickle(head):
        msg = (
            f"{path} is a Python pickle, not a hepml-coffea model file; pickles can run "
            "arbitrary code and are never loaded. Re-save the model with est.save(folder)."
        )
        raise ModelError(msg)


def member(folder: Path, rel: Any, card_path: Path, what: str = "file") -> Path:
    """``folder / rel`` for a name read from a card, refusing anything outside ``folder``.

    ``rel`` must be a relative POSIX path without ``..``, ``.`` or empty parts, and must resolve
    (symbolic links followed) inside ``folder``.
    """
    ok = isinstance(rel, str) and bool(rel) and "\\" not in rel and "\x00" not in rel
    if ok:
        parts = rel.split("/")
        ok = (
            not PurePosixPath(rel).is_absolute()
            and not PureWindowsPath(rel).drive
            and all(p not in ("", ".", "..") for p in parts)
        )
    if ok:
        path = folder / rel
        ok = path.resolve().is_relative_to(folder.resolve())
    if not ok:
        msg = (
            f"{card_path} names the {what} {rel!r}, which is not a path inside the model "
            f"folder {folder}; refusing to load it. Re-save the model."
        )
        raise ModelError(msg)
    return path


def check_files_entry(card: dict[str, Any], card_path: Path) -> dict[str, str]:
    """The card's ``"files"``: a non-empty mapping of relative name → SHA-256 hex digest."""
    files = card.get("files")
    if not isinstance(files, dict) or not files:
        msg = (
            f'{card_path} lists no model files ("files" is {files!r}), so none could be '
            "hash-checked; refusing to load it. Re-save the model."
        )
        raise ModelError(msg)
    for rel, digest in files.items():
        if not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            msg = f"{card_path} records {digest!r} as the SHA-256 of {rel!r}; not a SHA-256 digest."
            raise ModelError(msg)
    return files


def to_json(value: Any) -> Any:
    """Encode a parameter value as JSON, tagging what JSON cannot hold natively."""
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        params = {k: to_json(v) for k, v in value.get_params(deep=False).items()}
        return {"__estimator__": type(value).__name__, "params": params}
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[to_json(k), to_json(v)] for k, v in value.items()]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return None  # e.g. a RandomState: not reproducible from a card


def from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if "__estimator__" in value:
            cls = estimator_class(value["__estimator__"])
            return construct(cls, {k: from_json(v) for k, v in value["params"].items()})
        if "__tuple__" in value:
            return tuple(from_json(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {from_json(k): from_json(v) for k, v in value["__dict__"]}
        return {k: from_json(v) for k, v in value.items()}
    return value


def estimator_class(name: Any) -> type:
    if not isinstance(name, str) or name not in ESTIMATORS:
        msg = (
            f"The model card names estimator {name!r}, which hepml-coffea cannot load; "
            f"known: {sorted(ESTIMATORS)}."
        )
        raise ModelError(msg)
    return getattr(importlib.import_module(ESTIMATORS[name]), name)


def construct(cls: type, params: Any) -> Any:
    """``cls(**params)`` (params decoded with :func:`from_json`), as one ModelError line when
    the parameters do not fit."""
    if not isinstance(params, dict):
        msg = f"The model card's params for {cls.__name__} are not a mapping: {params!r}."
        raise ModelError(msg)
    try:
        return cls(**params)
    except TypeError as exc:
        msg = (
            f"The model card's params do not fit {cls.__name__} ({exc}): the card names the "
            "wrong estimator, or the model was saved by another hepml-coffea version; retrain "
            "and save it again."
        )
        raise ModelError(msg) from None


def encode_classes(classes: np.ndarray) -> dict[str, Any]:
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def decode_classes(spec: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    return np.asarray(spec["values"], dtype=object if dtype.kind == "O" else dtype)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for pkg in _VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message, shortened (xgboost and Keras errors
    are KB long, with C++ backtraces)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line:
            return f"{type(exc).__name__}: {line[:limit]}"
    return type(exc).__name__


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to disk (a full disk raises ``OSError`` naming
    the file here, not later)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


_UBJ_INT = {b"i": (">b", 1), b"U": (">B", 1), b"I": (">h", 2), b"l": (">i", 4), b"L": (">q", 8)}
_UBJ_FIXED = {b"d": 4, b"D": 8, b"C": 1, **{k: v[1] for k, v in _UBJ_INT.items()}}


def check_ubjson(data: bytes) -> None:
    """Raise ``ValueError`` unless ``data`` is one complete UBJSON value whose every length fits.

    xgboost's own parser trusts the lengths in the file: a truncated ``booster.ubj`` made it
    request terabytes and the process was killed. This walk only checks the structure.
    """
    n = len(data)

    def need(pos: int, k: int) -> None:
        if k < 0 or pos + k > n:
            msg = f"truncated at byte {pos} of {n} (needs {k} more)"
            raise ValueError(msg)

    def read_int(pos: int) -> tuple[int, int]:
        need(pos, 1)
        marker = data[pos : pos + 1]
        if marker not in _UBJ_INT:
            msg = f"expected a length at byte {pos}, got {marker!r}"
            raise ValueError(msg)
        fmt, size = _UBJ_INT[marker]
        need(pos + 1, size)
        value = struct.unpack_from(fmt, data, pos + 1)[0]
        if value < 0:
            msg = f"negative length at byte {pos}"
            raise ValueError(msg)
        return value, pos + 1 + size

    def value(pos: int, marker: bytes | None, depth: int) -> int:
        if depth > 64:
            msg = "nested too deeply"
            raise ValueError(msg)
        if marker is None:
            need(pos, 1)
            marker, pos = data[pos : pos + 1], pos + 1
        if marker in _UBJ_FIXED:
            need(pos, _UBJ_FIXED[marker])
            return pos + _UBJ_FIXED[marker]
        if marker in (b"T", b"F", b"Z", b"N"):
            return pos
        if marker in (b"S", b"H"):
            k, pos = read_int(pos)
            need(pos, k)
            return pos + k
        if marker not in (b"[", b"{"):
            msg = f"unknown marker {marker!r} at byte {pos - 1}"
            raise ValueError(msg)
        is_obj = marker == b"{"
        typ, count = None, None
        if data[pos : pos + 1] == b"$":
            need(pos, 2)
            typ, pos = data[pos + 1 : pos + 2], pos + 2
            if data[pos : pos + 1] != b"#":
                msg = f"typed container without a count at byte {pos}"
                raise ValueError(msg)
        if data[pos : pos + 1] == b"#":
            count, pos = read_int(pos + 1)
        if typ in _UBJ_FIXED and not is_obj and count is not None:
            need(pos, count * _UBJ_FIXED[typ])
            return pos + count * _UBJ_FIXED[typ]
        i = 0
        while True:
            if count is None:
                need(pos, 1)
                if data[pos : pos + 1] == (b"}" if is_obj else b"]"):
                    return pos + 1
            elif i == count:
                return pos
            if is_obj:
                k, pos = read_int(pos)
                need(pos, k)
                pos += k
            pos = value(pos, typ, depth + 1)
            i += 1

    end = value(0, None, 0)
    if end != n:
        msg = f"{n - end} trailing bytes after the end at byte {end}"
        raise ValueError(msg)


def card_hmac(card: dict[str, Any], key: str) -> str:
    body = {k: v for k, v in card.items() if k != "hmac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def check_hmac(card: dict[str, Any], card_path: Path) -> None:
    key = os.environ.get(KEY_ENV)
    if not key:
        return
    given = card.get("hmac")
    if not isinstance(given, str):
        msg = (
            f"{KEY_ENV} is set, but {card_path} carries no signature (saved without the key); "
            "refusing to load it. Re-save the model with the key set, or unset the variable."
        )
        raise ModelError(msg)
    if not hmac.compare_digest(given, card_hmac(card, key)):
        msg = (
            f"The signature of {card_path} does not match {KEY_ENV}: the card was changed "
            "after saving, or signed with another key. Refusing to load it."
        )
        raise ModelError(msg)
