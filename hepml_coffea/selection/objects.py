"""Object selection: muons, electrons, jets (lepton-cleaned, jet ID, b-tagging).

Every cut value and branch name comes from the analysis configuration (a mapping such as the
``[muons]`` table of ``config.toml``); nothing here is specific to one analysis or NanoAOD version.
Selected objects are returned as pT-ordered ``PtEtaPhiMCandidate`` arrays (coffea candidate
behaviour: ``.delta_r``, ``+``, ``.mass``, ``.px``...) holding only the fields features need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np
from coffea.nanoevents.methods import candidate

from hepml_coffea.errors import ConfigError
from hepml_coffea.flat import FlatCollection
from hepml_coffea.selection.branches import get_branch


def make_candidates(fields: Mapping[str, Any]) -> ak.Array:
    """Zip jagged ``pt, eta, phi, mass`` (+ extra fields) into ``PtEtaPhiMCandidate`` records.

    A ``charge`` field of 0 is added where absent (coffea's candidates require one).
    """
    fields = dict(fields)
    if "charge" not in fields:
        fields["charge"] = ak.zeros_like(fields["pt"], dtype=np.int32)
    return ak.zip(fields, with_name="PtEtaPhiMCandidate", behavior=candidate.behavior)


def _read(events: Any, coll: str, extra: Mapping[str, tuple[str, str | None]]) -> FlatCollection:
    """One collection's kinematics plus ``extra`` ``{field: (branch, config key)}``, flattened."""
    branches = {v: (f"{coll}_{v}", None) for v in ("pt", "eta", "phi", "mass")} | dict(extra)
    arrays = {f: get_branch(events, b, k) for f, (b, k) in branches.items()}
    counts = ak.to_numpy(ak.num(arrays["pt"], axis=1)).astype(np.int64)
    for f, (branch, key) in branches.items():
        if arrays[f].ndim != 2 or not np.array_equal(
            ak.to_numpy(ak.num(arrays[f], axis=1)), counts
        ):
            fix = f"; set --set {key}=<a {coll}_... branch>" if key else ""
            msg = (
                f"Branch {branch!r} does not have one value per {coll} object (it is not a "
                f"branch of the {coll} collection){fix}."
            )
            raise ConfigError(msg)
    return FlatCollection(
        counts, {f: ak.to_numpy(ak.flatten(a, axis=1)) for f, a in arrays.items()}
    )


def _candidates(objs: FlatCollection, mask: np.ndarray | None = None) -> ak.Array:
    """Jagged pT-ordered ``PtEtaPhiMCandidate`` records of the objects with ``mask`` true."""
    if mask is not None:
        objs = objs.where(mask)
    cols, event = dict(objs.columns), objs.event
    pt = cols["pt"]
    unordered = (pt[1:] > pt[:-1]) & (event[1:] == event[:-1])
    if unordered.any():  # sort the rows of the events that are not yet pT-ordered
        rows = np.flatnonzero(np.isin(event, event[1:][unordered]))
        order = np.arange(len(pt))
        order[rows] = rows[np.lexsort((-pt[rows], event[rows]))]
        cols = {k: v[order] for k, v in cols.items()}
    if "charge" not in cols:
        cols["charge"] = np.zeros(len(pt), dtype=np.int32)
    flat = ak.zip(cols, with_name="PtEtaPhiMCandidate", behavior=candidate.behavior)
    return ak.unflatten(flat, objs.counts)


def select_muons(events: Any, cfg: Mapping[str, Any], key: str = "muons") -> ak.Array:
    """Muons with pT > ``pt_min``, |η| < ``abs_eta_max``, ``id_branch`` true, ``iso_branch`` < ``iso_max``.

    Parameters
    ----------
    events : NanoEventsArray
    cfg : mapping
        Keys ``pt_min`` (GeV), ``abs_eta_max``, ``id_branch`` (e.g. ``"Muon_tightId"``; empty string
        disables the ID), ``iso_branch`` (e.g. ``"Muon_pfRelIso04_all"``), ``iso_max``.
    key : str
        Name of the configuration table, for error messages.

    Returns
    -------
    awkward.Array
        Jagged ``PtEtaPhiMCandidate`` (fields pt, eta, phi, mass, charge, flavour=13), pT-ordered.
    """
    extra: dict[str, tuple[str, str | None]] = {"charge": ("Muon_charge", None)}
    if cfg.get("id_branch"):
        extra["id"] = (cfg["id_branch"], f"{key}.id_branch")
    if cfg.get("iso_branch"):
        extra["iso"] = (cfg["iso_branch"], f"{key}.iso_branch")
    mu = _read(events, "Muon", extra)
    mask = (mu["pt"] > cfg["pt_min"]) & (np.abs(mu["eta"]) < cfg["abs_eta_max"])
    if "id" in mu.columns:
        mask &= mu.columns.pop("id") == 1
    if "iso" in mu.columns:
        mask &= mu.columns.pop("iso") < cfg["iso_max"]
    mu.columns["flavour"] = np.full(len(mask), 13, dtype=np.int32)
    return _candidates(mu, mask)


def select_electrons(events: Any, cfg: Mapping[str, Any], key: str = "electrons") -> ak.Array:
    """Electrons with pT > ``pt_min``, |η| < ``abs_eta_max``, ``id_branch`` ≥ ``id_min``.

    ``id_branch`` is e.g. ``"Electron_cutBased"`` (0 fail ... 4 tight); an empty string disables it.
    Returns pT-ordered ``PtEtaPhiMCandidate`` records (flavour=11).
    """
    extra: dict[str, tuple[str, str | None]] = {"charge": ("Electron_charge", None)}
    if cfg.get("id_branch"):
        extra["id"] = (cfg["id_branch"], f"{key}.id_branch")
    el = _read(events, "Electron", extra)
    mask = (el["pt"] > cfg["pt_min"]) & (np.abs(el["eta"]) < cfg["abs_eta_max"])
    if "id" in el.columns:
        mask &= el.columns.pop("id") >= cfg["id_min"]
    el.columns["flavour"] = np.full(len(mask), 11, dtype=np.int32)
    return _candidates(el, mask)


def leptons(*collections: ak.Array) -> ak.Array:
    """Concatenate lepton collections per event, pT-ordered.

    The collections must have the same fields (those of :func:`select_muons` and
    :func:`select_electrons` do).
    """
    fields = ak.fields(collections[0])
    parts = [FlatCollection.from_jagged(c, fields) for c in collections]
    event = np.concatenate([p.event for p in parts])
    counts = np.bincount(event, minlength=parts[0].n_events).astype(np.int64)
    order = np.argsort(event, kind="stable")  # per event: the collections' order, then pT below
    cols = {f: np.concatenate([p[f] for p in parts])[order] for f in fields}
    return _candidates(FlatCollection(counts, cols))


def read_jets(
    events: Any,
    cfg: Mapping[str, Any],
    btag: Mapping[str, Any],
    clean_against: ak.Array | None = None,
    key: str = "jets",
    extra: Mapping[str, str] | None = None,
) -> FlatCollection:
    """Every jet of the ``Jet`` collection, flat, with a ``keep`` column: all but the pT cut.

    ``keep`` is |η| < ``abs_eta_max``, the jet ID (if ``jet_id``) and the ΔR cleaning against
    ``clean_against``; none of them depends on the jet energy, so the shape variations
    (:func:`jets_above`) reuse it. Columns: pt, eta, phi, mass, btag, is_b, keep and each
    ``extra`` field (``{field: branch}``, e.g. ``{"hadronFlavour": "Jet_hadronFlavour"}``).
    """
    fields: dict[str, tuple[str, str | None]] = {"btag": (btag["branch"], "btag.branch")}
    if cfg.get("jet_id", False):
        fields["id"] = (cfg["id_branch"], f"{key}.id_branch")
    for f, branch in (extra or {}).items():
        fields[f] = (branch, None)
    jets = _read(events, "Jet", fields)
    keep = np.abs(jets["eta"]) < cfg["abs_eta_max"]
    if "id" in jets.columns:
        keep &= (jets.columns.pop("id") & int(cfg["id_mask"])) != 0
    jets.columns["is_b"] = jets["btag"] >= btag["threshold"]
    if clean_against is not None:
        kept = np.flatnonzero(keep)
        keep[kept[_near(jets, kept, clean_against, cfg["min_dr_lepton"])]] = False
    jets.columns["keep"] = keep
    return jets


def jets_above(
    jets: FlatCollection, cfg: Mapping[str, Any], factors: np.ndarray | None = None
) -> ak.Array:
    """The selected jets of :func:`read_jets`: ``keep`` and pT > ``pt_min`` after scaling.

    ``factors`` (one per jet of the collection, from a JES/JER variation) multiply pT and mass
    before the pT cut; None leaves the jets nominal. Returns pT-ordered candidates with fields
    pt, eta, phi, mass, btag, is_b and the extra fields.
    """
    cols = {k: v for k, v in jets.columns.items() if k != "keep"}
    if factors is not None:
        cols["pt"] = (cols["pt"] * factors).astype(cols["pt"].dtype)
        cols["mass"] = (cols["mass"] * factors).astype(cols["mass"].dtype)
    mask = jets["keep"] & (cols["pt"] > cfg["pt_min"])
    return _candidates(FlatCollection(jets.counts, cols), mask)


def select_jets(
    events: Any,
    cfg: Mapping[str, Any],
    btag: Mapping[str, Any],
    clean_against: ak.Array | None = None,
    key: str = "jets",
) -> ak.Array:
    """Jets passing kinematics, optional jet ID and ΔR cleaning, with their b-tag score and flag.

    Parameters
    ----------
    events : NanoEventsArray
    cfg : mapping
        ``pt_min`` (GeV), ``abs_eta_max``, ``jet_id`` (bool: apply ``(id_branch & id_mask) != 0``;
        NanoAOD v15 has no ``Jet_jetId``), ``id_branch``, ``id_mask``, ``min_dr_lepton`` (jets
        within this ΔR of ANY object of ``clean_against`` are dropped).
    btag : mapping
        ``branch`` (full discriminator branch, e.g. ``"Jet_btagDeepFlavB"``) and ``threshold``:
        a jet is b-tagged if its score ≥ threshold.
    clean_against : awkward.Array, optional
        Jagged candidates (the selected leptons).

    Returns
    -------
    awkward.Array
        Jagged ``PtEtaPhiMCandidate`` with extra fields ``btag`` (score) and ``is_b`` (bool),
        pT-ordered.
    """
    return jets_above(read_jets(events, cfg, btag, clean_against, key), cfg)


def _near(objs: FlatCollection, index: np.ndarray, others: ak.Array, max_dr: float) -> np.ndarray:
    """Which of the objects at flat ``index`` lie within ΔR ≤ ``max_dr`` of any of ``others``.

    ``others`` is jagged (one list per event, e.g. the selected leptons); returns a boolean
    array aligned with ``index``.
    """
    other = FlatCollection.from_jagged(others, ("pt", "eta", "phi"))
    n_other = other.counts[objs.event[index]]  # per object: the others in its event
    pair_obj = np.repeat(np.arange(len(index)), n_other)  # every (object, other) pair
    rank = np.arange(len(pair_obj)) - np.repeat(np.cumsum(n_other) - n_other, n_other)
    pair_other = other.offsets[objs.event[index][pair_obj]] + rank
    dr = ak.to_numpy(objs.direction(index[pair_obj]).deltaR(other.direction(pair_other)))
    return np.bincount(pair_obj[dr <= max_dr], minlength=len(index)) > 0


def select_met(events: Any, collection: str, key: str = "met.branch") -> ak.Array:
    """Missing transverse momentum as records ``pt, phi`` (GeV) from collection ``MET``/``PuppiMET``/``PFMET``."""
    pt = get_branch(events, f"{collection}_pt", key)
    phi = get_branch(events, f"{collection}_phi", key)
    return ak.zip({"pt": pt, "phi": phi})
