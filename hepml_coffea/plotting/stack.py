"""Data/MC stacked histogram with a ratio panel and the MC statistical uncertainty band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mplhep
import numpy as np
from matplotlib.axes import Axes
from numpy.typing import NDArray
from scipy import stats

from hepml_coffea.plotting.style import PALETTE, PROCESS_COLORS, cms_label, new_ratio_axes

__all__ = ["data_mc", "poisson_interval"]


def poisson_interval(counts: NDArray) -> tuple[NDArray, NDArray]:
    """Garwood 68.3 % central interval (low, high) of observed counts, shape (n_bins,) each."""
    n = np.asarray(counts, dtype=np.float64)
    alpha = 1 - 0.682689492
    lo = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * n) / 2, 0.0)
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * (n + 1)) / 2
    return np.nan_to_num(lo), hi


def _values_variances(h, name: str) -> tuple[NDArray, NDArray]:
    if h.ndim != 1:
        msg = f"histogram {name!r} has {h.ndim} axes; data_mc needs 1-D hists (project first, e.g. h[{{'dataset': sum}}])."
        raise ValueError(msg)
    values = np.asarray(h.values(), dtype=np.float64)
    var = h.variances()
    return values, (values.copy() if var is None else np.asarray(var, dtype=np.float64))


def data_mc(
    mc: Mapping[str, object],
    data: object | None = None,
    *,
    signal: str | Sequence[str] | None = None,
    signal_scale: float = 1.0,
    stack_signal: bool = True,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    lumi: float | None = None,
    status: str | None = None,
    log: bool = False,
    ratio_range: tuple[float, float] = (0.5, 1.5),
    ax: Axes | None = None,
    rax: Axes | None = None,
) -> tuple[Axes, Axes]:
    """Stacked MC histograms, data points, MC stat band, and a data/MC ratio panel.

    Parameters
    ----------
    mc : mapping of process name to 1-D :class:`hist.Hist`
        Weighted MC histograms (``Weight`` storage gives the stat band; others use √N).
        All must share the same binning. Stacked in increasing order of yield.
    data : hist.Hist, optional
        Collision data. Without data there is no ratio of data; the ratio panel then shows
        only the relative MC uncertainty and the label says "Simulation".
    signal : str or list of str, optional
        Names in ``mc`` that are signal: drawn also as a line (scaled by ``signal_scale``).
    signal_scale : float, default 1
        Factor applied to the signal line only (legend says "×N"). With ``stack_signal`` the
        line is drawn only if the scale is not 1 (else it would repeat the stack).
    stack_signal : bool, default True
        Include the signal in the stack and in the MC total (as it is in the data); if False
        the signal is only the overlaid line and the MC total is the background.
    labels, colors : mapping, optional
        Legend labels and colours per process name.
    lumi : float, optional
        Luminosity in fb⁻¹ for the CMS label.
    status : str, optional
        CMS label text; default "Preliminary" with data, "" (i.e. "Simulation") without.
    log : bool, default False
        Logarithmic y axis of the main panel.
    ratio_range : (float, float), default (0.5, 1.5)
    ax, rax : Axes, optional
        Main and ratio panels (both or neither).

    Returns
    -------
    (ax, rax)
        The main and the ratio Axes.
    """
    if not mc:
        msg = "data_mc needs at least one MC histogram in `mc`."
        raise ValueError(msg)
    signals = [signal] if isinstance(signal, str) else list(signal or [])
    unknown = [s for s in signals if s not in mc]
    if unknown:
        msg = f"signal {unknown} not among the MC histograms {sorted(mc)}; pick from those names."
        raise ValueError(msg)
    labels = dict(labels or {})
    colors = dict(colors or {})
    first = next(iter(mc.values()))
    edges = np.asarray(first.axes[0].edges)
    for name, h in [*mc.items(), *([("data", data)] if data is not None else [])]:
        if h.ndim == 1 and not np.array_equal(np.asarray(h.axes[0].edges), edges):
            msg = f"histogram {name!r} has different bin edges from {next(iter(mc))!r}; rebin them alike."
            raise ValueError(msg)
    vv = {name: _values_variances(h, name) for name, h in mc.items()}
    stacked = [n for n in mc if stack_signal or n not in signals]
    stacked.sort(key=lambda n: vv[n][0].sum())
    total = np.sum([vv[n][0] for n in stacked], axis=0)
    total_var = np.sum([vv[n][1] for n in stacked], axis=0)

    ax, rax = new_ratio_axes(ax, rax)
    default_colors = iter(PALETTE)
    color_of = {n: colors.get(n, PROCESS_COLORS.get(n)) or next(default_colors) for n in mc}
    mplhep.histplot(
        [vv[n][0] for n in stacked],
        edges,
        stack=True,
        histtype="fill",
        label=[labels.get(n, n) for n in stacked],
        color=[color_of[n] for n in stacked],
        edgecolor="black",
        linewidth=0.5,
        ax=ax,
    )
    err = np.sqrt(total_var)
    ax.stairs(
        total + err,
        edges,
        baseline=total - err,
        fill=True,
        facecolor="none",
        edgecolor="gray",
        hatch="////",
        linewidth=0,
        label="MC stat. unc.",
    )
    for n in signals if (signal_scale != 1 or not stack_signal) else []:
        scale_txt = f" ×{signal_scale:g}" if signal_scale != 1 else ""
        mplhep.histplot(
            vv[n][0] * signal_scale,
            edges,
            histtype="step",
            color=color_of[n],
            linewidth=2.5,
            linestyle="--",
            label=f"{labels.get(n, n)}{scale_txt}",
            ax=ax,
        )
    centers = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(total > 0, err / total, np.nan)
    rax.stairs(
        1 + rel,
        edges,
        baseline=1 - rel,
        fill=True,
        facecolor="none",
        edgecolor="gray",
        hatch="////",
        linewidth=0,
    )
    rax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    if data is not None:
        dvals, _ = _values_variances(data, "data")
        lo, hi = poisson_interval(dvals)
        ax.errorbar(
            centers,
            dvals,
            yerr=[dvals - lo, hi - dvals],
            fmt="o",
            color="black",
            markersize=6,
            label="Data",
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, dvals / total, np.nan)
            rerr = [
                np.where(total > 0, (dvals - lo) / total, np.nan),
                np.where(total > 0, (hi - dvals) / total, np.nan),
            ]
        rax.errorbar(centers, ratio, yerr=rerr, fmt="o", color="black", markersize=6)
    xlabel = first.axes[0].label or first.axes[0].name
    rax.set_xlabel(xlabel)
    ax.set_xlabel("")
    width = np.diff(edges)
    unit = xlabel[xlabel.rfind("[") + 1 : xlabel.rfind("]")] if "[" in xlabel else ""
    if np.allclose(width, width[0]):
        ax.set_ylabel(f"Events / {width[0]:.3g}{' ' + unit if unit else ''}")
    else:
        ax.set_ylabel("Events / bin")
    rax.set_ylabel("Data / MC" if data is not None else "Rel. unc.")
    rax.set_ylim(*ratio_range)
    ax.set_xlim(edges[0], edges[-1])
    top = max(total.max(initial=0.0), *(vv[n][0].max() * signal_scale for n in signals), 0.0)
    if data is not None:
        top = max(top, float(np.max(dvals, initial=0.0)))
    if log:
        ax.set_yscale("log")
        comps = np.concatenate([vv[n][0] for n in stacked])
        positive = comps[comps > 0]
        bottom = max(0.5 * positive.min(), 1e-5 * top) if positive.size else 0.1
        ax.set_ylim(bottom, max(top, bottom) * max(top / bottom, 10) ** 0.6)  # room for the legend
    else:
        ax.set_ylim(0, 1.45 * top if top > 0 else 1)
    ax.legend(ncol=2, fontsize="small", loc="upper right")
    cms_label(ax, data=data is not None, lumi=lumi, status=status)
    return ax, rax
