"""CMS plot style, the experiment label, and figure/axes helpers shared by all plots.

The mplhep CMS style is applied once, on the first plot made through this package (or
explicitly with :func:`use_cms_style`). Plotting functions take ``ax=`` and return it; when
``ax`` is None they make a new figure in the CMS style.

Luminosity is given to the plotting functions in fb⁻¹ (``lumi``), as shown on the label;
the analysis configuration stores it in pb⁻¹ (divide by 1000).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import mplhep
from matplotlib.axes import Axes

__all__ = ["cms_label", "new_axes", "new_ratio_axes", "savefig", "use_cms_style"]

_STYLE_APPLIED = False

#: Colours of the generated processes (CMS-friendly palette, Petroff 2021 six-colour set).
PROCESS_COLORS = {
    "ttbar_semilep": "#e42536",
    "wjets": "#5790fc",
    "single_top": "#f89c20",
    "dy": "#964a8b",
    "data": "black",
}
PALETTE = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd"]


def use_cms_style(*, force: bool = False) -> None:
    """Apply ``mplhep.style.use("CMS")`` once per process (again with ``force=True``)."""
    global _STYLE_APPLIED
    if force or not _STYLE_APPLIED:
        mplhep.style.use("CMS")
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
    if ax is not None:
        return ax, rax
    _fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(10, 10), gridspec_kw={"height_ratios": (3, 1), "hspace": 0.07}, sharex=True
    )
    return ax, rax


def cms_label(
    ax: Axes,
    *,
    data: bool = False,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13,
    loc: int = 0,
) -> tuple:
    """Draw the CMS label: "CMS Simulation" (MC only) or "CMS Preliminary" (with data).

    Parameters
    ----------
    ax : matplotlib Axes
    data : bool, default False
        Whether the plot shows collision data; if False "Simulation" is prepended.
    lumi : float, optional
        Integrated luminosity in fb⁻¹ shown on the right ("59.8 fb⁻¹ (13 TeV)").
    status : str, optional
        Text after "CMS" (and "Simulation"); default "" for MC, "Preliminary" for data.
    com : float or str, default 13
        Centre-of-mass energy in TeV.
    loc : int, default 0
        mplhep label position (0: above the axes).

    Returns
    -------
    tuple of matplotlib Text
        As :func:`mplhep.cms.label`.
    """
    text = status if status is not None else ("Preliminary" if data else "")
    return mplhep.cms.label(
        ax=ax, data=data, text=text, lumi=lumi, lumi_format="{0:.3g}", com=com, loc=loc
    )


def savefig(ax: Axes, path: Any, **kwargs: Any) -> None:
    """Save the figure of ``ax`` (tight bounding box, 100 dpi by default) and close it."""
    fig = ax.figure
    kwargs.setdefault("dpi", 100)
    kwargs.setdefault("bbox_inches", "tight")
    fig.savefig(path, **kwargs)
    plt.close(fig)
