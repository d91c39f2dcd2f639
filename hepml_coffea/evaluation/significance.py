"""Asimov discovery significance and its scan over a classifier-score cut.

``Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s))`` (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011)
1554, eq. 97) is the median significance for discovering a signal of ``s`` expected events
over a known background of ``b``; it tends to ``s/√b`` for ``s ≪ b``. It has no background
uncertainty, so it grows without bound as ``b → 0``: a scan over a score cut would then pick
the tightest cut that keeps a sliver of background from a few large-weight MC events. The scan
therefore only considers cuts that keep at least ``min_background`` weighted background events
(default 1) and ``min_background_events`` raw MC background events (default 10); cuts that
fail are reported with ``Z = NaN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepml_coffea.evaluation._checks import check_binary, check_inputs, check_weight

__all__ = ["SignificanceScan", "asimov_significance", "selection_significance", "significance_scan"]


def asimov_significance(s: float | ArrayLike, b: float | ArrayLike) -> float | NDArray[np.float64]:
    """Asimov significance Z_A of ``s`` signal over ``b`` background events.

    Parameters
    ----------
    s, b : float or array-like (broadcast)
        Expected (weighted) signal and background yields.

    Returns
    -------
    float or ndarray
        Z_A; 0 where ``s <= 0``; NaN where ``b <= 0`` (undefined without background).
    """
    s_arr, b_arr = np.broadcast_arrays(
        np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    )
    z = np.full(s_arr.shape, np.nan)
    ok = b_arr > 0
    sp = np.where(s_arr > 0, s_arr, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log1p keeps the s ≪ b limit accurate; clip tiny negative rounding before the sqrt
        q = 2.0 * ((sp + b_arr) * np.log1p(sp / b_arr) - sp)
    z[ok] = np.sqrt(np.clip(q[ok], 0.0, None))
    return float(z) if z.ndim == 0 else z


def selection_significance(
    y_true: ArrayLike, selected: ArrayLike, sample_weight: ArrayLike | None = None
) -> dict[str, float]:
    """Weighted yields and Asimov Z of a plain selection (e.g. a cut-based baseline).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 signal, 0 background.
    selected : array-like of bool, shape (n_samples,)
        Events passing the selection.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    dict
        ``s``, ``b`` (weighted yields passing) and ``z`` (Asimov).
    """
    y = check_binary(y_true)
    sel = np.asarray(selected, dtype=bool)
    if sel.shape != y.shape:
        msg = f"selected has shape {sel.shape} but y_true has {y.shape}; give one flag per event."
        raise ValueError(msg)
    w = check_weight(sample_weight, y.shape[0])
    s, b = float(w[y & sel].sum()), float(w[~y & sel].sum())
    return {"s": s, "b": b, "z": float(asimov_significance(s, b))}


@dataclass(frozen=True)
class SignificanceScan:
    """Result of :func:`significance_scan`; arrays have shape (n_cuts,)."""

    cuts: NDArray[np.float64]
    z: NDArray[np.float64]
    s: NDArray[np.float64]
    b: NDArray[np.float64]
    n_background: NDArray[np.int64]
    best_index: int
    best_cut: float
    best_z: float

    def to_dict(self) -> dict:
        """JSON-friendly form (lists; NaN left as float NaN)."""
        return {
            "cuts": self.cuts.tolist(),
            "z": self.z.tolist(),
            "s": self.s.tolist(),
            "b": self.b.tolist(),
            "n_background": self.n_background.tolist(),
            "best_index": self.best_index,
            "best_cut": self.best_cut,
            "best_z": self.best_z,
        }


def significance_scan(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    cuts: ArrayLike | int = 200,
    min_background: float = 1.0,
    min_background_events: int = 10,
) -> SignificanceScan:
    """Asimov Z of the selection ``score >= cut`` as a function of the cut.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 signal, 0 background.
    score : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
        Event weights normalised to the luminosity (e.g. ``genWeight × xsec × lumi / Σ genWeight``)
        so that the yields are expected event counts.
    cuts : int or array-like of shape (n_cuts,), default 200
        The cuts to try, or how many evenly spaced cuts between the lowest and highest score.
    min_background : float, default 1.0
        Smallest weighted background yield for a cut to be considered.
    min_background_events : int, default 10
        Smallest number of (unweighted) background MC events passing for a cut to be considered.

    Returns
    -------
    SignificanceScan
        Cuts, Z (NaN where a minimum is not met), s, b, raw background counts and the optimum.
        ``best_index`` is -1 and ``best_cut``/``best_z`` NaN if no cut meets the minima.
    """
    y, sc, w = check_inputs(y_true, score, sample_weight)
    if np.ndim(cuts) == 0:
        n = int(np.asarray(cuts))
        if n < 2:
            msg = f"cuts must be an array of cuts or a number ≥ 2 of cuts; got {cuts!r}."
            raise ValueError(msg)
        cut_arr = np.linspace(sc.min(), sc.max(), n)
    else:
        cut_arr = np.sort(np.asarray(cuts, dtype=np.float64))

    def passing(values: NDArray, weights: NDArray) -> NDArray[np.float64]:
        order = np.argsort(values, kind="stable")
        v, cw = values[order], np.concatenate([[0.0], np.cumsum(weights[order])])
        return cw[-1] - cw[np.searchsorted(v, cut_arr, side="left")]

    s = passing(sc[y], w[y])
    b = passing(sc[~y], w[~y])
    nb = np.rint(passing(sc[~y], np.ones(int((~y).sum())))).astype(np.int64)
    z = np.asarray(asimov_significance(s, b), dtype=np.float64).reshape(cut_arr.shape)
    z[(b < min_background) | (nb < min_background_events)] = np.nan
    if np.all(np.isnan(z)):
        best, best_cut, best_z = -1, float("nan"), float("nan")
    else:
        best = int(np.nanargmax(z))
        best_cut, best_z = float(cut_arr[best]), float(z[best])
    return SignificanceScan(cut_arr, z, s, b, nb, best, best_cut, best_z)
