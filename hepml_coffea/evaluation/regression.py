"""Energy-regression evaluation: response and resolution per bin of the true pT.

For jets with a true (generator) transverse momentum ``pt_true`` and an estimate ``pt_est``
(the reconstructed pT *before* regression, or the regressed pT *after*), in each bin of
``pt_true``:

- response ``R = median(pt_est / pt_true)`` (1 for an unbiased estimate);
- resolution ``σ = (q84 - q16) / 2`` of ``pt_est / pt_true``, half the width of the central 68 %
  (Gaussian σ for a Gaussian response, robust against tails); the relative resolution
  is ``σ / R``.

Quantiles are weighted when weights are given (weights must then be non-negative): the
inverted-CDF definition, so that integer weights equal repeated rows with
``numpy.quantile(..., method="inverted_cdf")``. Unweighted they are ``numpy.quantile``'s
default (linear interpolation), hence the median is ``numpy.median``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import as_1d

__all__ = ["ResponseResolution", "response_resolution", "weighted_quantile"]


def weighted_quantile(
    x: ArrayLike, q: ArrayLike, sample_weight: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Quantiles ``q`` (in [0, 1]) of ``x``; weighted by the inverted CDF when weights are given.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
    q : array-like of float
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights with a positive sum.

    Returns
    -------
    ndarray of the shape of ``q``
    """
    xx = as_1d(x, "x")
    qq = np.asarray(q, dtype=np.float64)
    if xx.shape[0] == 0:
        return np.full(qq.shape, np.nan)
    if sample_weight is None:
        return np.asarray(np.quantile(xx, qq), dtype=np.float64)
    w = as_1d(sample_weight, "sample_weight")
    if w.shape != xx.shape:
        msg = f"sample_weight has {w.shape[0]} entries but x has {xx.shape[0]}; give one per value."
        raise ValueError(msg)
    if np.any(w < 0) or w.sum() <= 0:
        msg = "weighted quantiles need non-negative weights with a positive sum; drop negative-weight events or pass no weights."
        raise ValueError(msg)
    order = np.argsort(xx, kind="stable")
    xs, cw = xx[order], np.cumsum(w[order])
    # inverted CDF: the smallest x whose cumulative weight reaches q * total
    idx = np.searchsorted(cw, qq * cw[-1], side="left")
    return xs[np.clip(idx, 0, xs.shape[0] - 1)]


@dataclass(frozen=True)
class ResponseResolution:
    """Result of :func:`response_resolution`; arrays have shape (n_bins,).

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges in true pT (GeV).
    response, resolution : dict of str to ndarray
        Per estimate name (e.g. "before", "after"): median and half 16-84 % width of
        ``pt_est / pt_true``; NaN in an empty bin.
    counts : ndarray
        Jets per bin.
    """

    edges: NDArray[np.float64]
    response: dict[str, NDArray[np.float64]]
    resolution: dict[str, NDArray[np.float64]]
    counts: NDArray[np.int64]

    def relative_resolution(self, name: str) -> NDArray[np.float64]:
        """``resolution / response`` of one estimate."""
        return self.resolution[name] / self.response[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "pt_edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "response_median": {k: v.tolist() for k, v in self.response.items()},
            "resolution_half_16_84": {k: v.tolist() for k, v in self.resolution.items()},
        }


def response_resolution(
    pt_true: ArrayLike,
    estimates: dict[str, ArrayLike],
    edges: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> ResponseResolution:
    """Response and resolution of one or more pT estimates per bin of the true pT.

    Parameters
    ----------
    pt_true : array-like of shape (n_jets,)
        True (generator-jet) pT, positive.
    estimates : mapping of name to array-like of shape (n_jets,)
        E.g. ``{"before": reco_pt, "after": regressed_pt}``.
    edges : array-like of shape (n_bins + 1,)
        Increasing bin edges of ``pt_true``; jets outside are not counted.
    sample_weight : array-like of shape (n_jets,), optional
        Non-negative weights.

    Returns
    -------
    ResponseResolution
    """
    true = as_1d(pt_true, "pt_true")
    if np.any(true <= 0):
        msg = "pt_true must be positive (a response pt_est / pt_true is undefined otherwise); drop unmatched jets."
        raise ValueError(msg)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.shape[0] < 2 or np.any(np.diff(e) <= 0):
        msg = f"edges must be increasing, at least two values; got {e.tolist()}."
        raise ValueError(msg)
    w = None if sample_weight is None else as_1d(sample_weight, "sample_weight")
    b = np.searchsorted(e, true, side="right") - 1
    inside = (b >= 0) & (b < e.shape[0] - 1)
    nb = e.shape[0] - 1
    counts = np.bincount(b[inside], minlength=nb).astype(np.int64)
    response: dict[str, NDArray[np.float64]] = {}
    resolution: dict[str, NDArray[np.float64]] = {}
    for name, est in estimates.items():
        r = as_1d(est, name) / true
        if r.shape != true.shape:
            msg = f"estimate {name!r} has {r.shape[0]} entries but pt_true has {true.shape[0]}."
            raise ValueError(msg)
        med, res = np.full(nb, np.nan), np.full(nb, np.nan)
        for i in range(nb):
            sel = inside & (b == i)
            if not sel.any():
                continue
            q16, q50, q84 = weighted_quantile(
                r[sel], [0.16, 0.5, 0.84], None if w is None else w[sel]
            )
            med[i], res[i] = q50, 0.5 * (q84 - q16)
        response[name], resolution[name] = med, res
    return ResponseResolution(e, response, resolution, counts)
