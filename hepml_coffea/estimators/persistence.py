"""Save and load fitted estimators as a folder of safe files plus ``model_card.json``.

Layout of a saved model folder::

    model_card.json      # class, params, features, feature spec, classes, folds, versions, hashes
    booster.ubj          # BDTClassifier: xgboost UBJSON
    model.keras          # DNN / autoencoder: Keras 3 archive (loaded with safe_mode=True)
    fold_0/ fold_1/ ...  # KFoldEventClassifier: one saved model folder per fold

Nothing is ever unpickled. :func:`load` checks the SHA-256 of every file named in the card
before reading it, and refuses Python pickles outright.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ModelError

CARD = "model_card.json"
FORMAT = "hepml-coffea-model"
FORMAT_VERSION = 1
ESTIMATORS = {
    "BDTClassifier": "hepml_coffea.estimators.bdt",
    "BDTRegressor": "hepml_coffea.estimators.bdt",
    "DNNClassifier": "hepml_coffea.estimators.dnn",
    "AutoencoderAnomalyDetector": "hepml_coffea.estimators.autoencoder",
    "KFoldEventClassifier": "hepml_coffea.estimators.kfold",
}
_VERSIONED = ("hepml-coffea", "numpy", "scikit-learn", "xgboost", "keras", "tensorflow")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_pickle(head: bytes) -> bool:
    # protocol 2+ pickles start with PROTO (0x80) and the protocol number
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _refuse_pickle(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(2)
    if _is_pickle(head):
        msg = (
            f"{path} is a Python pickle, not a hepml-coffea model file; pickles can run "
            "arbitrary code and are never loaded. Re-save the model with est.save(folder)."
        )
        raise ModelError(msg)


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
            return cls(**{k: from_json(v) for k, v in value["params"].items()})
        if "__tuple__" in value:
            return tuple(from_json(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {from_json(k): from_json(v) for k, v in value["__dict__"]}
        return {k: from_json(v) for k, v in value.items()}
    return value


def estimator_class(name: str) -> type:
    if name not in ESTIMATORS:
        msg = (
            f"The model card names estimator {name!r}, which hepml-coffea cannot load; "
            f"known: {sorted(ESTIMATORS)}."
        )
        raise ModelError(msg)
    return getattr(importlib.import_module(ESTIMATORS[name]), name)


def encode_classes(classes: np.ndarray) -> dict[str, Any]:
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def decode_classes(spec: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    return np.asarray(spec["values"], dtype=object if dtype.kind == "O" else dtype)


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in _VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def save(est, path, feature_spec: dict | None = None) -> Path:
    """Save a fitted estimator into the folder ``path`` (created; files inside replaced).

    Parameters
    ----------
    est : fitted hepml-coffea estimator
    path : str or Path
        Output folder.
    feature_spec : dict, optional
        JSON-serialisable description of the features (stored verbatim in the card).

    Returns
    -------
    Path
        The folder.
    """
    from sklearn.utils.validation import check_is_fitted

    name = type(est).__name__
    if name not in ESTIMATORS:
        msg = f"save() supports {sorted(ESTIMATORS)}; got {name}."
        raise ModelError(msg)
    check_is_fitted(est)
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        msg = f"Cannot save a model into {folder}: it exists and is not a folder."
        raise ModelError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    state = est._save_files(folder)
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p != folder / CARD
    )
    names = getattr(est, "feature_names_in_", None)
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": name,
        "params": to_json(est.get_params(deep=False)),
        "feature_names": None if names is None else [str(n) for n in names],
        "n_features": int(est.n_features_in_),
        "feature_spec": feature_spec,
        "classes": encode_classes(est.classes_) if hasattr(est, "classes_") else None,
        "folds": state.pop("folds", None),
        "state": state,
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {f: sha256(folder / f) for f in files},
    }
    try:
        text = json.dumps(card, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"feature_spec must be JSON-serialisable (no NaN); {exc}."
        raise ModelError(msg) from exc
    (folder / CARD).write_text(text + "\n")
    return folder


def read_card(path) -> tuple[Path, dict[str, Any]]:
    """Read and check a model folder's card and file hashes; return ``(folder, card)``."""
    folder = Path(path)
    if folder.is_file():
        _refuse_pickle(folder)
        msg = f"{folder} is a file; a saved model is a folder holding {CARD}. Give the folder."
        raise ModelError(msg)
    card_path = folder / CARD
    if not card_path.is_file():
        msg = f"{folder} holds no {CARD}; it is not a model saved by hepml-coffea."
        raise ModelError(msg)
    _refuse_pickle(card_path)
    try:
        card = json.loads(card_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{card_path} is not valid JSON ({exc}); the model folder is corrupt."
        raise ModelError(msg) from exc
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        msg = f"{card_path} is not a hepml-coffea model card (format != {FORMAT!r})."
        raise ModelError(msg)
    estimator_class(card.get("estimator"))  # refuses unknown classes early
    for rel, digest in card.get("files", {}).items():
        f = folder / rel
        if not f.is_file():
            msg = f"Model file {f} named in {CARD} is missing; the model folder is incomplete."
            raise ModelError(msg)
        _refuse_pickle(f)
        actual = sha256(f)
        if actual != digest:
            msg = (
                f"SHA-256 of {f} is {actual[:12]}…, but {CARD} records {digest[:12]}…; the "
                "file was modified after saving. Refusing to load it; re-save the model."
            )
            raise ModelError(msg)
    return folder, card


def load(path, expected: type | None = None):
    """Load a model folder written by :func:`save` (never unpickles).

    Parameters
    ----------
    path : str or Path
        The model folder.
    expected : type, optional
        Refuse a card naming another estimator class.

    Returns
    -------
    estimator
        Fitted, with identical predictions to the one saved.

    Raises
    ------
    hepml_coffea.errors.ModelError
        Missing/invalid card, unknown or unexpected class, hash mismatch, pickled file.
    """
    folder, card = read_card(path)
    cls = estimator_class(card["estimator"])
    if expected is not None and cls is not expected:
        msg = (
            f"{folder} holds a {card['estimator']}, not a {expected.__name__}; load it with "
            "hepml_coffea.estimators.load(path)."
        )
        raise ModelError(msg)
    est = cls(**from_json(card["params"]))
    if card.get("feature_names") is not None:
        est.feature_names_in_ = np.asarray(card["feature_names"], dtype=object)
    est.n_features_in_ = int(card["n_features"])
    if card.get("classes") is not None:
        est.classes_ = decode_classes(card["classes"])
    state = dict(card.get("state") or {})
    if card.get("folds") is not None:
        state["folds"] = card["folds"]
    try:
        est._load_files(folder, state)
    except ModelError:
        raise
    except Exception as exc:
        msg = f"Could not load the model files in {folder}: {type(exc).__name__}: {exc}"
        raise ModelError(msg) from exc
    return est


class SaveMixin:
    """Adds ``est.save(path, feature_spec=None)`` and ``Cls.load(path)``."""

    def save(self, path, feature_spec: dict | None = None) -> Path:
        """Save the fitted estimator into folder ``path``; see :func:`save`."""
        return save(self, path, feature_spec=feature_spec)

    @classmethod
    def load(cls, path):
        """Load a model folder, refusing one that holds another class; see :func:`load`."""
        return load(path, expected=cls)
