"""Classifier plots: ROC curves, the TMVA-style overtraining check, score distributions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.plotting.style import PALETTE, cms_label, legend_headroom, new_axes

__all__ = ["overtraining", "roc_curves", "score_distributions"]

_CLASS_COLORS = {"signal": "#e42536", "background": "#5790fc"}


def roc_curves(
    curves: Mapping[str, tuple],
    *,
    kind: str = "rejection",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """ROC curves of several models with their AUC in the legend.

    Parameters
    ----------
    curves : mapping of model name to ``(fpr, tpr)`` or ``(fpr, tpr, auc)``
        Background and signal efficiencies, e.g. from
        :func:`hepml_coffea.evaluation.roc_curve`; the AUC is the trapezoid area if not given.
    kind : {"rejection", "efficiency"}
        ``"rejection"``: background rejection 1/ε_B (log) against signal efficiency ε_S;
        ``"efficiency"``: ε_S against ε_B with the random-guess diagonal.
    lumi, status : optional
        CMS label (luminosity in fb⁻¹). The label says "Simulation".
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    if kind not in ("rejection", "efficiency"):
        msg = f"kind must be 'rejection' or 'efficiency'; got {kind!r}."
        raise ValueError(msg)
    ax = new_axes(ax)
    for i, (name, curve) in enumerate(curves.items()):
        fpr, tpr = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
        auc = float(curve[2]) if len(curve) > 2 else float(np.trapezoid(tpr, fpr))
        label = f"{name} (AUC = {auc:.3f})"
        color = PALETTE[i % len(PALETTE)]
        if kind == "rejection":
            ok = fpr > 0
            ax.plot(tpr[ok], 1.0 / fpr[ok], label=label, color=color, linewidth=2)
        else:
            ax.plot(fpr, tpr, label=label, color=color, linewidth=2)
    if kind == "rejection":
        ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
        ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
    else:
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="Random")
        ax.set_xlabel(r"Background efficiency $\varepsilon_B$")
        ax.set_ylabel(r"Signal efficiency $\varepsilon_S$")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right" if kind == "rejection" else "lower right", fontsize="small")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def _folded_note(values: list[NDArray], edges: NDArray) -> str | None:
    """Legend title saying how many scores lie outside the drawn range (folded into edge bins)."""
    x = np.concatenate(values) if values else np.zeros(0)
    below, above = int(np.sum(x < edges[0])), int(np.sum(x > edges[-1]))
    if not below and not above:
        return None
    parts = [f"{n} below {edges[0]:.3g}" for n in [below] if n]
    parts += [f"{n} above {edges[-1]:.3g}" for n in [above] if n]
    return f"Scores {' and '.join(parts)} in the edge bins"


def _hist(x: NDArray, w: NDArray, edges: NDArray, density: bool) -> tuple[NDArray, NDArray]:
    x = np.clip(x, edges[0], edges[-1])  # fold under/overflow into the edge bins
    vals, _ = np.histogram(x, edges, weights=w)
    var, _ = np.histogram(x, edges, weights=w * w)
    if density:
        norm = w.sum() * np.diff(edges)
        return vals / norm, np.sqrt(var) / norm
    return vals, np.sqrt(var)


