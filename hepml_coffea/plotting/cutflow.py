"""Cutflow plot: (weighted) events after each cut, one line per dataset, log y."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from hepml_coffea.plotting.style import PALETTE, PROCESS_COLORS, cms_label, new_axes

__all__ = ["cutflow"]


def cutflow(
    cutflows: Mapping[str, Mapping[str, float]],
    *,
    weighted: bool = True,
    data: bool | None = None,
    lumi: float | None = None,
    status: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Events remaining after each successive cut, per dataset, on a log axis.

    Parameters
    ----------
    cutflows : mapping of dataset name to an ordered mapping ``{cut name: events}``
        All datasets must list the same cuts in the same order (e.g. the first is "all").
    weighted : bool, default True
        Only sets the y label ("Weighted events" or "Events").
    data : bool, optional
        Whether a dataset is collision data (label "Preliminary"); default: a key "data".
    lumi, status, ax : optional

    Returns
    -------
    Axes
    """
    if not cutflows:
        msg = "cutflow needs at least one dataset."
        raise ValueError(msg)
    names = list(next(iter(cutflows.values())))
    for ds, cf in cutflows.items():
        if list(cf) != names:
            msg = f"dataset {ds!r} has cuts {list(cf)} but the first has {names}; give the same cuts in order."
            raise ValueError(msg)
    x = np.arange(len(names))
    ax = new_axes(ax, figsize=(max(10, 1.3 * len(names) + 4), 9))
    ymin, ymax = np.inf, 0.0
    for i, (ds, cf) in enumerate(cutflows.items()):
        y = np.array([cf[c] for c in names], dtype=float)
        color = PROCESS_COLORS.get(ds) or PALETTE[i % len(PALETTE)]
        ax.step(
            np.append(x, x[-1] + 1) - 0.5,
            np.append(y, y[-1]),
            where="post",
            color=color,
            linewidth=2,
            label=ds,
        )
        pos = y[y > 0]
        if pos.size:
            ymin, ymax = min(ymin, pos.min()), max(ymax, pos.max())
    ax.set_yscale("log")
    if np.isfinite(ymin):
        ax.set_ylim(ymin / 3, ymax * (ymax / ymin) ** 0.3 * 3)  # room for the legend
    ax.set_xticks(x, names, rotation=30, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="x", which="minor", bottom=False, top=False)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("Weighted events" if weighted else "Events")
    ax.legend(loc="upper right", fontsize="small", ncol=2)
    is_data = ("data" in cutflows) if data is None else data
    cms_label(ax, data=is_data, lumi=lumi, status=status)
    return ax
