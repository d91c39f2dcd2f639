"""Per-event weights: genWeight × xsec × lumi / Σ genWeight for simulation, 1 for data."""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ConfigError
from hepml_coffea.selection.branches import get_branch


def event_weights(events: Any, lumi: float, genweight_branch: str = "genWeight") -> np.ndarray:
    """Event weights of one chunk, following the project contract.

    ``w = genWeight × xsec × lumi / sumw`` for MC and ``w = 1`` for data, where ``xsec`` (pb) and
    ``sumw`` (Σ genWeight of the WHOLE dataset) come from ``events.metadata``.

    Parameters
    ----------
    events : NanoEventsArray
        One chunk; ``events.metadata`` must hold ``is_data`` and, for MC, ``xsec`` and ``sumw``.
    lumi : float
        Integrated luminosity in pb^-1.
    genweight_branch : str
        Name of the generator weight branch.

    Returns
    -------
    numpy.ndarray of shape (n_events,), float64
    """
    meta = dict(getattr(events, "metadata", None) or {})
    n = len(events)
    if meta.get("is_data", False):
        return np.ones(n, dtype=np.float64)
    dataset = meta.get("dataset", "?")
    for k in ("xsec", "sumw"):
        if meta.get(k) is None:
            msg = (
                f"Dataset {dataset!r}: events.metadata has no {k!r}, needed for the MC weight "
                f"genWeight × xsec × lumi / sumw; run through the engine (hepml-coffea run), or put "
                f"'xsec' (pb) and 'sumw' (Σ genWeight of the whole dataset, see "
                f"hepml_coffea.datasets.sum_genweights) in the metadata."
            )
            raise ConfigError(msg)
    sumw = float(meta["sumw"])
    if sumw == 0.0:
        msg = f"Dataset {dataset!r}: sumw (Σ genWeight) is 0; cannot normalise the MC weights."
        raise ConfigError(msg)
    gw = ak.to_numpy(get_branch(events, genweight_branch, "weights.genweight_branch")).astype(
        np.float64
    )
    return gw * (float(meta["xsec"]) * float(lumi) / sumw)
