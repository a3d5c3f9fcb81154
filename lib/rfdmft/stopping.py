r"""Early stopping: the training time of least generalisation error, from theory and simulation.

Conventions are those of :mod:`rfdmft.model` (``w(0) = 0``, loss summed over the ``P`` data).

* :func:`optimal_stopping` minimises the Laplace-domain theory ``E_g(t)``
  (:func:`rfdmft.laplace.theory_laplace`) over ``t`` in a range: a log-spaced scan finds the
  smallest value, then a bounded minimisation in ``log t`` refines it between the scan's
  neighbours. A minimum on the edge of the range (or none deeper than the inversion's accuracy)
  is refused with ``RuntimeError``: there is then no interior early-stopping optimum to report
  (e.g. noise-free gradient flow, or weight decay ``gamma >= sigma2``).
* :func:`simulated_stopping` locates the minimum of the simulated error on a time grid
  (the same designs as :func:`rfdmft.simulation.simulate` with the same seed), refines it by
  the vertex of a parabola in ``log t`` through the three smallest neighbouring points and
  gives its statistical uncertainty by resampling the designs.
* :func:`optimal_ridge` minimises the kernel-ridge-regression error over the ridge ``gamma``
  (``t = inf``, ``T = 0``), the reference early stopping is compared with.
* :func:`noise_dominated_stopping` gives the closed-form limit of many data in the
  noise-dominated regime (isotropic teacher, ``M = N`` large, ``gamma = T = 0``), where the
  learned modes are few compared with ``P`` and each relaxes at its bare rate ``P lambda_k``.
  With ``b = 1 / (1 + alpha)`` and ``x = P lambda_k / sigma2`` (signal-to-noise of a mode),
  summing over modes with density ``dk ~ x^(-b-1) dx`` gives

      E(t) ~ int x^(-b-1) [x e^(-2 x s) + (1 - e^(-x s))^2] dx,   s = sigma2 t,
           = Gamma(1 - b) [2^(b-1) s^(b-1) + (2 - 2^b) s^b / b]   (up to a common factor),

  minimal at ``s* = (1 - b) 2^(b-1) / (2 - 2^b)``; the best ridge (``gamma = sigma2``) gives
  ``int x^(-b) / (1 + x) dx = pi / sin(pi b)`` with the same factor, which is
  ``C^b (sigma2 / P)^(1-b) b pi / sin(pi b)`` (``lambda_k ~ C k^-(1+alpha)``).
* :func:`thermal_dominated_stopping` gives the closed-form limit under Langevin noise
  (temperature ``T``, label noise ``sigma2 >= 0``, ``gamma = 0`` or small, isotropic teacher,
  ``M = N`` large). With ``gamma = 0`` the error is ``E(t) = r(2t) + V(t) + T int_0^{2t} r``
  (``r`` the collective response, ``V'(t) = 2 sigma2 [r(t) - r(2t)]``), so ``dE/dt = 0`` reads
  ``-r'(2t) = T r(2t) + sigma2 [r(t) - r(2t)]``. Where ``r(tau) ~ b Gamma(1-b) C^b (P tau)^(b-1)``
  (the fitted modes ``n* = (C P 2t*)^b`` are many, ``n* >> 1``, and few compared with ``P``)
  this gives

      t* = (1 - b) / (2 T_eff),   T_eff = T + (2^(1-b) - 1) sigma2,
      E* = r(2t*) / b = Gamma(1-b) C^b ((1 + alpha) T_eff / (alpha P))^(alpha / (1 + alpha)),

  with the bias a fraction ``b`` of ``E*``; ``sigma2 = 0`` is pure Langevin noise, ``T = 0`` the
  label-noise law above (``s* = sigma2 t*``). A weight decay with ``gamma t* << 1`` changes
  ``ln t*`` and ``ln E*`` by ``gamma t*`` times the coefficients of
  :meth:`ThermalDominated.decay_coefficients` (first order, from the mode sums in closed form).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from .equilibrium import equilibrium
from .laplace import theory_laplace
from .model import ErrorCurve, Params
from .simulation import check_size, design_error, design_seeds, one_blas_thread, sample_design

__all__ = ["Stopping", "SimulatedStopping", "Ridge", "optimal_stopping", "simulated_stopping",
           "stopping_curve_minimum", "optimal_ridge", "NoiseDominated", "noise_dominated_stopping",
           "ThermalDominated", "thermal_dominated_stopping"]

#: Relative depth a minimum must have on both sides to count (well above the accuracy of the
#: Laplace inversion, ~1e-10 relative, so that round-off on a flat curve is not a minimum).
MIN_DEPTH = 1e-8


@dataclass(frozen=True)
class Stopping:
    """The theory's early-stopping optimum: time ``t_star`` and the error and its parts there.

    ``error = bias + label_variance + thermal_variance`` at ``t_star`` (bias with the tail).
    ``bracket`` are the scan points either side of the minimum.
    """

    t_star: float
    error: float
    bias: float
    label_variance: float
    thermal_variance: float
    bracket: tuple[float, float]


@dataclass(frozen=True)
class SimulatedStopping:
    """Minimum of a simulated error curve on a time grid.

    ``t_star``: vertex of the parabola in ``log t`` through the grid minimum and its two
    neighbours; ``t_low, t_high``: the 16th and 84th percentiles of the same estimate over
    resampled designs (one-sigma statistical band); ``log_sem``: the standard deviation of
    ``log t_star`` over the resamples; ``spacing``: the grid ratio ``t_{i+1} / t_i`` at the
    minimum (the resolution without the parabola); ``error``, ``error_sem``: the mean simulated
    error at the grid minimum and its standard error over designs; ``curve``: the mean curve.
    """

    t_star: float
    t_low: float
    t_high: float
    log_sem: float
    spacing: float
    error: float
    error_sem: float
    index: int
    curve: ErrorCurve


@dataclass(frozen=True)
class Ridge:
    """The ridge ``gamma`` of least kernel-ridge-regression error and that error."""

    gamma: float
    error: float


@dataclass(frozen=True)
class NoiseDominated:
    """Closed-form limit of early stopping in the noise-dominated regime (see the module notes).

    ``s_star = sigma2 t*``; ``ratio = E*(early stopping) / E(best ridge)``; ``ridge_prefactor``:
    the best-ridge error is ``ridge_prefactor (sigma2 / P)^(alpha / (1 + alpha))``.
    """

    alpha: float
    s_star: float
    ratio: float
    ridge_prefactor: float

    @property
    def exponent(self) -> float:
        """``alpha / (1 + alpha)``: ``E* ~ (sigma2 / P)^exponent``."""
        return self.alpha / (1 + self.alpha)

    def t_star(self, sigma2: float) -> float:
        """The early-stopping time ``s_star / sigma2``."""
        return self.s_star / sigma2

    def ridge_error(self, sigma2: float, P: float) -> float:
        """Best-ridge (Bayes-optimal) error ``ridge_prefactor (sigma2 / P)^exponent``."""
        return self.ridge_prefactor * (sigma2 / P) ** self.exponent

    def error(self, sigma2: float, P: float) -> float:
        """Early-stopping error ``ratio x ridge_error``."""
        return self.ratio * self.ridge_error(sigma2, P)


def noise_dominated_stopping(alpha: float, M: int | None = None) -> NoiseDominated:
    """Early stopping in the noise-dominated limit for spectral exponent ``alpha`` (closed form).

    ``M`` sets the normalisation ``C = 1 / sum_{j<=M} j^-(1+alpha)`` of the spectrum
    (default: ``M = inf``, ``C = 1 / zeta(1 + alpha)``).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < math.inf:
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    from scipy.special import gamma as Gamma, zeta
    b = 1.0 / (1.0 + alpha)
    s = (1 - b) * 2 ** (b - 1) / (2 - 2**b)
    f = Gamma(1 - b) * (2 ** (b - 1) * s ** (b - 1) + (2 - 2**b) * s**b / b)
    ridge = math.pi / math.sin(math.pi * b)
    if M is None:
        C = 1.0 / zeta(1.0 + alpha)
    else:
        M = _check_positive_int("M", M, 1)
        C = 1.0 / float(np.sum(np.arange(1, M + 1, dtype=float) ** -(1.0 + alpha)))
    return NoiseDominated(alpha=float(alpha), s_star=float(s), ratio=float(f / ridge),
                          ridge_prefactor=float(C**b * b * ridge))


