"""Building a HistFactory workspace (pyhf JSON) from the region × process × variation templates.

Each region is a channel, each MC process a sample. Modifiers:

- ``mu`` (normfactor, the parameter of interest) on the signal process(es);
- ``lumi`` (normsys, ``1 ± lumi_uncertainty``) on every MC sample;
- ``staterror_<region>`` (MC statistical uncertainty, Barlow-Beeston lite) from Σw²;
- each systematic ``S`` found as variations ``SUp``/``SDown`` becomes a normsys (the change of
  the yield) plus a histosys (the change of shape at fixed yield) sharing one nuisance parameter
  ``S``. A one-sided variation (only ``SUp``, e.g. an alternative sample) is symmetrised:
  ``down = 2·nominal − up``. A variation histogram that is empty while the process' nominal is
  not means "this systematic does not apply to this process" (the category axes of a histogram
  hold every combination) and adds no modifier.

Bins empty in every MC process and in the data carry no information and are left out; a bin
with data but no MC prediction is an error.

Pruning: a normsys whose yield changes by less than ``prune_threshold`` (relative) both up and
down is dropped, and so is a histosys whose shape (normalised to the nominal yield) differs from
the nominal by less than ``prune_threshold`` of the nominal in every bin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from hepml_coffea.errors import ConfigError, FilesetError
from hepml_coffea.statistics.templates import NOMINAL, Templates

__all__ = ["BuiltWorkspace", "FitConfig", "PruningEntry", "build_workspace", "systematic_names"]

POI = "mu"
_UP, _DOWN = "Up", "Down"


@dataclass(frozen=True)
class FitConfig:
    """Settings of the statistical model (the ``[fit]`` table of an analysis configuration).

    Parameters
    ----------
    signal : tuple of str
        Processes scaled by the signal strength ``mu``.
    regions : tuple of str
        Regions to fit (channels); empty: every region in the histograms.
    data : str
        Process name of the (pseudo-)data histograms.
    lumi_uncertainty : float
        Relative luminosity uncertainty (0 switches it off).
    mc_stat : bool
        Whether to add the MC statistical uncertainty (staterror).
    prune_threshold : float
        Relative size below which a normsys or histosys is dropped.
    rebin : int
        Merge every ``rebin`` adjacent bins of the histograms before the fit (1: as they are).
    """

    signal: tuple[str, ...] = ("ttbar",)
    regions: tuple[str, ...] = ()
    data: str = "data"
    lumi_uncertainty: float = 0.016
    mc_stat: bool = True
    prune_threshold: float = 0.005
    rebin: int = 1

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any] | None, source: str = "[fit]") -> FitConfig:
        """Build from a configuration table; unknown keys and bad values are ConfigErrors."""
        table = dict(table or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(table) - known)
        if unknown:
            msg = f"unknown key(s) {unknown} in {source}; known: {sorted(known)}."
            raise ConfigError(msg)
        kwargs: dict[str, Any] = {}
        for key in ("signal", "regions"):
            if key in table:
                value = table[key]
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
                    msg = f"{source} {key} must be a list of names; got {table[key]!r}."
                    raise ConfigError(msg)
                kwargs[key] = tuple(value)
        for key in ("lumi_uncertainty", "prune_threshold"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    msg = f"{source} {key} must be a number >= 0; got {value!r}."
                    raise ConfigError(msg)
                kwargs[key] = float(value)
        if "rebin" in table:
            value = table["rebin"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{source} rebin must be an integer >= 1; got {value!r}."
                raise ConfigError(msg)
            kwargs["rebin"] = value
        if "mc_stat" in table:
            if not isinstance(table["mc_stat"], bool):
                msg = f"{source} mc_stat must be true or false; got {table['mc_stat']!r}."
                raise ConfigError(msg)
            kwargs["mc_stat"] = table["mc_stat"]
        if "data" in table:
            kwargs["data"] = str(table["data"])
        if not kwargs.get("signal", cls.signal):
            msg = f"{source} signal is empty; name the signal process(es), e.g. signal = ['ttbar']."
            raise ConfigError(msg)
        if kwargs.get("lumi_uncertainty", 0.0) >= 1:
            msg = f"{source} lumi_uncertainty is relative (0.016 for 1.6 %); got {kwargs['lumi_uncertainty']}."
            raise ConfigError(msg)
        return cls(**kwargs)


@dataclass(frozen=True)
class PruningEntry:
    """One (region, process, systematic, modifier type) and whether it was kept."""

    region: str
    process: str
    systematic: str
    kind: str  # "normsys" | "histosys"
    size: float  # largest relative effect
    kept: bool
    symmetrised: bool = False


@dataclass
class _Built:
    spec: dict[str, Any]
    pruning: list[PruningEntry] = field(default_factory=list)


def systematic_names(variations: Sequence[str]) -> list[str]:
    """Systematic names ``S`` of the variations ``SUp`` / ``SDown`` (nominal left out)."""
    names: dict[str, None] = {}
    for v in variations:
        for suffix in (_UP, _DOWN):
            if v.endswith(suffix) and len(v) > len(suffix):
                names[v[: -len(suffix)]] = None
    return list(names)


def _select_regions(templates: Templates, config: FitConfig) -> list[str]:
    available = templates.regions
    if not config.regions:
        return available
    missing = [r for r in config.regions if r not in available]
    if missing:
        msg = (
            f"region(s) {missing} not in the {templates.observable!r} histograms of "
            f"{templates.source}; available: {available}. Fix [fit] regions."
        )
        raise ConfigError(msg)
    return list(config.regions)


def _check_complete(templates: Templates, region: str, processes: list[str]) -> list[str]:
    """Variations of the region; FilesetError if one is missing for a process."""
    variations = list(dict.fromkeys(v for p in processes for v in templates.variations(region, p)))
    for p in processes:
        have = set(templates.variations(region, p))
        missing = [v for v in variations if v not in have]
        if missing:
            msg = (
                f"variation {missing[0]!r} is missing for process {p!r} in region {region!r} of "
                f"{templates.observable!r} in {templates.source} (other processes have it); "
                "fill every variation for every process."
            )
            raise FilesetError(msg)
    return [v for v in variations if v != NOMINAL]


class BuiltWorkspace(NamedTuple):
    """What :func:`build_workspace` returns."""

    spec: dict[str, Any]
    pruning: list[PruningEntry]
    bins: dict[str, NDArray[np.intp]]  # per region: indices of the histogram bins in the fit


def build_workspace(templates: Templates, config: FitConfig) -> BuiltWorkspace:
    """Build the pyhf workspace specification.

    Parameters
    ----------
    templates : Templates
    config : FitConfig

    Returns
    -------
    BuiltWorkspace
        ``spec``: the pyhf workspace (``channels``, ``observations``, ``measurements``,
        ``version``); ``pruning``: every normsys/histosys considered, with its size and whether
        it was kept; ``bins``: per region, the histogram bins in the model (a bin empty in
        every MC process and in the data carries no information and is left out).

    Raises
    ------
    ConfigError
        Unknown region or signal process.
    FilesetError
        Missing variation or data histogram, or a bin with data but no MC prediction.
    """
    templates = templates.rebinned(config.rebin)
    regions = _select_regions(templates, config)
    built = _Built(spec={})
    bins: dict[str, NDArray[np.intp]] = {}
    channels, observations = [], []
    signal_seen: set[str] = set()
    for region in regions:
        processes = [p for p in templates.processes(region) if p != config.data]
        if (region, config.data, NOMINAL) not in templates.values:
            msg = (
                f"no data histogram {templates.observable}/{region}/{config.data}/{NOMINAL} in "
                f"{templates.source}; add the data to the run, or set [fit] data."
            )
            raise FilesetError(msg)
        for p in processes:
            if (region, p, NOMINAL) not in templates.values:
                msg = f"process {p!r} has no {NOMINAL!r} histogram in region {region!r} of {templates.source}."
                raise FilesetError(msg)
        variations = _check_complete(templates, region, processes)
        processes = [p for p in processes if templates.get(region, p).sum() != 0]
        total = np.sum([np.clip(templates.get(region, p), 0.0, None) for p in processes], axis=0)
        observed = templates.get(region, config.data)
        no_mc = np.atleast_1d(total) <= 0
        bad = np.flatnonzero(no_mc & (observed != 0))
        if bad.size:
            b = int(bad[0])
            lo, hi = templates.edges[b], templates.edges[b + 1]
            msg = (
                f"bin {b} [{lo:g}, {hi:g}) of {templates.observable!r} in region {region!r} has no MC "
                f"prediction but {observed[b]:g} data events; merge it with its neighbour (fewer or "
                "wider bins) or fill the missing process."
            )
            raise FilesetError(msg)
        keep = np.flatnonzero(~no_mc)  # bins empty in MC and data carry no information
        if keep.size == 0:
            msg = f"region {region!r} of {templates.observable!r} has no MC prediction in any bin; leave it out of [fit] regions."
            raise FilesetError(msg)
        bins[region] = keep
        samples = []
        for p in processes:
            samples.append(_sample(templates, region, p, variations, config, built, keep))
            if p in config.signal:
                signal_seen.add(p)
        channels.append({"name": region, "samples": samples})
        observations.append({"name": region, "data": observed[keep].tolist()})
    missing_signal = [s for s in config.signal if s not in signal_seen]
    if missing_signal:
        known = sorted({p for r in regions for p in templates.processes(r)} - {config.data})
        msg = f"signal process(es) {missing_signal} not in the regions {regions}; processes: {known}. Fix [fit] signal."
        raise ConfigError(msg)
    built.spec = {
        "channels": channels,
        "observations": observations,
        "measurements": [
            {
                "name": "measurement",
                "config": {
                    "poi": POI,
                    "parameters": [{"name": POI, "bounds": [[0.0, 10.0]], "inits": [1.0]}],
                },
            }
        ],
        "version": "1.0.0",
    }
    return BuiltWorkspace(built.spec, built.pruning, bins)


def _sample(
    templates: Templates,
    region: str,
    process: str,
    variations: list[str],
    config: FitConfig,
    built: _Built,
    keep: NDArray[np.intp],
) -> dict[str, Any]:
    nominal = np.clip(templates.get(region, process), 0.0, None)[keep]
    modifiers: list[dict[str, Any]] = []
    if process in config.signal:
        modifiers.append({"name": POI, "type": "normfactor", "data": None})
    if config.lumi_uncertainty > 0:
        u = config.lumi_uncertainty
        modifiers.append({"name": "lumi", "type": "normsys", "data": {"hi": 1 + u, "lo": 1 - u}})
    if config.mc_stat:
        err = np.sqrt(np.clip(templates.variances[(region, process, NOMINAL)], 0.0, None))[keep]
        modifiers.append({"name": f"staterror_{region}", "type": "staterror", "data": err.tolist()})
    for syst in systematic_names(variations):
        modifiers += _systematic(templates, region, process, syst, nominal, config, built, keep)
    return {"name": process, "data": nominal.tolist(), "modifiers": modifiers}


def _variation(
    templates: Templates, region: str, process: str, name: str, keep: NDArray[np.intp]
) -> NDArray | None:
    """The variation's contents, or None if absent or empty (does not apply to the process)."""
    values = templates.values.get((region, process, name))
    if values is None or not np.any(values):
        return None
    return np.clip(values, 0.0, None)[keep]


