"""Cutflow plot: (weighted) events after each cut per MC sample, the MC total and the data, log y."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from hepml_coffea.plotting.style import (
    PALETTE,
    PROCESS_COLORS,
    cms_label,
    legend_headroom,
    new_axes,
)

__all__ = ["cutflow"]


def cutflow(
    cutflows: Mapping[str, Mapping[str, float]],
    *,
    weighted: bool = True,
    data: bool | Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    lumi: float | None = None,
    status: str | None = None,
    com: float | str | None = 13.0,
    pseudo_data: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Events remaining after each successive cut, per MC sample, the MC total and the data.

    Parameters
    ----------
    cutflows : mapping of dataset (or process) name to an ordered mapping ``{cut name: events}``
        All must list the same cuts in the same order (e.g. the first is "all").
    weighted : bool, default True
        Only sets the y label ("Weighted events" or "Events").
    data : bool or sequence of str, optional
        Which entries are collision data: their names, or True for an entry named "data";
        default: an entry named "data". Data are drawn as black points, summed over data entries,
        against the MC total (thick black line).
    labels, colors : mapping, optional
        Legend label and colour per name.
    lumi, status, com, ax : optional
    pseudo_data : bool, default False
        The data are generated pseudo-data (label "Simulation", legend "Pseudo-data").

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
    if data is None or data is True:
        data_names = [d for d in cutflows if d == "data"]
    elif data is False:
        data_names = []
    else:
        data_names = [d for d in data if d in cutflows]
    labels, colors = dict(labels or {}), dict(colors or {})
    x = np.arange(len(names))
    xs = np.append(x, x[-1] + 1) - 0.5
    ax = new_axes(ax, figsize=(max(10, 1.3 * len(names) + 4), 9))
    values = {ds: np.array([cf[c] for c in names], dtype=float) for ds, cf in cutflows.items()}
    mc_names = [d for d in cutflows if d not in data_names]
    n_entries = 0
    for i, ds in enumerate(mc_names):
        y = values[ds]
        color = colors.get(ds) or PROCESS_COLORS.get(ds) or PALETTE[i % len(PALETTE)]
        ax.step(
            xs,
            np.append(y, y[-1]),
            where="post",
            color=color,
            linewidth=2,
            label=labels.get(ds, ds),
        )
        n_entries += 1
    every = [values[d] for d in cutflows]
    if mc_names:
        total = np.sum([values[d] for d in mc_names], axis=0)
        ax.step(xs, np.append(total, total[-1]), where="post", color="black", linewidth=3,
                label="MC total")  # fmt: skip
        n_entries += 1
    if data_names:
        dv = np.sum([values[d] for d in data_names], axis=0)
        ax.errorbar(x, dv, yerr=np.sqrt(np.clip(dv, 0, None)), fmt="o", color="black",
                    markersize=8, label="Pseudo-data" if pseudo_data else "Data")  # fmt: skip
        n_entries += 1
        if mc_names:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = dv / total
            for xi, r in zip(x, ratio, strict=True):
                if np.isfinite(r):
                    ax.annotate(f"{r:.2f}", (xi, dv[xi]), xytext=(0, 10), textcoords="offset points",
                                ha="center", fontsize="xx-small")  # fmt: skip
    ax.set_yscale("log")
    pos = np.concatenate(every)
    pos = pos[pos > 0]
    if pos.size:
        legend_headroom(ax, float(pos.max()) * 1.5, n_entries + 1, ncol=2, log=True,
                        bottom=float(pos.min()) / 3)  # fmt: skip
    ax.set_xticks(x, names, rotation=30, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="x", which="minor", bottom=False, top=False)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("Weighted events" if weighted else "Events")
    title = "Numbers: data / MC total" if data_names and mc_names else None
    ax.legend(loc="upper right", fontsize="small", ncol=2, title=title, title_fontsize="x-small")
    cms_label(ax, data=bool(data_names) and not pseudo_data, lumi=lumi, status=status, com=com)
    return ax
