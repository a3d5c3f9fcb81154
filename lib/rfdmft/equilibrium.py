r"""Equilibrium (``t = inf``) theory: kernel ridge regression and the Bayesian posterior.

The static limit ``z -> 0`` of the DMFT self-consistency (see :mod:`rfdmft.laplace`) with ridge
``gamma`` is the kernel-ridge-regression learning-curve equation. Writing
``G_k(0) = (1 + R_0) / (P (lambda_k + kappa))`` it becomes the equation for the renormalised
ridge ``kappa`` (loss summed over the ``P`` data, so the ridge enters as ``gamma / P``):

    kappa = gamma / P + (kappa / P) sum_{k<=N} lambda_k / (lambda_k + kappa).

Ridgeless (``gamma = 0``): ``kappa > 0`` solves ``sum_k lambda_k / (lambda_k + kappa) = P`` when
``N > P``, and ``kappa = 0`` when ``N <= P``. With ``D = sum_k lambda_k / (lambda_k + kappa)``,
``rho = (1/P) sum_k lambda_k^2 / (lambda_k + kappa)^2``, teacher mode powers ``p_k``,
``tail = sum_{k>N} lambda_k p_k`` and effective noise variance ``sigma_e2 = sigma2 + tail``:

* bias (error of the noise-averaged predictor, tail included)
  ``= kappa^2 sum_{k<=N} lambda_k p_k / (lambda_k + kappa)^2 / (1 - rho) + tail``
  (ridgeless ``N > P``: the null-space weight; ``N < P``: the tail only);
* label-noise variance ``= sigma_e2 rho / (1 - rho)`` (infinite at ``N = P``, ``gamma = 0``);
* thermal variance ``= T R_0``, ``R_0 = int dmu / (h + gamma) = kappa D / gamma``
  (``N / (P - N)`` for ``gamma = 0 < P - N``): the expected posterior variance of the
  prediction at a new input, ``T E tr(Lambda (H + gamma)^-1)``.

The sums over modes run over the nodes of :func:`rfdmft.quadrature.mode_rule` (cost
independent of ``N`` for power-law spectra; relative error ~1e-13).

Bayesian reading (``gamma, T > 0``): Langevin dynamics relaxes to the posterior with prior
``w ~ N(0, T / gamma)`` and noise variance ``T``. The posterior mean is kernel ridge regression
with ridge ``gamma``; its error is ``bias + label_variance``; one posterior sample adds the
posterior variance: ``sample error = mean error + thermal variance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .model import ErrorCurve, Params, validate_times
from .quadrature import compress, mode_rule

__all__ = ["Equilibrium", "renormalised_ridge", "equilibrium", "equilibrium_curve",
           "posterior", "krr_learning_curve"]


@njit(cache=True, fastmath=True, error_model="numpy")
def _mode_sums(lam, w, kappa):
    """``P``-independent sums at ``kappa`` (nodes ``lam``, weights ``w`` of the mode rule):
    ``D = sum_k r_k``, ``sum_k s_k`` and ``sum_k r_k s_k`` with ``r_k = lam_k / (lam_k + kappa)``,
    ``s_k = 1 - r_k`` (``sum r s = -dD / d log kappa``)."""
    d = 0.0
    t = 0.0
    d1 = 0.0
    for start in range(0, lam.size, 256):          # blocks of 256 summed plainly, then added
        bd = 0.0
        bt = 0.0
        bd1 = 0.0
        for k in range(start, min(start + 256, lam.size)):
            inv = 1.0 / (lam[k] + kappa)
            rk = lam[k] * inv
            sk = kappa * inv
            bd += w[k] * rk
            bt += w[k] * sk
            bd1 += w[k] * (rk * sk)
        d += bd
        t += bt
        d1 += bd1
    return d, t, d1


@njit(cache=True)
def _deficit(P, N, d, t):
    """``P - D`` from the smaller of the sums ``D = sum r`` and ``N - D = sum s`` (less round-off)."""
    return P - d if d <= t else (P - N) + t


@njit(cache=True, error_model="numpy")
def _root_log(lam, w, N, P, gamma, lo, hi, x):
    """Safeguarded Newton in ``x = log kappa``, started at ``x``, on ``(lo, hi)`` for
    ``f(x) = log(P / D)`` (``gamma = 0``) or ``log(kappa (P - D) / gamma)`` (``gamma > 0``; ``-inf``
    where ``D >= P``). Both are increasing, negative below the root and positive above, and
    nearly linear in ``x`` for power-law-like spectra (``D ~ kappa^(-1 / (1 + alpha))``), so
    Newton needs few steps. ``lo = -inf``: no lower bound known yet. Steps are at most
    ``log 10``; outside the bracket, bisection. Returns ``(x, converged)``."""
    big = math.log(10.0)
    for _ in range(400):
        kappa = math.exp(x)
        d, t, d1 = _mode_sums(lam, w, kappa)
        deficit = _deficit(P, N, d, t)               # P - D
        if gamma == 0.0:
            f = math.log1p(deficit / d)
            df = d1 / d
        elif deficit > 0.0:
            f = x + math.log(deficit / gamma)
            df = 1.0 + d1 / deficit
        else:
            f = -math.inf
            df = 0.0
        if f == 0.0:
            return x, True
        if f < 0.0:
            lo = x
        else:
            hi = x
        step = f / df if df > 0.0 else math.copysign(big, f)
        step = min(max(step, -big), big)
        new = x - step
        if abs(step) <= 1e-13:                       # quadratic convergence: new is exact
            return new, True
        if not (lo < new < hi):                      # Newton left the bracket: bisect
            new = 0.5 * (lo + hi) if math.isfinite(lo) else hi - big
        if hi - lo <= 4e-16 * max(1.0, abs(x)):
            return new, True
        x = new
    return x, False


@njit(cache=True)
def _kappas(lam, w, N, Ps, gamma):
    """The renormalised ridge at every ``P`` of ``Ps`` (floats) for the ``N`` modes given by the
    rule (nodes ``lam``, weights ``w``); ``nan`` where the solver did not converge. ``kappa`` decreases with ``P``, so the ``P`` are visited in increasing order:
    each root bounds the next one from above, and the last two roots extrapolate (in
    ``log kappa`` against ``log P``) its starting point."""
    S = 0.0
    for k in range(lam.size):
        S += w[k] * lam[k]
    out = np.empty(Ps.size)
    x1 = math.nan                                    # the last two roots (log P, log kappa)
    p1 = math.nan
    x0 = math.nan
    p0 = math.nan
    for i in np.argsort(Ps):
        P = Ps[i]
        if gamma == 0.0 and N <= P:
            out[i] = 0.0
            continue
        hi = math.log(S / P) if gamma == 0.0 else math.log(gamma / P + S / P)
        lo = -math.inf if gamma == 0.0 else math.log(gamma / P)
        if math.isfinite(x1):
            hi = min(hi, x1 + 1e-12 * max(1.0, abs(x1)))  # the previous root, nudged up
            guess = x1
            if math.isfinite(x0) and p1 > p0:
                guess = x1 + (x1 - x0) / (p1 - p0) * (math.log(P) - p1)
        else:
            guess = hi - 1.0
        if not (lo < guess < hi):
            guess = hi - 1e-3 * (hi - lo) if math.isfinite(lo) else hi - 1.0
        x, ok = _root_log(lam, w, N, P, gamma, lo, hi, guess)
        if ok:
            out[i] = math.exp(x)
            x0, p0, x1, p1 = x1, p1, x, math.log(P)
        else:
            out[i] = math.nan
            x0 = p0 = x1 = p1 = math.nan
    return out


@njit(cache=True, fastmath=True, error_model="numpy")
def _overlap_block(lam, w, p, kappa, start, stop):
    """Plain sums of the four overlap terms over nodes ``start..stop-1`` (see ``_overlaps``)."""
    s0 = s1 = s2 = s3 = 0.0
    for k in range(start, stop):
        inv = 1.0 / (lam[k] + kappa)
        r = lam[k] * inv
        s0 += w[k] * r
        s1 += w[k] * (r * r)
        s2 += lam[k] * p[k] * inv * inv
        s3 += w[k] * (kappa * inv * (1.0 + r))
    return s0, s1, kappa * kappa * s2, s3


@njit(cache=True)
def _overlaps(lam, w, p, kappa):
    """Sums over the modes (rule nodes ``lam``, weights ``w``, teacher weights ``p``), with ``r = lam / (lam + kappa)``, ``s = 1 - r``: ``D = sum r``,
    ``sum r^2``, ``kappa^2 sum lam p / (lam + kappa)^2`` and ``sum s (1 + r) = N - sum r^2``
    (``P (1 - rho) = P - N + sum s (1 + r)`` is free of round-off when ``kappa`` is small).
    Blocks of 256 modes are summed plainly, the blocks with Kahan compensation (every term is
    positive): relative error ~1e-15."""
    total = np.zeros(4)
    carry = np.zeros(4)
    for start in range(0, lam.size, 256):
        block = _overlap_block(lam, w, p, kappa, start, min(start + 256, lam.size))
        for j in range(4):
            y = block[j] - carry[j]
            t = total[j] + y
            carry[j] = (t - total[j]) - y
            total[j] = t
    return total


@njit(cache=True)
def _overlaps_many(lam, w, p, kappas):
    """``_overlaps`` at each of ``kappas`` (rows)."""
    out = np.empty((kappas.size, 4))
    for i in range(kappas.size):
        out[i] = _overlaps(lam, w, p, kappas[i])
    return out


def renormalised_ridge(lam, P: int, gamma: float) -> float:
    """The renormalised ridge ``kappa`` for eigenvalues ``lam`` (the ``N`` captured ones).

    Solves ``kappa = gamma / P + (kappa / P) sum_k lam_k / (lam_k + kappa)``; ``gamma = 0``
    gives the ridgeless limit (``0`` when ``N <= P``). Safeguarded Newton in ``log kappa``;
    relative accuracy about ``1e-14``.
    """
    if gamma < 0 or P < 1:
        raise ValueError(f"need gamma >= 0 and P >= 1, got gamma={gamma}, P={P}")
    lam = np.sort(np.asarray(lam, dtype=float).reshape(-1))[::-1]
    return _ridge(compress(lam), lam.size, P, gamma)


def _ridge(rule, N: int, P: int, gamma: float) -> float:
    kappa = _kappas(rule.lam, rule.weight, float(N), np.array([float(P)]), float(gamma))[0]
    if not math.isfinite(kappa):
        raise RuntimeError(f"the renormalised ridge did not converge (P={P}, gamma={gamma})")
    return kappa


@dataclass(frozen=True)
class Equilibrium:
    """``t = inf`` error parts and the static order parameters.

    ``bias`` includes the uncaptured tail; ``label_variance`` uses the effective noise
    ``sigma2 + tail``; ``thermal_variance = T R_0`` is also the expected posterior variance of
    the prediction. ``kappa`` is the renormalised ridge, ``rho`` the overlap
    ``(1/P) sum lambda^2 / (lambda + kappa)^2``, ``R0`` the static response.
    """

    kappa: float
    rho: float
    R0: float
    bias: float
    label_variance: float
    thermal_variance: float

    @property
    def mean_error(self) -> float:
        """Error of the noise-averaged (posterior-mean / kernel-ridge) predictor."""
        return self.bias + self.label_variance

    @property
    def posterior_variance(self) -> float:
        """Expected posterior variance of the prediction at a new input (``T R_0``)."""
        return self.thermal_variance

    @property
    def error(self) -> float:
        """Error of one sample (one Langevin run at ``t = inf``): mean error + posterior variance."""
        return self.mean_error + self.thermal_variance

    sample_error = error


def equilibrium(params: Params) -> Equilibrium:
    """``t = inf`` theory for any teacher mode powers (``params.powers``).

    Gradient flow (``T = 0``): kernel ridge regression with ridge ``gamma`` (ridgeless at
    ``gamma = 0``). ``T > 0``: the Gibbs/posterior state; refused (``ValueError``) when it does
    not exist (``gamma = 0``, ``N >= P``).
    """
    validate_times([math.inf], params)
    rule = mode_rule(params)
    kappa = _ridge(rule, params.N, params.P, params.gamma)
    sums = _overlaps(rule.lam, rule.weight, rule.power, kappa) if kappa > 0 else None
    return _compose(params.N, params.P, params.gamma, params.T, params.tail, params.sigma2,
                    kappa, sums)


def _compose(N: int, P: int, gamma: float, T: float, tail: float, sigma2: float, kappa: float,
             sums) -> Equilibrium:
    """The ``t = inf`` parts from ``kappa`` and the overlaps ``sums = _overlaps(lam, p, kappa)``
    (``None`` when ``kappa = 0``: ridgeless with ``N <= P``)."""
    sig_e = sigma2 + tail
    if kappa > 0:
        D = float(sums[0])
        rho = float(sums[1]) / P
        signal = float(sums[2])
        # 1 - rho from the smaller of sum r^2 and N - sum r^2 (less round-off)
        small = float(sums[1]) <= float(sums[3])
        complement = 1.0 - rho if small else (P - N + float(sums[3])) / P
    else:                                         # gamma = 0, N <= P
        D, rho, signal = float(N), N / P, 0.0
        complement = (P - N) / P
    if complement > 0:
        bias = signal / complement + tail
        label = sig_e * rho / complement
    else:                                         # interpolation threshold N = P, gamma = 0
        bias = tail
        label = math.inf if sig_e > 0 else 0.0
    if gamma > 0:
        R0 = kappa * D / gamma
    elif N < P:
        R0 = N / (P - N)
    else:
        R0 = math.inf
    thermal = T * R0 if T > 0 else 0.0
    return Equilibrium(kappa=kappa, rho=rho, R0=R0, bias=bias,
                       label_variance=label, thermal_variance=thermal)


def equilibrium_curve(params: Params) -> ErrorCurve:
    """The ``t = inf`` values as an :class:`ErrorCurve` with ``times = [inf]``."""
    eq = equilibrium(params)
    return ErrorCurve(times=np.array([math.inf]), bias=np.array([eq.bias]),
                      label_variance=np.array([eq.label_variance]),
                      thermal_variance=np.array([eq.thermal_variance]))


def posterior(params: Params, prior_variance: float, noise_variance: float) -> Equilibrium:
    """Bayesian GP posterior with prior ``w ~ N(0, prior_variance I)`` and assumed noise
    ``noise_variance``, for data from ``params`` (true noise ``sigma2``, teacher powers).

    This is Langevin at ``t = inf`` with ``gamma = noise_variance / prior_variance`` and
    ``T = noise_variance`` (the ``gamma, T`` of ``params`` are ignored). Matched (Bayes-optimal)
    when ``prior_variance`` equals the teacher powers and ``noise_variance = sigma2`` (``M = N``).
    """
    for name, value in (("prior_variance", prior_variance), ("noise_variance", noise_variance)):
        if not (isinstance(value, (int, float)) and 0 < value < math.inf):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return equilibrium(params.replace(gamma=noise_variance / prior_variance, T=noise_variance))


def krr_learning_curve(params: Params, Ps) -> np.ndarray:
    """Kernel-ridge-regression error (``bias + label_variance``, ridge ``params.gamma``) at each
    number of data in ``Ps`` (the posterior-mean error; ``T`` is ignored).

    The spectrum is computed once and the renormalised ridges of all ``P`` are solved together
    (compiled; each root starts from the previous one); each value equals
    ``equilibrium(params.replace(P=P)).mean_error``."""
    Ps = [int(P) for P in np.asarray(Ps).reshape(-1)]
    for P in Ps:
        if P < 1:
            raise ValueError(f"P must be an integer >= 1, got {P}")
    rule = mode_rule(params)
    tail = params.tail
    kappas = _kappas(rule.lam, rule.weight, float(params.N), np.array(Ps, dtype=float),
                     float(params.gamma))
    if not np.all(np.isfinite(kappas)):
        bad = Ps[int(np.argmax(~np.isfinite(kappas)))]
        raise RuntimeError(f"the renormalised ridge did not converge (P={bad}, "
                           f"gamma={params.gamma})")
    sums = _overlaps_many(rule.lam, rule.weight, rule.power, kappas)
    return np.array([_compose(params.N, P, params.gamma, 0.0, tail, params.sigma2, kappa,
                              row if kappa > 0 else None).mean_error
                     for P, kappa, row in zip(Ps, kappas, sums)])
