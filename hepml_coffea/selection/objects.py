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

from hepml_coffea.selection.branches import get_branch


def make_candidates(fields: Mapping[str, Any]) -> ak.Array:
    """Zip jagged ``pt, eta, phi, mass`` (+ extra fields) into ``PtEtaPhiMCandidate`` records.

    A ``charge`` field of 0 is added where absent (coffea's candidates require one).
    """
    fields = dict(fields)
    if "charge" not in fields:
        fields["charge"] = ak.zeros_like(fields["pt"], dtype=np.int32)
    return ak.zip(fields, with_name="PtEtaPhiMCandidate", behavior=candidate.behavior)


def _sorted(cands: ak.Array) -> ak.Array:
    return cands[ak.argsort(cands.pt, axis=1, ascending=False)]


def _kin(events: Any, coll: str, key: str | None) -> dict[str, Any]:
    return {v: get_branch(events, f"{coll}_{v}", key) for v in ("pt", "eta", "phi", "mass")}


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
    k = _kin(events, "Muon", None)
    k["charge"] = get_branch(events, "Muon_charge", None)
    mask = (k["pt"] > cfg["pt_min"]) & (abs(k["eta"]) < cfg["abs_eta_max"])
    if cfg.get("id_branch"):
        mask = mask & (get_branch(events, cfg["id_branch"], f"{key}.id_branch") == 1)
    if cfg.get("iso_branch"):
        mask = mask & (get_branch(events, cfg["iso_branch"], f"{key}.iso_branch") < cfg["iso_max"])
    k["flavour"] = ak.full_like(k["charge"], 13)
    return _sorted(make_candidates(k)[mask])


def select_electrons(events: Any, cfg: Mapping[str, Any], key: str = "electrons") -> ak.Array:
    """Electrons with pT > ``pt_min``, |η| < ``abs_eta_max``, ``id_branch`` ≥ ``id_min``.

    ``id_branch`` is e.g. ``"Electron_cutBased"`` (0 fail ... 4 tight); an empty string disables it.
    Returns pT-ordered ``PtEtaPhiMCandidate`` records (flavour=11).
    """
    k = _kin(events, "Electron", None)
    k["charge"] = get_branch(events, "Electron_charge", None)
    mask = (k["pt"] > cfg["pt_min"]) & (abs(k["eta"]) < cfg["abs_eta_max"])
    if cfg.get("id_branch"):
        mask = mask & (get_branch(events, cfg["id_branch"], f"{key}.id_branch") >= cfg["id_min"])
    k["flavour"] = ak.full_like(k["charge"], 11)
    return _sorted(make_candidates(k)[mask])


def leptons(*collections: ak.Array) -> ak.Array:
    """Concatenate lepton collections per event, pT-ordered."""
    return _sorted(ak.concatenate(collections, axis=1))


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
    k = _kin(events, "Jet", None)
    k["btag"] = get_branch(events, btag["branch"], "btag.branch")
    k["is_b"] = k["btag"] >= btag["threshold"]
    jets = make_candidates(k)
    mask = (jets.pt > cfg["pt_min"]) & (abs(jets.eta) < cfg["abs_eta_max"])
    if cfg.get("jet_id", False):
        jet_id = get_branch(events, cfg["id_branch"], f"{key}.id_branch")
        mask = mask & ((jet_id & int(cfg["id_mask"])) != 0)
    jets = jets[mask]
    if clean_against is not None:
        pairs = ak.cartesian([jets, clean_against], axis=1, nested=True)
        dr = pairs["0"].delta_r(pairs["1"])
        jets = jets[ak.all(dr > cfg["min_dr_lepton"], axis=2)]
    return _sorted(jets)


def select_met(events: Any, collection: str, key: str = "met.branch") -> ak.Array:
    """Missing transverse momentum as records ``pt, phi`` (GeV) from collection ``MET``/``PuppiMET``/``PFMET``."""
    pt = get_branch(events, f"{collection}_pt", key)
    phi = get_branch(events, f"{collection}_phi", key)
    return ak.zip({"pt": pt, "phi": phi})
