"""Per-object ML inside processors: jet tagging, b-jet energy regression, jet–parton assignment.

:class:`ObjectML` is what a processor holds for the configuration tables ``[object_features]``,
``[regression]`` and ``[assignment]``. It is picklable (models are :class:`LazyModel`, loaded once
per worker process) and makes **one batched model call per chunk** for each task:

* :meth:`ObjectML.score_jets` (once per chunk, nominal jets): the jet tagger's score and the
  regression factor of every jet, carried by the selected jets of every shape variation as the
  jagged fields ``tag_score`` (``var * float32``, usable in selections:
  ``ak.any(jets.tag_score > x, axis=1)``) and ``reg_factor``;
* :meth:`ObjectML.regress` (per variation, before the selection): the b-tagged (or all) jets'
  pT and mass times ``reg_factor``, so that the selection and m_jjb, m_top_lep... use the
  regressed jets;
* :meth:`ObjectML.assignment`: every permutation of the 4 leading jets of the selected events
  scored by the assignment BDT in one ``predict_proba``; the best one gives ``m_top_had``,
  ``m_w_had`` and ``pt_top_had`` (and the χ² baseline's ``*_chi2``).

Configuration (all optional; an empty ``model`` disables the model)::

    [object_features.jet_tag]   # inputs of the jet tagger (see ObjectFeatureSpec)
    collection = "Jet"
    fields = ["pt", "eta", "btagCSVV2", ...]
    label = "hadronFlavour"; signal_values = [5]; background_values = [0]
    model = ""                  # folder of a trained classifier
    score_cut = 0.5             # "tagged": score ≥ this

    [regression]
    collection = "Jet"; fields = [...]
    model = ""                  # folder of a trained BDTRegressor (target GenJet pT / pT)
    apply_to = "btagged"        # "btagged" | "all"

    [assignment]
    model = ""                  # folder of a trained permutation classifier
    chi2 = true                 # also the χ² baseline's observables (*_chi2)
    n_jets = 4
    sigma_w = 10.0              # GeV, χ² baseline
    sigma_top = 15.0
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.features.object_features import ObjectFeatureSpec, score_objects
from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.permutations import (
    PERMUTATION_FEATURES,
    best_observables,
    best_permutation,
    chi2,
    event_permutations,
    permutation_matrix,
)
from hepml_coffea.features.regression_targets import pt_order, scale_jets
from hepml_coffea.flat import FlatCollection
from hepml_coffea.processing.inference import _MODEL_CACHE
from hepml_coffea.selection.branches import get_branch

#: Histogram binning of the best-permutation observables (GeV).
OBSERVABLES = {
    "m_top_had": (50, 0.0, 500.0, r"$m_{bjj}^{\mathrm{best}}$ [GeV]"),
    "m_w_had": (50, 0.0, 250.0, r"$m_{jj}^{\mathrm{best}}$ [GeV]"),
    "pt_top_had": (50, 0.0, 500.0, r"$p_{T}(bjj)^{\mathrm{best}}$ [GeV]"),
}


class LazyModel:
    """A saved estimator, read lazily once per process; pickles as its folder name only.

    The card is read (and its files' SHA-256 checked) on construction, on the client.
    """

    def __init__(self, model_dir: str | os.PathLike, key: str) -> None:
        from hepml_coffea.estimators import read_card

        try:
            folder, card = read_card(model_dir)
        except ModelError as err:
            msg = f"{err} (configured by {key})"
            raise ModelError(msg) from None
        self.model_dir = str(Path(folder).resolve())
        self.key = key
        self.card_digest = json.dumps(card.get("files", {}), sort_keys=True)
        self.estimator = str(card.get("estimator"))
        self.feature_names = [str(n) for n in card.get("feature_names") or []]
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None}

    @property
    def model(self) -> Any:
        if self._model is None:
            k = (self.model_dir, self.card_digest)
            if k not in _MODEL_CACHE:
                from hepml_coffea.estimators import load

                _MODEL_CACHE[k] = load(self.model_dir)
            self._model = _MODEL_CACHE[k]
        return self._model

    def check_features(self, names: list[str]) -> None:
        """Raise :class:`ModelError` unless the model was fitted on ``names`` in this order."""
        if self.feature_names != list(names):
            msg = (
                f"Model {self.model_dir} ({self.key}) was fitted on {self.feature_names}, but the "
                f"configuration gives {list(names)}; use the configuration it was trained with."
            )
            raise ModelError(msg)


_KIN = ("pt", "eta", "phi", "mass")


def jet_matrix(jets: FlatCollection, spec: ObjectFeatureSpec) -> np.ndarray:
    """The spec's inputs of every jet, float32 (n_jets, n_features), NaN → -1.

    ``pt, eta, phi, mass`` are the jets' own columns, the other fields the
    ``<collection>_<field>`` columns that :meth:`ObjectML.add_inputs` reads.
    """
    cols = [
        np.asarray(jets[f] if f in _KIN else jets[n], dtype=np.float32)
        for f, n in zip(spec.fields, spec.names, strict=True)
    ]
    x = np.column_stack(cols) if cols else np.empty((len(jets["pt"]), 0), np.float32)
    x[~np.isfinite(x)] = -1.0
    return x


def _model(table: Mapping[str, Any], key: str) -> LazyModel | None:
    path = str(table.get("model", "") or "")
    return LazyModel(path, key) if path else None


def _frame(x: np.ndarray, names: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(x, columns=names, copy=False)


class ObjectML:
    """The per-object models of an analysis configuration (see the module docstring).

    Parameters
    ----------
    config : mapping
        The resolved analysis configuration.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        of = dict(config.get("object_features", {}) or {})
        tag = dict(of.get("jet_tag", {}) or {})
        self.tag_spec = ObjectFeatureSpec.from_dict(tag) if tag.get("fields") else None
        self.tag_model = _model(tag, "object_features.jet_tag.model") if self.tag_spec else None
        self.tag_cut = float(tag.get("score_cut", 0.5))
        reg = dict(config.get("regression", {}) or {})
        self.reg_spec = ObjectFeatureSpec.from_dict(reg) if reg.get("fields") else None
        self.reg_model = _model(reg, "regression.model") if self.reg_spec else None
        self.reg_apply_to = str(reg.get("apply_to", "btagged"))
        if self.reg_apply_to not in ("btagged", "all"):
            msg = f"regression.apply_to must be 'btagged' or 'all'; got {self.reg_apply_to!r}."
            raise ConfigError(msg)
        asg = dict(config.get("assignment", {}) or {})
        self.asg_model = _model(asg, "assignment.model")
        self.chi2 = bool(asg.get("chi2", True))
        self.n_jets = int(asg.get("n_jets", 4))
        self.sigma_w = float(asg.get("sigma_w", 10.0))
        self.sigma_top = float(asg.get("sigma_top", 15.0))
        if self.n_jets < 4:
            msg = f"assignment.n_jets must be at least 4 (b_lep, b_had and two W jets); got {self.n_jets}."
            raise ConfigError(msg)
        for key, table in (("object_features.jet_tag", tag), ("regression", reg)):
            if table.get("model") and not table.get("fields"):
                msg = (
                    f"{key}.model is set but {key}.fields is empty; list the model's input fields."
                )
                raise ConfigError(msg)
        for lm, spec in ((self.tag_model, self.tag_spec), (self.reg_model, self.reg_spec)):
            if lm is not None and spec is not None:
                lm.check_features(spec.names)
        if self.asg_model is not None:
            self.asg_model.check_features(list(PERMUTATION_FEATURES))

    @property
    def enabled(self) -> bool:
        """Whether any per-object model is attached."""
        return any(m is not None for m in (self.tag_model, self.reg_model, self.asg_model))

    # -- per-jet models ------------------------------------------------------------------------
    def input_branches(self) -> list[str]:
        """The jet branches the attached per-jet models read (beyond pt, eta, phi, mass)."""
        out: list[str] = []
        for model, spec in ((self.tag_model, self.tag_spec), (self.reg_model, self.reg_spec)):
            if model is not None and spec is not None:
                out += [n for f, n in zip(spec.fields, spec.names, strict=True) if f not in _KIN]
        return list(dict.fromkeys(out))

    def add_inputs(
        self, events: Any, jets: FlatCollection, branches: Sequence[str] | None = None
    ) -> FlatCollection:
        """``jets`` (every jet of the collection, flat, as ``read_jets`` gives) with more columns.

        Adds ``index`` (the jet's position in its collection) and the ``branches`` read from
        ``events`` (default: :meth:`input_branches`), so that the selected jets of every
        variation carry them.
        """
        cols = dict(jets.columns)
        cols["index"] = np.arange(int(jets.counts.sum())) - np.repeat(
            jets.offsets[:-1], jets.counts
        )
        for branch in self.input_branches() if branches is None else branches:
            if branch not in cols:
                arr = get_branch(events, branch, "object_features / regression fields")
                cols[branch] = ak.to_numpy(ak.flatten(arr, axis=1))
        return FlatCollection(jets.counts, cols)

    def score_jets(self, jets: FlatCollection, rows: np.ndarray | None = None) -> FlatCollection:
        """``jets`` with the columns ``tag_score`` and ``reg_factor``: one model call each.

        Called once per chunk on the nominal jets of the whole collection (``read_jets``), so
        that every shape variation carries the same tagger score and regression factor, as CMS
        treats both (a b-tag discriminant and a regression correction are properties of the jet;
        a JES variation scales the regressed jet).

        Parameters
        ----------
        jets : FlatCollection
            Every jet of the collection with the :meth:`input_branches` columns.
        rows : numpy.ndarray of bool, shape (n_jets,), optional
            The jets to score (e.g. those of events that can pass the selection); the others get
            a NaN ``tag_score`` and a ``reg_factor`` of 1.

        Returns
        -------
        FlatCollection
            ``tag_score`` (float32) with a tagger, ``reg_factor`` (float64) with a regressor.
        """
        cols = dict(jets.columns)
        n = int(jets.counts.sum())
        keep = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        if self.tag_model is not None and self.tag_spec is not None:
            x = jet_matrix(jets, self.tag_spec)[keep]
            score = np.full(n, np.nan, dtype=np.float32)
            s = score_objects(self.tag_model.model, _frame(x, self.tag_spec.names), [len(x)])
            score[keep] = ak.to_numpy(ak.flatten(s))
            cols["tag_score"] = score
        if self.reg_model is not None and self.reg_spec is not None:
            x = jet_matrix(jets, self.reg_spec)[keep]
            factor = np.ones(n)
            if len(x):
                model = self.reg_model.model
                factor[keep] = np.asarray(model.predict(_frame(x, self.reg_spec.names)), float)
            cols["reg_factor"] = factor
        return FlatCollection(jets.counts, cols)

    def regress(self, jets: ak.Array) -> ak.Array:
        """Selected ``jets`` with pT and mass times ``reg_factor`` (b-tagged jets, or all with
        ``regression.apply_to = "all"``), re-sorted by pT; unchanged without a regressor."""
        if self.reg_model is None or "reg_factor" not in ak.fields(jets):
            return jets
        factor = ak.to_numpy(ak.flatten(jets.reg_factor, axis=1))
        if self.reg_apply_to == "btagged":
            factor = np.where(ak.to_numpy(ak.flatten(jets.is_b, axis=1)), factor, 1.0)
        return pt_order(scale_jets(jets, factor))

    # -- jet–parton assignment -----------------------------------------------------------------
    def assignment(self, objects: EventObjects) -> dict[str, np.ndarray]:
        """Best-permutation observables of each event of ``objects`` (NaN without 4 jets).

        Returns
        -------
        dict of str to numpy.ndarray of shape (n_events,)
            ``m_top_had``, ``m_w_had``, ``pt_top_had`` of the assignment BDT's best permutation
            (only with a model attached) and, with ``assignment.chi2``, ``m_top_had_chi2``,
            ``m_w_had_chi2``, ``pt_top_had_chi2`` of the χ² baseline (GeV).
        """
        out: dict[str, np.ndarray] = {}
        if not self.chi2 and self.asg_model is None:
            return out
        perms, feats = event_permutations(objects, self.n_jets)
        if self.chi2:
            c2 = chi2(feats, self.sigma_w, self.sigma_top)
            best = best_permutation(c2, perms, higher=False)
            for k, v in best_observables(feats, best).items():
                if k in OBSERVABLES:
                    out[f"{k}_chi2"] = v
        if self.asg_model is not None:
            x = permutation_matrix(feats)
            score = np.zeros(0)
            if len(x):
                from hepml_coffea.estimators import signal_score

                score = signal_score(self.asg_model.model, _frame(x, list(PERMUTATION_FEATURES)))
            for k, v in best_observables(feats, best_permutation(score, perms)).items():
                if k in OBSERVABLES:
                    out[k] = v
        return out

    def observables(self, objects: EventObjects) -> dict[str, tuple[Any, np.ndarray]]:
        """Per-event observables of the selected events with their histogram axes.

        Parameters
        ----------
        objects : EventObjects
            The objects of the events passing all cuts.

        Returns
        -------
        dict of str to (hist axis, numpy.ndarray of shape (n_events,))
            The :meth:`assignment` observables (NaN → -1, in the underflow) and, with a jet
            tagger, ``n_jets_tagged`` (jets with ``tag_score`` ≥ ``score_cut``).
        """
        out: dict[str, tuple[Any, np.ndarray]] = {}
        for name, values in self.assignment(objects).items():
            n, lo, hi, label = OBSERVABLES[name.removesuffix("_chi2")]
            suffix = r" ($\chi^2$)" if name.endswith("_chi2") else ""
            axis: Any = hist.axis.Regular(n, lo, hi, name=name, label=label + suffix)
            out[name] = (axis, np.where(np.isfinite(values), values, -1.0))
        if self.tag_model is not None and "tag_score" in ak.fields(objects.jets):
            n_tag = ak.to_numpy(ak.sum(objects.jets.tag_score >= self.tag_cut, axis=1))
            axis = hist.axis.Integer(0, 8, name="n_jets_tagged", label="Jets with tag score ≥ cut")
            out["n_jets_tagged"] = (axis, n_tag.astype(np.int64))
        return out
