"""The plots of the ``fit`` step: pre-/post-fit data and model per region, pulls, impact ranking.

Model yields and their uncertainties come from :func:`cabinetry.model_utils.prediction`
(linear propagation with the full correlation matrix post-fit; pre-fit each parameter at its
nominal ± pre-fit uncertainty, the signal at mu = 1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hepml_coffea.statistics.inference import FitParameters, Impact, constrained_parameters
from hepml_coffea.statistics.templates import Templates

__all__ = ["draw_fit_plots"]


def _expand(values: NDArray, keep: NDArray[np.intp], n_bins: int) -> NDArray[np.float64]:
    full = np.zeros(n_bins)
    full[keep] = values
    return full


def draw_fit_plots(
    model,
    data,
    best: FitParameters,
    impacts: list[Impact],
    templates: Templates | None,
    folder: str | os.PathLike,
    *,
    lumi: float | None = None,
    status: str | None = None,
    bins: Mapping[str, NDArray[np.intp]] | None = None,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> list[Path]:
    """Draw ``prefit_<region>.png``, ``postfit_<region>.png``, ``pulls.png``, ``impacts.png``; return their paths.

    ``bins`` (per region, the histogram bins in the model; see
    :func:`hepml_coffea.statistics.build_workspace`) puts the model's bins back on the
    observable's axis, with zero in the bins left out. ``labels`` and ``colors``: legend label
    and colour per process (the analysis' ``[processes]`` table).
    """
    import cabinetry

    from hepml_coffea.plotting.fit import fit_data_mc, impact_ranking, pulls
    from hepml_coffea.plotting.style import savefig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = cabinetry.fit.results_containers.FitResults(
        best.bestfit, best.uncertainty, best.labels, best.correlation, best.twice_nll
    )
    data = np.asarray(data, dtype=np.float64)
    written = []
    for label, fit_results in (("prefit", None), ("postfit", results)):
        pred = cabinetry.model_utils.prediction(model, fit_results=fit_results)
        for c, channel in enumerate(model.config.channels):
            observed = data[model.config.channel_slices[channel]]
            unc = np.asarray(pred.total_stdev_model_bins[c][-1])
            yields = {
                s: np.asarray(pred.model_yields[c][i]) for i, s in enumerate(model.config.samples)
            }
            if templates is not None:
                edges, xlabel = templates.edges, templates.xlabel or templates.observable
                n = len(edges) - 1
                keep = np.arange(n) if bins is None else np.asarray(bins[channel])
                observed, unc = _expand(observed, keep, n), _expand(unc, keep, n)
                yields = {s: _expand(y, keep, n) for s, y in yields.items()}
            else:
                edges, xlabel = np.arange(len(observed) + 1, dtype=float), "bin"
            yields = {s: y for s, y in yields.items() if np.any(y)}
            ax, _ = fit_data_mc(
                edges,
                yields,
                unc,
                observed,
                title=f"{channel}, {'pre-fit' if fit_results is None else 'post-fit'}",
                xlabel=xlabel,
                band_label="Total unc." if fit_results is not None else "Pre-fit unc.",
                lumi=lumi,
                status=status,
                labels=labels,
                colors=colors,
            )
            path = folder / f"{label}_{channel}.png"
            savefig(ax, path)
            written.append(path)
    names = constrained_parameters(model)
    index = [best.labels.index(n) for n in names]
    if names:
        ax = pulls(names, best.bestfit[index], best.uncertainty[index], lumi=lumi, status=status)
        path = folder / "pulls.png"
        savefig(ax, path)
        written.append(path)
    if impacts:
        ax, _ = impact_ranking(
            [i.name for i in impacts],
            [i.prefit_up for i in impacts],
            [i.prefit_down for i in impacts],
            [i.postfit_up for i in impacts],
            [i.postfit_down for i in impacts],
            [i.pull for i in impacts],
            [i.constraint for i in impacts],
            lumi=lumi,
            status=status,
        )
        path = folder / "impacts.png"
        savefig(ax, path)
        written.append(path)
    return written
