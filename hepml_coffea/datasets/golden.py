"""Runs and luminosity sections of the pseudo-data: the golden JSON and the per-LS luminosity.

The pseudo-data are recorded in ``n_ls`` luminosity sections of equal luminosity, ``LS_PER_RUN``
per run (run numbers ``DATA_RUN0``, ``DATA_RUN0 + RUN_STEP``, ...; sections numbered from 1).
Exactly ``round(drop_fraction · n_ls)`` sections, chosen at random from the seed, are declared
bad: they are left out of ``golden.json`` (CMS format ``{"run": [[first, last], ...]}``, read by
``coffea.lumi_tools.LumiMask``). The fileset's ``lumi`` is the luminosity of the *good* sections,
the one simulation is normalised to; the recorded luminosity is ``lumi · n_ls / n_good``, and
events are generated for all of it, each in a uniformly random section, so that the events that
pass the golden JSON are a Poisson sample of the expectation at ``lumi``.

``lumi.csv`` gives the recorded luminosity of every section in brilcalc's ``--byls`` CSV form
(read by ``coffea.lumi_tools.LumiData``), so the luminosity of the sections an analysis
processed can be summed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DATA_RUN0", "LS_PER_RUN", "LumiLayout", "lumi_layout", "write_golden", "write_lumi_csv"]

DATA_RUN0 = 316_000
RUN_STEP = 3
LS_PER_RUN = 200
EVENTS_PER_LS = 250.0
"""Expected recorded events per luminosity section (sets the number of sections)."""
MIN_LS = 40


@dataclass(frozen=True)
class LumiLayout:
    """Luminosity sections of the pseudo-data.

    Attributes
    ----------
    run, lumi : ndarray of shape (n_ls,), uint32
        Run and luminosity-section number of each section, in recording order.
    good : ndarray of shape (n_ls,), bool
        Whether the section is in the golden JSON.
    lumi_per_ls : float
        Recorded luminosity of each section in pb^-1.
    """

    run: np.ndarray
    lumi: np.ndarray
    good: np.ndarray
    lumi_per_ls: float

    @property
    def n_ls(self) -> int:
        return len(self.run)

    @property
    def n_good(self) -> int:
        return int(self.good.sum())

    @property
    def recorded_lumi(self) -> float:
        return self.lumi_per_ls * self.n_ls


def lumi_layout(
    rng: np.random.Generator, golden_lumi: float, expected_events: float, drop_fraction: float
) -> LumiLayout:
    """Sections for pseudo-data of ``golden_lumi`` pb^-1 after the golden JSON.

    ``expected_events`` (before the golden JSON) sets the number of sections,
    ``max(MIN_LS, ceil(expected_events / EVENTS_PER_LS))``; ``round(drop_fraction · n_ls)`` of
    them, drawn with ``rng``, are bad.
    """
    n_ls = max(MIN_LS, math.ceil(expected_events / EVENTS_PER_LS))
    n_drop = round(drop_fraction * n_ls)
    good = np.ones(n_ls, bool)
    good[rng.choice(n_ls, n_drop, replace=False)] = False
    k = np.arange(n_ls)
    run = (DATA_RUN0 + RUN_STEP * (k // LS_PER_RUN)).astype(np.uint32)
    lumi = (1 + k % LS_PER_RUN).astype(np.uint32)
    return LumiLayout(run, lumi, good, golden_lumi / (n_ls - n_drop))


def _ranges(values: np.ndarray) -> list[list[int]]:
    """Sorted integers → inclusive ``[first, last]`` ranges of consecutive values."""
    if len(values) == 0:
        return []
    breaks = np.nonzero(np.diff(values) != 1)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(values) - 1]])
    return [[int(values[s]), int(values[e])] for s, e in zip(starts, ends, strict=True)]


def write_golden(path: str | Path, layout: LumiLayout) -> Path:
    """Write the good sections of ``layout`` as a CMS golden JSON ``{"run": [[first, last]]}``."""
    out = {}
    for run in np.unique(layout.run):
        sel = (layout.run == run) & layout.good
        if sel.any():
            out[str(int(run))] = _ranges(np.sort(layout.lumi[sel]))
    path = Path(path)
    body = ",\n".join(f"  {json.dumps(run)}: {json.dumps(r)}" for run, r in out.items())
    path.write_text("{\n" + body + "\n}\n")
    return path


def write_lumi_csv(path: str | Path, layout: LumiLayout) -> Path:
    """Write the recorded luminosity of every section (good or not) as brilcalc ``--byls`` CSV."""
    lines = [
        "#Data tag : hepml-coffea pseudo-data , Norm tag: None",
        "#run:fill,ls,time,beamstatus,E(GeV),delivered(/pb),recorded(/pb),avgpu,source",
    ]
    rec = layout.lumi_per_ls
    lines += [
        f"{r}:7000,{ls}:{ls},01/01/25 00:00:00,STABLE BEAMS,6500,{rec:.10g},{rec:.10g},30.0,HFOC"
        for r, ls in zip(layout.run.tolist(), layout.lumi.tolist(), strict=True)
    ]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
