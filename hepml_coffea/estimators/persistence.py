"""Save and load fitted estimators as a folder of safe files plus ``model_card.json``.

Layout of a saved model folder::

    model_card.json      # class, params, features, feature spec, classes, folds, versions, hashes
    booster.ubj          # BDTClassifier / BDTRegressor: xgboost UBJSON
    model.keras          # DNN / autoencoder: Keras 3 archive (loaded with safe_mode=True)
    standardisation.npz  # DNN / autoencoder: input mean and scale (allow_pickle=False)
    fold_0/ fold_1/ ...  # KFoldEventClassifier: one saved model folder per fold
    training.json ...    # extra files given to save(..., extra_files=...)

What the card guarantees
------------------------
* The card lists every file with its SHA-256 (``"files"``); a card without files is refused.
  Every file the loader reads is in that list and is checked before it is read; the loader
  reads nothing else (:func:`load_extra` reads an extra file, after the same check).
* Every name in the card (files, k-fold ``folds.subfolders``) must be a relative path that
  resolves inside the model folder: ``../x``, absolute paths and escaping symbolic links are
  refused.
* Nothing is ever unpickled; pickles are refused outright.
* :func:`save` is atomic: it writes a temporary folder beside the target, loads it back (hashes
  included), then renames it over the target. A failed save (full disk, an error while
  writing, a model that does not load back) leaves the previous model untouched.

The hashes protect against **accidents**: a file truncated by a full disk, overwritten by
another run, edited by hand, copied incompletely, or mixed from two trainings. They do **not**
protect against a deliberate attacker, who can change a file and write its new hash into the
card. Load models only from folders you trust.

Optional signature: when the environment variable ``HEPML_COFFEA_MODEL_KEY`` holds a secret key,
:func:`save` adds an HMAC-SHA256 of the card (which holds every file's hash) and :func:`read_card`
refuses a card without one or with one that does not match. Someone who changes a file and
re-hashes it then also needs the key. Without the variable, signatures are not checked.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators._card import (
    CARD,
    ESTIMATORS,
    EXTRA_NAME,
    FORMAT,
    FORMAT_VERSION,
    KEY_ENV,
    card_hmac,
    check_files_entry,
    check_hmac,
    construct,
    decode_classes,
    encode_classes,
    estimator_class,
    first_line,
    from_json,
    member,
    refuse_pickle,
    sha256,
    to_json,
    versions,
)

__all__ = [
    "CARD",
    "ESTIMATORS",
    "KEY_ENV",
    "SaveMixin",
    "from_json",
    "load",
    "load_extra",
    "read_card",
    "save",
    "sha256",
    "to_json",
    "write_model",
]


def _extra_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    try:
        return (json.dumps(value, indent=2, allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        msg = (
            f"extra file {name!r} is not strict JSON ({exc}); give a dict of plain values "
            "(no NaN, no numpy types) or the file's bytes."
        )
        raise ModelError(msg) from None


def write_model(
    est: Any,
    folder: Path,
    feature_spec: dict | None = None,
    extra_files: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the estimator's files, the extra files and the card into the empty ``folder``.

    Not atomic: :func:`save` calls it on a temporary folder. Returns the card.
    """
    from sklearn.utils.validation import check_is_fitted

    name = type(est).__name__
    if name not in ESTIMATORS:
        msg = f"save() supports {sorted(ESTIMATORS)}; got {name}."
        raise ModelError(msg)
    check_is_fitted(est)
    state = est._save_files(folder)
    model_files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for extra, value in (extra_files or {}).items():
        if not (isinstance(extra, str) and EXTRA_NAME.fullmatch(extra)) or extra == CARD:
            msg = (
                f"extra file name {extra!r} is not allowed: give a plain file name "
                f"(letters, digits, '._-'), not {CARD!r} and without folders."
            )
            raise ModelError(msg)
        if extra in model_files:
            msg = f"extra file {extra!r} would overwrite a file of the {name} model."
            raise ModelError(msg)
        (folder / extra).write_bytes(_extra_bytes(extra, value))
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
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
        "signal_class": to_json(getattr(est, "signal_class", None)),
        "folds": state.pop("folds", None),
        "state": state,
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {f: sha256(folder / f) for f in files},
    }
    key = os.environ.get(KEY_ENV)
    if key:
        card["hmac"] = card_hmac(card, key)
    try:
        text = json.dumps(card, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"feature_spec must be JSON-serialisable (no NaN); {exc}."
        raise ModelError(msg) from None
    (folder / CARD).write_text(text + "\n")
    return card


def save(
    est: Any,
    path: str | os.PathLike,
    feature_spec: dict | None = None,
    extra_files: Mapping[str, Any] | None = None,
) -> Path:
    """Save a fitted estimator as the model folder ``path``, atomically.

    Parameters
    ----------
    est : fitted hepml-coffea estimator
    path : str or Path
        The model folder. It may not exist yet, be empty, or hold a saved model (which is
        replaced as a whole, only once the new one has been written and loaded back). A
        folder holding other files is refused, so that no unrelated file is deleted.
    feature_spec : dict, optional
        JSON-serialisable description of the features (stored verbatim in the card).
    extra_files : mapping of str to bytes, str or JSON-serialisable object, optional
        Further files written into the folder and covered by the card's hashes, e.g.
        ``{"training.json": info}``; read them back with :func:`load_extra`.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    hepml_coffea.errors.ModelError
        One line naming the file, for a write error (e.g. disk full), a folder that is not a
        model, or a written model that does not load back.
    """
    target = Path(os.path.abspath(path))
    if target.exists() and not target.is_dir():
        msg = f"Cannot save a model into {target}: it exists and is not a folder."
        raise ModelError(msg)
    if target.is_dir() and any(target.iterdir()) and not (target / CARD).is_file():
        msg = (
            f"Cannot save a model into {target}: the folder holds files but no {CARD}, and "
            "saving replaces the whole folder. Give a new or empty folder, or a model folder."
        )
        raise ModelError(msg)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
        write_model(est, tmp, feature_spec, extra_files)
        load(tmp, expected=type(est))  # the hashes match and the files load
        _replace(tmp, target)
        tmp = None
    except ModelError as exc:
        msg = f"Saving the model to {target} failed, nothing was changed: {exc}"
        raise ModelError(msg) from None
    except OSError as exc:
        where = exc.filename or tmp or target
        msg = (
            f"Could not write {where}: {exc.strerror or exc}; the model in {target} was not "
            "changed."
        )
        raise ModelError(msg) from None
    except Exception as exc:  # e.g. xgboost / Keras failing half-way through a file
        msg = (
            f"Could not write the model files into {tmp}: {first_line(exc)}; the model in "
            f"{target} was not changed."
        )
        raise ModelError(msg) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _replace(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    if not target.exists():
        os.rename(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, old / "model")
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old / "model", target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def read_card(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """Read and check a model folder's card and file hashes; return ``(folder, card)``."""
    folder = Path(path)
    if folder.is_file():
        refuse_pickle(folder)
        msg = f"{folder} is a file; a saved model is a folder holding {CARD}. Give the folder."
        raise ModelError(msg)
    card_path = folder / CARD
    if not card_path.is_file():
        msg = f"{folder} holds no {CARD}; it is not a model saved by hepml-coffea."
        raise ModelError(msg)
    refuse_pickle(card_path)
    try:
        card = json.loads(card_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{card_path} is not valid JSON ({exc}); the model folder is corrupt."
        raise ModelError(msg) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        msg = f"{card_path} is not a hepml-coffea model card (format != {FORMAT!r})."
        raise ModelError(msg)
    estimator_class(card.get("estimator"))  # refuses unknown classes early
    check_hmac(card, card_path)
    for rel, digest in check_files_entry(card, card_path).items():
        f = member(folder, rel, card_path)
        if not f.is_file():
            msg = f"Model file {f} named in {CARD} is missing; the model folder is incomplete."
            raise ModelError(msg)
        refuse_pickle(f)
        actual = sha256(f)
        if actual != digest:
            msg = (
                f"SHA-256 of {f} is {actual[:12]}…, but {CARD} records {digest[:12]}…; the "
                "file was modified after saving. Refusing to load it; re-save the model."
            )
            raise ModelError(msg)
    folds = card.get("folds")
    if folds is not None:
        subs = folds.get("subfolders") if isinstance(folds, dict) else None
        if not isinstance(subs, list) or not subs:
            msg = f"{card_path} has k-fold 'folds' without a list of 'subfolders'."
            raise ModelError(msg)
        for sub in subs:
            member(folder, sub, card_path, what="fold subfolder")
    return folder, card


def load(path: str | os.PathLike, expected: type | None = None) -> Any:
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
        One line: missing/invalid card, unknown or unexpected class, a file name outside the
        folder, a file the loader needs that the card does not list, hash mismatch, pickled or
        unreadable file.
    """
    folder, card = read_card(path)
    cls = estimator_class(card["estimator"])
    if expected is not None and cls is not expected:
        msg = (
            f"{folder} holds a {card['estimator']}, not a {expected.__name__}; load it with "
            "hepml_coffea.estimators.load(path)."
        )
        raise ModelError(msg)
    est = construct(cls, from_json(card.get("params")))
    state = dict(card.get("state") or {})
    if card.get("folds") is not None:
        state["folds"] = card["folds"]
    unlisted = [f for f in est._model_files(state) if f not in card["files"]]
    if unlisted:
        msg = (
            f"{folder / CARD} names a {card['estimator']}, whose loader reads {unlisted}, but "
            "the card does not list (hash) them; the card does not match the folder's model."
        )
        raise ModelError(msg)
    try:
        if card.get("feature_names") is not None:
            est.feature_names_in_ = np.asarray(card["feature_names"], dtype=object)
        est.n_features_in_ = int(card["n_features"])
        if card.get("classes") is not None:
            est.classes_ = decode_classes(card["classes"])
        if card.get("signal_class") is not None and "signal_class" not in est.get_params():
            est.signal_class = from_json(card["signal_class"])
        est._load_files(folder, state)
    except ModelError:
        raise
    except Exception as exc:
        msg = f"Could not load the model in {folder}: {first_line(exc)}"
        raise ModelError(msg) from None
    return est


def load_extra(path: str | os.PathLike, name: str) -> bytes:
    """The bytes of an extra file saved with the model (``save(..., extra_files=...)``).

    The card and every hash are checked first, and ``name`` must be listed in the card, so the
    returned bytes are those written with this model. Parse JSON with ``json.loads``.

    Raises
    ------
    hepml_coffea.errors.ModelError
        The folder is not a valid model, or the card does not list ``name``.
    """
    folder, card = read_card(path)
    if name not in card["files"]:
        msg = (
            f"{folder / CARD} does not list {name!r}, so it is not part of this model (an older "
            "or a foreign file); retrain, or save the model with extra_files."
        )
        raise ModelError(msg)
    return member(folder, name, folder / CARD).read_bytes()


class SaveMixin:
    """Adds ``est.save(path, feature_spec=None, extra_files=None)`` and ``Cls.load(path)``."""

    def save(
        self,
        path: str | os.PathLike,
        feature_spec: dict | None = None,
        extra_files: Mapping[str, Any] | None = None,
    ) -> Path:
        """Save the fitted estimator into folder ``path``, atomically; see :func:`save`."""
        return save(self, path, feature_spec=feature_spec, extra_files=extra_files)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Load a model folder, refusing one that holds another class; see :func:`load`."""
        return load(path, expected=cls)

    def _model_files(self, state: dict[str, Any]) -> list[str]:
        """The files (relative to the model folder) that ``_load_files`` reads."""
        raise NotImplementedError