def overtraining(
    y_train: ArrayLike,
    train_scores: ArrayLike,
    y_test: ArrayLike,
    test_scores: ArrayLike,
    train_weight: ArrayLike | None = None,
    test_weight: ArrayLike | None = None,
    *,
    ks_pvalues: Mapping[str, float] | None = None,
    bins: int = 30,
    range: tuple[float, float] | None = None,
    xlabel: str = "Classifier score",
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """TMVA-style overtraining plot: test as filled histograms, train as points, per class.

    All four distributions are normalised to unit area; train points carry the weighted
    statistical error √Σw² (normalised). The legend gives the KS p-value of train vs. test
    per class when ``ks_pvalues`` is given (compute it with
    :func:`hepml_coffea.evaluation.overtraining_report`; plots draw, they compute no
    statistics), in scientific notation.

    Parameters
    ----------
    y_train, train_scores, train_weight : array-like of shape (n_train,)
    y_test, test_scores, test_weight : array-like of shape (n_test,)
    ks_pvalues : mapping, optional
        ``{"signal": p, "background": p}``.
    bins : int, default 30
    range : (float, float), optional
        Score range; default the range of all scores. Scores outside are folded into the
        edge bins.
    xlabel : str
    lumi, status : optional
        CMS label (fb⁻¹).
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    yt, yv = np.asarray(y_train) == 1, np.asarray(y_test) == 1
    st, sv = np.asarray(train_scores, dtype=float), np.asarray(test_scores, dtype=float)
    wt = np.ones_like(st) if train_weight is None else np.asarray(train_weight, dtype=float)
    wv = np.ones_like(sv) if test_weight is None else np.asarray(test_weight, dtype=float)
    if range is None:
        range = (min(st.min(), sv.min()), max(st.max(), sv.max()))
    edges = np.linspace(*range, bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    ax = new_axes(ax)
    top = 0.0
    for name, cls in (("background", False), ("signal", True)):
        color = _CLASS_COLORS[name]
        test_vals, _ = _hist(sv[yv == cls], wv[yv == cls], edges, True)
        ax.stairs(
            test_vals,
            edges,
            fill=True,
            alpha=0.35,
            color=color,
            label=f"{name.capitalize()} (test)",
        )
        train_vals, train_err = _hist(st[yt == cls], wt[yt == cls], edges, True)
        p = None if ks_pvalues is None else ks_pvalues.get(name)
        ks_txt = "" if p is None else f", KS p = {p:.1e}"
        ax.errorbar(
            centers,
            train_vals,
            yerr=train_err,
            fmt="o",
            color=color,
            markersize=5,
            label=f"{name.capitalize()} (train){ks_txt}",
        )
        top = max(top, np.max(test_vals), np.max(train_vals + train_err))
    ax.set_xlim(*range)
    note = _folded_note([st, sv], edges)
    legend_headroom(ax, top, 4 + (note is not None), ncol=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Normalised to unit area")
    ax.legend(loc="upper right", fontsize="small", title=note, title_fontsize="x-small")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax


def score_distributions(
    scores: Mapping[str, ArrayLike | tuple[ArrayLike, ArrayLike]],
    *,
    bins: int = 30,
    range: tuple[float, float] | None = None,
    density: bool = True,
    log: bool = False,
    xlabel: str = "Classifier score",
    colors: Mapping[str, str] | None = None,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    ax: Axes | None = None,
) -> Axes:
    """Classifier-score distributions per class or per process, as step histograms.

    Parameters
    ----------
    scores : mapping of name to ``score`` or ``(score, weight)``
        E.g. ``{"signal": (s, w), "background": (b, wb)}`` or one entry per process.
    bins : int, default 30
    range : (float, float), optional
    density : bool, default True
        Normalise each to unit area; otherwise weighted events per bin.
    log : bool, default False
    xlabel : str
    colors : mapping, optional
    lumi, status : optional
        CMS label (fb⁻¹), "Simulation".
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    from hepml_coffea.plotting.style import PROCESS_COLORS

    parsed = {}
    for name, val in scores.items():
        if isinstance(val, tuple):
            x, w = np.asarray(val[0], dtype=float), np.asarray(val[1], dtype=float)
        else:
            x = np.asarray(val, dtype=float)
            w = np.ones_like(x)
        parsed[name] = (x, w)
    if range is None:
        range = (min(x.min() for x, _ in parsed.values()), max(x.max() for x, _ in parsed.values()))
    edges = np.linspace(*range, bins + 1)
    colors = dict(colors or {})
    ax = new_axes(ax)
    top = 0.0
    for i, (name, (x, w)) in enumerate(parsed.items()):
        vals, _ = _hist(x, w, edges, density)
        color = (
            colors.get(name)
            or _CLASS_COLORS.get(name)
            or PROCESS_COLORS.get(name)
            or PALETTE[i % len(PALETTE)]
        )
        ax.stairs(vals, edges, color=color, linewidth=2, label=name)
        top = max(top, float(np.max(vals)))
    ax.set_xlim(*range)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Normalised to unit area" if density else "Events / bin")
    if log:
        ax.set_yscale("log")
        legend_headroom(ax, top, len(parsed) + 1, ncol=1, log=True, bottom=ax.get_ylim()[0])
    else:
        legend_headroom(ax, top, len(parsed) + 1, ncol=1)
    note = _folded_note([x for x, _ in parsed.values()], edges)
    ax.legend(loc="upper right", fontsize="small", title=note, title_fontsize="x-small")
    cms_label(ax, data=False, lumi=lumi, status=status, com=com)
    return ax
