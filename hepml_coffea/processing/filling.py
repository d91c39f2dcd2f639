"""Filling the processors' ``(region, process, variation, observable)`` histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np


def book(axis: Any, regions: Sequence[str]) -> hist.Hist:
    """An empty ``(region, process, variation, axis)`` histogram with Weight storage."""
    return hist.Hist(
        hist.axis.StrCategory(list(regions), name="region", label="Region"),
        hist.axis.StrCategory([], name="process", label="Process", growth=True),
        hist.axis.StrCategory([], name="variation", label="Variation", growth=True),
        axis,
        storage=hist.storage.Weight(),
    )


def honest_factors(
    obs: str, regions: Mapping[str, np.ndarray], honest: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per region, the honest-weight factor of observable ``obs`` (absent: 1).

    A model's factor applies to its score observables (``score_<model>*``) and to its
    ``pass_<model>`` region, once per model.
    """
    out: dict[str, np.ndarray] = {}
    for region in regions:
        names = {n for n in honest if obs == f"score_{n}" or obs.startswith(f"score_{n}_")}
        names |= {n for n in honest if region == f"pass_{n}"}
        if names:
            out[region] = np.prod([honest[n] for n in sorted(names)], axis=0)
    return out


def fill(
    h: hist.Hist,
    regions: Mapping[str, np.ndarray],
    process: str,
    values: np.ndarray,
    weights: Mapping[str, np.ndarray],
    factors: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Fill ``values`` of every region (masks over the values) for each weight variation,
    the weights multiplied by the region's ``factors`` (honest weights) where given."""
    # register every (process, variation) with a zero weight, so that a process selecting no
    # event still has its (empty) histograms in every variation
    names = list(weights)
    h.fill(
        h.axes[0][0],
        process,
        names,
        np.full(len(names), h.axes[3].value(0)),
        weight=np.zeros(len(names)),
    )
    labels = np.array(names)
    for region, m in regions.items():
        v = values[m]
        if not len(v):
            continue
        f = (factors or {}).get(region)
        ws = {n: (weights[n] * f)[m] if f is not None else weights[n][m] for n in names}
        if len(names) == 1:
            h.fill(region, process, names[0], v, weight=ws[names[0]])
        else:  # one call for every weight variation: same values, one weight vector each
            w = np.concatenate([ws[n] for n in names])
            h.fill(region, process, np.repeat(labels, len(v)), np.tile(v, len(names)), weight=w)
