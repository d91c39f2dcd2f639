"""The ``plot`` step: CMS-style PNGs of every 1-D histogram of a ``run``/``apply`` output folder.

It reads ``DIR/histograms.json`` (uhi, lossless: integer axes stay integer) or else
``DIR/histograms.root``, and ``DIR/run.json`` when there is one (which datasets are data, which
are signal, each dataset's process, the luminosity, the ``[processes]`` labels and colours).
Any output works, also a user's own processor's: every histogram is split into 1-D histograms
along its string-category axes, each named by its path ``a/b/c`` (the dictionary path, then
the category values in axis order; the ROOT file holds the same names). In each path:

- a component that names a dataset or a process of ``run.json`` (or ``data``) is the *sample*:
  histograms that differ only in it are drawn on one plot, MC stacked by process (datasets of
  one process summed), data (``is_data``) as points with a data/MC ratio;
- a component ``<syst>Up``/``<syst>Down`` is a systematic variation: only the ``nominal`` ones
  are drawn;
- the other components name the PNG: ``a_b.png`` (e.g. ``m_jjb_pass_bdt.png`` for the
  observable ``m_jjb`` in the region ``pass_bdt``). A region ``pass_<model>`` says so on the plot
  ("<model> score ≥ cut", with the cut of ``run.json`` ``score_cuts`` when recorded). A score's
  plot says that its MC includes the model's training events unless ``run.json`` ``models``
  marks the model k-fold (evaluate draws the unbiased data/MC score plot).

``cutflow.png`` shows each process, the MC total and the data per cut. Plots are drawn in a pool
of processes (one per core) when there are many.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepml_coffea.errors import ConfigError
from hepml_coffea.plotting import LabelOptions

__all__ = ["PlotJob", "plot_jobs", "plot_outputs", "read_flat_histograms", "read_histograms"]

#: Below this many plots, drawing in the main process is faster than starting a pool.
POOL_MIN_PLOTS = 8


def _is_variation(name: str) -> bool:
    return name == "nominal" or (len(name) > 2 and (name.endswith("Up") or name.endswith("Down")))


def _split_categories(path: tuple[str, ...], h: Any) -> dict[tuple[str, ...], Any]:
    """1-D histograms of ``h``: one per combination of its ``StrCategory`` values (axis order),
    as the engine names them in ``histograms.root``; an all-category histogram keeps its last
    axis (labelled bins)."""
    import hist

    cats = [i for i, ax in enumerate(h.axes) if isinstance(ax, hist.axis.StrCategory)]
    if len(cats) == len(h.axes):
        cats = cats[:-1]
    if not cats:
        return {path: h} if h.ndim == 1 else {}
    out: dict[tuple[str, ...], Any] = {}
    i = cats[0]
    key = h.axes[i].name or i
    for value in h.axes[i]:
        out.update(_split_categories((*path, str(value)), h[{key: hist.loc(value)}]))
    return out


def read_flat_histograms(folder: str | os.PathLike) -> dict[tuple[str, ...], Any]:
    """Every 1-D histogram of an output folder, keyed by its path components.

    ``histograms.json`` (uhi) is preferred; else every TH1 of ``histograms.root``.

    Raises
    ------
    ConfigError
        Neither file exists.
    """
    import hist
    import uhi.io.json

    folder = Path(folder)
    js, root = folder / "histograms.json", folder / "histograms.root"
    out: dict[tuple[str, ...], Any] = {}
    if js.is_file():
        tree = json.loads(js.read_text(), object_hook=uhi.io.json.object_hook)

        def walk(node: Any, path: tuple[str, ...]) -> None:
            if isinstance(node, Mapping) and "uhi_schema" in node:
                out.update(_split_categories(path, hist.Hist(dict(node))))
            elif isinstance(node, Mapping):
                for k, v in node.items():
                    walk(v, (*path, *(c for c in str(k).split("/") if c)))

        walk(tree, ())
        return out
    if root.is_file():
        import uproot

        with uproot.open(root) as f:
            for key, cls in f.classnames(cycle=False).items():
                if cls.startswith("TH1"):
                    out[tuple(key.split("/"))] = f[key].to_hist()
        return out
    msg = f"{folder} has neither histograms.json nor histograms.root; give the output folder of `run` or `apply`."
    raise ConfigError(msg)


def read_histograms(path: str | os.PathLike) -> dict[str, dict[str, object]]:
    """``{sample: {name: hist.Hist}}`` of a ``histograms.root``/``.json`` folder or file, nominal
    variation only (the sample is the path component naming a dataset/process, see the module)."""
    folder = Path(path)
    folder = folder.parent if folder.is_file() else folder
    info = _run_info(folder)
    known = _sample_names(info)
    out: dict[str, dict[str, object]] = {}
    for p, h in read_flat_histograms(folder).items():
        sample, name = _sample_and_name(p, known)
        if name is not None and sample is not None:
            out.setdefault(sample, {})[name] = h
    return out


def _run_info(folder: Path) -> dict[str, Any]:
    f = folder / "run.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _sample_names(info: Mapping[str, Any]) -> set[str]:
    datasets = info.get("datasets", {})
    return {
        "data",
        *datasets,
        *(str(m.get("process")) for m in datasets.values() if m.get("process")),
    }


def _sample_and_name(path: tuple[str, ...], known: set[str]) -> tuple[str | None, str | None]:
    """(sample, plot name) of a histogram path; name None for a non-nominal variation."""
    sample = None
    rest = []
    for comp in path:
        if sample is None and comp in known:
            sample = comp
        elif _is_variation(comp):
            if comp != "nominal":
                return sample, None
        else:
            rest.append(comp)
    return sample, "_".join(rest) or (sample or "histogram")


@dataclass
class PlotJob:
    """One PNG: the MC histograms by process, the data, and how to label them."""

    path: Path
    mc: dict[str, Any]
    data: Any = None
    signal: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pad_value: float | None = None
    log: bool = False
    label: LabelOptions = field(default_factory=LabelOptions)


def _score_notes(observable: str, models: Mapping[str, Any]) -> list[str]:
    """A model score's MC holds the events the model trained on unless it is a k-fold model:
    say so on its plot (``run.json`` ``models: {name: {"kfold": bool}}`` when recorded)."""
    if not observable.startswith("score_"):
        return []
    model = observable[len("score_") :]
    meta = models.get(model)
    if meta is None:
        model = next((m for m in models if model.startswith(m + "_")), model)
        meta = models.get(model)
    if meta is not None and meta.get("kfold"):
        return ["MC: out-of-fold scores (k-fold)"]
    if meta is not None and str(meta.get("honest", "")).startswith("test split"):
        return [f"MC: {meta['honest']}", f"(events {model} did not train on)"]
    return [
        f"MC includes the events {model} trained on (biased);",
        f"unbiased MC: evaluate's data_mc_score_{model}.png",
    ]


def _pads(info: Mapping[str, Any]) -> dict[str, float]:
    """Padding value per feature: the analysis' ``features.pads``, else the registry default."""
    from hepml_coffea.features.registry import registered_features

    pads = {n: float(f.pad) for n, f in registered_features().items()}
    features = (info.get("config") or {}).get("features")
    if isinstance(features, Mapping):
        pads.update({str(k): float(v) for k, v in (features.get("pads") or {}).items()})
    return pads


