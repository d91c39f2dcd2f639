"""Tables of the ``ml-physics`` step: one row per permutation, per selected jet, per photon.

From simulated NanoAOD files, with the configured processor's selection (nominal jets, trigger
included) and the generator truth of :mod:`hepml_coffea.features.truth`; see
:mod:`hepml_coffea.workflows.ml_physics`.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ConfigError, InputFileError
from hepml_coffea.features.object_features import ObjectFeatureSpec, object_table
from hepml_coffea.features.permutations import (
    PERMUTATION_FEATURES,
    chi2,
    event_permutations,
    permutation_labels,
)
from hepml_coffea.features.regression_targets import regression_target
from hepml_coffea.features.truth import jet_roles, match_partons, ttbar_partons
from hepml_coffea.selection.branches import get_branch


def _events(path: str, tree: str, meta: dict[str, Any], max_events: int | None) -> Any:
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root(
        {path: tree},
        schemaclass=NanoAODSchema,
        metadata={**meta, "filename": path},
        entry_stop=max_events,
    ).events()


def _gen_eta_phi(events: Any, partons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """η and φ (n_events, k) of the local GenPart indices ``partons`` (0 where -1)."""
    eta = get_branch(events, "GenPart_eta")
    counts = ak.to_numpy(ak.num(eta, axis=1)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(counts)])[:-1]
    flat = np.where(partons >= 0, start[:, None] + partons, -1)
    out = []
    for branch in ("GenPart_eta", "GenPart_phi"):
        values = ak.to_numpy(ak.flatten(get_branch(events, branch), axis=1)).astype(np.float64)
        col = np.zeros(partons.shape)
        col[flat >= 0] = values[flat[flat >= 0]]
        out.append(col)
    return out[0], out[1]


def selected(proc: Any, events: Any, objects: Any) -> np.ndarray:
    """The events passing every cut of ``proc`` (the trigger included), as the processor selects."""
    from hepml_coffea.selection.events import trigger_mask, trigger_paths

    sel = proc.select_events(events, objects)
    mask = np.asarray(sel.all(*[c for c in proc.cut_names if c in sel.names]), dtype=bool)
    if "trigger" in proc.cut_names and "trigger" not in sel.names:
        mask &= trigger_mask(events, trigger_paths(proc.config, dict(events.metadata or {})))
    return mask


def chunk_tables(
    proc: Any,
    events: Any,
    tag_spec: ObjectFeatureSpec | None,
    reg_spec: ObjectFeatureSpec | None,
    n_jets: int = 4,
) -> dict[str, dict[str, np.ndarray]]:
    """The permutation and jet rows of one chunk of simulated events (nominal jets).

    Parameters
    ----------
    proc : AnalysisProcessor
        Gives the selection (``select_objects`` with a ``jet_inputs`` collection,
        ``vary_objects``, ``select_events``, ``feature_objects``).
    events : NanoEventsArray
    tag_spec, reg_spec : ObjectFeatureSpec or None
        Inputs of the jet tagger and of the regression.
    n_jets : int, default=4
        Leading jets the permutations assign (``assignment.n_jets``).

    Returns
    -------
    dict
        ``{"perm": {...}, "jets": {...}}``: column name → flat array; permutation rows carry
        ``event_row`` (row of the chunk), ``event``, ``label``, ``chi2`` and the
        :data:`PERMUTATION_FEATURES`; jet rows the ID columns, ``index``, the spec inputs,
        ``pt, eta, phi, mass``, ``btag``, ``is_b``, ``hadronFlavour``, ``target``, ``role`` and
        ``weight`` (the event's nominal weight).
    """
    from hepml_coffea.processing.object_ml import ObjectML
    from hepml_coffea.systematics.config import NOMINAL

    objects = proc.select_objects(events)
    objects["jet_inputs"] = ObjectML({}).add_inputs(
        events, objects["jet_inputs"], ["Jet_genJetIdx", "Jet_hadronFlavour"]
    )
    vobj = proc.vary_objects(events, objects, NOMINAL, None)
    mask = selected(proc, events, vobj)
    ev = events[mask]
    jets = vobj["jets"][mask]
    counts = ak.to_numpy(ak.num(jets, axis=1))
    out: dict[str, dict[str, np.ndarray]] = {}

    # -- jets -------------------------------------------------------------------------------
    jt: dict[str, np.ndarray] = {}
    for spec in (tag_spec, reg_spec):
        if spec is not None:
            jt.update(object_table(ev, spec, jets.index))
    if not jt:
        jt = object_table(ev, ObjectFeatureSpec("Jet", ("pt",)), jets.index)
    for k in ("pt", "eta", "phi", "mass", "btag"):
        jt[k] = ak.to_numpy(ak.flatten(jets[k], axis=1)).astype(np.float64)
    jt["is_b"] = ak.to_numpy(ak.flatten(jets.is_b, axis=1))
    jt["hadronFlavour"] = ak.to_numpy(ak.flatten(jets.Jet_hadronFlavour, axis=1))
    gidx = jets.Jet_genJetIdx
    jt["target"] = regression_target(jets.pt, gidx, get_branch(ev, "GenJet_pt"))
    jt["event_row"] = np.repeat(np.arange(len(ev)), counts)
    w_event = np.asarray(proc.weights(events, vobj).weight(), dtype=np.float64)[mask]
    jt["weight"] = w_event[jt["event_row"]]

    # -- truth roles and permutations ------------------------------------------------------------
    pdg = get_branch(ev, "GenPart_pdgId")
    partons = ttbar_partons(
        ak.to_numpy(ak.flatten(pdg, axis=1)),
        ak.to_numpy(ak.flatten(get_branch(ev, "GenPart_genPartIdxMother"), axis=1)),
        ak.to_numpy(ak.num(pdg, axis=1)),
    )
    p_eta, p_phi = _gen_eta_phi(ev, partons)
    g_eta = get_branch(ev, "GenJet_eta")
    genjets = match_partons(
        partons,
        p_eta,
        p_phi,
        ak.to_numpy(ak.flatten(g_eta, axis=1)),
        ak.to_numpy(ak.flatten(get_branch(ev, "GenJet_phi"), axis=1)),
        ak.to_numpy(ak.num(g_eta, axis=1)),
    )
    roles = jet_roles(ak.to_numpy(ak.flatten(gidx, axis=1)), counts, genjets)
    jt["role"] = roles.astype(np.int64)
    out["jets"] = jt

    fobj = proc.feature_objects(vobj)[mask]
    perms, feats = event_permutations(fobj, n_jets)
    pt: dict[str, np.ndarray] = {n: feats[n] for n in PERMUTATION_FEATURES}
    pt["label"] = permutation_labels(perms, roles).astype(np.int64)
    pt["event_row"] = perms.event
    pt["event"] = ak.to_numpy(get_branch(ev, "event")).astype(np.uint64)[perms.event]
    pt["chi2"] = chi2(feats)
    out["perm"] = pt
    return out


def _concat(
    parts: list[dict[str, np.ndarray]], offset_key: str = "event_row"
) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    out: dict[str, list[np.ndarray]] = {k: [] for k in parts[0]}
    base = 0
    for p in parts:
        n = int(p[offset_key].max()) + 1 if len(p[offset_key]) else 0
        for k, v in p.items():
            out[k].append(v + base if k == offset_key else v)
        base += max(n, 0)
    return {k: np.concatenate(v) for k, v in out.items()}


def collect(
    config: Any, fileset: Any, max_events: int | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Tables of :func:`chunk_tables` over every simulated dataset of ``fileset``."""
    from hepml_coffea.datasets import load_fileset
    from hepml_coffea.processing.registry import processor_class

    n_jets = int((config.to_dict().get("assignment") or {}).get("n_jets", 4))
    if n_jets < 4:
        msg = f"assignment.n_jets must be at least 4 (b_lep, b_had and two W jets); got {n_jets}."
        raise ConfigError(msg)
    proc = processor_class(config)(config.to_dict())
    cfg = config.to_dict()
    tag = (cfg.get("object_features") or {}).get("jet_tag") or {}
    reg = cfg.get("regression") or {}
    tag_spec = ObjectFeatureSpec.from_dict(tag) if tag.get("fields") else None
    reg_spec = ObjectFeatureSpec.from_dict(reg) if reg.get("fields") else None
    pho = (cfg.get("object_features") or {}).get("photon_id") or {}
    pho_spec = ObjectFeatureSpec.from_dict(pho) if pho.get("fields") else None
    parts: dict[str, list[dict[str, np.ndarray]]] = {"perm": [], "jets": [], "photons": []}
    for name, entry in load_fileset(fileset).items():
        meta = dict(entry.get("metadata") or {})
        if meta.get("is_data") or meta.get("variation"):
            continue
        for path, tree in entry["files"].items():
            events = _events(str(path), str(tree), {"dataset": name, **meta}, max_events)
            if "GenPart" not in events.fields or "GenJet" not in events.fields:
                msg = (
                    f"Dataset {name!r}, file {path}: no GenPart/GenJet collections; the ml-physics "
                    "step needs generator truth (regenerate with a generator that writes them)."
                )
                raise InputFileError(msg)
            for k, v in chunk_tables(proc, events, tag_spec, reg_spec, n_jets).items():
                v["process_ttbar"] = np.full(
                    len(v["event_row"]), meta.get("process", name) == "ttbar", dtype=bool
                )
                parts[k].append(v)
            if pho_spec is not None:  # every photon of the simulated events
                rows = object_table(events, pho_spec)
                rows["event_row"] = np.zeros(len(rows["index"]), dtype=np.int64)
                parts["photons"].append(rows)
    return {k: _concat(v) for k, v in parts.items()}
