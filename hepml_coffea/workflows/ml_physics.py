"""The ``ml-physics`` step: train and measure the per-object models on simulated samples.

From the simulated datasets of a fileset, the events passing the analysis selection (the
configured processor's ``select_objects`` / ``select_events``) give the tables of
:mod:`hepml_coffea.workflows.ml_physics_tables`:

* **permutations** (one row per assignment of the 4 leading jets of an event, labelled by the
  GenPart → GenJet → ``Jet_genJetIdx`` truth of :mod:`hepml_coffea.features.truth`);
* **jets** (one row per selected jet, with ``run``, ``luminosityBlock``, ``event``, ``index``,
  the ``[object_features.jet_tag]`` inputs, ``hadronFlavour`` and the configured b-tag score);
* **b jets** with the regression target ``pT(GenJet) / pT`` and the ``[regression]`` inputs;
* **photons** (every photon of the simulated events, ``[object_features.photon_id]``).

Events with an even event number train, odd ones test. The models are trained and saved
under ``out/``: ``assignment`` (:class:`~hepml_coffea.estimators.BDTClassifier` on the
permutations), ``jet_tag`` (b vs light jets), ``photon_id`` (prompt vs fake) and ``regression``
(:class:`~hepml_coffea.estimators.BDTRegressor`), and ``out/ml_physics.json`` reports the
measured figures on the test events: the fraction of events with the correct assignment (BDT vs
χ²), the jet tagger's AUC vs the single b-tag branch, and the response/resolution per pT bin and
the hadronic-top mass width before/after regression. Attach the models in ``run`` / ``apply``
with the processor ``processors/ttbar_ml.py:TTbarMLProcessor`` and ``--set assignment.model=...``
(see ``docs/ml_physics.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ConfigError
from hepml_coffea.features.object_features import ObjectFeatureSpec, object_matrix
from hepml_coffea.features.permutations import (
    PERMUTATION_FEATURES,
    best_permutation,
    permutation_matrix,
)
from hepml_coffea.workflows.ml_physics_tables import collect

PT_EDGES = (20.0, 30.0, 50.0, 80.0, 120.0, 200.0, 400.0)


def assignment_accuracy(
    score: np.ndarray, label: np.ndarray, event_row: np.ndarray, higher: bool = True
) -> dict[str, float]:
    """Fraction of events whose best permutation is the true one.

    Parameters
    ----------
    score : numpy.ndarray, shape (n_permutations,)
    label : numpy.ndarray of 0/1, shape (n_permutations,)
    event_row : numpy.ndarray of int, shape (n_permutations,)
        The event of each permutation, rows of an event contiguous.
    higher : bool
        Whether a higher score is better (False for χ²).

    Returns
    -------
    dict
        ``matchable`` (correct among events where the true assignment is one of the
        permutations), ``all`` (among all events with permutations), ``n_events``,
        ``n_matchable``.
    """
    from hepml_coffea.features.permutations import Permutations

    starts = np.flatnonzero(np.r_[True, event_row[1:] != event_row[:-1]])
    counts = np.diff(np.r_[starts, len(event_row)]).astype(np.int64)
    perms = Permutations(np.zeros((len(score), 4), np.int64), event_row, counts, 4)
    best = best_permutation(score, perms, higher=higher)
    correct = label[best] == 1
    matchable = np.add.reduceat(label, starts) > 0 if len(starts) else np.zeros(0, bool)
    return {
        "matchable": float(correct[matchable].mean()) if matchable.any() else float("nan"),
        "all": float(correct.mean()) if len(correct) else float("nan"),
        "n_events": len(correct),
        "n_matchable": int(matchable.sum()),
    }


def half_width(values: np.ndarray, lo: float, hi: float) -> float:
    """Half the 16–84 % width of the ``values`` inside [lo, hi] (GeV)."""
    v = values[(values >= lo) & (values <= hi)]
    if not len(v):
        return float("nan")
    q16, q84 = np.quantile(v, [0.16, 0.84])
    return float(0.5 * (q84 - q16))


def train_ml_physics(
    analysis: str | os.PathLike,
    fileset: str | os.PathLike | dict,
    out: str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    max_events: int | None = None,
    n_estimators: int = 200,
) -> dict[str, Any]:
    """Train the assignment, jet-tag and regression BDTs and measure them (module docstring).

    Returns
    -------
    dict
        The report written to ``out/ml_physics.json``.
    """
    from hepml_coffea.config import load_analysis
    from hepml_coffea.estimators import BDTClassifier, BDTRegressor, save
    from hepml_coffea.evaluation import roc_auc
    from hepml_coffea.evaluation.regression import response_resolution
    from hepml_coffea.workflows.outputs import write_json

    cfg = load_analysis(analysis, overrides=list(overrides))
    tables = collect(cfg, fileset, max_events)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    bdt: dict[str, Any] = {
        "n_estimators": n_estimators,
        "max_depth": 5,
        "learning_rate": 0.1,
        "early_stopping_rounds": 20,
        "random_state": 1,
    }

    # -- jet-parton assignment on ttbar ------------------------------------------------------------
    p = tables["perm"]
    if not len(p.get("label", ())):
        msg = "No event passes the selection with >= 4 jets; nothing to train the assignment on."
        raise ConfigError(msg)
    ttbar = p["process_ttbar"]
    train = ttbar & (p["event"] % 2 == 0)
    test = ttbar & (p["event"] % 2 == 1)
    # train on events where the true assignment is one of the permutations
    has_true = np.zeros(int(p["event_row"].max()) + 1, dtype=bool)
    has_true[p["event_row"][p["label"] == 1]] = True
    fit = train & has_true[p["event_row"]]
    x = permutation_matrix({n: p[n] for n in PERMUTATION_FEATURES})
    import pandas as pd

    frame = pd.DataFrame(x, columns=list(PERMUTATION_FEATURES))
    asg = BDTClassifier(**bdt).fit(frame[fit], p["label"][fit])
    save(asg, out / "assignment", feature_spec={"permutation_features": list(PERMUTATION_FEATURES)})
    from hepml_coffea.estimators import signal_score

    s = signal_score(asg, frame[test])
    report["assignment"] = {
        "bdt": assignment_accuracy(s, p["label"][test], p["event_row"][test]),
        "chi2": assignment_accuracy(p["chi2"][test], p["label"][test], p["event_row"][test], False),
        "n_train_permutations": int(fit.sum()),
    }

    # -- jet tagger: b vs light ----------------------------------------------------------------------
    j = tables["jets"]
    tag = (cfg.to_dict().get("object_features") or {}).get("jet_tag") or {}
    if tag.get("fields"):
        spec = ObjectFeatureSpec.from_dict(tag)
        lab = np.where(j["hadronFlavour"] == 5, 1, np.where(j["hadronFlavour"] == 0, 0, -1))
        odd = j["event"] % 2 == 1
        xt = pd.DataFrame(object_matrix(j, spec), columns=spec.names)
        use = lab >= 0
        tagger = BDTClassifier(**bdt).fit(xt[use & ~odd], lab[use & ~odd])
        save(tagger, out / "jet_tag", feature_spec={"object_features": spec.to_dict()})
        te = use & odd
        report["jet_tag"] = {
            "auc_bdt": roc_auc(lab[te], signal_score(tagger, xt[te]), j["weight"][te]),
            "auc_btag_branch": roc_auc(lab[te], j["btag"][te], j["weight"][te]),
            "btag_branch": cfg.to_dict()["btag"]["branch"],
            "n_test_jets": int(te.sum()),
        }

    # -- photons: prompt vs fake ------------------------------------------------------------------------
    pho = (cfg.to_dict().get("object_features") or {}).get("photon_id") or {}
    ph = tables.get("photons") or {}
    if pho.get("fields") and len(ph.get("label", ())):
        spec = ObjectFeatureSpec.from_dict(pho)
        use = ph["label"] >= 0
        odd = ph["event"] % 2 == 1
        xp = pd.DataFrame(object_matrix(ph, spec), columns=spec.names)
        photon_id = BDTClassifier(**bdt).fit(xp[use & ~odd], ph["label"][use & ~odd])
        save(photon_id, out / "photon_id", feature_spec={"object_features": spec.to_dict()})
        te = use & odd
        iso = f"{spec.collection}_pfRelIso03_all"
        report["photon_id"] = {
            "auc_bdt": roc_auc(ph["label"][te], signal_score(photon_id, xp[te])),
            "n_test_photons": int(te.sum()),
        }
        if iso in ph:  # the single-variable reference: isolation (lower = more prompt)
            report["photon_id"]["auc_isolation"] = roc_auc(ph["label"][te], -ph[iso][te])

    # -- b-jet energy regression --------------------------------------------------------------------
    reg = cfg.to_dict().get("regression") or {}
    if reg.get("fields"):
        spec = ObjectFeatureSpec.from_dict(reg)
        b = (j["hadronFlavour"] == 5) & np.isfinite(j["target"])
        odd = j["event"] % 2 == 1
        xr = pd.DataFrame(object_matrix(j, spec), columns=spec.names)
        regressor = BDTRegressor(**bdt).fit(xr[b & ~odd], j["target"][b & ~odd])
        save(regressor, out / "regression", feature_spec={"object_features": spec.to_dict()})
        te = b & odd
        factor = np.asarray(regressor.predict(xr), dtype=np.float64)
        true_pt = j["pt"][te] * j["target"][te]
        rr = response_resolution(
            true_pt, {"before": j["pt"][te], "after": j["pt"][te] * factor[te]}, PT_EDGES
        )
        # hadronic top mass of the truth-matched jets before/after regression (b jets only)
        report["regression"] = {**rr.to_dict(), **_top_width(j, factor, odd)}
    write_json(out / "ml_physics.json", report)
    return report


def _top_width(j: dict[str, np.ndarray], factor: np.ndarray, odd: np.ndarray) -> dict[str, Any]:
    """m(b_had + q1 + q2) of the truth-matched jets in test ttbar events, before/after."""
    from hepml_coffea.flat import momentum4d

    sel = odd & j["process_ttbar"] & (j["role"] >= 2)
    ev = j["event_row"][sel]
    n_role = np.bincount(ev, minlength=int(j["event_row"].max()) + 1 if len(j["event_row"]) else 0)
    full = n_role[ev] == 3  # b_had + both W jets selected
    rows = np.flatnonzero(sel)[full]
    out: dict[str, Any] = {}
    for name, f in (("before", np.ones(len(factor))), ("after", factor)):
        scale = np.where(j["is_b"][rows], f[rows], 1.0)  # as the processor: b-tagged jets
        p4 = momentum4d(
            j["pt"][rows] * scale, j["eta"][rows], j["phi"][rows], j["mass"][rows] * scale
        )
        px = np.bincount(j["event_row"][rows], ak.to_numpy(p4.px))
        py = np.bincount(j["event_row"][rows], ak.to_numpy(p4.py))
        pz = np.bincount(j["event_row"][rows], ak.to_numpy(p4.pz))
        e = np.bincount(j["event_row"][rows], ak.to_numpy(p4.E))
        has = np.bincount(j["event_row"][rows]) == 3
        m = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))[has]
        out[f"m_top_had_true_{name}"] = {
            "median": float(np.median(m)) if len(m) else None,
            "half_width_16_84": half_width(m, 50.0, 350.0),
        }
    return out


def format_report(report: dict[str, Any], out: str | os.PathLike) -> str:
    """A short human summary of :func:`train_ml_physics`'s report."""
    lines = [f"ml-physics: models and ml_physics.json in {out}"]
    a = report.get("assignment")
    if a:
        lines.append(
            "  jet-parton assignment, correct in events where it is possible: "
            f"BDT {a['bdt']['matchable']:.1%}, chi2 {a['chi2']['matchable']:.1%} "
            f"({a['bdt']['n_matchable']} test events); among all events with >= 4 jets: "
            f"BDT {a['bdt']['all']:.1%}, chi2 {a['chi2']['all']:.1%}"
        )
    t = report.get("jet_tag")
    if t:
        lines.append(
            f"  jet tagger (b vs light) AUC {t['auc_bdt']:.4f} vs {t['btag_branch']} "
            f"{t['auc_btag_branch']:.4f} ({t['n_test_jets']} test jets)"
        )
    p = report.get("photon_id")
    if p:
        ref = f" vs isolation alone {p['auc_isolation']:.4f}" if "auc_isolation" in p else ""
        lines.append(
            f"  photon prompt-vs-fake AUC {p['auc_bdt']:.4f}{ref} ({p['n_test_photons']} test photons)"
        )
    r = report.get("regression")
    if r:
        res_b = np.array(r["resolution_half_16_84"]["before"], dtype=float)
        res_a = np.array(r["resolution_half_16_84"]["after"], dtype=float)
        med_b = np.array(r["response_median"]["before"], dtype=float)
        med_a = np.array(r["response_median"]["after"], dtype=float)
        edges = r["pt_edges"]
        for i in range(len(res_b)):
            lines.append(
                f"  b jets {edges[i]:.0f}-{edges[i + 1]:.0f} GeV: response {med_b[i]:.3f} -> "
                f"{med_a[i]:.3f}, resolution {res_b[i]:.3f} -> {res_a[i]:.3f}"
            )
        wb = r["m_top_had_true_before"]["half_width_16_84"]
        wa = r["m_top_had_true_after"]["half_width_16_84"]
        lines.append(
            f"  truth-matched m_bjj half 16-84% width {wb:.1f} -> {wa:.1f} GeV "
            f"({(1 - wa / wb):.1%} narrower)"
        )
    return "\n".join(lines)
