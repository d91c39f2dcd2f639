"""The base class of the analysis processors: weights → objects → selection → features → outputs.

A reference processor (``processors/<name>.py``) subclasses :class:`AnalysisProcessor` and fills in
three hooks: :meth:`~AnalysisProcessor.select_objects`, :meth:`~AnalysisProcessor.select_events`
(a coffea ``PackedSelection`` holding every name of ``cut_names``) and, for analyses with an ML
table, :meth:`~AnalysisProcessor.feature_objects`. The base class then computes, per chunk, the
output of the processor ↔ engine contract::

    {dataset: {"n_events": int,
               "cutflow": {cut: {"events": int, "weighted": float}},
               "hists": {name: hist.Hist},
               "table": {column: [numpy.ndarray]}}}

Order of the steps in :meth:`AnalysisProcessor.process`: weights, objects, selection + cutflow,
features of the events passing all cuts, :meth:`~AnalysisProcessor.score` (the hook where attached
models add their score columns, empty for now), histograms, table.

Processors are stateless and picklable and never mutate ``events``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.analysis_tools import PackedSelection

from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.spec import FeatureSpec
from hepml_coffea.selection.branches import get_branch
from hepml_coffea.selection.cutflow import cutflow, cutflow_hist
from hepml_coffea.selection.weights import event_weights

ID_COLUMNS = ("run", "luminosityBlock", "event")


def file_id(filename: str) -> int:
    """A stable 63-bit identifier of an input file name (the friend trees of ``apply`` use it)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(filename.encode()).digest()[:8], "little") >> 1


class AnalysisProcessor(processor.ProcessorABC):
    """Base of the reference processors.

    Parameters
    ----------
    config : dict
        The resolved analysis configuration (``AnalysisConfig.to_dict()``): at least ``lumi``
        (pb^-1); ``features`` (list of registered feature names) for analyses with an ML table.
    models : list, optional
        Trained models to evaluate after the features (used by the apply step; see :meth:`score`).

    Attributes
    ----------
    cut_names : tuple of str
        Cut order (class attribute of each subclass).
    feature_spec : FeatureSpec or None
        The table's features, from ``config["features"]``.
    """

    cut_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], models: Sequence[Any] | None = None) -> None:
        self.config = copy.deepcopy(dict(config))
        self.models = list(models or [])
        feats = self.config.get("features")
        self.feature_spec: FeatureSpec | None = FeatureSpec.from_config(feats) if feats else None

    # -- hooks ----------------------------------------------------------------------------------------
    def select_objects(self, events: Any) -> dict[str, Any]:
        """Selected objects, each an array with one entry per event of ``events``."""
        raise NotImplementedError

    def select_events(self, events: Any, objects: Mapping[str, Any]) -> PackedSelection:
        """A ``PackedSelection`` with one mask per name of :attr:`cut_names`."""
        raise NotImplementedError

    def feature_objects(self, objects: Mapping[str, Any]) -> EventObjects | None:
        """The :class:`EventObjects` that features are computed from (None: no features)."""
        return None

    def extra_histograms(
        self, events: Any, objects: Mapping[str, Any], mask: np.ndarray, weights: np.ndarray
    ) -> dict[str, hist.Hist]:
        """Analysis-specific histograms of the events passing all cuts (``mask``)."""
        return {}

    def score(
        self, table: np.ndarray, objects: EventObjects | None, event: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Score columns ``{"score_<model>": array (n_selected,)}`` of the attached models.

        ``table`` is the float32 feature table of shape (n_selected, n_features) of this
        processor's spec; a model whose card stores another spec gets its own table computed from
        ``objects`` with that spec. ``event`` (event numbers) lets k-fold models pick, for each
        event, the fold model that did not train on it. One batched call per model and chunk.
        """
        out: dict[str, np.ndarray] = {}
        for scorer in self.models:
            if (
                self.feature_spec is not None
                and list(self.feature_spec.names) == scorer.feature_names
            ):
                x = table
            else:
                x = FeatureSpec.from_dict(scorer.feature_spec).compute(objects)
            out[f"score_{scorer.name}"] = scorer.score(x, event=event)
        return out

    def model_histograms(
        self, scores: Mapping[str, np.ndarray], columns: Mapping[str, np.ndarray], w: np.ndarray
    ) -> dict[str, hist.Hist]:
        """Per model: its score distribution, and every feature after the model's score cut."""
        hists: dict[str, hist.Hist] = {}
        assert self.feature_spec is not None
        for scorer in self.models:
            s = scores[f"score_{scorer.name}"]
            axis = hist.axis.Regular(50, 0.0, 1.0, name="score", label=f"{scorer.name} score")
            hists[f"score_{scorer.name}"] = hist.Hist(axis, storage=hist.storage.Weight()).fill(
                s, weight=w
            )
            passed = s >= scorer.score_cut
            for feat in self.feature_spec.features:
                h = hist.Hist(feat.axis(), storage=hist.storage.Weight())
                values = columns[feat.name][passed]
                h.fill(values.astype(np.int64) if feat.integer else values, weight=w[passed])
                hists[f"{feat.name}__{scorer.name}"] = h
        return hists

    # -- the pipeline ----------------------------------------------------------------------------------
    def weights(self, events: Any) -> np.ndarray:
        """Event weights (float64, shape (n_events,)) per the contract."""
        branch = self.config.get("weights", {}).get("genweight_branch", "genWeight")
        return event_weights(events, float(self.config["lumi"]), branch)

    def process(self, events: Any) -> dict[str, Any]:
        meta = dict(getattr(events, "metadata", None) or {})
        dataset = meta.get("dataset", "unknown")
        weights = self.weights(events)
        objects = self.select_objects(events)
        selection = self.select_events(events, objects)
        cuts = self.cutflow(selection, weights)
        mask = np.asarray(selection.all(*self.cut_names), dtype=bool)

        hists: dict[str, hist.Hist] = {"cutflow": cutflow_hist(selection, self.cut_names, weights)}
        table: dict[str, list[np.ndarray]] = {}
        fobj = self.feature_objects(objects)
        if self.feature_spec is not None and fobj is not None:
            sel_obj = fobj[mask]
            columns = self.feature_spec.compute_columns(sel_obj)
            x = (
                np.column_stack(list(columns.values())).astype(np.float32)
                if len(columns)
                else np.empty((int(mask.sum()), 0), np.float32)
            )
            w = weights[mask]
            for feat in self.feature_spec.features:
                h = hist.Hist(feat.axis(), storage=hist.storage.Weight())
                values = columns[feat.name]
                h.fill(values.astype(np.int64) if feat.integer else values, weight=w)
                hists[feat.name] = h
            for i, name in enumerate(self.feature_spec.names):
                table[name] = [x[:, i]]
            table["weight"] = [w.astype(np.float64)]
            label = int(meta.get("label", -1 if meta.get("is_data") else 0))
            table["label"] = [np.full(len(w), label, dtype=np.int32)]
            for col in ID_COLUMNS:
                arr = ak.to_numpy(get_branch(events, col))[mask]
                table[col] = [arr.astype(np.int64) if col != "event" else arr.astype(np.uint64)]
            if self.models:
                scores = self.score(x, sel_obj, event=table["event"][0])
                for name, col in scores.items():
                    table[name] = [np.asarray(col, dtype=np.float64)]
                hists.update(self.model_histograms(scores, columns, w))
                # where each row comes from, for the per-input-file friend trees of `apply`
                start = int(meta.get("entrystart", 0))
                table["entry"] = [(start + np.flatnonzero(mask)).astype(np.int64)]
                table["file_id"] = [
                    np.full(len(w), file_id(str(meta.get("filename", ""))), np.int64)
                ]
        hists.update(self.extra_histograms(events, objects, mask, weights))
        return {dataset: {"n_events": len(events), "cutflow": cuts, "hists": hists, "table": table}}

    def cutflow(
        self, selection: PackedSelection, weights: np.ndarray
    ) -> dict[str, dict[str, float | int]]:
        """Cumulative cutflow ``{cut: {"events", "weighted"}}`` in :attr:`cut_names` order."""
        return cutflow(selection, self.cut_names, weights)

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator
