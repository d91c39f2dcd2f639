"""Reading configurable NanoAOD branches, with a one-line error when one is missing.

Branch names differ between NanoAOD versions (``MET_pt`` → ``PFMET_pt``, old b-tag discriminators
removed, ``Jet_jetId`` gone in v15), so analyses name them in their configuration and read them
through :func:`get_branch`, which raises :class:`~hepml_coffea.errors.MissingBranchError` naming the
branch, the dataset, the file and the configuration key to change.
"""

from __future__ import annotations

import difflib
from typing import Any

from hepml_coffea.errors import MissingBranchError


def split_branch(branch: str) -> tuple[str, str | None]:
    """Split a flat NanoAOD branch name into ``(collection, field)``.

    ``"Jet_btagDeepFlavB"`` → ``("Jet", "btagDeepFlavB")``; ``"genWeight"`` → ``("genWeight", None)``.
    """
    coll, sep, field = branch.partition("_")
    return (coll, field) if sep and field else (branch, None)


def _source(events: Any) -> tuple[str, str]:
    meta = getattr(events, "metadata", None) or {}
    return str(meta.get("dataset", "?")), str(meta.get("filename", "?"))


def missing_branch_error(
    events: Any, branch: str, key: str | None, available: list[str]
) -> MissingBranchError:
    """Build the contract's one-line :class:`MissingBranchError` for ``branch``."""
    dataset, filename = _source(events)
    close = difflib.get_close_matches(branch, available, n=3, cutoff=0.5)
    hint = f" (close: {', '.join(close)})" if close else ""
    fix = f"; choose an existing one with --set {key}=<branch>{hint}" if key else hint
    msg = f"Branch {branch!r} is missing from dataset {dataset!r}, file {filename}{fix}."
    return MissingBranchError(msg)


def _available(events: Any, coll: str) -> list[str]:
    names = list(events.fields)
    if coll in events.fields:
        names += [f"{coll}_{s}" for s in getattr(events[coll], "fields", [])]
    return names


def get_branch(events: Any, branch: str, key: str | None = None) -> Any:
    """The array of a flat NanoAOD branch name, read from NanoEvents.

    Parameters
    ----------
    events : NanoEventsArray
        Events of one chunk (``events.metadata`` gives dataset and file for the error).
    branch : str
        Flat branch name, e.g. ``"Jet_btagDeepFlavB"``, ``"Muon_tightId"`` or ``"genWeight"``.
    key : str, optional
        Configuration key that selects this branch, named in the error message.

    Raises
    ------
    MissingBranchError
        If the branch is absent from the file.
    """
    coll, field = split_branch(branch)
    if coll in events.fields:
        node = events[coll]
        if field is None:
            return node
        if field in node.fields:
            return node[field]
    if branch in events.fields:  # a top-level branch with an underscore
        return events[branch]
    raise missing_branch_error(events, branch, key, _available(events, coll))


def get_collection(events: Any, name: str, fields: tuple[str, ...], key: str | None = None) -> Any:
    """The collection ``name`` (e.g. ``"MET"``), checking that it has ``fields``.

    Raises
    ------
    MissingBranchError
        Naming ``<name>_<field>`` for the first missing field.
    """
    for f in fields:
        get_branch(events, f"{name}_{f}", key)
    return events[name]
