"""PNG files of the evaluate step: thin loops over :mod:`hepml_coffea.plotting`.

The numbers come typed from :mod:`hepml_coffea.workflows.evaluate` (:class:`ModelScores`,
:class:`~hepml_coffea.evaluation.BinaryEvaluation`,
:class:`~hepml_coffea.evaluation.MulticlassEvaluation`); nothing here computes a statistic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepml_coffea import plotting as pl
from hepml_coffea.plotting import LabelOptions

if TYPE_CHECKING:
    from hepml_coffea.evaluation import BinaryEvaluation, MulticlassEvaluation
    from hepml_coffea.workflows.evaluate import ModelScores

__all__ = [
    "correlation_plots",
    "is_pseudo_data",
    "label_for_run",
    "model_plots",
    "multiclass_plots",
    "process_styles",
    "roc_plot",
    "score_histograms",
]


def is_pseudo_data(datasets: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the data datasets of a run are generated pseudo-data (``hepml-coffea generate``
    records its ``seed``; a fileset may also say ``"pseudo_data": true``)."""
    data = [m for m in datasets.values() if m.get("is_data")]
    return bool(data) and all(
        m.get("pseudo_data") or m.get("generated") or "seed" in m for m in data
    )


def label_for_run(info: Mapping[str, Any], label: LabelOptions | None = None) -> LabelOptions:
    """The label options of a run: the user's (``--cms-label``, ``--com``, ``--lumi``) completed
    with the luminosity (pb⁻¹) of ``run.json`` and whether its data are pseudo-data."""
    label = label or LabelOptions()
    lumi = label.lumi_pb
    if lumi is None and info.get("lumi") is not None:
        lumi = float(info["lumi"])
    pseudo = label.pseudo_data or is_pseudo_data(info.get("datasets", {}))
    return dataclasses.replace(label, lumi_pb=lumi, pseudo_data=pseudo)


def process_styles(info: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Legend labels and colours per process from the analysis' ``[processes]`` table.

    Accepts ``[processes.<name>]`` tables with ``label`` (LaTeX) and ``color``.
    """
    table = (info.get("config") or {}).get("processes") or {}
    labels, colors = {}, {}
    for name, spec in table.items():
        if isinstance(spec, Mapping):
            if spec.get("label"):
                labels[str(name)] = str(spec["label"])
            if spec.get("color"):
                colors[str(name)] = str(spec["color"])
    return labels, colors


def _save(ax: Any, path: Path) -> Path:
    pl.savefig(ax, path)
    return path


def _score_hist(edges: np.ndarray, label: str, values: np.ndarray, weights: np.ndarray) -> Any:
    import hist

    h = hist.Hist(
        hist.axis.Variable(edges, name="score", label=label), storage=hist.storage.Weight()
    )
    h.fill(values, weight=weights)  # outside the range: flow bins, folded and stated when drawn
    return h


def score_histograms(
    m: ModelScores, score_range: tuple[float, float], info: Mapping[str, Any], bins: int = 25
) -> tuple[dict[str, Any], Any, list[str]]:
    """Score histograms for data against MC: ``(mc by process, data, signal processes)``.

    MC holds only events the model did not train on (``m.test``: the test split with weights
    × ``m.scale``, or every event's out-of-fold score of a k-fold model); data all its events.
    Scores outside ``score_range`` go to the flow bins (``data_mc`` folds them into the edge
    bins and says so).
    """
    datasets = info.get("datasets", {})
    edges = np.linspace(*score_range, bins + 1)
    xlabel = f"{m.name} score"
    test_ds = m.dataset[m.test]
    mc: dict[str, Any] = {}
    signal: list[str] = []
    for ds in dict.fromkeys(test_ds.tolist()):
        meta = datasets.get(ds, {})
        proc = str(meta.get("process", ds))
        rows = test_ds == ds
        h = _score_hist(edges, xlabel, m.test_score[rows], m.test_w[rows] * m.scale)
        mc[proc] = mc[proc] + h if proc in mc else h
        if meta.get("label") == 1 and proc not in signal:
            signal.append(proc)
    data = _score_hist(edges, xlabel, m.data_score, np.ones(len(m.data_score)))
    return mc, data, signal


def data_mc_score(
    folder: Path, m: ModelScores, ev: BinaryEvaluation, label: LabelOptions, info: Mapping[str, Any]
) -> Path | None:
    """Data against MC of the score, filled with MC events the model did not train on only."""
    if len(m.data_score) == 0:
        return None
    mc, data, signal = score_histograms(m, ev.score_range, info)
    labels, colors = process_styles(info)
    ax, _ = pl.data_mc(
        mc, data, signal=signal or None, labels=labels, colors=colors,
        pseudo_data=label.pseudo_data, notes=[f"MC: {m.honesty}"], **label.kwargs(),
    )  # fmt: skip
    return _save(ax, folder / f"data_mc_score_{m.name}.png")


def model_plots(
    folder: Path,
    m: ModelScores,
    ev: BinaryEvaluation,
    label: LabelOptions,
    *,
    run_info: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Overtraining, scores, data/MC score, significance, confusion, importance, learning curve."""
    kw = label.kwargs()
    name = m.name
    xlabel = f"{name} score"
    written = []
    if len(m.train_y):
        ax = pl.overtraining(
            m.train_y, m.train_score, m.test_y, m.test_score, m.train_w, m.test_w,
            ks_pvalues={c: r["pvalue"] for c, r in ev.ks.items()}, range=ev.score_range,
            xlabel=xlabel, **kw,
        )  # fmt: skip
        written.append(_save(ax, folder / f"overtraining_{name}.png"))
    ys, ss, ws = m.test_y, m.test_score, m.test_w
    ax = pl.score_distributions(
        {"signal": (ss[ys == 1], ws[ys == 1]), "background": (ss[ys == 0], ws[ys == 0])},
        range=ev.score_range, xlabel=f"{xlabel} (events not trained on)", **kw,
    )  # fmt: skip
    written.append(_save(ax, folder / f"scores_{name}.png"))
    path = data_mc_score(folder, m, ev, label, run_info or {})
    if path is not None:
        written.append(path)
    ax = pl.significance_scan(
        ev.scan.cuts, ev.scan.z, best_cut=ev.optimal_cut, baseline_z=ev.baseline["z"],
        xlabel=f"Cut on {xlabel}", **kw,
    )  # fmt: skip
    written.append(_save(ax, folder / f"significance_{name}.png"))
    ax = pl.confusion_matrix(
        ev.confusion, threshold=ev.optimal_cut, score_name=xlabel,
        value_label="Weighted events (test events scaled to the full luminosity)", **kw,
    )  # fmt: skip
    written.append(_save(ax, folder / f"confusion_{name}.png"))
    if ev.importance is not None:
        imp = ev.importance
        ax = pl.feature_importance(
            imp.feature_names, imp.importances_mean, imp.importances_std, **kw
        )
        written.append(_save(ax, folder / f"importance_{name}.png"))
    if ev.learning_curve is not None:
        lc = ev.learning_curve
        ax = pl.learning_curve(lc.train_sizes, lc.train_auc, lc.validation_auc, **kw)
        written.append(_save(ax, folder / f"learning_curve_{name}.png"))
    return written


def multiclass_plots(
    folder: Path, name: str, mc: MulticlassEvaluation, label: LabelOptions
) -> list[Path]:
    """One-vs-rest ROC curves, the N×N confusion matrix, per-class precision/recall/F1."""
    kw = label.kwargs()
    rocs = {f"{c} vs rest": (*mc.roc[c], float(a)) for c, a in zip(mc.classes, mc.auc, strict=True)}
    ax = pl.roc_curves(rocs, kind="efficiency", **kw)
    out = [_save(ax, folder / f"roc_ovr_{name}.png")]
    ax = pl.confusion_matrix(
        mc.confusion, class_names=mc.classes,
        value_label="Weighted events (test events scaled to the full luminosity)", **kw,
    )  # fmt: skip
    out.append(_save(ax, folder / f"confusion_{name}.png"))
    ax = pl.class_metrics(mc.classes, mc.precision, mc.recall, mc.f1, auc=mc.auc, **kw)
    out.append(_save(ax, folder / f"class_metrics_{name}.png"))
    return out


def correlation_plots(
    folder: Path, corr: Mapping[str, np.ndarray], names: list[str], label: LabelOptions
) -> list[Path]:
    """Signal and background correlation matrices of the features."""
    out = []
    for cls in ("signal", "background"):
        ax = pl.correlation_matrix(
            corr[cls], names, title=f"{cls.capitalize()} correlations", **label.kwargs()
        )
        out.append(_save(ax, folder / f"correlation_{cls}.png"))
    return out


def roc_plot(folder: Path, rocs: Mapping[str, tuple], label: LabelOptions) -> Path:
    """ROC curves of all binary models on one plot."""
    ax = pl.roc_curves(dict(rocs), **label.kwargs())
    return _save(ax, folder / "roc.png")