def _systematic(
    templates: Templates,
    region: str,
    process: str,
    syst: str,
    nominal: NDArray,
    config: FitConfig,
    built: _Built,
    keep: NDArray[np.intp],
) -> list[dict[str, Any]]:
    up = _variation(templates, region, process, syst + _UP, keep)
    down = _variation(templates, region, process, syst + _DOWN, keep)
    if up is None and down is None:
        return []
    symmetrised = up is None or down is None
    if up is None:
        assert down is not None
        up = np.clip(2 * nominal - down, 0.0, None)
    if down is None:
        down = np.clip(2 * nominal - up, 0.0, None)
    n_sum = nominal.sum()
    norm_up, norm_down = up.sum() / n_sum, down.sum() / n_sum
    out: list[dict[str, Any]] = []
    size = float(max(abs(norm_up - 1), abs(norm_down - 1)))
    kept = bool(size >= config.prune_threshold and size > 0)
    built.pruning.append(
        PruningEntry(region, process, syst, "normsys", float(size), kept, symmetrised)
    )
    if kept:
        hi, lo = max(norm_up, 1e-6), max(norm_down, 1e-6)
        out.append({"name": syst, "type": "normsys", "data": {"hi": hi, "lo": lo}})
    shape_up = up / norm_up if norm_up > 0 else nominal
    shape_down = down / norm_down if norm_down > 0 else nominal
    ok = nominal > 0
    diff = np.maximum(np.abs(shape_up - nominal), np.abs(shape_down - nominal))
    shape_size = float(np.max(diff[ok] / nominal[ok], initial=0.0))
    kept = bool(shape_size >= config.prune_threshold and shape_size > 0)
    built.pruning.append(
        PruningEntry(region, process, syst, "histosys", shape_size, kept, symmetrised)
    )
    if kept:
        out.append(
            {
                "name": syst,
                "type": "histosys",
                "data": {"hi_data": shape_up.tolist(), "lo_data": shape_down.tolist()},
            }
        )
    return out
