"""Data/MC stacked histogram with a ratio panel and the MC statistical uncertainty band.

Under- and overflow are folded into the first and last bin (``flow="fold"``, the default; the
plot says so when they hold events), so that no event vanishes from the picture; a feature's
padding value below the axis (e.g. ``dr_bb = -1`` when there are fewer than two b jets) is
named on the plot with its share of the MC. Integer observables (``hist.axis.Integer``) are
drawn with bins centred on the integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mplhep
import numpy as np
from matplotlib.axes import Axes
from numpy.typing import NDArray
from scipy import stats

from hepml_coffea.plotting.style import (
    PALETTE,
    PROCESS_COLORS,
    cms_label,
    legend_headroom,
    new_ratio_axes,
)

__all__ = ["data_mc", "hist_arrays", "poisson_interval"]


def poisson_interval(counts: NDArray) -> tuple[NDArray, NDArray]:
    """Garwood 68.3 % central interval (low, high) of observed counts, shape (n_bins,) each."""
    n = np.asarray(counts, dtype=np.float64)
    alpha = 1 - 0.682689492
    lo = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * n) / 2, 0.0)
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * (n + 1)) / 2
    return np.nan_to_num(lo), hi


def _is_integer_axis(axis: Any) -> bool:
    traits = getattr(axis, "traits", None)
    if traits is not None and traits.ordered and not traits.continuous:
        return True  # hist.axis.Integer
    return False


def hist_arrays(
    h: Any, name: str = "histogram", *, flow: str = "fold"
) -> tuple[NDArray, NDArray, NDArray, tuple[float, float]]:
    """Edges, values, variances of a 1-D hist, with the flow bins folded into the edge bins.

    Parameters
    ----------
    h : hist.Hist (1-D)
    name : str
        For the error message.
    flow : {"fold", "hide"}
        "fold": underflow added to the first bin, overflow to the last; "hide": dropped.

    Returns
    -------
    edges, values, variances : ndarray
        Edges shifted by -0.5 for integer axes (bins centred on the integers).
    (underflow, overflow) : (float, float)
        The weighted contents of the flow bins (0 where the axis has none).
    """
    if h.ndim != 1:
        msg = f"histogram {name!r} has {h.ndim} axes; data_mc needs 1-D hists (project first, e.g. h[{{'dataset': sum}}])."
        raise ValueError(msg)
    if flow not in ("fold", "hide"):
        msg = f"flow must be 'fold' or 'hide'; got {flow!r}."
        raise ValueError(msg)
    axis = h.axes[0]
    edges = np.asarray(axis.edges, dtype=np.float64)
    if _is_integer_axis(axis):
        edges = edges - 0.5
    values = np.asarray(h.values(flow=True), dtype=np.float64)
    var_all = h.variances(flow=True)
    var = values.copy() if var_all is None else np.asarray(var_all, dtype=np.float64)
    traits = axis.traits
    lo = 1 if traits.underflow else 0
    hi = len(values) - (1 if traits.overflow else 0)
    under = float(values[0]) if traits.underflow else 0.0
    over = float(values[-1]) if traits.overflow else 0.0
    v, s2 = values[lo:hi].copy(), var[lo:hi].copy()
    if flow == "fold":
        if traits.underflow:
            v[0] += values[0]
            s2[0] += var[0]
        if traits.overflow:
            v[-1] += values[-1]
            s2[-1] += var[-1]
    return edges, v, s2, (under, over)


def _flow_note(
    under: float, over: float, total: float, pad_value: float | None, edges: NDArray
) -> str:
    """Text saying where the under/overflow went (empty when there is none)."""
    notes = []
    if total > 0 and under > 0:
        what = f"underflow ({100 * under / total:.2g}% of MC"
        if pad_value is not None and pad_value < edges[0]:
            what += f", incl. padding value {pad_value:g}"
        notes.append(what + ") in the first bin")
    if total > 0 and over > 0:
        notes.append(f"overflow ({100 * over / total:.2g}% of MC) in the last bin")
    return "\n".join(n[:1].upper() + n[1:] for n in notes)


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
    com: float | str | None = 13.0,
    pseudo_data: bool = False,
    log: bool = False,
    flow: str = "fold",
    pad_value: float | None = None,
    notes: Sequence[str] = (),
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
        Collision data (or pseudo-data). Without data the ratio panel shows only the relative
        MC uncertainty and the label says "Simulation".
    signal : str or list of str, optional
        Names in ``mc`` that are signal: drawn also as a line (scaled by ``signal_scale``).
    signal_scale : float, default 1
        Factor applied to the signal line only (legend says "×N"). With ``stack_signal`` the
        line is drawn only if the scale is not 1 (else it would repeat the stack).
    stack_signal : bool, default True
        Include the signal in the stack and in the MC total; if False the signal is only the
        overlaid line and the MC total is the background.
    labels, colors : mapping, optional
        Legend labels (LaTeX allowed) and colours per process name.
    lumi : float, optional
        Luminosity in fb⁻¹ for the CMS label (shown in pb⁻¹ below 1 fb⁻¹).
    status : str, optional
        CMS label text; default "Preliminary" with collision data, none otherwise.
    com : float, default 13
        √s in TeV.
    pseudo_data : bool, default False
        ``data`` is generated pseudo-data: label "Simulation", legend "Pseudo-data".
    log : bool, default False
        Logarithmic y axis of the main panel.
    flow : {"fold", "hide"}, default "fold"
        Fold under/overflow into the edge bins (and say so on the plot), or drop them.
    pad_value : float, optional
        The feature's padding value; named in the note when it lies in the underflow.
    notes : sequence of str
        Extra lines written above the legend entries (e.g. the score cut applied).
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
    arrays = {name: hist_arrays(h, name, flow=flow) for name, h in mc.items()}
    first = next(iter(mc.values()))
    edges = next(iter(arrays.values()))[0]
    for name, arr in arrays.items():
        if not np.array_equal(arr[0], edges):
            msg = f"histogram {name!r} has different bin edges from {next(iter(mc))!r}; rebin them alike."
            raise ValueError(msg)
    stacked = [n for n in mc if stack_signal or n not in signals]
    stacked.sort(key=lambda n: arrays[n][1].sum())
    total = np.sum([arrays[n][1] for n in stacked], axis=0)
    total_var = np.sum([arrays[n][2] for n in stacked], axis=0)
    under = sum(arrays[n][3][0] for n in stacked)
    over = sum(arrays[n][3][1] for n in stacked)

    ax, rax = new_ratio_axes(ax, rax)
    default_colors = iter(PALETTE * (1 + len(mc) // len(PALETTE)))
    color_of = {n: colors.get(n) or PROCESS_COLORS.get(n) or next(default_colors) for n in mc}
    mplhep.histplot(
        [arrays[n][1] for n in stacked],
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
        total + err, edges, baseline=total - err, fill=True, facecolor="none", edgecolor="gray",
        hatch="////", linewidth=0, label="MC stat. unc.",
    )  # fmt: skip
    n_entries = len(stacked) + 1
    for n in signals if (signal_scale != 1 or not stack_signal) else []:
        scale_txt = f" ×{signal_scale:g}" if signal_scale != 1 else ""
        ax.stairs(
            arrays[n][1] * signal_scale, edges, color=color_of[n], linewidth=2.5, linestyle="--",
            label=f"{labels.get(n, n)}{scale_txt}",
        )  # fmt: skip
        n_entries += 1
    centers = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(total > 0, err / total, np.nan)
    rax.stairs(
        1 + rel, edges, baseline=1 - rel, fill=True, facecolor="none", edgecolor="gray",
        hatch="////", linewidth=0,
    )  # fmt: skip
    rax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    dvals = np.zeros(0)
    if data is not None:
        d_edges, dvals, _, _ = hist_arrays(data, "data", flow=flow)
        if not np.array_equal(d_edges, edges):
            msg = f"histogram 'data' has different bin edges from {next(iter(mc))!r}; rebin them alike."
            raise ValueError(msg)
        lo, hi = poisson_interval(dvals)
        # bins where nothing is expected and nothing observed get no point (NaN: not drawn)
        shown = np.where((dvals == 0) & (total <= 0), np.nan, dvals)
        ax.errorbar(
            centers, shown, yerr=[shown - lo, hi - shown], fmt="o", color="black", markersize=6,
            label="Pseudo-data" if pseudo_data else "Data",
        )  # fmt: skip
        n_entries += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, dvals / total, np.nan)
            rerr = [
                np.where(total > 0, (dvals - lo) / total, np.nan),
                np.where(total > 0, (hi - dvals) / total, np.nan),
            ]
        rax.errorbar(centers, ratio, yerr=rerr, fmt="o", color="black", markersize=6)
        top_data = float(np.max(hi, initial=0.0))
    else:
        top_data = 0.0
    axis0 = first.axes[0]  # type: ignore[attr-defined]
    xlabel = axis0.label or axis0.name
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
    if not getattr(axis0.traits, "ordered", True):  # a category axis: labelled bins
        fig: Any = rax.figure
        fig._hepml_dirty = True  # fixed ticks: the figure is not reused
        rax.set_xticks(centers, [str(c) for c in axis0], rotation=30, ha="right")
        rax.tick_params(axis="x", which="minor", bottom=False, top=False)
    sig_top = [float(arrays[n][1].max(initial=0.0)) * signal_scale for n in signals]
    top = max(float((total + err).max(initial=0.0)), *sig_top, top_data, 0.0)
    all_notes = [*notes]
    flow_note = (
        _flow_note(under, over, float(total.sum()), pad_value, edges) if flow == "fold" else ""
    )
    if flow_note:
        all_notes.append(flow_note)
    ncol = 2
    title = "\n".join(all_notes) if all_notes else None
    n_lines = sum(n.count("\n") + 1 for n in all_notes)
    extra_rows = 2 * n_lines  # each note line takes about one legend row of two columns
    if log:
        ax.set_yscale("log")
        comps = np.concatenate([arrays[n][1] for n in stacked])
        positive = comps[comps > 0]
        bottom = max(0.5 * positive.min(), 1e-5 * top) if positive.size else 0.1
        legend_headroom(
            ax, max(top, bottom), n_entries + extra_rows, ncol=ncol, log=True, bottom=bottom
        )
    else:
        legend_headroom(ax, top if top > 0 else 1.0, n_entries + extra_rows, ncol=ncol)
    ax.legend(
        ncol=ncol, fontsize="small", loc="upper right", title=title, title_fontsize="x-small",
        alignment="right",
    )  # fmt: skip
    cms_label(ax, data=data is not None and not pseudo_data, lumi=lumi, status=status, com=com)
    return ax, rax
