r"""Scaling laws: the predicted exponents and the compute-optimal frontier.

Exponents are decay exponents: ``E_g ~ x**-exponent``. For ``lambda_k ~ k**-(1+alpha)`` and
teacher mode powers ``p_k ~ k**-beta`` (``beta = 0``: the isotropic teacher), gradient flow
without noise has

* time (``1 << P t``, before the data bottleneck): ``E_g ~ (P t)**-((alpha+beta)/(1+alpha))``;
* data (``t = inf``, ridgeless, ``N >> P``): ``E_g ~ P**-min(alpha+beta, 2(1+alpha))``;
* model size (``P >> N``, target beyond ``N``): ``E_g ~ N**-(alpha+beta)``.

Compute budget (loss summed over the data): full-batch gradient descent is stable for step
sizes up to ``~ 1 / (P lambda_1)``, so reaching time ``t`` takes ``~ P t`` steps of cost
``~ P N`` each; at fixed model size ``N`` the budget is ``C = P**2 t`` (constants dropped).
With ``E ~ (P t)**-s + P**-d`` on the line ``t = C / P**2`` the best number of data is
``P* ~ C**(s / (s + d))`` and the least error ``E* ~ C**-(s d / (s + d))``; isotropic
teacher: ``P* ~ C**(1/(2+alpha))``, ``E* ~ C**-(alpha/(2+alpha))``.
:func:`compute_optimal_frontier` finds the frontier from the DMFT theory itself.

Source and capacity. The capacity exponent ``a = 1 + alpha`` is the decay of the eigenvalues,
``lambda_k ~ k**-a``; the source exponent ``r`` the decay of the target's power in mode ``k``,
``lambda_k p_k ~ k**-(1 + 2 a r)``, so ``r = (alpha + beta) / (2 (1 + alpha))``
(:func:`source_capacity`). With label noise (variance ``sigma2``) the error at the best
stopping time falls as ``P**-(m / (1 + m))``, ``m = alpha + beta`` (``2 a r / (2 a r + 1)``), for
every ``beta``, while kernel ridge regression at the best ridge saturates at
``m = 2 (1 + alpha)`` (``r = 1``), like the noise-free ridgeless data exponent. The best
stopping time behaves as ``t* ~ P**(-beta / (1 + alpha + beta))``: it grows with ``P`` for
hard targets (``beta < 0``: the target's power ``lambda_k p_k`` decays more slowly than the
eigenvalues). :func:`early_stopping_errors` and :func:`optimal_ridge_errors` measure the two
optima from the theory along a sequence of ``P``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .equilibrium import equilibrium, krr_learning_curve
from .fitting import PowerLawFit, fit_power_law
from .laplace import theory_laplace
from .model import Params, spectrum
from .simulation import one_blas_thread

__all__ = ["predicted_exponents", "compute_budget", "budget_error", "Frontier",
           "compute_optimal_frontier", "SourceCapacity", "source_capacity",
           "beta_from_source", "power_law_teacher", "Optimum", "early_stopping_errors",
           "optimal_ridge_errors", "SOURCE_LAWS", "measure_exponent"]


def _check_exponents(alpha, beta) -> tuple[float, float]:
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if alpha + beta <= 0:
        raise ValueError(f"beta must be > -alpha = {-alpha} (target power must be summable), "
                         f"got {beta}")
    return float(alpha), float(beta)


def predicted_exponents(alpha: float, beta: float = 0.0) -> dict:
    """Decay exponents for ``lambda_k ~ k**-(1+alpha)``, teacher ``p_k ~ k**-beta``.

    Every value ``e`` means ``quantity ~ x**-e`` (a negative value: growth). Noise-free
    gradient flow: ``time`` (error in ``P t``, before the data bottleneck), ``data`` (in ``P``,
    ``t = inf``: ridgeless regression, saturating at ``2 (1 + alpha)``), ``model`` (in ``N``,
    ``P >> N``, target beyond ``N``), and the frontier ``frontier_data`` (growth exponent of
    ``P*`` in ``C``) and ``frontier_error`` (decay exponent of ``E*`` in ``C``). With label
    noise (``P / sigma2`` large): ``data_early_stopping`` (error at the best stopping time,
    ``m / (1 + m)`` with ``m = alpha + beta``, no saturation), ``data_optimal_ridge`` (kernel
    ridge regression at the best ridge, ``d / (1 + d)`` with ``d`` the ``data`` exponent:
    saturates), ``data_optimal_size`` (ridgeless with the best number of modes ``N < P``, same
    as early stopping), ``stopping_time`` (``t* ~ P**-(beta / (1 + alpha + beta))``) and
    ``time_label_variance`` (the label-noise variance grows as ``(P t)**(1 / (1 + alpha))``
    at fixed ``P``: ``-1 / (1 + alpha)``). Needs ``alpha > 0`` and ``alpha + beta > 0`` (a
    summable target).
    """
    alpha, beta = _check_exponents(alpha, beta)
    m = alpha + beta
    s = m / (1 + alpha)
    d = min(m, 2 * (1 + alpha))
    return {"time": s, "data": d, "model": m,
            "frontier_data": s / (s + d), "frontier_error": s * d / (s + d),
            "data_early_stopping": m / (1 + m), "data_optimal_ridge": d / (1 + d),
            "data_optimal_size": m / (1 + m), "stopping_time": beta / (1 + m),
            "time_label_variance": -1 / (1 + alpha)}


@dataclass(frozen=True)
class SourceCapacity:
    """A power-law teacher in the language of source and capacity conditions.

    ``capacity`` ``a = 1 + alpha`` (``lambda_k ~ k**-a``); ``source`` ``r`` with the target's
    power ``lambda_k p_k ~ k**-(1 + 2 a r)``, i.e. ``r = (alpha + beta) / (2 (1 + alpha))``.
    ``hard``: ``beta < 0`` (``r < (a - 1) / (2 a)``: the target's power decays more slowly than
    the eigenvalues; the best stopping time grows with ``P``); ``in_rkhs``: ``beta > 1``
    (``r > 1/2``: ``sum_k p_k < inf``); ``saturated``: ``beta >= 2 + alpha`` (``r >= 1``: the
    ridge data exponents stop growing).
    """

    alpha: float
    beta: float
    capacity: float
    source: float

    @property
    def hard(self) -> bool:
        return self.beta < 0

    @property
    def in_rkhs(self) -> bool:
        return self.beta > 1

    @property
    def saturated(self) -> bool:
        return self.beta >= 2 + self.alpha


def source_capacity(alpha: float, beta: float) -> SourceCapacity:
    """Capacity ``a = 1 + alpha`` and source ``r = (alpha + beta) / (2 (1 + alpha))`` of the
    teacher ``p_k ~ k**-beta`` on the spectrum ``lambda_k ~ k**-(1 + alpha)``."""
    alpha, beta = _check_exponents(alpha, beta)
    return SourceCapacity(alpha=alpha, beta=beta, capacity=1 + alpha,
                          source=(alpha + beta) / (2 * (1 + alpha)))


def beta_from_source(alpha: float, r: float) -> float:
    """The teacher exponent ``beta = 2 (1 + alpha) r - alpha`` of source exponent ``r > 0``."""
    if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 < r < math.inf:
        raise ValueError(f"r must be a finite number > 0, got {r!r}")
    beta = 2 * (1 + float(alpha)) * float(r) - float(alpha)
    _check_exponents(alpha, beta)
    return beta


def power_law_teacher(alpha: float, beta: float, M: int) -> np.ndarray:
    """Teacher mode powers ``p_k = c k**-beta``, ``k = 1..M``, with ``c`` such that
    ``sum_{k<=M} lambda_k p_k = 1`` (so ``E_g(0) = 1`` for ``w(0) = 0``), on the spectrum
    :func:`rfdmft.model.spectrum` ``(alpha, M)``; ``beta = 0`` gives exactly ones (the
    isotropic teacher, so the solvers take their isotropic paths). Pass it as
    ``Params(..., M=M, teacher=...)``."""
    alpha, beta = _check_exponents(alpha, beta)
    if isinstance(M, bool) or not isinstance(M, numbers.Integral) or M < 1:
        raise ValueError(f"M must be an integer >= 1, got {M!r}")
    if beta == 0:
        return np.ones(int(M))                   # the isotropic teacher (the spectrum sums to 1)
    p = np.arange(1, int(M) + 1, dtype=float) ** -beta
    return p / float(spectrum(alpha, int(M)) @ p)


def compute_budget(P, t):
    """Compute ``C = P**2 t`` of full-batch gradient descent to time ``t`` (fixed ``N``)."""
    return np.asarray(P, dtype=float) ** 2 * np.asarray(t, dtype=float)


def budget_error(params: Params, P: int, budget) -> np.ndarray:
    """Theory error ``E_g(P, t = C / P**2)`` for the budgets ``C`` (``params`` with ``P`` replaced)."""
    budget = np.asarray(budget, dtype=float).reshape(-1)
    if not np.all(np.isfinite(budget) & (budget > 0)):
        raise ValueError(f"budget must be positive and finite, got {budget!r}")
    return theory_laplace(params.replace(P=int(P)), budget / float(P) ** 2).error


@dataclass(frozen=True)
class Frontier:
    """Compute-optimal frontier: for each budget ``C`` the optimal ``P`` (and ``t = C / P**2``)
    and the least error; ``grid_P`` and ``grid_error`` (``len(grid_P) x len(budgets)``) are the
    theory errors along each budget line from which it was found."""

    budgets: np.ndarray
    P: np.ndarray
    t: np.ndarray
    error: np.ndarray
    grid_P: np.ndarray
    grid_error: np.ndarray


def compute_optimal_frontier(params: Params, budgets, Ps) -> Frontier:
    """Least theory error at each compute budget ``C = P**2 t``, minimised over ``P``.

    For every ``P`` in ``Ps`` (integers, increasing, >= 3 values) the error on the budget line
    ``t = C / P**2`` comes from :func:`rfdmft.laplace.theory_laplace` with ``params`` (``P``
    replaced; ``N`` fixed, choose it large enough not to limit the error). The grid minimum
    is refined by the parabola through it and its two neighbours in ``(log P, log E)``. A
    minimum at either end of ``Ps`` raises ``ValueError`` (widen ``Ps``).
    """
    budgets = np.asarray(budgets, dtype=float).reshape(-1)
    if budgets.size == 0 or not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise ValueError(f"budgets must be positive finite numbers, got {budgets!r}")
    Ps = np.asarray(Ps).reshape(-1)
    if Ps.size < 3 or not np.issubdtype(Ps.dtype, np.integer) or Ps.min() < 1 \
            or np.any(np.diff(Ps) <= 0):
        raise ValueError(f"Ps must be at least 3 increasing integers >= 1, got {Ps!r}")
    grid = np.array([budget_error(params, int(P), budgets) for P in Ps])
    u, v = np.log(Ps.astype(float)), np.log(grid)
    P_opt = np.empty(budgets.size)
    E_opt = np.empty(budgets.size)
    for j in range(budgets.size):
        i = int(np.argmin(v[:, j]))
        if i == 0 or i == Ps.size - 1:
            raise ValueError(f"budgets: the optimum for C = {budgets[j]:.3g} lies at the edge of "
                             f"Ps (P = {Ps[i]}); widen Ps or narrow the budgets")
        a, b, c = np.polyfit(u[i - 1:i + 2], v[i - 1:i + 2, j], 2)
        x = -b / (2 * a) if a > 0 else u[i]
        x = min(max(x, u[i - 1]), u[i + 1])
        P_opt[j] = math.exp(x)
        E_opt[j] = math.exp(min(a * x * x + b * x + c, v[i, j]))
    return Frontier(budgets=budgets, P=P_opt, t=budgets / P_opt**2, error=E_opt,
                    grid_P=Ps.copy(), grid_error=grid)


@dataclass(frozen=True)
class Optimum:
    """For each ``P`` of ``Ps``: the control ``x`` (stopping time or ridge) of least error, and
    that error (the theory evaluated at ``x``)."""

    Ps: np.ndarray
    x: np.ndarray
    error: np.ndarray


def _check_Ps(Ps) -> np.ndarray:
    Ps = np.asarray(Ps).reshape(-1)
    if Ps.size == 0 or not np.issubdtype(Ps.dtype, np.integer) or Ps.min() < 1:
        raise ValueError(f"Ps must be integers >= 1, got {Ps!r}")
    return Ps


def _vertex(u: np.ndarray, E: np.ndarray, i: int) -> tuple[float, float]:
    """Vertex ``(u, E)`` of the parabola through points ``i - 1, i, i + 1`` (equal spacing),
    kept within them and never above ``E[i]``."""
    h = u[i + 1] - u[i]
    a = (E[i + 1] + E[i - 1] - 2 * E[i]) / (2 * h * h)
    b = (E[i + 1] - E[i - 1]) / (2 * h)
    if not a > 0:
        return float(u[i]), float(E[i])
    v = min(max(-b / (2 * a), -h), h)
    return float(u[i] + v), float(min(E[i] + a * v * v + b * v, E[i]))


def _grid_minimum(f, x0: float, what: str, span: float = 0.6, points: int = 25,
                  shifts: int = 12) -> tuple[float, float]:
    """Minimum of ``f`` (vectorised over ``x > 0``) near ``x0``: ``f`` on a log grid of
    ``points`` over ``x0 * 10**[-span, span]``, re-centred on the smallest value until that is
    interior (at most ``shifts`` times); then ``f`` on 5 points an eighth of the spacing apart
    around the vertex of the parabola through the smallest value and its neighbours (on 9
    points between those neighbours if the minimum is not inside), and the vertex of the
    parabola in ``log x`` through the smallest of those and its two neighbours. Returns
    ``(x, f)`` at the vertex (the parabola's value, never above the smallest value computed;
    within a few 1e-6, relative, of the minimum on the error curves of this module). Raises
    ``RuntimeError`` when no interior minimum deeper than ``1e-8`` (relative) is found, or
    ``f`` is not finite."""
    u = math.log(x0) + np.linspace(-span, span, points) * math.log(10)

    def values(u):
        E = np.asarray(f(np.exp(u)), dtype=float)
        if not np.all(np.isfinite(E)):
            raise RuntimeError(f"{what}: non-finite error near "
                               f"x = {math.exp(u[len(u) // 2]):.3g}")
        return E

    for _ in range(shifts):
        E = values(u)
        i = int(np.argmin(E))
        if 0 < i < points - 1:
            depth = 1e-8 * abs(E[i])               # above the round-off of the theory
            if not (E[:i].max() - E[i] > depth and E[i + 1:].max() - E[i] > depth):
                raise RuntimeError(f"{what}: the error is flat to round-off around x = "
                                   f"{math.exp(u[i]):.3g}, no interior minimum (no label noise?)")
            h = u[i + 1] - u[i]
            fine = _vertex(u, E, i)[0] + np.linspace(-0.25, 0.25, 5) * h
            Ef = values(fine)
            j = int(np.argmin(Ef))
            if j in (0, 4):                        # the coarse vertex was off: bracket it
                fine = np.linspace(u[i - 1], u[i + 1], 9)
                Ef = values(fine)
                j = min(max(int(np.argmin(Ef)), 1), 7)   # the ends are above the middle
            v, Ev = _vertex(fine, Ef, j)
            return math.exp(v), Ev
        u = u + (u[i] - u[points // 2])        # re-centre on the edge value
    raise RuntimeError(f"{what}: no interior minimum within {shifts} shifts of the grid from "
                       f"x = {x0:.3g} (the error may fall all the way: no label noise?)")


def early_stopping_errors(params: Params, Ps, t0: float) -> Optimum:
    """Least theory error over the training time, ``min_t E_g(t)``, for each ``P`` of ``Ps``
    (:func:`rfdmft.laplace.theory_laplace` with ``params``, ``P`` replaced).

    The search starts at ``t0`` for the first ``P`` and at the previous optimum for the next
    (so order ``Ps`` increasingly); see :func:`_grid_minimum`. Needs an interior minimum (label
    noise, ``gamma`` small): otherwise ``RuntimeError``."""
    Ps = _check_Ps(Ps)
    if not (isinstance(t0, numbers.Real) and 0 < t0 < math.inf):
        raise ValueError(f"t0 must be a finite time > 0, got {t0!r}")
    x, E, t = np.empty(Ps.size), np.empty(Ps.size), float(t0)
    with one_blas_thread():                     # small complex products: threads only cost
        for j, P in enumerate(Ps):
            p = params.replace(P=int(P))
            t, E[j] = _grid_minimum(lambda ts: theory_laplace(p, ts).error, t,
                                    f"early stopping at P = {int(P)}")
            x[j] = t
    return Optimum(Ps=Ps.copy(), x=x, error=E)


def optimal_ridge_errors(params: Params, Ps, gamma0: float) -> Optimum:
    """Least kernel-ridge-regression error over the ridge ``gamma`` (``t = inf``, the
    ``bias + label_variance`` of :func:`rfdmft.equilibrium.equilibrium`, ``T`` ignored) for
    each ``P`` of ``Ps``; the search starts at ``gamma0`` and then at the previous optimum.
    Raises ``RuntimeError`` without an interior minimum (e.g. no label noise)."""
    Ps = _check_Ps(Ps)
    if not (isinstance(gamma0, numbers.Real) and 0 < gamma0 < math.inf):
        raise ValueError(f"gamma0 must be a finite ridge > 0, got {gamma0!r}")
    x, E, g = np.empty(Ps.size), np.empty(Ps.size), float(gamma0)
    base = params.replace(T=0.0)
    for j, P in enumerate(Ps):
        def err(gs, P=int(P)):
            return [equilibrium(base.replace(P=P, gamma=float(v))).mean_error for v in gs]
        g, E[j] = _grid_minimum(err, g, f"optimal ridge at P = {int(P)}", points=9)
        x[j] = g
    return Optimum(Ps=Ps.copy(), x=x, error=E)


#: Early-stopping optima of :func:`measure_exponent`, shared by its two laws that use them.
_STOPPED: dict = {}

#: Laws :func:`measure_exponent` measures (keys of :func:`predicted_exponents`).
SOURCE_LAWS = ("time", "data", "model", "data_early_stopping", "data_optimal_ridge",
               "stopping_time")


#: The last few teachers of :func:`_source_params` (the measurements reuse them).
_TEACHERS: dict = {}


def _source_params(alpha, beta, N, M=None, **fields) -> Params:
    """Params for the teacher ``power_law_teacher(alpha, beta, M)`` (``M = N`` by default;
    ``beta = 0``: the isotropic teacher, ``teacher=None``)."""
    M = N if M is None else M
    key = (alpha, beta, M)
    if beta != 0 and key not in _TEACHERS:
        if len(_TEACHERS) >= 4:
            _TEACHERS.pop(next(iter(_TEACHERS)))
        _TEACHERS[key] = power_law_teacher(alpha, beta, M)
    return Params(alpha=alpha, N=N, M=M, P=fields.pop("P", 10),
                  teacher=None if beta == 0 else _TEACHERS[key], **fields)


def measure_exponent(alpha: float, beta: float, law: str, sigma2: float = 100.0) -> PowerLawFit:
    """Fit of the power law ``law`` (one of :data:`SOURCE_LAWS`) to the DMFT theory for the
    teacher :func:`power_law_teacher` ``(alpha, beta)``, with its finite-size part
    (:meth:`rfdmft.fitting.PowerLawFit.with_finite_size`); ``-fit.exponent`` is the measured
    decay exponent. Sizes (``M = N`` unless stated; targets with ``beta <= 0``, whose slow
    tails need many modes, get more):

    * ``time``: ``E_g(t)`` at ``P = 10^10``, ``N = 10^6`` (``beta > 0``: ``10^5``), nine
      times with ``100 <= P t <= 3000``; reduced: ``N / 4``, ``P / 4``;
    * ``data``: ridgeless ``E_g(t = inf)`` at ``N = 4 10^6`` (``beta > 0``: ``10^6``),
      ``200 <= P <= 3200``; reduced: ``N / 4``, the range of ``P`` / 4;
    * ``model``: ``E_g(t = inf)`` with ``M = 10^6``, ``P = 8 N``, ``100 <= N <= 1600``; reduced:
      ``M / 4``, the range of ``N`` / 4;
    * ``data_early_stopping``, ``data_optimal_ridge``, ``stopping_time``: label noise
      ``sigma2``, the optima of :func:`early_stopping_errors` and :func:`optimal_ridge_errors`
      against ``x = P / sigma2`` over three decades from ``x_0 = 30**(1 + alpha + beta)``,
      where about 30 modes are learned at the optimum (``k* ~ x**(1 / (1 + alpha + beta))``),
      ``N = 4 10^5`` (``beta <= 0``) or ``10^5``; reduced: ``N / 4``, and ``x / 4**(1 + alpha +
      beta)`` (a quarter of the learned modes).

    The finite-size part bounds the distance to the asymptote when the corrections fall at least
    like ``size**-(1/2)``; for hard targets the modes beyond ``N`` contribute corrections of
    relative order ``(k / N)**(alpha + beta)``, so ``alpha + beta >= 1/2`` is needed for an
    honest error bar at these sizes.

    ``sigma2`` is used by the three noisy laws only. Raises ``ValueError`` for an unknown law
    or a ``beta`` so large that ``P`` would exceed ``10^18``.
    """
    alpha, beta = _check_exponents(alpha, beta)
    if law not in SOURCE_LAWS:
        raise ValueError(f"law must be one of {SOURCE_LAWS}, got {law!r}")
    hard = beta <= 0
    with one_blas_thread():
        if law == "time":
            Pt = np.logspace(2, math.log10(3000), 9)

            def fit(N, P):
                E = theory_laplace(_source_params(alpha, beta, N, P=P), Pt / P).error
                return fit_power_law(Pt, E)

            N, P = (1_000_000 if hard else 100_000), 10**10
            return fit(N, P).with_finite_size(fit(N // 4, P), fit(N, P // 4))
        if law == "data":
            Ps = np.array([50, 100, 200, 400, 800, 1600, 3200])
            N = 4_000_000 if hard else 1_000_000

            def fit(N, window):
                E = krr_learning_curve(_source_params(alpha, beta, N), Ps)
                return fit_power_law(Ps, E, window=window)

            main = (200, 3200)
            return fit(N, main).with_finite_size(fit(N // 4, main), fit(N, (50, 800)))
        if law == "model":
            Ns = np.array([25, 50, 100, 200, 400, 800, 1600])

            def fit(M, window):
                E = [equilibrium(_source_params(alpha, beta, int(n), M=M, P=8 * int(n))).error
                     for n in Ns]
                return fit_power_law(Ns, np.array(E), window=window)

            main, M = (100, 1600), 10**6
            return fit(M, main).with_finite_size(fit(M // 4, main), fit(M, (25, 400)))
    # label noise: the optima along x = P / sigma2
    if not (isinstance(sigma2, numbers.Real) and 0 < sigma2 < math.inf):
        raise ValueError(f"sigma2 must be a finite number > 0, got {sigma2!r}")
    m = 1 + alpha + beta
    x0 = 30.0**m
    shrink = 4.0**m
    xs = np.concatenate([x0 / shrink * np.logspace(0, 3, 3), x0 * np.logspace(0, 3, 7)])
    if sigma2 * xs.max() > 1e18:
        raise ValueError(f"beta = {beta} needs P up to {sigma2 * xs.max():.3g} > 1e18 for "
                         "this measurement; choose a smaller beta or sigma2")
    Ps = np.unique(np.round(sigma2 * xs).astype(np.int64))
    x = Ps / sigma2

    # the searches start where about k = (P / sigma2)**(1 / m) modes are learned,
    # at t ~ k**(1 + alpha) / P
    t0 = float((Ps[0] / sigma2) ** ((1 + alpha) / m) / Ps[0])

    def curve(N):
        p = _source_params(alpha, beta, N, sigma2=float(sigma2))
        if law == "data_optimal_ridge":
            return optimal_ridge_errors(p, Ps, 1.0 / t0).error
        key = (alpha, beta, float(sigma2), N)      # both laws use one search
        if key not in _STOPPED:
            if len(_STOPPED) >= 32:
                _STOPPED.pop(next(iter(_STOPPED)))
            _STOPPED[key] = early_stopping_errors(p, Ps, t0)
        opt = _STOPPED[key]
        return opt.x if law == "stopping_time" else opt.error

    N = 400_000 if hard else 100_000
    main, low = (0.999 * x0, 1.001e3 * x0), (0.999 * x0 / shrink, 1.001e3 * x0 / shrink)
    y = curve(N)
    return fit_power_law(x, y, window=main).with_finite_size(
        fit_power_law(x, curve(N // 4), window=main), fit_power_law(x, y, window=low))
