"""Plots of a likelihood fit: pre-/post-fit data and model per region, nuisance pulls, impacts.

The functions take arrays (yields per process, the total model uncertainty per bin, fitted
parameter values), not fit objects, so they serve any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from hepml_coffea.plotting.stack import poisson_interval
from hepml_coffea.plotting.style import (
    PALETTE,
    PROCESS_COLORS,
    cms_label,
    new_ratio_axes,
    use_cms_style,
)

__all__ = ["fit_data_mc", "impact_ranking", "pulls"]


def fit_data_mc(
    edges: ArrayLike,
    yields: Mapping[str, ArrayLike],
    uncertainty: ArrayLike,
    data: ArrayLike | None = None,
    *,
    title: str = "",
    xlabel: str = "",
    band_label: str = "Total unc.",
    lumi: float | None = None,
    status: str | None = None,
    colors: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    log: bool = False,
    ax: Axes | None = None,
    rax: Axes | None = None,
) -> tuple[Axes, Axes]:
    """Stacked model yields with the total uncertainty band, data points and a data/model ratio.

    Parameters
    ----------
    edges : array-like of shape (n_bins + 1,)
    yields : mapping of process to array-like of shape (n_bins,)
        Model yields per process (pre- or post-fit), stacked in increasing order of yield.
    uncertainty : array-like of shape (n_bins,)
        Total uncertainty (1σ) of the summed model per bin.
    data : array-like of shape (n_bins,), optional
        Observed counts (Garwood intervals).
    title : str
        Text in the upper left of the panel (e.g. "SR, post-fit").
    xlabel : str
    band_label : str
        Legend entry of the hatched band.
    lumi : float, optional
        Luminosity in fb⁻¹ for the CMS label.
    status : str, optional
        CMS label text.
    colors, labels : mapping, optional
        Colour and legend label per process.
    log : bool
        Logarithmic y axis.
    ax, rax : Axes, optional
        Main and ratio panels (both or neither).

    Returns
    -------
    (ax, rax)
    """
    edges = np.asarray(edges, dtype=np.float64)
    vals = {p: np.asarray(v, dtype=np.float64) for p, v in yields.items()}
    if not vals:
        msg = "fit_data_mc needs at least one process in `yields`."
        raise ValueError(msg)
    unc = np.asarray(uncertainty, dtype=np.float64)
    order = sorted(vals, key=lambda p: vals[p].sum())
    total = np.sum([vals[p] for p in order], axis=0)
    colors, labels = dict(colors or {}), dict(labels or {})
    cycle = iter(PALETTE * 3)
    color_of = {p: colors.get(p) or PROCESS_COLORS.get(p) or next(cycle) for p in order}

    ax, rax = new_ratio_axes(ax, rax)
    mplhep.histplot(
        [vals[p] for p in order],
        edges,
        stack=True,
        histtype="fill",
        color=[color_of[p] for p in order],
        label=[labels.get(p, p) for p in order],
        edgecolor="black",
        linewidth=0.5,
        ax=ax,
    )
    band: dict[str, Any] = {
        "fill": True,
        "facecolor": "none",
        "edgecolor": "gray",
        "hatch": "////",
        "linewidth": 0,
    }
    ax.stairs(total + unc, edges, baseline=total - unc, label=band_label, **band)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(total > 0, unc / total, np.nan)
    rax.stairs(1 + rel, edges, baseline=1 - rel, **band)
    rax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    top = float(np.max(total + unc, initial=0.0))
    if data is not None:
        d = np.asarray(data, dtype=np.float64)
        lo, hi = poisson_interval(d)
        ax.errorbar(
            centers, d, yerr=[d - lo, hi - d], fmt="o", color="black", markersize=6, label="Data"
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, d / total, np.nan)
            err = [
                np.where(total > 0, (d - lo) / total, np.nan),
                np.where(total > 0, (hi - d) / total, np.nan),
            ]
        rax.errorbar(centers, ratio, yerr=err, fmt="o", color="black", markersize=6)
        top = max(top, float(np.max(hi, initial=0.0)))
        spread = np.nanmax(np.abs(np.concatenate([ratio - 1, rel])), initial=0.1)
    else:
        spread = np.nanmax(np.abs(rel), initial=0.1)
    half = float(min(max(0.1, 1.3 * spread), 1.0))
    rax.set_ylim(1 - half, 1 + half)
    rax.set_ylabel("Data / pred." if data is not None else "Rel. unc.")
    rax.set_xlabel(xlabel)
    ax.set_xlabel("")
    ax.set_ylabel("Events / bin")
    ax.set_xlim(edges[0], edges[-1])
    if log:
        ax.set_yscale("log")
        positive = total[total > 0]
        bottom = 0.5 * positive.min() if positive.size else 0.1
        ax.set_ylim(bottom, max(top, bottom) * (max(top, bottom) / bottom) ** 0.6)
    else:
        ax.set_ylim(0, 1.5 * top if top > 0 else 1)
    if title:
        ax.text(0.04, 0.95, title, transform=ax.transAxes, va="top", ha="left", fontsize="medium")
    ax.legend(ncol=2, fontsize="small", loc="upper right")
    cms_label(ax, data=data is not None, lumi=lumi, status=status)
    return ax, rax


def pulls(
    names: Sequence[str],
    values: ArrayLike,
    errors: ArrayLike,
    *,
    lumi: float | None = None,
    status: str | None = None,
    data: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Post-fit nuisance parameters (θ̂ − θ₀)/Δθ with their uncertainties, ±1σ and ±2σ bands.

    Parameters
    ----------
    names : sequence of str, length n
    values, errors : array-like of shape (n,)
        Best-fit values and uncertainties in units of the pre-fit uncertainty (nominal 0).
    lumi, status, data
        CMS label (see :func:`hepml_coffea.plotting.cms_label`).
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    use_cms_style()
    n = len(names)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, max(4.0, 1.0 + 0.5 * n)))
    y = np.arange(n)[::-1]
    ax.axvspan(-2, 2, color="#ffe680", zorder=0, label="±2σ")  # yellow and green, as the
    ax.axvspan(-1, 1, color="#99d699", zorder=0, label="±1σ")  # expected-limit bands
    ax.axvline(0, color="black", linewidth=1, linestyle="--")
    ax.errorbar(
        np.asarray(values), y, xerr=np.asarray(errors), fmt="o", color="black", label="Post-fit"
    )
    ax.set_yticks(y, list(names))
    ax.set_ylim(-0.8, n - 0.2 + 0.06 * n + 0.8)
    ax.set_xlim(-3, 3)
    ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    ax.legend(
        ncol=3, fontsize="small", loc="upper right", frameon=True, facecolor="white", framealpha=1
    )
    cms_label(ax, data=data, lumi=lumi, status=status)
    return ax


def impact_ranking(
    names: Sequence[str],
    prefit_up: ArrayLike,
    prefit_down: ArrayLike,
    postfit_up: ArrayLike,
    postfit_down: ArrayLike,
    pull_values: ArrayLike,
    pull_errors: ArrayLike,
    *,
    poi_label: str = r"\mu",
    top: int = 20,
    lumi: float | None = None,
    status: str | None = None,
    data: bool = True,
    axes: tuple[Axes, Axes] | None = None,
) -> tuple[Axes, Axes]:
    """Ranking of nuisance parameters by their impact on the parameter of interest.

    Left panel: the pull (θ̂ − θ₀)/Δθ of each parameter with its post-fit uncertainty. Right
    panel: Δμ̂ when the parameter is fixed at θ̂ ± Δθ̂ (post-fit, filled bars) and θ̂ ± 1 (pre-fit,
    open bars); up in red, down in blue. Parameters in the given order (give the largest impact
    first); only the first ``top`` are drawn.

    Parameters
    ----------
    names : sequence of str, length n
    prefit_up, prefit_down, postfit_up, postfit_down : array-like of shape (n,)
        Shifts of the parameter of interest.
    pull_values, pull_errors : array-like of shape (n,)
    poi_label : str
        LaTeX symbol of the parameter of interest.
    top : int
    lumi, status, data
        CMS label.
    axes : (Axes, Axes), optional
        Pull and impact panels sharing the y axis.

    Returns
    -------
    (Axes, Axes)
        The pull and the impact panels.
    """
    use_cms_style()
    n = min(len(names), top)
    if axes is None:
        _, (pax, iax) = plt.subplots(
            1, 2, figsize=(14, max(5.0, 2.5 + 0.6 * n)), sharey=True, gridspec_kw={"wspace": 0.05}
        )
    else:
        pax, iax = axes
    y = np.arange(n)[::-1]
    up, down, pup, pdown = (
        np.asarray(a, dtype=np.float64)[:n]
        for a in (prefit_up, prefit_down, postfit_up, postfit_down)
    )
    up_c, down_c = "#e42536", "#5790fc"
    iax.barh(y, pup, height=0.7, color=up_c, alpha=0.6, label=r"Post-fit $+\Delta\hat{\theta}$")
    iax.barh(y, pdown, height=0.7, color=down_c, alpha=0.6, label=r"Post-fit $-\Delta\hat{\theta}$")
    iax.barh(y, up, height=0.7, fill=False, edgecolor=up_c, linewidth=1.5, label="Pre-fit $+1$")
    iax.barh(y, down, height=0.7, fill=False, edgecolor=down_c, linewidth=1.5, label="Pre-fit $-1$")
    reach = float(np.max(np.abs(np.concatenate([up, down, pup, pdown])), initial=1e-3)) * 1.15
    iax.set_xlim(-reach, reach)
    iax.axvline(0, color="black", linewidth=1)
    poi = poi_label.strip("$")
    iax.set_xlabel(rf"$\Delta\hat{{{poi}}}$")
    iax.legend(ncol=2, fontsize="x-small", loc="upper right")
    pax.axvspan(-1, 1, color="#9c9ca1", alpha=0.3)
    pax.axvline(0, color="black", linestyle="--", linewidth=1)
    pax.errorbar(
        np.asarray(pull_values, dtype=np.float64)[:n],
        y,
        xerr=np.asarray(pull_errors, dtype=np.float64)[:n],
        fmt="o",
        color="black",
        label="Pull",
    )
    pax.set_xlim(-2.5, 2.5)
    pax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    pax.set_yticks(y, list(names[:n]))
    pax.set_ylim(-0.8, n - 0.2 + 1.6)
    pax.legend(fontsize="x-small", loc="upper left")
    cms_label(pax, data=data, status=status, com=None)  # the luminosity goes over the right panel
    if lumi is None:
        right = "(13 TeV)"
    elif lumi >= 1:
        right = f"{lumi:.3g} fb$^{{-1}}$ (13 TeV)"
    else:  # as mplhep's label does for small luminosities
        right = f"{lumi * 1000:.3g} pb$^{{-1}}$ (13 TeV)"
    iax.text(1.0, 1.01, right, transform=iax.transAxes, ha="right", va="bottom", fontsize="large")
    return pax, iax
