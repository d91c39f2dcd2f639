"""The ``plot`` step: CMS-style PNGs from the saved outputs of ``run`` or ``apply``.

From ``DIR/run.json`` (which datasets are data, which are signal, the luminosity),
``DIR/histograms.root`` and ``DIR/cutflow.json`` it draws, into ``DIR/plots`` (or ``out``):

- ``<variable>.png``: for every histogram, the MC processes stacked, the data with a data/MC
  ratio panel and the MC statistical band, and the signal overlaid ("Preliminary" with data,
  "Simulation" without);
- ``cutflow.png``: weighted events after each cut per dataset.

The evaluation plots (ROC, overtraining, significance, ...) are drawn by ``evaluate``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hepml_coffea.errors import ConfigError

__all__ = ["plot_outputs", "read_histograms"]


def read_histograms(path: str | os.PathLike) -> dict[str, dict[str, object]]:
    """``{dataset: {variable: hist.Hist}}`` from a ``histograms.root`` written by ``run``/``apply``."""
    import uproot

    out: dict[str, dict[str, object]] = {}
    with uproot.open(path) as f:
        for key, cls in f.classnames(cycle=False).items():
            if "/" not in key or not cls.startswith("TH1"):
                continue
            dataset, name = key.split("/", 1)
            out.setdefault(dataset, {})[name] = f[key].to_hist()
    return out


def plot_outputs(
    folder: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    lumi: float | None = None,
    status: str | None = None,
    variables: list[str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Draw every histogram of a ``run``/``apply`` output folder; return the PNG paths.

    Parameters
    ----------
    folder : path
        Output folder of ``run`` or ``apply`` (holding ``run.json`` and ``histograms.root``).
    out : path, optional
        Where to write the PNGs; default ``folder/plots``.
    lumi : float, optional
        Luminosity label in fb⁻¹; default from ``run.json``.
    status : str, optional
        CMS label text; default "Preliminary" with data, "Simulation" without.
    variables : list of str, optional
        Only these histograms (default: all).
    """
    from tqdm.auto import tqdm

    from hepml_coffea import plotting as pl

    folder = Path(folder)
    if not (folder / "run.json").is_file() or not (folder / "histograms.root").is_file():
        msg = f"{folder} is not an output folder of `run` or `apply` (no run.json / histograms.root); give one."
        raise ConfigError(msg)
    info = json.loads((folder / "run.json").read_text())
    meta = info["datasets"]
    if lumi is None and info.get("lumi") is not None:
        lumi = float(info["lumi"]) / 1000.0
    target = Path(out) if out is not None else folder / "plots"
    target.mkdir(parents=True, exist_ok=True)
    hists = read_histograms(folder / "histograms.root")
    data_sets = [d for d, m in meta.items() if m.get("is_data") and d in hists]
    mc_sets = [d for d, m in meta.items() if not m.get("is_data") and d in hists]
    signal = [d for d in mc_sets if meta[d].get("label") == 1]
    names = sorted({n for d in mc_sets for n in hists[d]} - {"cutflow"})
    if variables is not None:
        names = [n for n in names if n in set(variables)]

    written = []
    for name in tqdm(names, desc="plot", unit="plot", disable=not progress):
        mc = {d: hists[d][name] for d in mc_sets if name in hists[d]}
        data = None
        if data_sets and all(name in hists[d] for d in data_sets):
            data = sum((hists[d][name] for d in data_sets[1:]), hists[data_sets[0]][name])
        ax, _ = pl.data_mc(mc, data, signal=signal or None, lumi=lumi, status=status)
        path = target / f"{name}.png"
        pl.savefig(ax, path)
        written.append(path)

    cutflow_file = folder / "cutflow.json"
    if cutflow_file.is_file():
        flows = json.loads(cutflow_file.read_text())
        weighted = {d: {c: v["weighted"] for c, v in cuts.items()} for d, cuts in flows.items()}
        ax = pl.cutflow(weighted, data=bool(data_sets), lumi=lumi, status=status)
        path = target / "cutflow.png"
        pl.savefig(ax, path)
        written.append(path)
    return written
