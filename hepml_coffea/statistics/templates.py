"""Reading the fit's input histograms: ``<observable>/<region>/<process>/<variation>`` TH1s.

``run`` and ``apply`` write every histogram with categorical axes ``(region, process,
variation, observable)`` to ``histograms.root`` as one TH1 per combination of categories (the
project-wide naming, e.g. ``score_bdt/SR/ttbar/JESUp``). :func:`read_templates` collects the
TH1s of one observable into :class:`Templates`: per (region, process, variation) the bin
contents and Σw² of the regular bins (under- and overflow are not part of the fit).

The histograms may sit below a common folder (``hists/score_bdt/SR/...``); the shortest
prefix is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hepml_coffea.errors import ConfigError, FilesetError, InputFileError

__all__ = ["NOMINAL", "Templates", "read_templates"]

#: Name of the nominal variation.
NOMINAL = "nominal"


@dataclass
class Templates:
    """Histograms of one observable by (region, process, variation).

    Parameters
    ----------
    observable : str
        The observable's name (the top folder in ``histograms.root``).
    edges : ndarray of shape (n_bins + 1,)
        Bin edges, common to all histograms.
    values, variances : dict of (region, process, variation) to ndarray of shape (n_bins,)
        Bin contents and their Σw².
    source : str
        Where they were read from (for messages).
    xlabel : str
        Axis label of the observable.
    """

    observable: str
    edges: NDArray[np.float64]
    values: dict[tuple[str, str, str], NDArray[np.float64]] = field(default_factory=dict)
    variances: dict[tuple[str, str, str], NDArray[np.float64]] = field(default_factory=dict)
    source: str = ""
    xlabel: str = ""

    @property
    def regions(self) -> list[str]:
        """Region names, in the order first met."""
        return list(dict.fromkeys(k[0] for k in self.values))

    def processes(self, region: str | None = None) -> list[str]:
        """Process names (of one region, or of all)."""
        return list(dict.fromkeys(k[1] for k in self.values if region in (None, k[0])))

    def variations(self, region: str, process: str) -> list[str]:
        """Variation names present for ``process`` in ``region``."""
        return [k[2] for k in self.values if k[0] == region and k[1] == process]

    def get(self, region: str, process: str, variation: str = NOMINAL) -> NDArray[np.float64]:
        """Bin contents of one histogram (KeyError if absent)."""
        return self.values[(region, process, variation)]

    def rebinned(self, factor: int) -> Templates:
        """A copy with every ``factor`` adjacent bins merged (the last group may be smaller)."""
        if factor < 1:
            msg = f"rebin factor must be an integer >= 1; got {factor!r}."
            raise ConfigError(msg)
        if factor == 1:
            return self
        n = len(self.edges) - 1
        starts = np.arange(0, n, factor)
        edges = np.append(self.edges[starts], self.edges[-1])
        out = Templates(self.observable, edges, source=self.source, xlabel=self.xlabel)
        for key, values in self.values.items():
            out.add(
                *key,
                np.add.reduceat(values, starts),
                np.add.reduceat(self.variances[key], starts),
            )
        return out

    def add(
        self,
        region: str,
        process: str,
        variation: str,
        values: NDArray,
        variances: NDArray | None = None,
    ) -> None:
        """Add one histogram (``variances`` default: the values, i.e. unweighted counts)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (len(self.edges) - 1,):
            msg = (
                f"histogram {self.observable}/{region}/{process}/{variation} has {v.shape} bins; "
                f"the observable has {len(self.edges) - 1}. Give all histograms the same binning."
            )
            raise FilesetError(msg)
        var = v.copy() if variances is None else np.asarray(variances, dtype=np.float64)
        self.values[(region, process, variation)] = v
        self.variances[(region, process, variation)] = var


def read_templates(path: str | os.PathLike, observable: str) -> Templates:
    """Read the ``observable`` histograms of a ``histograms.root`` file.

    Parameters
    ----------
    path : path
        ``histograms.root`` written by ``run``/``apply`` (or any file with the same naming).
    observable : str
        Name of the observable folder, e.g. ``"score_bdt"``.

    Returns
    -------
    Templates

    Raises
    ------
    InputFileError
        If the file is missing or not a ROOT file.
    ConfigError
        If the observable is not in the file (the message lists those that are).
    FilesetError
        If histograms disagree in binning or hold NaN/inf.
    """
    import uproot

    path = Path(path)
    if not path.is_file():
        msg = f"{path} does not exist; give the output folder of `run` or `apply`."
        raise InputFileError(msg)
    try:
        file = uproot.open(path)
    except Exception as exc:
        msg = f"cannot read {path} as a ROOT file ({type(exc).__name__}: {exc}); rerun `run`."
        raise InputFileError(msg) from None
    with file:
        keys = [k for k, c in file.classnames(cycle=False).items() if c.startswith("TH1")]
        found: dict[str, list[tuple[str, str, str, str]]] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) >= 4:
                prefix = "/".join(parts[:-4])
                found.setdefault(parts[-4], []).append((prefix, *parts[-3:]))
        if observable not in found:
            msg = (
                f"observable {observable!r} not found in {path}; it has "
                f"{sorted(found) or 'no <observable>/<region>/<process>/<variation> histograms'}. "
                "Pick one with --observable."
            )
            raise ConfigError(msg)
        entries = found[observable]
        prefix = min((e[0] for e in entries), key=len)
        templates: Templates | None = None
        for pre, region, process, variation in entries:
            if pre != prefix:
                continue
            name = "/".join(p for p in (prefix, observable, region, process, variation) if p)
            h = file[name]
            edges = np.asarray(h.axis().edges(), dtype=np.float64)
            if templates is None:
                templates = Templates(
                    observable,
                    edges,
                    source=str(path),
                    xlabel=str(h.member("fXaxis").member("fTitle") or observable),
                )
            elif not np.array_equal(edges, templates.edges):
                msg = f"histogram {name} in {path} has other bin edges than the rest of {observable!r}; rebin them alike."
                raise FilesetError(msg)
            values = np.asarray(h.values(flow=False), dtype=np.float64)
            variances = np.asarray(h.variances(flow=False), dtype=np.float64)
            if not (np.all(np.isfinite(values)) and np.all(np.isfinite(variances))):
                msg = f"histogram {name} in {path} holds NaN or inf; fix the weights that fill it."
                raise FilesetError(msg)
            templates.add(region, process, variation, values, variances)
    assert templates is not None
    return templates