def plot_jobs(
    folder: str | os.PathLike,
    target: Path,
    *,
    label: LabelOptions,
    log: bool = False,
    variables: Sequence[str] | None = None,
) -> list[PlotJob]:
    """The PNGs to draw for an output folder (see the module docstring)."""
    from hepml_coffea.workflows.plots import process_styles

    folder = Path(folder)
    info = _run_info(folder)
    datasets: Mapping[str, Mapping[str, Any]] = info.get("datasets", {})
    known = _sample_names(info)
    process_of = {d: str(m.get("process", d)) for d, m in datasets.items()}
    data_names = {"data", *(d for d, m in datasets.items() if m.get("is_data"))}
    data_names |= {process_of[d] for d in data_names if d in process_of}
    signal = {process_of.get(d, d) for d, m in datasets.items() if m.get("label") == 1}
    labels, colors = process_styles(info)
    cuts = info.get("score_cuts", {})
    pads = _pads(info)
    groups: dict[str, dict[str, Any]] = {}
    obs_of: dict[str, str] = {}
    for p, h in read_flat_histograms(folder).items():
        if p and p[0] == "cutflow":
            continue
        sample, name = _sample_and_name(p, known)
        if name is None:
            continue
        obs_of[name] = next((c for c in p if c not in known and not _is_variation(c)), name)
        key = process_of.get(sample, sample) if sample is not None else "MC"
        g = groups.setdefault(name, {})
        g[key] = g[key] + h if key in g else h
    jobs = []
    for name in sorted(groups):
        if (
            variables is not None
            and name not in set(variables)
            and not any(name.startswith(v + "_") for v in variables)
        ):
            continue
        g = groups[name]
        mc = {k: h for k, h in g.items() if k not in data_names}
        data_hists = [h for k, h in g.items() if k in data_names]
        if not mc:
            mc, data_hists = dict(g), []
        data = sum(data_hists[1:], data_hists[0]) if data_hists else None
        notes = _score_notes(obs_of[name], info.get("models") or {})
        for part in name.split("_pass_")[1:]:
            cut = cuts.get(part)
            notes.append(
                f"{part} score ≥ {cut:.3g}" if cut is not None else f"{part} score ≥ its cut"
            )
        jobs.append(
            PlotJob(
                target / f"{name}.png",
                mc,
                data,
                sorted(signal & set(mc)),
                labels,
                colors,
                notes,
                pads.get(obs_of[name]),
                log,
                label,
            )
        )
    return jobs


