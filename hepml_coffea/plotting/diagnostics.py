"""Model diagnostics: correlation and confusion matrices, feature importance, learning curve,
significance against the score cut."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from hepml_coffea.plotting.style import cms_label, new_axes

__all__ = [
    "confusion_matrix",
    "correlation_matrix",
    "feature_importance",
    "learning_curve",
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
    cms_label(ax, data=False, lumi=lumi, status=status)
    return ax


def feature_importance(
    feature_names: Sequence[str],
    importances: ArrayLike,
    errors: ArrayLike | None = None,
    *,
    xlabel: str = "Weighted AUC decrease when permuted",
    lumi: float | None = None,
    status: str | None = None,
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
    cms_label(ax, data=False, lumi=lumi, status=status)
    return ax


def confusion_matrix(
    cm: ArrayLike,
    *,
    class_names: Sequence[str] = ("Background", "Signal"),
    normalized: bool = False,
    lumi: float | None = None,
    status: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Confusion matrix (rows: true class, columns: predicted) with annotated values.

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        E.g. from :func:`hepml_coffea.evaluation.confusion_matrix_at` (``[[TN, FP], [FN, TP]]``).
    class_names : sequence of str
    normalized : bool, default False
        Whether ``cm`` holds fractions (annotated with 3 digits) or weighted event counts.
    lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    m = np.asarray(cm, dtype=float)
    ax = new_axes(ax)
    im = ax.imshow(m, cmap="Blues")
    ax.figure.colorbar(
        im, ax=ax, label="Fraction" if normalized else "Weighted events", fraction=0.046, pad=0.04
    )
    mid = np.nanmax(m) / 2 if np.isfinite(m).any() else 0
    for (i, j), v in np.ndenumerate(m):
        ax.text(
            j,
            i,
            format(v, ".3f" if normalized else ".4g"),
            ha="center",
            va="center",
            color="white" if v > mid else "black",
        )
    n = len(class_names)
    ax.set_xticks(range(n), class_names)
    ax.set_yticks(range(n), class_names, rotation=90, va="center")
    ax.minorticks_off()
    ax.tick_params(which="both", top=False, right=False)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    cms_label(ax, data=False, lumi=lumi, status=status)
    return ax


def learning_curve(
    train_sizes: ArrayLike,
    train_auc: ArrayLike,
    validation_auc: ArrayLike,
    *,
    lumi: float | None = None,
    status: str | None = None,
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
    ax.set_xlabel("Training events")
    ax.set_ylabel("Weighted ROC AUC")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.35 * (hi - lo))
    ax.legend(loc="upper right", fontsize="small")
    cms_label(ax, data=False, lumi=lumi, status=status)
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
    cms_label(ax, data=False, lumi=lumi, status=status)
    return ax