@dataclass(frozen=True)
class ThermalDominated:
    """Closed-form early stopping under Langevin noise in the limit of many data (module notes).

    With ``b = 1 / (1 + alpha)`` and the effective temperature
    ``T_eff = T + noise_weight * sigma2`` (``noise_weight = 2^(1-b) - 1``):
    ``t* = time_constant * T_eff^time_exponent`` (``time_constant = (1-b)/2``,
    ``time_exponent = -1``) and ``E* = error_prefactor * (T_eff / P)^error_exponent``
    (``error_exponent = alpha / (1 + alpha)``, ``error_prefactor = Gamma(1-b) C^b (1-b)^(b-1)``);
    the bias is ``bias_fraction = b`` of ``E*``. ``C`` normalises ``lambda_k ~ C k^-(1+alpha)``.
    The exponents are stored (not recomputed from ``alpha``) so that each is used exactly once.
    Valid for ``n* >> 1`` and ``n* << P`` (:meth:`fitted_modes`), i.e.
    ``crossover_temperature(P) << T_eff << C P (1 - b)``; see the module notes.
    """

    alpha: float
    C: float
    time_constant: float
    time_exponent: float
    noise_weight: float
    error_prefactor: float
    error_exponent: float
    bias_fraction: float

    def effective_temperature(self, T: float, sigma2: float = 0.0) -> float:
        """``T_eff = T + noise_weight * sigma2`` (label noise counted as a temperature)."""
        T = _check_nonnegative("T", T)
        sigma2 = _check_nonnegative("sigma2", sigma2)
        if T + sigma2 == 0:
            raise ValueError("T and sigma2 are both 0: without noise there is no early-stopping "
                             "optimum (the error falls all the time)")
        return T + self.noise_weight * sigma2

    def t_star(self, T: float, sigma2: float = 0.0, gamma: float = 0.0) -> float:
        """Optimal stopping time; with ``gamma > 0`` to first order in ``gamma t*``."""
        t = self.time_constant * self.effective_temperature(T, sigma2) ** self.time_exponent
        if _check_nonnegative("gamma", gamma) > 0:
            t *= 1.0 + self.decay_coefficients(T, sigma2)[0] * gamma * t
        return t

    def error(self, T: float, P: float, sigma2: float = 0.0, gamma: float = 0.0,
              discrete: bool = False) -> float:
        """Error at the optimum; ``gamma > 0`` to first order in ``gamma t*``.

        ``discrete=True`` subtracts ``(T + sigma2) / (2 P)``: the sum over modes starts at
        ``k = 1``, the integral of the closed form at ``k = 0``, and each fitted mode carries
        the variance ``(T + sigma2) / P`` (Euler-Maclaurin end correction, half a mode).
        """
        P = _check_positive_real("P", P)
        Teff = self.effective_temperature(T, sigma2)
        E = self.error_prefactor * (Teff / P) ** self.error_exponent
        if _check_nonnegative("gamma", gamma) > 0:
            E *= 1.0 + self.decay_coefficients(T, sigma2)[1] * gamma * self.t_star(T, sigma2)
        if discrete:
            E -= (T + sigma2) / (2.0 * P)
        return E

    def fitted_modes(self, T: float, P: float, sigma2: float = 0.0) -> float:
        """``n* = (C P 2t*)^b``: the modes with ``P lambda_k 2t* > 1``, fitted at the optimum.
        The closed form needs ``1 << n* << P``; the corrections are of relative order ``n*/P``
        (and ``(n*/N)^alpha`` from the modes beyond ``N``, slower when ``alpha < 1``)."""
        b = 1.0 / (1.0 + self.alpha)
        return (self.C * _check_positive_real("P", P) * 2.0 * self.t_star(T, sigma2)) ** b

    def crossover_temperature(self, P: float) -> float:
        """``T_eff`` at which ``n* = P``: ``C (1 - b) P^-alpha``. Much below it the fitted modes
        have saturated at ``P`` and ``t*`` grows only logarithmically as ``T -> 0``."""
        b = 1.0 / (1.0 + self.alpha)
        return self.C * (1.0 - b) * _check_positive_real("P", P) ** -self.alpha

    def decay_coefficients(self, T: float, sigma2: float = 0.0) -> tuple[float, float]:
        """``(d ln t*/d(gamma t*), d ln E*/d(gamma t*))`` at ``gamma = 0`` (first order).

        From the mode sums at ``gamma = 0`` and their first derivative in ``gamma``, each an
        integral ``int u^p f(u) du`` over ``u = P lambda_k t`` with ``Gamma``-function values
        (bias ``I_B``, thermal ``I_T``, label ``I_L``, in units of ``Gamma(1 - b)``).
        """
        Teff = self.effective_temperature(T, sigma2)
        b = 1.0 / (1.0 + self.alpha)
        IB = (2**b - 1) / b - 2 ** (b - 1)
        IT = -(2 ** (b + 1)) / (b + 1)
        IL = (1 - 2**b) * (1 - b) / (b * (b + 1))
        Jt = (T * IT + 2 * sigma2 * IL) * (1 - b) / (2 * Teff)     # J t*, a pure number
        d_time = -(2 * b * IB + (b + 1) * Jt) / ((1 - b) * 2 ** (b - 1))
        d_error = b * 2 ** (1 - b) * (2 * IB + Jt)
        return float(d_time), float(d_error)


