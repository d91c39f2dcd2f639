"""The base class of the analysis processors: regions × processes × variations in one pass.

Per chunk, :meth:`AnalysisProcessor.process` does, in order:

1. **once**: input validation of :meth:`input_collections` (corrupt values raise
   ``BadValueError``), sentinel check of the cut branches (:meth:`cut_branches`), trigger OR and (data) golden-JSON lumi mask, :meth:`select_objects` (everything
   that does not depend on the jet energy: leptons, the jets' quality mask, raw MET), the
   :class:`~hepml_coffea.systematics.shapes.JetShapes` (MC with ``systematics.shapes``);
2. **per shape variation** (``nominal``, then ``JESUp``, ``JESDown``, ``JERUp``, ``JERDown`` as
   configured; data and alternative samples: nominal only):
   :meth:`vary_objects` (jets and MET of this variation) → :meth:`object_scores` (jagged per-object
   scores merged into the objects) → :meth:`select_events` (a ``PackedSelection`` holding every
   name of :attr:`cut_names` except ``trigger``/``lumi_mask``, which the base adds, plus any extra
   masks the ``[regions]`` use) → features of the events passing all cuts → :meth:`score` (ONE
   batched call per attached model) → :meth:`observables` (extension point: per-variation
   observables such as a jet–parton assignment's ``m_top_had``) → histograms;
3. on the **nominal** pass also: the nominal weights (coffea ``Weights``, :meth:`weights`, computed
   once), the cutflow, the training table, and every weight variation
   (``weights.weight("<name>Up")``) filled into the same histograms.

Output (the processor ↔ engine contract)::

    {"hists": {observable: hist.Hist(region, process, variation, <observable axis>),
               "cutflow": hist.Hist(dataset, cut)},
     dataset: {"n_events": int,
               "cutflow": {cut: {"events": int, "weighted": float}},
               "table": {column: [numpy.ndarray]},  # nominal; all cuts (or table_region)
               "lumi_sections": {(run, lumi), ...}}}         # data only: passing the lumi mask

Histograms have ``Weight`` storage; ``region`` holds the ``[regions]`` (default one region,
``selected``) and, per attached model with a 1-D score, ``pass_<model>`` (all cuts and score ≥ the
model's cut); ``process`` is the dataset's physics process (``data`` for data, see
:mod:`hepml_coffea.selection.processes`); ``variation`` is ``nominal``, ``<syst>Up`` or
``<syst>Down``. A dataset whose metadata has ``variation`` (an alternative sample, e.g.
``ttbar_tuneUp``) fills only that variation of its process, and no table. Observables are the
configured features, the scores (``score_<model>``; ``score_<model>_<class>`` per column of an
(n, n_classes) score) and the :meth:`observables`; ``systematics.observables`` selects those that
get the variations (the others: nominal only).

Scorers (``models``) need ``name``, ``feature_names``, ``feature_spec`` (dict) and
``score(X, event=None) -> (n,) or (n, n_classes)``; optional ``class_names``, ``score_cut``,
``signal_column`` (the score the cut applies to) and ``honest_weight(dataset, run, lumi, event)``
(a factor per event, e.g. 0 for the model's training events, applied to the histograms of the
model's scores and of its ``pass_<model>`` region).

Processors are stateless and picklable and never mutate ``events``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.analysis_tools import PackedSelection, Weights

from hepml_coffea.errors import ConfigError
from hepml_coffea.features.objects import EventObjects
from hepml_coffea.features.spec import FeatureSpec
from hepml_coffea.processing.filling import book, fill, honest_factors
from hepml_coffea.processing.ids import ID_COLUMNS
from hepml_coffea.processing.validation import check_physical
from hepml_coffea.selection.branches import get_branch
from hepml_coffea.selection.cutflow import cutflow
from hepml_coffea.selection.events import (
    check_sentinels,
    lumi_mask,
    lumi_mask_path,
    lumi_sections,
    parse_regions,
    region_masks,
    trigger_mask,
    trigger_paths,
)
from hepml_coffea.selection.processes import process_of, process_table
from hepml_coffea.systematics.config import NOMINAL, ShapeVariation, SystematicsConfig
from hepml_coffea.systematics.shapes import JetShapes
from hepml_coffea.systematics.weights import build_weights

BASE_CUTS = ("trigger", "lumi_mask")
"""Cuts the base class adds to the selection when a processor's ``cut_names`` lists them."""
SCORE_AXIS = (50, 0.0, 1.0)


def file_id(filename: str) -> int:
    """A stable 63-bit identifier of an input file name (the friend trees of ``apply`` use it)."""
    return int.from_bytes(hashlib.sha256(filename.encode()).digest()[:8], "little") >> 1


