"""Profile-likelihood inference with pyhf: the fit, the discovery significance, the CLs limit, impacts.

All functions take a pyhf model and its data (main + auxiliary measurements, as
``workspace.data(model)`` gives them) and use pyhf's numpy backend with the Minuit optimiser
(Hessian uncertainties).

Significance: in the asymptotic regime the discovery significance is ``Z = sqrt(q0)``
(Cowan et al., EPJC 71 (2011) 1554, eq. 53), computed here directly so that it stays finite for
large signals (a p-value below ~1e-300 would round to 0). The expected significance is ``sqrt(q0)``
on the Asimov data set of ``mu = 1`` with the nuisance parameters at their conditional fit to the
data, as in pyhf's ``hypotest(..., test_stat="q0", return_expected=True)``; with one bin and no
nuisance parameters it is Cowan's ``sqrt(2((s+b)ln(1+s/b) - s))``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyhf
from numpy.typing import NDArray
from scipy import stats

T = TypeVar("T")

__all__ = [
    "FitParameters",
    "Impact",
    "fit_parameters",
    "impacts",
    "sample_toys",
    "significance",
    "upper_limit",
    "use_minuit",
]


def use_minuit(strategy: int | None = None) -> None:
    """Select pyhf's numpy backend with the (quiet) Minuit optimiser, which returns uncertainties.

    ``strategy=0`` halves the time of a hypothesis test on some models but reports an invalid
    minimum on models with strongly correlated parameters (our toy model), so the default
    strategy is used throughout.
    """
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0, strategy=strategy))


@dataclass
class FitParameters:
    """Maximum-likelihood estimate of all parameters.

    Attributes
    ----------
    labels : list of str
        Parameter names, one per component (``staterror_SR[0]``, ...), pyhf's order.
    bestfit, uncertainty : ndarray of shape (n_parameters,)
        Best-fit values and Hessian uncertainties.
    correlation : ndarray of shape (n_parameters, n_parameters)
    twice_nll : float
        −2 ln L at the minimum.
    """

    labels: list[str]
    bestfit: NDArray[np.float64]
    uncertainty: NDArray[np.float64]
    correlation: NDArray[np.float64]
    twice_nll: float

    def index(self, name: str) -> int:
        """Position of parameter ``name``."""
        return self.labels.index(name)


def fit_parameters(
    model: pyhf.pdf.Model,
    data: Sequence[float] | NDArray,
    *,
    init_pars: Sequence[float] | NDArray | None = None,
    fixed: dict[int, float] | None = None,
    strategy: int | None = None,
) -> FitParameters:
    """Maximum-likelihood fit of ``model`` to ``data`` (``fixed``: parameter index → value; ``strategy``: Minuit's)."""
    use_minuit(strategy)
    init = list(model.config.suggested_init() if init_pars is None else init_pars)
    fixed_params = list(model.config.suggested_fixed())
    for i, v in (fixed or {}).items():
        init[i] = v
        fixed_params[i] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result, corr, twice_nll = pyhf.infer.mle.fit(
            np.asarray(data, dtype=np.float64),
            model,
            init_pars=init,
            fixed_params=fixed_params,
            return_uncertainties=True,
            return_correlations=True,
            return_fitted_val=True,
        )
    return FitParameters(
        labels=list(model.config.par_names),
        bestfit=np.asarray(result[:, 0], dtype=np.float64),
        uncertainty=np.asarray(result[:, 1], dtype=np.float64),
        correlation=np.asarray(corr, dtype=np.float64),
        twice_nll=float(twice_nll),
    )


def sample_toys(model: pyhf.pdf.Model, mu: float, n_toys: int, *, seed: int) -> NDArray[np.float64]:
    """``n_toys`` pseudo-data sets of shape (n_toys, n_main + n_aux) drawn from the model at ``mu``.

    Main bins are Poisson of the expected yields (nuisance parameters at nominal), and the
    auxiliary measurements are drawn from their constraints too, so the toys vary everything the
    fit's uncertainty includes (main-bin-only toys would understate it).
    """
    use_minuit()
    pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
    pars[model.config.poi_index] = mu
    # pyhf's numpy backend samples with numpy's global generator: seed it, then restore it
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002
        toys = model.make_pdf(pyhf.tensorlib.astensor(pars)).sample((n_toys,))
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return np.asarray(toys, dtype=np.float64)


def _q0(model: pyhf.pdf.Model, data: NDArray) -> float:
    q0 = pyhf.infer.test_statistics.q0(
        0.0,
        data,
        model,
        model.config.suggested_init(),
        model.config.suggested_bounds(),
        model.config.suggested_fixed(),
    )
    return float(np.clip(q0, 0.0, None))


_MINUIT_CALLS = 4_000  # per fit, in the test statistics; then SLSQP takes over


def _optimised(call: Callable[[], T], *, quick: bool = False) -> T:
    """``call()`` with Minuit, then SLSQP (and with ``quick``: Minuit at most ``_MINUIT_CALLS``
    per fit first, Minuit without limit last), until one succeeds.

    A fit driven to the parameter bounds (mu fixed far above background-only Asimov data) can
    take Minuit 10^5 calls and fail where SLSQP succeeds in seconds; SLSQP copes with every
    parameter fixed, which Minuit cannot; some fits only Minuit's full budget solves.
    """
    optimizers: list[Any] = [pyhf.optimize.minuit_optimizer(verbose=0), "scipy"]
    if quick:
        optimizers = [
            pyhf.optimize.minuit_optimizer(verbose=0, maxiter=_MINUIT_CALLS),
            "scipy",
            pyhf.optimize.minuit_optimizer(verbose=0),
        ]
    pyhf_log = logging.getLogger("pyhf.optimize.mixins")  # logs a failed fit with its traceback
    level = pyhf_log.level
    pyhf_log.setLevel(logging.CRITICAL)
    try:
        for n, optimizer in enumerate(optimizers):
            pyhf.set_backend("numpy", optimizer)
            try:
                return call()
            except (pyhf.exceptions.FailedMinimization, AttributeError):  # Attr.: nothing free
                if n == len(optimizers) - 1:
                    raise
        raise AssertionError  # pragma: no cover
    finally:
        pyhf_log.setLevel(level)
        use_minuit()


def significance(
    model: pyhf.pdf.Model, data: Sequence[float] | NDArray
) -> tuple[float, float | None]:
    """Observed and expected discovery significance ``(Z_obs, Z_exp)`` of ``mu > 0``.

    ``Z_exp`` is None when the background-only fit to the mu = 1 Asimov data fails (a large
    expected signal drives the nuisance parameters to their bounds): the expected
    significance is then far beyond any observed one. A failed fit to the data raises
    :class:`pyhf.exceptions.FailedMinimization`.
    """
    data = np.asarray(data, dtype=np.float64)
    init, bounds = model.config.suggested_init(), model.config.suggested_bounds()
    fixed = model.config.suggested_fixed()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z_obs = float(np.sqrt(_optimised(lambda: _q0(model, data), quick=True)))
        try:
            asimov = _optimised(
                lambda: pyhf.infer.calculators.generate_asimov_data(
                    1.0, data, model, init, bounds, fixed
                ),
                quick=True,
            )
            z_exp: float | None = float(
                np.sqrt(_optimised(lambda: _q0(model, np.asarray(asimov)), quick=True))
            )
        except pyhf.exceptions.FailedMinimization:
            z_exp = None
    return z_obs, z_exp


def p_value(z: float) -> float:
    """One-sided p-value of a significance ``z``."""
    return float(stats.norm.sf(z))


@contextlib.contextmanager
def _reuse_unconditional_fits() -> Iterator[None]:
    """Within the block, pyhf's fits that do not depend on the tested mu are done once.

    A ``hypotest`` at each mu repeats the free fit to the data, the background-only Asimov data
    set and the free fit to it (3 of its 5 fits); they are memoised here by their arguments
    (data, model, inits, bounds, fixed parameters), so a limit scan costs 2 fits per point.
    """
    from pyhf.infer import calculators, test_statistics

    fit_orig, asimov_orig = test_statistics.fit, calculators.generate_asimov_data
    cache: dict[tuple, Any] = {}

    def _key(*args: Any) -> tuple:
        return tuple(
            None
            if a is None
            else np.asarray(a, dtype=np.float64).tobytes() + str(np.shape(a)).encode()
            for a in args
        )

    def fit(data, pdf, init_pars=None, par_bounds=None, fixed_params=None, **kwargs):
        key = (
            "fit",
            id(pdf),
            _key(data, init_pars, par_bounds, fixed_params),
            repr(sorted(kwargs.items())),
        )
        if key not in cache:
            cache[key] = fit_orig(data, pdf, init_pars, par_bounds, fixed_params, **kwargs)
        return cache[key]

    def asimov(asimov_mu, data, pdf, init_pars, par_bounds, fixed_params, return_fitted_pars=False):
        key = (
            "asimov",
            float(asimov_mu),
            id(pdf),
            _key(data, init_pars, par_bounds, fixed_params),
            return_fitted_pars,
        )
        if key not in cache:
            cache[key] = asimov_orig(
                asimov_mu, data, pdf, init_pars, par_bounds, fixed_params, return_fitted_pars
            )
        return cache[key]

    test_statistics.fit, calculators.generate_asimov_data = fit, asimov
    try:
        yield
    finally:
        test_statistics.fit, calculators.generate_asimov_data = fit_orig, asimov_orig


def upper_limit(
    model: pyhf.pdf.Model,
    data: Sequence[float] | NDArray,
    *,
    level: float = 0.05,
    guess: float | None = None,
    rtol: float = 1e-3,
) -> tuple[float | None, list[float | None]]:
    """CLs upper limit on mu at ``1 - level`` CL: observed and expected (−2σ, −1σ, median, +1σ, +2σ).

    Each point is one pyhf ``hypotest`` (test statistic q̃μ, asymptotic), which gives the
    observed and the five expected CLs at once; every root is found by a safeguarded secant
    method on Φ⁻¹(1 − CLs), nearly linear in mu, from points already evaluated (all curves
    share them), to about ``rtol`` relative on mu.
    ``guess`` (default 1) is where the search starts. A limit above the upper bound of mu
    is reported as None.
    """
    data = np.asarray(data, dtype=np.float64)
    hi_bound = float(model.config.suggested_bounds()[model.config.poi_index][1])
    cache: dict[float, NDArray] = {}

    def cls(mu: float) -> NDArray:
        if mu not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                obs, exp = _optimised(
                    lambda: pyhf.infer.hypotest(
                        mu, data, model, test_stat="qtilde", return_expected_set=True
                    ),
                    quick=True,
                )
            values = np.array([float(obs), *(float(e) for e in exp)])
            cache[mu] = stats.norm.isf(np.clip(values, 1e-300, 1.0))
        return cache[mu]

    with _reuse_unconditional_fits():
        return _upper_limit(cls, cache, level, guess, rtol, hi_bound)


def _upper_limit(
    cls: Callable[[float], NDArray],
    cache: dict[float, NDArray],
    level: float,
    guess: float | None,
    rtol: float,
    hi_bound: float,
) -> tuple[float | None, list[float | None]]:
    """The root search of :func:`upper_limit`; ``cls(mu)`` fills ``cache[mu]``."""
    target = float(stats.norm.isf(level))
    start = min(max(guess if guess is not None else 1.0, 1e-3 * hi_bound), hi_bound)
    cls(start)
    limits: list[float | None] = []
    for k in (3, 2, 4, 1, 5, 0):  # median expected first: its points help the others
        limits.append(None)
        while True:
            pts = sorted(cache)
            below = [m for m in pts if cache[m][k] > target]  # excluded
            if not below:
                if max(pts) >= hi_bound:
                    break
                cls(min(_extrapolate(cache, k, target, max(pts)), hi_bound))
                continue
            b = min(below)
            a = max((m for m in pts if m < b), default=None)
            if a is None:
                if b < 1e-6 * hi_bound:
                    limits[-1] = float(b)
                    break
                cls(_extrapolate(cache, k, target, b))
                continue
            limits[-1] = _secant_root(cls, k, target, a, b, rtol)
            break
        if k == 3 and limits[-1] is not None:
            # asymptotic band around the median (Cowan et al. eq. 89), sigma from the median:
            # one evaluation near each remaining expected root, bracketing it in a step or two
            sigma = limits[-1] / stats.norm.isf(level / 2)
            for n in (-2, -1, 1, 2):
                cls(min(sigma * (stats.norm.isf(level * stats.norm.cdf(n)) + n), hi_bound))
    by_index = dict(zip((3, 2, 4, 1, 5, 0), limits, strict=True))
    return by_index[0], [by_index[i] for i in (1, 2, 3, 4, 5)]


def _extrapolate(cache: dict[float, NDArray], k: int, target: float, nearest: float) -> float:
    """Next point to try when ``target`` is not yet bracketed: linear extrapolation, within ×0.1…×10."""
    pts = sorted(cache, key=lambda m: abs(cache[m][k] - target))[:2]
    guess = 2.0 * nearest if cache[nearest][k] < target else 0.5 * nearest
    if len(pts) == 2 and cache[pts[0]][k] != cache[pts[1]][k]:
        (m1, m2), (v1, v2) = pts, (cache[pts[0]][k] - target, cache[pts[1]][k] - target)
        root = m1 - v1 * (m2 - m1) / (v2 - v1)
        # overshoot by 10 % of the step so that the root is bracketed next time
        guess = root + 0.1 * (root - nearest) if root > 0 else guess
    return float(min(max(guess, 0.1 * nearest), 10.0 * nearest))


def _secant_root(
    f: Callable[[float], NDArray], k: int, target: float, a: float, b: float, rtol: float
) -> float:
    """Root of ``f(mu)[k] = target`` in the bracket ``[a, b]``: safeguarded secant method."""
    pts: dict[float, float] = {a: float(f(a)[k] - target), b: float(f(b)[k] - target)}
    for _ in range(50):
        lo = max(m for m, v in pts.items() if v <= 0)
        hi = min(m for m, v in pts.items() if v > 0)
        (m1, v1), (m2, v2) = sorted(pts.items(), key=lambda mv: abs(mv[1]))[:2]
        root = m1 - v1 * (m2 - m1) / (v2 - v1) if v2 != v1 else 0.5 * (lo + hi)
        if not lo < root < hi:
            root = lo - pts[lo] * (hi - lo) / (pts[hi] - pts[lo])
        if abs(v1) < 0.02 or hi - lo <= rtol * hi:  # f is nearly linear: the secant is exact
            return float(root)
        pts[root] = float(f(root)[k] - target)
    return float(root)


@dataclass(frozen=True)
class Impact:
    """Shift of the fitted mu when one nuisance parameter is fixed at θ̂ ± σ (post-fit) or θ̂ ± 1 (pre-fit)."""

    name: str
    pull: float
    constraint: float
    prefit_up: float
    prefit_down: float
    postfit_up: float
    postfit_down: float

    @property
    def size(self) -> float:
        """Ranking key: the larger post-fit shift."""
        return max(abs(self.postfit_up), abs(self.postfit_down))


def constrained_parameters(model: pyhf.pdf.Model) -> list[str]:
    """Names of the Gaussian-constrained scalar nuisance parameters (normsys/histosys)."""
    names = []
    for name in model.config.par_order:
        ps = model.config.param_set(name)
        if name != model.config.poi_name and ps.n_parameters == 1 and ps.constrained:
            if not getattr(ps, "pdf_type", "normal") == "poisson":
                names.append(name)
    return names


def impacts(
    model: pyhf.pdf.Model, data: Sequence[float] | NDArray, best: FitParameters
) -> list[Impact]:
    """Pre- and post-fit impacts on mu of each constrained scalar nuisance parameter, largest first.

    Each is one fit with the parameter fixed (4 per parameter), started from the best fit.
    The MC statistical ``staterror`` parameters are not ranked.
    """
    poi = model.config.poi_index
    mu_hat = best.bestfit[poi]
    out = []
    for name in constrained_parameters(model):
        i = model.config.par_slice(name).start
        theta, sigma = best.bestfit[i], best.uncertainty[i]
        shifts = []
        for value in (theta + 1.0, theta - 1.0, theta + sigma, theta - sigma):
            refit = fit_parameters(model, data, init_pars=best.bestfit, fixed={i: value})
            shifts.append(float(refit.bestfit[poi] - mu_hat))
        out.append(Impact(name, float(theta), float(sigma), *shifts))
    out.sort(key=lambda imp: imp.size, reverse=True)
    return out
