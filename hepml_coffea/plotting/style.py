"""CMS plot style, the experiment label, and figure/axes helpers shared by all plots.

The mplhep CMS style is applied once, on the first plot made through this package (or
explicitly with :func:`use_cms_style`). Plotting functions take ``ax=`` and return it; when
``ax`` is None they make a new figure in the CMS style.

Every plotting function takes the label arguments ``lumi`` (integrated luminosity in **fb⁻¹**,
shown in pb⁻¹ below 1 fb⁻¹), ``status`` (the text after "CMS", e.g. "Preliminary",
"Private Work", "Open Data") and ``com`` (√s in TeV, 13 by default; 13.6 for Run 3).
:class:`LabelOptions` bundles them (luminosity in pb⁻¹, as the analysis configuration and
``generate --lumi`` give it) for the workflows.

The label is drawn with plain matplotlib texts, not :func:`mplhep.cms.label`, which draws the
whole figure once to place its texts (about 0.15 s per plot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import mplhep
from matplotlib.axes import Axes
from matplotlib.text import Text

__all__ = [
    "LabelOptions",
    "cms_label",
    "format_lumi",
    "legend_headroom",
    "new_axes",
    "new_ratio_axes",
    "reusable_ratio_axes",
    "savefig",
    "use_cms_style",
]

_STYLE_APPLIED = False

#: Colours of the generated processes (CMS-friendly palette, Petroff 2021 six-colour set).
PROCESS_COLORS = {
    "ttbar_semilep": "#e42536",
    "ttbar": "#e42536",
    "wjets": "#5790fc",
    "single_top": "#f89c20",
    "dy": "#964a8b",
    "data": "black",
}
PALETTE = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd"]

#: Default resolution of saved PNGs (the CMS style's 10×10 inch figures: 800×800 pixels).
DEFAULT_DPI = 80


@dataclass(frozen=True)
class LabelOptions:
    """CMS label settings chosen once by a workflow and passed to every plot.

    Attributes
    ----------
    status : str, optional
        Text after "CMS" ("Preliminary", "Private Work", "Open Data", ...). Default: "Preliminary"
        on plots with collision data, nothing on simulation-only plots.
    com : float, default 13.0
        √s in TeV.
    lumi_pb : float, optional
        Integrated luminosity in pb⁻¹.
    pseudo_data : bool, default False
        The "data" are generated pseudo-data: the label says "Simulation", the legend
        "Pseudo-data".
    """

    status: str | None = None
    com: float = 13.0
    lumi_pb: float | None = None
    pseudo_data: bool = False

    def kwargs(self) -> dict[str, Any]:
        """``lumi`` (fb⁻¹), ``status`` and ``com`` for the plotting functions."""
        lumi = None if self.lumi_pb is None else self.lumi_pb / 1000.0
        return {"lumi": lumi, "status": self.status, "com": self.com}


def use_cms_style(*, force: bool = False) -> None:
    """Apply ``mplhep.style.use("CMS")`` once per process (again with ``force=True``)."""
    global _STYLE_APPLIED
    if force or not _STYLE_APPLIED:
        mplhep.style.use("CMS")
        mpl.rcParams["savefig.dpi"] = DEFAULT_DPI
        _STYLE_APPLIED = True


def new_axes(ax: Axes | None = None, **subplot_kw: Any) -> Axes:
    """Return ``ax``, or the axes of a new CMS-style figure if it is None."""
    use_cms_style()
    if ax is not None:
        return ax
    _, ax = plt.subplots(**subplot_kw)
    return ax


def new_ratio_axes(ax: Axes | None = None, rax: Axes | None = None) -> tuple[Axes, Axes]:
    """Return ``(ax, rax)``: a main panel and a ratio panel below it sharing the x axis."""
    use_cms_style()
    if (ax is None) != (rax is None):
        msg = "give both ax= and rax= (main and ratio panel) or neither."
        raise ValueError(msg)
    if ax is not None and rax is not None:
        return ax, rax
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(10, 10), gridspec_kw={"height_ratios": (3, 1), "hspace": 0.07}, sharex=True
    )
    # fixed margins that fit the CMS style's labels: saving needs no "tight" extra draw
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.1, top=0.94)
    fig._hepml_fixed_layout = True  # type: ignore[attr-defined]
    return ax, rax


_REUSABLE: dict[str, tuple[Axes, Axes]] = {}


def reusable_ratio_axes() -> tuple[Axes, Axes]:
    """A main and a ratio panel of one figure kept per process, emptied for the next plot.

    Building a figure's tick objects costs more than drawing the histograms; a loop that saves
    many data/MC plots (the ``plot`` step) draws each on the same emptied axes instead (the PNGs
    are the same as from a new figure). Save with :func:`savefig` ``(..., close=False)``.
    """
    cached = _REUSABLE.get("ratio")
    if cached is not None and not getattr(cached[0].figure, "_hepml_dirty", False):
        ax, rax = cached
        for a in (ax, rax):
            for art in [*a.lines, *a.patches, *a.collections, *a.texts, *a.images, *a.artists]:
                art.remove()
            a.containers.clear()
            if a.legend_ is not None:
                a.legend_.remove()
            a.set_yscale("linear")
        return ax, rax
    if cached is not None:
        plt.close(cached[0].get_figure(root=True))
    _REUSABLE["ratio"] = new_ratio_axes()
    return _REUSABLE["ratio"]


def release_reusable_axes() -> None:
    """Close the figure kept by :func:`reusable_ratio_axes` (a notebook would show it again)."""
    cached = _REUSABLE.pop("ratio", None)
    if cached is not None:
        plt.close(cached[0].get_figure(root=True))


def format_lumi(lumi: float, com: float | str | None = 13.0) -> str:
    """The right-hand label: ``"44.4 pb$^{-1}$ (13 TeV)"`` below 1 fb⁻¹, else ``"59.8 fb$^{-1}$ ..."``.

    Parameters
    ----------
    lumi : float
        Integrated luminosity in fb⁻¹.
    com : float or str, optional
        √s in TeV; omitted if None.
    """
    value, unit = (lumi * 1000.0, "pb") if lumi < 1.0 else (lumi, "fb")
    text = f"{value:.3g} {unit}$^{{-1}}$"
    return (
        f"{text} ({com:g} TeV)"
        if isinstance(com, (int, float))
        else f"{text} ({com} TeV)"
        if com
        else text
    )


def cms_label(
    ax: Axes,
    *,
    data: bool = False,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    loc: int = 0,
) -> tuple[Text, ...]:
    """Draw the CMS label above the axes: "CMS Simulation" (MC only) or "CMS Preliminary" (data).

    Parameters
    ----------
    ax : matplotlib Axes
    data : bool, default False
        Whether the plot shows collision data; if False "Simulation" follows "CMS" (also for
        generated pseudo-data).
    lumi : float, optional
        Integrated luminosity in fb⁻¹, written on the right in fb⁻¹ (pb⁻¹ below 1 fb⁻¹).
    status : str, optional
        Text after "CMS" (and "Simulation"); default "Preliminary" with data, none for MC.
    com : float or str, default 13
        Centre-of-mass energy in TeV.
    loc : int, default 0
        0: above the axes; 1: inside, top left.

    Returns
    -------
    tuple of matplotlib Text
        "CMS", the status text, and the right-hand luminosity/√s text.
    """
    text = status if status is not None else ("Preliminary" if data else "")
    extra = " ".join(t for t in ("" if data else "Simulation", text) if t)
    inside = loc == 1
    y, va = (0.95, "top") if inside else (1.005, "bottom")
    x = 0.04 if inside else 0.0
    size = mpl.rcParams["font.size"]
    cms = ax.text(
        x, y, "CMS", transform=ax.transAxes, ha="left", va=va, fontsize=1.3 * size,
        fontweight="bold",
    )  # fmt: skip
    sub = ax.annotate(
        extra, xy=(1, 0), xycoords=cms, xytext=(0.3 * size, 0), textcoords="offset points",
        ha="left", va="bottom", fontsize=size, fontstyle="italic",
    )  # fmt: skip
    right_text = format_lumi(lumi, com) if lumi is not None else (f"({com:g} TeV)" if com else "")
    right = ax.text(1.0, 1.005, right_text, transform=ax.transAxes, ha="right", va="bottom")
    return cms, sub, right


def legend_headroom(ax: Axes, top: float, n_entries: int, *, ncol: int = 2, log: bool = False,
                    bottom: float | None = None) -> None:  # fmt: skip
    """Set the y range so that the highest point ``top`` stays below an upper legend.

    The legend of ``n_entries`` in ``ncol`` columns takes about 6.5 % of the axes height per
    row (CMS style, "small" font); the data may use the height below it, less a 5 % margin.
    """
    rows = -(-max(n_entries, 1) // ncol)
    free = max(0.3, 1.0 - 0.065 * rows - 0.08)
    if log:
        lo = bottom if bottom is not None else ax.get_ylim()[0]
        lo = lo if lo > 0 else 0.1
        hi = max(top, lo * 10)
        ax.set_ylim(lo, lo * (hi / lo) ** (1.0 / free))
    else:
        lo = 0.0 if bottom is None else bottom
        ax.set_ylim(lo, lo + (top - lo) / free if top > lo else 1.0)


def savefig(ax: Axes, path: Any, *, close: bool = True, **kwargs: Any) -> None:
    """Save the figure of ``ax`` (``DEFAULT_DPI``) and close it (unless ``close=False``).

    Figures made by :func:`new_ratio_axes` have fixed margins; the others are saved with a
    tight bounding box (which costs one more draw of the figure).
    """
    fig: Any = ax.figure
    kwargs.setdefault("dpi", DEFAULT_DPI)
    if not getattr(fig, "_hepml_fixed_layout", False):
        kwargs.setdefault("bbox_inches", "tight")
    fig.savefig(path, **kwargs)
    if close:
        plt.close(fig)