def label_column(label: Any, n: int) -> np.ndarray:
    """The table's ``label`` column: int32 for numeric labels, str for a class name."""
    try:
        return np.full(n, int(label), dtype=np.int32)
    except (TypeError, ValueError):
        return np.full(n, str(label))


@dataclass(frozen=True)
class Observable:
    """A per-event observable to histogram: its ``axis`` and ``values`` (one per selected event)."""

    axis: Any
    values: np.ndarray


class AnalysisProcessor(processor.ProcessorABC):
    """Base of the reference processors (see the module docstring for the contract).

    Parameters
    ----------
    config : dict
        The resolved analysis configuration (``AnalysisConfig.to_dict()``): ``lumi`` (pb^-1);
        optional ``features``, ``[regions]``, ``[systematics]``, ``[processes]``, ``triggers``,
        ``lumi_mask``, ``table_region`` (the region whose events form the training table;
        ``""``: every event passing all cuts).
    models : list, optional
        Scorers of attached models (the apply step), see the module docstring.
    """

    cut_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], models: Sequence[Any] | None = None) -> None:
        self.config = copy.deepcopy(dict(config))
        self.models = list(models or [])
        feats = self.config.get("features")
        self.feature_spec: FeatureSpec | None = FeatureSpec.from_config(feats) if feats else None
        self.systematics = SystematicsConfig.from_config(self.config)
        self.regions = parse_regions(self.config)
        self.processes = process_table(self.config)
        self.table_region = str(self.config.get("table_region", ""))
        if self.table_region and self.table_region not in self.region_names:
            msg = (
                f"table_region = {self.table_region!r} is not a region; choose one of "
                f'{self.region_names} (or "" for every event passing all cuts) with '
                f"--set table_region=<region>."
            )
            raise ConfigError(msg)

    # -- hooks ----------------------------------------------------------------------------------------
    def select_objects(self, events: Any) -> dict[str, Any]:
        """Objects that do not depend on the jet energy, each with one entry per event."""
        raise NotImplementedError

    def vary_objects(
        self,
        events: Any,
        objects: Mapping[str, Any],
        variation: ShapeVariation,
        shapes: JetShapes | None,
    ) -> dict[str, Any]:
        """The objects of one shape variation (default: ``objects`` unchanged).

        ``shapes.factors(variation)`` gives per-jet pT/mass factors (None for the nominal) and
        ``shapes.met(factors, met)`` the propagated MET; ``shapes`` is None for data.
        """
        return dict(objects)

    def object_scores(self, objects: Mapping[str, Any]) -> dict[str, Any]:
        """Jagged per-object scores to merge into ``objects`` before the selection (default none).

        Extension point for per-object classifiers: flatten once, one batched call, then
        ``ak.unflatten(scores, ak.num(jets))``; the selection and features may then use them.
        """
        return {}

    def select_events(self, events: Any, objects: Mapping[str, Any]) -> PackedSelection:
        """A ``PackedSelection`` with one mask per name of :attr:`cut_names` (but the base cuts)."""
        raise NotImplementedError

    def feature_objects(self, objects: Mapping[str, Any]) -> EventObjects | None:
        """The :class:`EventObjects` that features are computed from (None: no features)."""
        return None

    def observables(
        self, events: Any, objects: Mapping[str, Any], mask: np.ndarray
    ) -> dict[str, Observable]:
        """Extra observables of the events with ``mask`` (all cuts passed), per variation.

        Extension point (e.g. the best jet–parton assignment's ``m_top_had``): each value array
        has ``mask.sum()`` entries; they are histogrammed per region and variation.
        """
        return {}

    def input_collections(self) -> tuple[str, ...]:
        """Collections whose pt/eta/phi/mass are checked for corrupt values once per chunk."""
        return ()

    def cut_branches(self) -> dict[str, str]:
        """``{branch: config key}`` of the branches the cuts use, checked for sentinel values."""
        return {}

    def weights(self, events: Any, objects: Mapping[str, Any]) -> Weights:
        """The coffea ``Weights`` of the chunk (nominal objects), see :func:`build_weights`."""
        branch = self.config.get("weights", {}).get("genweight_branch", "genWeight")
        return build_weights(events, objects, self.systematics, float(self.config["lumi"]), branch)

    def score(
        self, table: np.ndarray, objects: EventObjects | None, event: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Score columns of the attached models: ``score_<model>`` (n,) or, for an (n, k) score,
        ``score_<model>_<class>`` per class. One batched call per model and variation.

        ``table`` is this processor's float32 feature table (n_selected, n_features); a model
        whose card stores another spec gets its own table computed from ``objects``.
        """
        out: dict[str, np.ndarray] = {}
        for scorer in self.models:
            if self.feature_spec is not None and list(self.feature_spec.names) == list(
                scorer.feature_names
            ):
                x = table
            else:
                x = FeatureSpec.from_dict(scorer.feature_spec).compute(objects)
            s = np.asarray(scorer.score(x, event=event), dtype=np.float64)
            if s.ndim == 2:
                names = list(getattr(scorer, "class_names", None) or range(s.shape[1]))
                for j, cls in enumerate(names):
                    out[f"score_{scorer.name}_{cls}"] = s[:, j]
            else:
                out[f"score_{scorer.name}"] = s
        return out

    def _score_ranges(self) -> dict[str, tuple[float, float]]:
        """Histogram range per score column: a scorer's ``score_range`` (an anomaly score is not
        a probability), else (0, 1)."""
        out: dict[str, tuple[float, float]] = {}
        for scorer in self.models:
            rng = getattr(scorer, "score_range", None)
            if rng is None:
                continue
            cols = getattr(scorer, "columns", None) or [f"score_{scorer.name}"]
            for col in cols:
                out[col] = (float(rng[0]), float(rng[1]))
        return out

    # -- the pipeline ----------------------------------------------------------------------------------
    @property
    def region_names(self) -> list[str]:
        """The categories of the region axis: ``[regions]`` then ``pass_<model>`` per model."""
        return [*self.regions, *(f"pass_{m.name}" for m in self.models)]

    def process(self, events: Any) -> dict[str, Any]:
        meta = dict(getattr(events, "metadata", None) or {})
        dataset = str(meta.get("dataset", "unknown"))
        is_data = bool(meta.get("is_data", False))
        proc_name = process_of(self.processes, meta)
        alt = None if is_data else meta.get("variation")
        check_physical(events, collections=self.input_collections())
        check_sentinels(events, self.cut_branches())
        base_masks = {
            "trigger": trigger_mask(events, trigger_paths(self.config, meta)),
            "lumi_mask": lumi_mask(events, lumi_mask_path(self.config, meta)),
        }
        objects = self.select_objects(events)
        shapes = None
        if not is_data and self.systematics.shapes:
            shapes = JetShapes(events, self.systematics, meta)
        multi = shapes is not None and alt is None
        variations = self.systematics.shape_variations() if multi else [NOMINAL]

        out: dict[str, Any] = {"n_events": len(events), "table": {}}
        hists: dict[str, hist.Hist] = {}
        weights: Weights | None = None
        for variation in variations:
            vobj = self.vary_objects(events, objects, variation, shapes)
            vobj.update(self.object_scores(vobj))
            sel = self.select_events(events, vobj)
            for name in BASE_CUTS:
                if name in self.cut_names and name not in sel.names:
                    sel.add(name, base_masks[name])
            nominal = variation is NOMINAL
            if weights is None:
                weights = self.weights(events, vobj)
            w = np.asarray(weights.weight(), dtype=np.float64)
            if nominal:
                out["cutflow"] = cutflow(sel, self.cut_names, w)
                hists["cutflow"] = self._cutflow_hist(sel, w, dataset)
                if is_data:
                    out["lumi_sections"] = lumi_sections(events, base_masks["lumi_mask"])
            presel = np.asarray(sel.all(*self.cut_names), dtype=bool)
            table_out = out if nominal and alt is None else None
            values, axes = self._values(events, vobj, presel, meta, table_out, w)
            regions = {
                r: m[presel] for r, m in region_masks(sel, self.cut_names, self.regions).items()
            }
            for m in self.models:
                s = values.get(getattr(m, "signal_column", f"score_{m.name}"))
                cut = float(getattr(m, "score_cut", 0.5))
                n_sel = int(presel.sum())
                regions[f"pass_{m.name}"] = s >= cut if s is not None else np.zeros(n_sel, bool)
            honest = self._honest_weights(events, presel, dataset)
            if table_out is not None and self.table_region and out["table"]:
                keep = regions[self.table_region]
                out["table"] = {k: [v[0][keep]] for k, v in out["table"].items()}
            wsel = {(alt or variation.name): w[presel]}
            if nominal and alt is None:
                for v in self.systematics.weight_variations() if not is_data else []:
                    wsel[v] = np.asarray(weights.weight(v), dtype=np.float64)[presel]
            for obs, vals in values.items():
                if not nominal and not self.systematics.varied(obs):
                    continue
                h = hists.get(obs)
                if h is None:
                    h = hists[obs] = book(axes[obs], self.region_names)
                first = next(iter(wsel))
                wv = wsel if self.systematics.varied(obs) else {first: wsel[first]}
                fill(h, regions, proc_name, vals, wv, honest_factors(obs, regions, honest))
        return {"hists": hists, dataset: out}

    def _honest_weights(self, events: Any, mask: np.ndarray, dataset: str) -> dict[str, np.ndarray]:
        """Per model with ``honest_weight``: the factor of the events with ``mask`` in the
        histograms of its scores and its ``pass_<model>`` region (0 for its training events)."""
        out: dict[str, np.ndarray] = {}
        models = [m for m in self.models if hasattr(m, "honest_weight")]
        if models:
            ids = [ak.to_numpy(get_branch(events, c))[mask] for c in ID_COLUMNS]
            for m in models:
                out[m.name] = np.asarray(m.honest_weight(dataset, *ids), dtype=np.float64)
        return out

    def _values(
        self,
        events: Any,
        objects: Mapping[str, Any],
        mask: np.ndarray,
        meta: Mapping[str, Any],
        out: dict[str, Any] | None,
        w: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Observables of the events passing all cuts; on the nominal pass (``out``) the table."""
        values: dict[str, np.ndarray] = {}
        axes: dict[str, Any] = {}
        fobj = self.feature_objects(objects)
        if self.feature_spec is not None and fobj is not None:
            sel_obj = fobj[mask]
            columns = self.feature_spec.compute_columns(sel_obj)
            n = int(mask.sum())
            x = (
                np.column_stack(list(columns.values())).astype(np.float32)
                if len(columns)
                else np.empty((n, 0), np.float32)
            )
            for feat in self.feature_spec.features:
                col = columns[feat.name]
                values[feat.name] = col.astype(np.int64) if feat.integer else col
                axes[feat.name] = feat.axis()
            event = ak.to_numpy(get_branch(events, "event"))[mask].astype(np.uint64)
            scores = self.score(x, sel_obj, event=event) if self.models else {}
            ranges = self._score_ranges()
            for name, s in scores.items():
                values[name] = s
                low, high = ranges.get(name, SCORE_AXIS[1:])
                axes[name] = hist.axis.Regular(
                    SCORE_AXIS[0], low, high, name=name, label=f"{name} score"
                )
            if out is not None:
                out["table"] = self._table(events, mask, x, scores, meta, w)
        for name, obs in self.observables(events, objects, mask).items():
            values[name] = np.asarray(obs.values)
            axes[name] = obs.axis
        return values, axes

    def _table(
        self,
        events: Any,
        mask: np.ndarray,
        x: np.ndarray,
        scores: Mapping[str, np.ndarray],
        meta: Mapping[str, Any],
        w: np.ndarray,
    ) -> dict[str, list[np.ndarray]]:
        assert self.feature_spec is not None
        table: dict[str, list[np.ndarray]] = {}
        for i, name in enumerate(self.feature_spec.names):
            table[name] = [x[:, i]]
        n = len(x)
        table["weight"] = [w[mask].astype(np.float64)]
        table["label"] = [label_column(meta.get("label", -1 if meta.get("is_data") else 0), n)]
        for col in ID_COLUMNS:
            arr = ak.to_numpy(get_branch(events, col))[mask]
            table[col] = [arr.astype(np.int64) if col != "event" else arr.astype(np.uint64)]
        for name, score in scores.items():
            table[name] = [np.asarray(score, dtype=np.float64)]
        if self.models:  # where each row comes from, for the per-input-file friend trees of apply
            start = int(meta.get("entrystart", 0))
            table["entry"] = [(start + np.flatnonzero(mask)).astype(np.int64)]
            table["file_id"] = [np.full(n, file_id(str(meta.get("filename", ""))), np.int64)]
        return table

    def _cutflow_hist(self, sel: PackedSelection, w: np.ndarray, dataset: str) -> hist.Hist:
        """Weighted cutflow: bin ``i`` of ``cut`` = events passing cuts ``0..i`` (Σw, Σw²)."""
        n = len(self.cut_names)
        h = hist.Hist(
            hist.axis.StrCategory([], name="dataset", label="Dataset", growth=True),
            hist.axis.Integer(0, n, name="cut", label="Cut"),
            storage=hist.storage.Weight(),
        )
        for i in range(n):
            m = np.asarray(sel.all(*self.cut_names[: i + 1]), dtype=bool)
            h.fill(dataset=dataset, cut=np.full(int(m.sum()), i), weight=w[m])
        return h

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator
