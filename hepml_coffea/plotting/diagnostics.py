"""Model diagnostics: correlation and confusion matrices, feature importance, learning curve,
significance against the score cut."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter
from numpy.typing import ArrayLike

from hepml_coffea.plotting.style import cms_label, legend_headroom, new_axes

__all__ = [
    "class_metrics",
    "confusion_matrix",
    "correlation_matrix",
    "feature_importance",
    "learning_curve",
    "response_resolution",
    "significance_scan",
]


def _annotate(ax: Axes, m: np.ndarray, fmt: str, cmap_mid: float, fontsize: str = "small") -> None:
    for (i, j), v in np.ndenumerate(m):
        txt = "nan" if np.isnan(v) else format(v, fmt)
        color = "white" if np.isfinite(v) and abs(v) > cmap_mid else "black"
        ax.text(j, i, txt, ha="center", va="center", color=color, fontsize=fontsize)


def correlation_matrix(
    corr: ArrayLike,
    feature_names: Sequence[str],
    *,
    title: str | None = None,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Correlation matrix with feature names as tick labels and annotated values (in %).

    Parameters
    ----------
    corr : array-like of shape (n_features, n_features)
        E.g. ``correlation_matrices(X, y, w)["signal"]``.
    feature_names : sequence of str, length n_features
    title : str, optional
        Class shown, e.g. "Signal" or "Background"; it heads the colour-bar label.
    lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    m = np.asarray(corr, dtype=float)
    n = len(feature_names)
    if m.shape != (n, n):
        msg = f"corr has shape {m.shape} but there are {n} feature names; they must match."
        raise ValueError(msg)
    ax = new_axes(ax, figsize=(max(8, 0.9 * n + 3), max(7, 0.9 * n + 2)))
    im = ax.imshow(100 * m, cmap="RdBu_r", vmin=-100, vmax=100)
    cb_label = f"{title}: linear correlation [%]" if title else "Linear correlation [%]"
    ax.figure.colorbar(im, ax=ax, label=cb_label, fraction=0.046, pad=0.04)
    _annotate(ax, 100 * m, ".0f", 60, fontsize="x-small" if n > 8 else "small")
    ax.set_xticks(range(n), feature_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), feature_names)
    ax.minorticks_off()
    ax.tick_params(which="both", top=False, right=False)
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def feature_importance(
    feature_names: Sequence[str],
    importances: ArrayLike,
    errors: ArrayLike | None = None,
    *,
    xlabel: str = "Weighted AUC decrease when permuted",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of feature importance with error bars, most important on top.

    Parameters
    ----------
    feature_names : sequence of str, length n_features
    importances : array-like of shape (n_features,)
        E.g. ``PermutationImportance.importances_mean``.
    errors : array-like of shape (n_features,), optional
        E.g. ``importances_std``.
    xlabel, lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    imp = np.asarray(importances, dtype=float)
    err = None if errors is None else np.asarray(errors, dtype=float)
    order = np.argsort(imp)  # ascending: barh draws bottom-up, so the largest ends on top
    n = len(imp)
    ax = new_axes(ax, figsize=(10, max(6, 0.5 * n + 3)))
    ax.barh(
        np.arange(n),
        imp[order],
        xerr=None if err is None else err[order],
        color="#5790fc",
        edgecolor="black",
        capsize=4,
    )
    ax.set_yticks(np.arange(n), [feature_names[i] for i in order])
    ax.tick_params(axis="y", which="minor", left=False, right=False)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylim(-0.6, n - 0.4)
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def confusion_matrix(
    cm: ArrayLike,
    *,
    class_names: Sequence[str] = ("Background", "Signal"),
    threshold: float | None = None,
    score_name: str = "score",
    value_label: str = "Weighted events",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Confusion matrix (rows: true class, columns: predicted) in weighted events.

    Each cell shows the weighted event count and, below it, its fraction of the true class
    (the row). The colour is the row fraction, so that small classes stay visible.

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        Weighted counts, e.g. from :func:`hepml_coffea.evaluation.confusion_matrix_at`
        (``[[TN, FP], [FN, TP]]``) or ``MulticlassEvaluation.confusion``.
    class_names : sequence of str
    threshold : float, optional
        The score cut defining "predicted signal" (binary); written in the title.
    score_name : str
        Name of the score in that title.
    value_label : str
        What the counts are (colour-bar and title), e.g. "Weighted events (full luminosity)".
    lumi, status, com, ax : optional

    Returns
    -------
    Axes
    """
    m = np.asarray(cm, dtype=float)
    n = len(class_names)
    if m.shape != (n, n):
        msg = f"cm has shape {m.shape} but there are {n} class names; they must match."
        raise ValueError(msg)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = m / m.sum(axis=1, keepdims=True)
    ax = new_axes(ax, figsize=(max(11, 2.2 * n + 5), max(9, 2.2 * n + 4)))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.figure.colorbar(im, ax=ax, label="Fraction of the true class", fraction=0.046, pad=0.04)
    for (i, j), v in np.ndenumerate(m):
        f = frac[i, j]
        ax.text(
            j, i, f"{v:.4g}\n({f:.1%})" if np.isfinite(f) else f"{v:.4g}", ha="center",
            va="center", color="white" if np.isfinite(f) and f > 0.5 else "black",
            fontsize="small" if n > 3 else "medium",
        )  # fmt: skip
    ax.set_xticks(
        range(n), class_names, rotation=0 if n <= 3 else 30, ha="center" if n <= 3 else "right"
    )
    ax.set_yticks(range(n), class_names, rotation=90 if n <= 3 else 0, va="center")
    ax.minorticks_off()
    ax.tick_params(which="both", top=False, right=False)
    rule = (
        f"{score_name} ≥ {threshold:.3g}: signal"
        if threshold is not None
        else "largest probability"
    )
    ax.set_xlabel(f"Predicted class ({rule})\nCells: {value_label} (fraction of the true class)")
    ax.xaxis.label.set_fontsize("small")
    ax.set_ylabel("True class")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def class_metrics(
    class_names: Sequence[str],
    precision: ArrayLike,
    recall: ArrayLike,
    f1: ArrayLike,
    *,
    auc: ArrayLike | None = None,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Grouped bars of per-class precision, recall, F1 (and one-vs-rest AUC) of a multi-class model.

    Parameters
    ----------
    class_names : sequence of str, length n_classes
    precision, recall, f1 : array-like of shape (n_classes,)
        E.g. from :class:`hepml_coffea.evaluation.MulticlassEvaluation`.
    auc : array-like of shape (n_classes,), optional
    lumi, status, com, ax : optional

    Returns
    -------
    Axes
    """
    series = [("Precision", precision), ("Recall", recall), ("F1", f1)]
    if auc is not None:
        series.append(("AUC (one vs rest)", auc))
    n = len(class_names)
    ax = new_axes(ax)
    width = 0.8 / len(series)
    x = np.arange(n)
    for k, (name, vals) in enumerate(series):
        v = np.asarray(vals, dtype=float)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, v, width, label=name,
                      color=["#5790fc", "#f89c20", "#e42536", "#964a8b"][k], edgecolor="black")  # fmt: skip
        ax.bar_label(bars, fmt="%.2f", fontsize="xx-small", padding=2)
    ax.set_xticks(x, class_names)
    ax.tick_params(axis="x", which="minor", bottom=False, top=False)
    ax.set_ylabel("Weighted metric")
    legend_headroom(ax, 1.0, len(series), ncol=2)
    ax.legend(ncol=2, fontsize="small", loc="upper right")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def response_resolution(
    edges: ArrayLike,
    response: dict[str, ArrayLike],
    resolution: dict[str, ArrayLike],
    *,
    xlabel: str = r"Generator-jet $p_T$ [GeV]",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
    rax: Axes | None = None,
) -> tuple[Axes, Axes]:
    """Response (median, top) and relative resolution (bottom) per bin, per estimate.

    Parameters
    ----------
    edges : array-like of shape (n_bins + 1,)
    response, resolution : dict of name to array-like of shape (n_bins,)
        E.g. ``ResponseResolution.response`` / ``.resolution`` ("before", "after" regression).
    xlabel, lumi, status, com : optional
    ax, rax : Axes, optional
        Both or neither.

    Returns
    -------
    (ax, rax)
    """
    from hepml_coffea.plotting.style import new_ratio_axes

    e = np.asarray(edges, dtype=float)
    c, half = 0.5 * (e[1:] + e[:-1]), 0.5 * np.diff(e)
    ax, rax = new_ratio_axes(ax, rax)
    colors = ["#5790fc", "#e42536", "#f89c20", "#964a8b"]
    for k, name in enumerate(response):
        r = np.asarray(response[name], dtype=float)
        s = np.asarray(resolution[name], dtype=float)
        ax.errorbar(c, r, xerr=half, fmt="o", color=colors[k % 4], label=name)
        rax.errorbar(c, s / r, xerr=half, fmt="o", color=colors[k % 4])
    ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_ylabel(r"Response median($p_T^{est}/p_T^{true}$)")
    rax.set_ylabel(r"$\sigma/R$")
    rax.set_xlabel(xlabel)
    ax.set_xlim(e[0], e[-1])
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.4 * (hi - lo))
    ax.legend(
        loc="upper right", fontsize="small", title="σ = ½(q84 − q16)", title_fontsize="x-small"
    )
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax, rax


def learning_curve(
    train_sizes: ArrayLike,
    train_auc: ArrayLike,
    validation_auc: ArrayLike,
    *,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Train and validation AUC against the number of training events (mean ± std over folds).

    Parameters
    ----------
    train_sizes : array-like of shape (n_sizes,)
    train_auc, validation_auc : array-like of shape (n_sizes,) or (n_sizes, n_folds)
        E.g. the fields of :class:`hepml_coffea.evaluation.LearningCurve`.
    lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    n = np.asarray(train_sizes, dtype=float)
    ax = new_axes(ax)
    for name, vals, color, marker in (
        ("Training", train_auc, "#e42536", "o"),
        ("Validation", validation_auc, "#5790fc", "s"),
    ):
        v = np.asarray(vals, dtype=float).reshape(len(n), -1)
        mean, std = np.nanmean(v, axis=1), np.nanstd(v, axis=1)
        ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.25, linewidth=0)
        ax.plot(n, mean, marker=marker, color=color, linewidth=2, label=name)
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{int(v):,}" for v in n])  # the sizes themselves, no crowded minor labels
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("Training events")
    ax.set_ylabel("Weighted ROC AUC")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.35 * (hi - lo))
    ax.legend(loc="upper right", fontsize="small")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def significance_scan(
    cuts: ArrayLike,
    z: ArrayLike,
    *,
    best_cut: float | None = None,
    baseline_z: float | None = None,
    xlabel: str = "Cut on classifier score",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Asimov significance against the score cut, with the optimal cut marked.

    Parameters
    ----------
    cuts, z : array-like of shape (n_cuts,)
        E.g. ``SignificanceScan.cuts`` and ``.z`` (NaN where excluded; not drawn).
    best_cut : float, optional
        Marked with a vertical line; default the cut of the largest finite Z.
    baseline_z : float, optional
        Z of a cut-based baseline, drawn as a horizontal dashed line.
    xlabel, lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    c, zz = np.asarray(cuts, dtype=float), np.asarray(z, dtype=float)
    ax = new_axes(ax)
    ax.plot(c, zz, color="#5790fc", linewidth=2, label="Asimov $Z_A$")
    if best_cut is None and np.isfinite(zz).any():
        best_cut = float(c[np.nanargmax(zz)])
    if best_cut is not None and np.isfinite(best_cut):
        zbest = float(np.interp(best_cut, c[np.isfinite(zz)], zz[np.isfinite(zz)]))
        ax.axvline(
            best_cut,
            color="#e42536",
            linestyle="--",
            linewidth=1.5,
            label=f"Best cut {best_cut:.3g}: $Z_A$ = {zbest:.2f}",
        )
    if baseline_z is not None:
        ax.axhline(
            baseline_z,
            color="gray",
            linestyle=":",
            linewidth=2,
            label=f"Cut-based: $Z_A$ = {baseline_z:.2f}",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"Significance $Z_A$ [$\sigma$]")
    ax.set_xlim(c.min(), c.max())
    top = np.nanmax([np.nanmax(zz) if np.isfinite(zz).any() else 1.0, baseline_z or 0.0])
    ax.set_ylim(0, 1.45 * top)
    ax.legend(loc="upper left", fontsize="small")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax
