"""Kolmogorov-Smirnov train-versus-test overtraining check, with event weights.

Unweighted, :func:`ks_test` *is* :func:`scipy.stats.ks_2samp` (two-sided, ``method="auto"``:
exact p-value up to 10 000 events per sample, Smirnov's asymptotic formula above).

Weighted, the statistic is the largest distance between the two weighted empirical CDFs,
``D = max_x |F_train(x) - F_test(x)|`` with ``F(x) = Σ_{score ≤ x} w / Σ w``. Weighted events
are not independent counts, so the p-value uses Smirnov's asymptotic distribution (as
``ks_2samp(method="asymp")``) with the Kish effective sample sizes
``n_eff = (Σ w)² / Σ w²`` in place of the counts: ``p = kstwo.sf(D, round(n₁ n₂ / (n₁ + n₂)))``.
With all weights equal this reduces exactly to ``ks_2samp(method="asymp")``. Negative weights
are allowed (the weighted CDF may then be non-monotonic); each sample's total weight must be
positive. Like TMVA's check this is a heuristic: a small p-value (say < 0.05) flags a
train/test difference, and with large samples even harmless differences give small p-values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from hepml_coffea.evaluation._checks import as_1d, check_binary, check_weight

__all__ = [
    "KS_ALPHA",
    "effective_sample_size",
    "format_pvalue",
    "ks_test",
    "overtraining_report",
    "overtraining_warnings",
]

#: p-values below this flag a train/test difference (a warning in the report).
KS_ALPHA = 0.05


def effective_sample_size(weight: ArrayLike) -> float:
    """Kish effective sample size ``(Σ w)² / Σ w²`` of an array of event weights."""
    w = np.asarray(weight, dtype=np.float64)
    sw2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / sw2 if sw2 > 0 else 0.0


def _weighted_ecdf(x: NDArray, w: NDArray, at: NDArray) -> NDArray[np.float64]:
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    idx = np.searchsorted(xs, at, side="right")
    return np.where(idx > 0, cw[np.maximum(idx - 1, 0)], 0.0) / cw[-1]


def ks_test(
    train_scores: ArrayLike,
    test_scores: ArrayLike,
    train_weight: ArrayLike | None = None,
    test_weight: ArrayLike | None = None,
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test of train against test scores of one class.

    Parameters
    ----------
    train_scores : array-like of shape (n_train,)
    test_scores : array-like of shape (n_test,)
    train_weight : array-like of shape (n_train,), optional
    test_weight : array-like of shape (n_test,), optional
        Event weights. If both are None the result is :func:`scipy.stats.ks_2samp`'s.

    Returns
    -------
    statistic : float
        Largest distance between the two (weighted) empirical CDFs, in [0, 1].
    pvalue : float
        Two-sided p-value (see the module notes for weights); NaN where the effective
        sample size is below one.
    """
    a = as_1d(train_scores, "train_scores")
    b = as_1d(test_scores, "test_scores")
    if a.shape[0] == 0 or b.shape[0] == 0:
        msg = f"ks_test needs events in both samples; got {a.shape[0]} train and {b.shape[0]} test."
        raise ValueError(msg)
    if train_weight is None and test_weight is None:
        res = stats.ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    wa = check_weight(train_weight, a.shape[0], "train_weight")
    wb = check_weight(test_weight, b.shape[0], "test_weight")
    for w, what in ((wa, "train"), (wb, "test")):
        if w.sum() <= 0:
            msg = (
                f"the total {what} weight is {w.sum():g}; ks_test needs a positive sum of weights."
            )
            raise ValueError(msg)
    at = np.concatenate([a, b])
    d = float(np.max(np.abs(_weighted_ecdf(a, wa, at) - _weighted_ecdf(b, wb, at))))
    n1, n2 = effective_sample_size(wa), effective_sample_size(wb)
    en = np.round(n1 * n2 / (n1 + n2))
    p = float(np.clip(stats.kstwo.sf(d, en), 0, 1)) if en >= 1 else float("nan")
    return d, p


def overtraining_report(
    y_train: ArrayLike,
    train_scores: ArrayLike,
    y_test: ArrayLike,
    test_scores: ArrayLike,
    train_weight: ArrayLike | None = None,
    test_weight: ArrayLike | None = None,
) -> dict[str, dict[str, float]]:
    """KS train-versus-test test for the signal and the background class separately.

    Parameters
    ----------
    y_train, train_scores, train_weight : array-like of shape (n_train,)
        Labels (1 signal, 0 background), scores and optional weights of the training sample.
    y_test, test_scores, test_weight : array-like of shape (n_test,)
        The same for the test sample.

    Returns
    -------
    dict
        ``{"signal": {...}, "background": {...}}``, each with ``statistic``, ``pvalue``,
        ``n_train``, ``n_test`` (event counts) and ``n_eff_train``, ``n_eff_test`` (Kish).
    """
    yt, yv = check_binary(y_train, "y_train"), check_binary(y_test, "y_test")
    st, sv = as_1d(train_scores, "train_scores"), as_1d(test_scores, "test_scores")
    wt = check_weight(train_weight, yt.shape[0], "train_weight")
    wv = check_weight(test_weight, yv.shape[0], "test_weight")
    weighted = train_weight is not None or test_weight is not None
    report = {}
    for name, cls in (("signal", True), ("background", False)):
        mt, mv = yt == cls, yv == cls
        stat, p = ks_test(
            st[mt], sv[mv], wt[mt] if weighted else None, wv[mv] if weighted else None
        )
        report[name] = {
            "statistic": stat,
            "pvalue": p,
            "n_train": int(mt.sum()),
            "n_test": int(mv.sum()),
            "n_eff_train": effective_sample_size(wt[mt]),
            "n_eff_test": effective_sample_size(wv[mv]),
        }
    return report


def format_pvalue(p: float) -> str:
    """A p-value in scientific notation with 2 significant digits (``1.7e-09``, ``5.0e-01``).

    Fixed-point formatting hides strong overtraining: 1.7e-9 printed with ``.3f`` is "0.000".
    """
    return f"{p:.1e}" if np.isfinite(p) else "nan"


def overtraining_warnings(
    report: dict[str, dict[str, float]], model: str = "model", alpha: float = KS_ALPHA
) -> list[str]:
    """One warning line per class whose KS p-value is below ``alpha``.

    Parameters
    ----------
    report : dict
        From :func:`overtraining_report`.
    model : str
        Name used in the message.
    alpha : float, default 0.05

    Returns
    -------
    list of str
        E.g. ``"WARNING bdt: KS test train vs test of background p = 1.7e-09 < 0.05: ..."``.
    """
    out = []
    for cls, r in report.items():
        p = r["pvalue"]
        if np.isfinite(p) and p < alpha:
            out.append(
                f"WARNING {model}: KS test train vs test of {cls} p = {format_pvalue(p)} < {alpha:g}: "
                "the scores differ between training and test events (overtraining?); compare "
                "the overtraining plot, use fewer/shallower trees or more events."
            )
    return out