def _draw(job: PlotJob) -> Path:
    """Draw one PNG on this process' reused figure (see :func:`reusable_ratio_axes`)."""
    from hepml_coffea import plotting as pl
    from hepml_coffea.plotting.style import reusable_ratio_axes

    ax, rax = reusable_ratio_axes()
    ax, _ = pl.data_mc(
        job.mc, job.data, signal=job.signal or None, labels=job.labels, colors=job.colors,
        pseudo_data=job.label.pseudo_data, log=job.log, notes=job.notes, pad_value=job.pad_value,
        ax=ax, rax=rax, **job.label.kwargs(),
    )  # fmt: skip
    pl.savefig(ax, job.path, close=False)
    return job.path


def plot_outputs(
    folder: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    lumi: float | None = None,
    status: str | None = None,
    com: float = 13.0,
    log: bool = False,
    variables: list[str] | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> list[Path]:
    """Draw every 1-D histogram of a ``run``/``apply`` output folder; return the PNG paths.

    Parameters
    ----------
    folder : path
        Output folder of ``run`` or ``apply`` (``histograms.json`` or ``histograms.root``;
        ``run.json`` for data/MC, processes and luminosity when present).
    out : path, optional
        Where to write the PNGs; default ``folder/plots``.
    lumi : float, optional
        Luminosity label in **pb⁻¹** (as ``generate --lumi``); default from ``run.json``.
    status : str, optional
        CMS label text ("Preliminary", "Private Work", "Open Data", ...); default "Preliminary"
        with collision data; generated pseudo-data say "Simulation".
    com : float, default 13
        √s in TeV.
    log : bool, default False
        Logarithmic y axes.
    variables : list of str, optional
        Only these plot names (and their regions, ``name_<region>``).
    progress : bool
    workers : int, optional
        Processes drawing in parallel; default one per core when there are many plots.

    Raises
    ------
    ConfigError
        Not an output folder, or no 1-D histogram in it.
    """
    from tqdm.auto import tqdm

    from hepml_coffea.plotting.style import release_reusable_axes
    from hepml_coffea.workflows.plots import label_for_run

    folder = Path(folder)
    info = _run_info(folder)
    if not info and not any((folder / f).is_file() for f in ("histograms.json", "histograms.root")):
        msg = f"{folder} is not an output folder of `run` or `apply` (no run.json / histograms.root); give one."
        raise ConfigError(msg)
    label = label_for_run(info, LabelOptions(status=status, com=com, lumi_pb=lumi))
    target = Path(out) if out is not None else folder / "plots"
    jobs = plot_jobs(folder, target, label=label, log=log, variables=variables)
    cutflow_file = folder / "cutflow.json"
    if not jobs and not cutflow_file.is_file():
        msg = f"{folder} holds no 1-D histogram to plot (histograms.json/.root are empty); check the processor's output."
        raise ConfigError(msg)
    target.mkdir(parents=True, exist_ok=True)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    bar = tqdm(total=len(jobs), desc="plot", unit="plot", disable=not progress)
    written: list[Path] = []
    if n_workers > 1 and len(jobs) >= POOL_MIN_PLOTS:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
            for path in pool.map(_draw, jobs, chunksize=max(1, len(jobs) // (4 * n_workers))):
                written.append(path)
                bar.update()
    else:
        try:
            for job in jobs:
                written.append(_draw(job))
                bar.update()
        finally:
            release_reusable_axes()
    bar.close()

    if cutflow_file.is_file():
        written.append(_cutflow_png(cutflow_file, info, target, label))
    return written


def _cutflow_png(
    cutflow_file: Path, info: Mapping[str, Any], target: Path, label: LabelOptions
) -> Path:
    """cutflow.png: the weighted cutflow per process, the MC total and the data."""
    from hepml_coffea import plotting as pl
    from hepml_coffea.workflows.plots import process_styles

    flows = json.loads(cutflow_file.read_text())
    datasets = info.get("datasets", {})
    order = list(info.get("cut_names") or [])
    for cuts in flows.values():
        order += [c for c in cuts if c not in order]
    by_process: dict[str, dict[str, float]] = {}
    data_processes = set()
    for ds, cuts in flows.items():
        meta = datasets.get(ds, {})
        proc = "data" if meta.get("is_data") or ds == "data" else str(meta.get("process", ds))
        if meta.get("is_data") or ds == "data":
            data_processes.add(proc)
        acc = by_process.setdefault(proc, {c: 0.0 for c in order})
        last = 0.0
        for c in order:  # a cut a dataset does not have (e.g. the data-only lumi mask) keeps all
            last = float(cuts[c]["weighted"]) if c in cuts else last
            acc[c] += last
    labels, colors = process_styles(info)
    ax = pl.cutflow(
        by_process, data=sorted(data_processes), labels=labels, colors=colors,
        pseudo_data=label.pseudo_data, **label.kwargs(),
    )  # fmt: skip
    path = target / "cutflow.png"
    pl.savefig(ax, path)
    return path