def thermal_dominated_stopping(alpha: float, M: int | None = None) -> ThermalDominated:
    """Early stopping under Langevin noise (and label noise) in the limit of many data.

    ``M`` sets the normalisation ``C = 1 / sum_{j<=M} j^-(1+alpha)`` of the spectrum
    (default: ``M = inf``, ``C = 1 / zeta(1 + alpha)``). See :class:`ThermalDominated`.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < math.inf:
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    from scipy.special import gamma as Gamma, zeta
    b = 1.0 / (1.0 + alpha)
    if M is None:
        C = 1.0 / zeta(1.0 + alpha)
    else:
        M = _check_positive_int("M", M, 1)
        C = 1.0 / float(np.sum(np.arange(1, M + 1, dtype=float) ** -(1.0 + alpha)))
    return ThermalDominated(alpha=float(alpha), C=float(C), time_constant=(1 - b) / 2,
                            time_exponent=-1.0, noise_weight=2 ** (1 - b) - 1,
                            error_prefactor=float(Gamma(1 - b) * C**b * (1 - b) ** (b - 1)),
                            error_exponent=1 - b, bias_fraction=b)


def _check_positive_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_params(params) -> Params:
    if not isinstance(params, Params):
        raise ValueError(f"params must be an rfdmft.Params, got {type(params).__name__}")
    return params


def _check_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high) with 0 < low < high < inf, "
                         f"got {value!r}") from None
    if not (0 < lo < hi < math.inf):
        raise ValueError(f"{name} must be two numbers (low, high) with 0 < low < high < inf, "
                         f"got ({lo}, {hi})")
    return lo, hi


def _check_positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _interior_minimum(E: np.ndarray, what: str, t: np.ndarray) -> int:
    """Index of the smallest value, refusing a minimum at an end or one shallower than MIN_DEPTH."""
    i = int(np.argmin(E))
    if i == 0 or i == E.size - 1:
        end = "lower" if i == 0 else "upper"
        raise RuntimeError(
            f"{what} is smallest at the {end} end of the range (t = {t[i]:.4g}): no interior "
            "minimum there. Widen the range, or there is no early-stopping optimum (the error "
            "falls all the time, e.g. without label noise or with weight decay gamma >= sigma2)")
    depth = MIN_DEPTH * abs(E[i])
    if not (E[:i].max() - E[i] > depth and E[i + 1:].max() - E[i] > depth):
        raise RuntimeError(
            f"{what} has no minimum deeper than {MIN_DEPTH:g} (relative) in the range: it is flat "
            f"to round-off around t = {t[i]:.4g}, so there is no early-stopping optimum to report")
    return i


def optimal_stopping(params: Params, t_range=(1e-3, 1e6), points_per_decade: int = 8,
                     xatol: float = 1e-5) -> Stopping:
    """The time ``t*`` in ``t_range`` minimising the theory's ``E_g(t)``, and the error there.

    A scan with ``points_per_decade`` log-spaced times locates the smallest error; a bounded
    minimisation in ``log t`` between its two neighbours refines it to ``xatol`` (in ``log t``).
    Raises ``ValueError`` for bad input and ``RuntimeError`` when the smallest error lies on the
    edge of ``t_range`` or there is no minimum (``E_g`` monotone or flat), or when the
    refinement does not converge.
    """
    params = _check_params(params)
    lo, hi = _check_range("t_range", t_range)
    points_per_decade = _check_positive_int("points_per_decade", points_per_decade, 2)
    if isinstance(xatol, bool) or not isinstance(xatol, numbers.Real) or not 0 < xatol < 0.1:
        raise ValueError(f"xatol must be a number in (0, 0.1) (tolerance in log t), got {xatol!r}")
    n = max(3, int(math.ceil(points_per_decade * math.log10(hi / lo))) + 1)
    grid = np.geomspace(lo, hi, n)
    E = theory_laplace(params, grid).error
    i = _interior_minimum(E, "the theory's E_g(t)", grid)
    a, b = math.log(grid[i - 1]), math.log(grid[i + 1])
    res = minimize_scalar(lambda x: theory_laplace(params, [math.exp(x)]).error[0],
                          bounds=(a, b), method="bounded", options={"xatol": xatol})
    # the refined value may exceed the scan's smallest only by the inversion's round-off
    if not res.success or not (a < res.x < b) or res.fun > E[i] * (1 + 1e-9):
        raise RuntimeError("the minimisation of E_g(t) did not converge between "
                           f"t = {grid[i - 1]:.4g} and {grid[i + 1]:.4g} ({res.message})")
    t_star = math.exp(res.x)
    c = theory_laplace(params, [t_star])
    return Stopping(t_star=t_star, error=float(c.error[0]), bias=float(c.bias[0]),
                    label_variance=float(c.label_variance[0]),
                    thermal_variance=float(c.thermal_variance[0]),
                    bracket=(float(grid[i - 1]), float(grid[i + 1])))


def _vertex(logt: np.ndarray, E: np.ndarray, i: int) -> float:
    """``log t`` of the vertex of the parabola through points ``i - 1, i, i + 1`` (a minimum)."""
    x, y = logt[i - 1:i + 2], E[i - 1:i + 2]
    a, b, _ = np.polyfit(x - x[1], y, 2)
    if not a > 0:
        return float(x[1])                      # not convex: keep the grid point
    return float(np.clip(x[1] - b / (2 * a), x[0], x[2]))


def stopping_curve_minimum(times, samples, resamples: int = 400, seed: int = 0,
                           curve: ErrorCurve | None = None) -> SimulatedStopping:
    """Minimum of the mean of ``samples`` (designs x times, error per design) over ``times``.

    ``times`` finite, positive and increasing (at least 3). The statistical band comes from
    ``resamples`` bootstrap resamples of the designs (reproducible from ``seed``); resamples whose
    minimum falls on the edge of the grid count at that edge. Raises ``RuntimeError`` when the
    mean curve's smallest value is on the edge of the grid.
    """
    t = np.asarray(times, dtype=float).reshape(-1)
    if t.size < 3 or not np.all(np.isfinite(t) & (t > 0)) or np.any(np.diff(t) <= 0):
        raise ValueError("times must be at least 3 finite, positive, increasing numbers, got "
                         f"{times!r}")
    X = np.asarray(samples, dtype=float)
    if X.ndim != 2 or X.shape[1] != t.size or X.shape[0] < 1:
        raise ValueError(f"samples must have shape (designs, {t.size}), got {X.shape}")
    resamples = _check_positive_int("resamples", resamples, 1)
    logt = np.log(t)
    mean = X.mean(axis=0)
    i = _interior_minimum(mean, "the simulated E_g(t)", t)
    t_star = math.exp(_vertex(logt, mean, i))
    designs = X.shape[0]
    rng = np.random.default_rng(seed)
    boot = np.empty(resamples)
    for r in range(resamples):                  # loop over resamples (cheap glue)
        m = X[rng.integers(0, designs, designs)].mean(axis=0)
        j = int(np.argmin(m))
        boot[r] = logt[j] if j in (0, t.size - 1) else _vertex(logt, m, j)
    sem = X[:, i].std(ddof=1) / math.sqrt(designs) if designs > 1 else math.nan
    lo, hi = np.percentile(boot, [15.87, 84.13])
    return SimulatedStopping(t_star=t_star, t_low=math.exp(lo), t_high=math.exp(hi),
                             log_sem=float(boot.std(ddof=1)) if resamples > 1 else math.nan,
                             spacing=float(t[i + 1] / t[i]), error=float(mean[i]),
                             error_sem=float(sem), index=i, curve=curve)


def simulated_stopping(params: Params, times, designs: int = 20, seed: int = 0,
                       resamples: int = 400) -> SimulatedStopping:
    """Early-stopping optimum of the exact simulation on the grid ``times``.

    Uses the designs of ``rfdmft.simulate(params, times, designs, seed)`` (its mean curve is
    returned as ``curve``); see :func:`stopping_curve_minimum` for the estimate and its band.
    """
    params = _check_params(params)
    designs = _check_positive_int("designs", designs, 2)
    t = np.asarray(times, dtype=float).reshape(-1)
    if t.size < 3 or not np.all(np.isfinite(t) & (t > 0)) or np.any(np.diff(t) <= 0):
        raise ValueError("times must be at least 3 finite, positive, increasing numbers, got "
                         f"{times!r}")
    check_size(params)
    parts = np.empty((designs, 3, t.size))
    with one_blas_thread(params.P * params.N):
        for d, s in enumerate(design_seeds(seed, designs)):
            c = design_error(params, sample_design(params, np.random.default_rng(s)), t)
            parts[d] = c.bias, c.label_variance, c.thermal_variance
    total = parts.sum(axis=1)
    mean = parts.mean(axis=0)
    curve = ErrorCurve(times=t, bias=mean[0], label_variance=mean[1], thermal_variance=mean[2],
                       error_sem=total.std(axis=0, ddof=1) / math.sqrt(designs))
    return stopping_curve_minimum(t, total, resamples=resamples, seed=seed, curve=curve)


def optimal_ridge(params: Params, gamma_range=(1e-8, 1e4), xatol: float = 1e-8) -> Ridge:
    """The ridge ``gamma`` in ``gamma_range`` minimising the kernel-ridge-regression error
    (``equilibrium(...).mean_error``, ``T`` ignored), by bounded minimisation in ``log gamma``.

    For the isotropic teacher with ``M = N`` the answer is ``sigma2`` (Bayes-optimal); this
    function does not assume it. Raises ``RuntimeError`` when the minimum is on the edge of
    ``gamma_range`` (e.g. no label noise: the best ridge is 0).
    """
    params = _check_params(params)
    lo, hi = _check_range("gamma_range", gamma_range)
    if isinstance(xatol, bool) or not isinstance(xatol, numbers.Real) or not 0 < xatol < 0.1:
        raise ValueError("xatol must be a number in (0, 0.1) (tolerance in log gamma), "
                         f"got {xatol!r}")

    def err(x):
        return equilibrium(params.replace(gamma=math.exp(x), T=0.0)).mean_error

    grid = np.geomspace(lo, hi, max(3, int(math.ceil(4 * math.log10(hi / lo))) + 1))
    E = np.array([err(math.log(g)) for g in grid])
    i = int(np.argmin(E))
    if i == 0 or i == grid.size - 1:
        end = "lower" if i == 0 else "upper"
        raise RuntimeError(f"the kernel-ridge error is smallest at the {end} end of gamma_range "
                           f"(gamma = {grid[i]:.3g}); widen the range (without label noise the "
                           "best ridge is 0)")
    a, b = math.log(grid[i - 1]), math.log(grid[i + 1])
    res = minimize_scalar(err, bounds=(a, b), method="bounded", options={"xatol": xatol})
    if not res.success or not (a < res.x < b) or res.fun > E[i] * (1 + 1e-12):
        raise RuntimeError(f"the minimisation over gamma did not converge ({res.message})")
    return Ridge(gamma=math.exp(res.x), error=float(res.fun))
