r"""Equilibrium (``t = inf``) theory: kernel ridge regression and the Bayesian posterior.

The static limit ``z -> 0`` of the DMFT self-consistency (see :mod:`rfdmft.laplace`) with ridge
``gamma`` is the kernel-ridge-regression learning-curve equation. Writing
``G_k(0) = (1 + R_0) / (P (lambda_k + kappa))`` it becomes the equation for the renormalised
ridge ``kappa`` (loss summed over the ``P`` data, so the ridge enters as ``gamma / P``):

    kappa = gamma / P + (kappa / P) sum_{k<=N} lambda_k / (lambda_k + kappa).

Ridgeless (``gamma = 0``): ``kappa > 0`` solves ``sum_k lambda_k / (lambda_k + kappa) = P`` when
``N > P``, and ``kappa = 0`` when ``N <= P``. With ``D = sum_k lambda_k / (lambda_k + kappa)``,
``gamma_e = (1/P) sum_k lambda_k^2 / (lambda_k + kappa)^2``, teacher mode powers ``p_k``,
``tail = sum_{k>N} lambda_k p_k`` and effective noise ``sigma_e = sigma2 + tail``:

* bias (error of the noise-averaged predictor, tail included)
  ``= kappa^2 sum_{k<=N} lambda_k p_k / (lambda_k + kappa)^2 / (1 - gamma_e) + tail``
  (ridgeless ``N > P``: the null-space weight; ``N < P``: the tail only);
* label-noise variance ``= sigma_e gamma_e / (1 - gamma_e)`` (infinite at ``N = P``, ``gamma = 0``);
* thermal variance ``= T R_0``, ``R_0 = int dmu / (h + gamma) = kappa D / gamma``
  (``N / (P - N)`` for ``gamma = 0 < P - N``): the expected posterior variance of the
  prediction at a new input, ``T E tr(Lambda (H + gamma)^-1)``.

Bayesian reading (``gamma, T > 0``): Langevin dynamics relaxes to the posterior with prior
``w ~ N(0, T / gamma)`` and noise variance ``T``. The posterior mean is kernel ridge regression
with ridge ``gamma``; its error is ``bias + label_variance``; one posterior sample adds the
posterior variance: ``sample error = mean error + thermal variance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .model import ErrorCurve, Params, validate_times

__all__ = ["Equilibrium", "renormalised_ridge", "equilibrium", "equilibrium_curve",
           "posterior", "krr_learning_curve"]


def renormalised_ridge(lam, P: int, gamma: float) -> float:
    """The renormalised ridge ``kappa`` for eigenvalues ``lam`` (the ``N`` captured ones).

    Solves ``kappa = gamma / P + (kappa / P) sum_k lam_k / (lam_k + kappa)``; ``gamma = 0``
    gives the ridgeless limit (``0`` when ``N <= P``). Relative accuracy about ``1e-14``.
    """
    lam = np.asarray(lam, dtype=float)
    if gamma < 0 or P < 1:
        raise ValueError(f"need gamma >= 0 and P >= 1, got gamma={gamma}, P={P}")
    S = float(lam.sum())

    def D(kappa):
        return float(np.sum(lam / (lam + kappa)))

    kappa0 = 0.0
    if lam.size > P:
        hi = S / P                               # D(hi) < S / hi = P
        lo = hi
        while D(lo) <= P:
            lo /= 10.0
            if lo < 1e-300:
                raise RuntimeError("could not bracket the ridgeless renormalised ridge")
        kappa0 = math.exp(brentq(lambda x: D(math.exp(x)) - P, math.log(lo), math.log(hi),
                                 xtol=1e-15, rtol=1e-15, maxiter=500))
    if gamma == 0:
        return kappa0
    lo = max(kappa0, gamma / P)
    hi = gamma / P + S / P
    phi = lambda x: 1.0 - gamma / (P * math.exp(x)) - D(math.exp(x)) / P  # increasing in x
    if phi(math.log(lo)) >= 0:
        return lo
    return math.exp(brentq(phi, math.log(lo), math.log(hi), xtol=1e-15, rtol=1e-15,
                           maxiter=500))


@dataclass(frozen=True)
class Equilibrium:
    """``t = inf`` error parts and the static order parameters.

    ``bias`` includes the uncaptured tail; ``label_variance`` uses the effective noise
    ``sigma2 + tail``; ``thermal_variance = T R_0`` is also the expected posterior variance of
    the prediction. ``kappa`` is the renormalised ridge, ``gamma_eff`` the overlap
    ``(1/P) sum lambda^2 / (lambda + kappa)^2``, ``R0`` the static response.
    """

    kappa: float
    gamma_eff: float
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
    lam = params.eigenvalues[: params.N]
    p = params.powers[: params.N]
    P, N, gamma = params.P, params.N, params.gamma
    tail = params.tail
    sig_e = params.sigma2 + tail
    kappa = renormalised_ridge(lam, P, gamma)
    if kappa > 0:
        ratio = lam / (lam + kappa)
        D = float(ratio.sum())
        gamma_eff = float(np.sum(ratio**2)) / P
        signal = kappa**2 * float(np.sum(lam * p / (lam + kappa) ** 2))
    else:                                         # gamma = 0, N <= P
        D, gamma_eff, signal = float(N), N / P, 0.0
    if gamma_eff < 1:
        bias = signal / (1 - gamma_eff) + tail
        label = sig_e * gamma_eff / (1 - gamma_eff)
    else:                                         # interpolation threshold N = P, gamma = 0
        bias = tail
        label = math.inf if sig_e > 0 else 0.0
    if gamma > 0:
        R0 = kappa * D / gamma
    elif N < P:
        R0 = N / (P - N)
    else:
        R0 = math.inf
    thermal = params.T * R0 if params.T > 0 else 0.0
    return Equilibrium(kappa=kappa, gamma_eff=gamma_eff, R0=R0, bias=bias,
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
    number of data in ``Ps`` (the posterior-mean error; ``T`` is ignored)."""
    return np.array([equilibrium(params.replace(P=int(P), T=0.0)).mean_error for P in Ps])
