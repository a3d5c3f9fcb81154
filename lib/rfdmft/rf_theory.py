r"""Laplace-domain theory of the random-feature model (model.md section 6).

Two levels of randomness, one scalar equation
---------------------------------------------
Given the feature matrix ``F`` (``N x M``), the features ``phi = F a`` are Gaussian with covariance
``Sigma_F = F Lambda F^T``. The target ``a . wbar`` splits into its best linear prediction from
``phi`` (a teacher ``beta* = Sigma_F^-1 F Lambda wbar`` in feature space) and a remainder that is
Gaussian and independent of ``phi``, of variance ``delta`` (``tr Lambda P_null`` on average):
exactly the mode model with spectrum ``eig(Sigma_F)``, teacher powers
``p_j = [Sigma_F^-1 F Lambda^2 F^T Sigma_F^-1]_jj``, label noise ``sigma2 + delta``, and ``delta``
added to the error. Every sum over the eigenvalues ``s_j`` of ``Sigma_F`` is a trace over
``W = Lambda^1/2 F^T F Lambda^1/2``, a sample covariance of ``N`` draws with population ``Lambda``,
whose deterministic equivalent is ``mu (W + mu)^-1 ~ kappa (Lambda + kappa)^-1`` with

    mu = kappa (1 - d(kappa) / N),   d(kappa) = sum_{k<=M} lambda_k / (lambda_k + kappa).

The data level of the mode model, ``q = 1 - (1/P) sum_j s_j / (s_j + mu)`` with ``mu = s / (P q)``
(``s = z + gamma``), then closes on ``kappa`` alone:

    kappa (1 - d / N) (P - d) = z + gamma,        R(z) = d / (P - d),

that is ``kappa (1 - d/N) (1 - d/P) = (z + gamma) / P``: symmetric in ``N`` and ``P`` at fixed
``(z + gamma) / P``, and exactly at ``z + gamma = 0``. The teacher sum is
``t(mu) = sum_j p_j s_j / (s_j + mu) = (kappa d_p(kappa) - kappa0 d_p(kappa0)) / mu`` with
``d_p(kappa) = sum_k lambda_k p_k / (lambda_k + kappa)`` (``p_k`` the teacher's mode powers on the
``M`` modes), ``d(kappa0) = N`` (``kappa0 = 0`` when ``N >= M``) and ``delta = kappa0 d_p(kappa0)``; two-point sums follow by partial
fractions. The parts are those of the mode model's Laplace theory (:mod:`rfdmft.laplace`): the
variance per unit label noise ``V``, the transform of ``2 (Rh(z/2) - Rh(z)) / z^2`` with
``Rh = sum_k lambda_k - s R``; thermal ``T R(z/2) / z``; the signal not yet learned by the
two-variable transform of ``sum_j p_j s_j G_j(z1) G_j(z2) / (1 - S2 / P)``. They are reported
with the simulator's split: label-noise variance ``sigma2 V``, bias ``signal + delta (1 + V)``
(:func:`rf_bias_split` gives its three terms).
Limits: ``N -> inf`` gives the mode model with ``N = M``; at ``t = inf``, ``gamma = 0``,
``sigma2 = 0`` and ``P -> inf`` the error is ``kappa0 d(kappa0)``, the ridgeless kernel error with
``N`` data points (the ``N <-> P`` duality).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from .laplace import CONTOUR, _contour, _windows
from .model import ErrorCurve, Params, validate_times
from .quadrature import compress

__all__ = ["rf_kappa", "rf_theory", "rf_equilibrium", "rf_bias_split"]

_STEPS = (40, 400)      # geometric continuation steps from far away: tried in turn
_MAXIT = 12


def _rule(params: Params, powers: bool = False):
    r = _compressed(params)
    return (r.lam, r.weight, r.power) if powers else (r.lam, r.weight)


@functools.lru_cache(maxsize=16)
def _compressed(params: Params):
    """The compressed sums over all ``M`` modes (with the teacher powers)."""
    return compress(params.eigenvalues[: params.M], None if params.isotropic else params.powers)


def _d(lam, w, kappa):
    g = 1.0 / (lam[None, :] + kappa[:, None])
    return (g * lam) @ w, -((g * g) * lam) @ w


def rf_kappa(params: Params, z) -> np.ndarray:
    """``kappa(z)`` solving ``kappa (1 - d/N) (P - d) = z + gamma`` on the physical branch (continued
    from ``kappa ~ s / P`` far away), at complex ``z`` off ``z + gamma in (-inf, 0]``."""
    lam, w = _rule(params)
    N, P = float(params.N), float(params.P)
    s = np.asarray(z, complex).ravel() + params.gamma
    if np.any((s.imag == 0) & (s.real <= 0)):
        raise ValueError("z + gamma must not lie on the negative real half-line (-inf, 0]")
    flip = s.imag < 0
    target = np.where(flip, s.conj(), s)
    for steps in _STEPS:
        kappa = _continue(np.ascontiguousarray(lam), np.ascontiguousarray(w), N, P,
                          np.ascontiguousarray(target), steps)
        d, dd = _d(lam, w, kappa)
        residual = np.abs(kappa * (1 - d / N) * (P - d) - target)
        scale = np.abs(kappa) * (P + np.abs(d)) * (1 + np.abs(d) / N)
        if np.all(np.isfinite(kappa)) and np.all(residual <= 1e-10 * scale
                                                 + 1e-12 * np.abs(target)):
            break
    else:
        raise RuntimeError("the random-feature self-consistency did not converge "
                           f"(alpha={params.alpha}, N={params.N}, M={params.M}, P={params.P}); "
                           "no numbers returned")
    kappa = np.where(flip, kappa.conj(), kappa)
    return kappa.reshape(np.shape(z))


@njit(cache=True, error_model="numpy")
def _continue(lam, w, N, P, target, steps):
    """Newton along geometric steps from ``kappa ~ s / P`` far up the imaginary axis, point by
    point (compiled: the Newton steps are scalar, the sums run over the rule's nodes)."""
    out = np.empty(target.size, np.complex128)
    lam_max = lam.max()
    for i in range(target.size):
        s = target[i]
        start = 1j * 1e4 * (P * lam_max + abs(s) + 1.0)
        kappa = start / P
        ratio = np.log(s / start)
        for k in range(1, steps + 1):
            sk = start * np.exp(ratio * (k / steps))
            for _ in range(_MAXIT):
                d = 0j
                dd = 0j
                for j in range(lam.size):
                    g = 1.0 / (lam[j] + kappa)
                    d += w[j] * lam[j] * g
                    dd -= w[j] * lam[j] * g * g
                a = 1.0 - d / N
                b = P - d
                den = a * b + kappa * (-dd / N * b - a * dd)
                if den == 0:
                    break
                step = (kappa * a * b - sk) / den
                kappa = kappa - step
                if abs(step) <= 1e-13 * abs(kappa):
                    break
        out[i] = kappa
    return out


def _solve_d(params: Params, target: float) -> float:
    """The ``kappa > 0`` with ``d(kappa) = target`` (``0 < target < M``; ``d`` decreases), by
    bisection, geometric while the bracket spans more than a factor 4."""
    lam, w = _rule(params)
    f = lambda k: float(_d(lam, w, np.array([k]))[0][0]) - target
    hi = float(lam.max())
    while f(hi) > 0:
        hi *= 2.0
    lo = hi
    while f(lo) < 0 and lo > 1e-300:
        lo /= 2.0
    for _ in range(300):
        mid = math.sqrt(lo * hi) if hi / lo > 4 else 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=16)
def _kappa0(params: Params) -> float:
    """``d(kappa0) = N`` (``0`` when ``N >= M``): the first level at ``mu = 0``."""
    return 0.0 if params.N >= params.M else _solve_d(params, params.N)


def _delta(params: Params) -> float:
    """``delta = kappa0 d_p(kappa0)``: the part of the target ``N`` random features miss."""
    k0 = _kappa0(params)
    if k0 == 0:
        return 0.0
    _, _, wp = _rule(params, powers=True)
    lam = _rule(params)[0]
    return k0 * float(_d(lam, wp, np.array([k0]))[0][0])


def _quantities(params: Params, z, kappa=None):
    lam, w, wp = _rule(params, powers=True)
    N, P = float(params.N), float(params.P)
    s = np.asarray(z, complex) + params.gamma
    kap = rf_kappa(params, z) if kappa is None else kappa
    d, dd = _d(lam, w, kap.ravel())
    dp, ddp = _d(lam, wp, kap.ravel())
    d, dd = d.reshape(s.shape), dd.reshape(s.shape)
    dp, ddp = dp.reshape(s.shape), ddp.reshape(s.shape)
    delta = _delta(params)
    # kappa a P b = s with a = 1 - d/N, b = 1 - d/P: the factor nearer zero (late times: a for
    # N < P, b for N > P) is taken from the equation, not from a difference of nearly equal
    # numbers
    a, b = 1 - d / N, 1 - d / P
    with np.errstate(divide="ignore", invalid="ignore"):
        small_b = (np.abs(b) < np.abs(a)) & (s != 0)
        b = np.where(small_b, s / (kap * a * P), b)
        a = np.where(~small_b & (s != 0), s / (kap * b * P), a)
    mu = kap * a
    dk = 1.0 / (a - kap * dd / N)                  # d kappa / d mu
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (kap * dp - delta) / mu
        tp = ((dp + kap * ddp) * dk * mu - (kap * dp - delta)) / mu**2
    with np.errstate(divide="ignore", invalid="ignore"):      # R = inf at the ridgeless edge
        R = d / (P * b)
        Rh = float(lam @ w) - s * R
    return dict(R=R, Rh=Rh, mu=mu, t=t, tp=tp, f=d,
                fp=dd * dk, q=b, delta=delta, kappa=kap, signal=float(lam @ wp))


def rf_equilibrium(params: Params) -> tuple[float, float, float]:
    """``t = inf``: (bias, label-noise variance, thermal variance), the bias with ``delta`` and
    the variance of fitting it (:func:`rf_theory`); on one BLAS thread. Refused at the
    interpolation threshold (``min(N, M) = P`` without weight decay) and where no equilibrium
    exists (``T > 0``, ``gamma = 0``, ``min(N, M) >= P``)."""
    with threadpool_limits(1, user_api="blas"):
        signal, delta, unit, thermal = _rf_equilibrium(params)
    return signal + delta * (1.0 + unit), params.sigma2 * unit, thermal


def _rf_equilibrium(params: Params) -> tuple[float, float, float, float]:
    """``t = inf``: (signal bias, ``delta``, label-noise variance per unit noise, thermal
    variance), the effective mode model's kernel ridge regression at ``mu0``. Ridgeless
    (``gamma = 0``): ``d(kappa*) = min(N, P)``."""
    N, P, M = params.N, params.P, params.M
    if params.T > 0 and params.gamma == 0 and min(N, M) >= P:
        raise ValueError("t = inf is not allowed with T > 0, gamma = 0 and min(N, M) >= P: the "
                         "weights diffuse freely where the features see the target")
    if params.gamma > 0:
        Q = _quantities(params, np.array([0.0 + 0j]))
    else:
        if min(N, M) == P:
            raise ValueError(f"t = inf at min(N, M) = P = {P} without weight decay is the "
                             "interpolation threshold of the random-feature model (the error "
                             "diverges); use gamma > 0 or finite times")
        kap = np.array([_solve_d(params, min(N, P, M)) + 0j])
        Q = _quantities(params, np.array([0.0 + 0j]), kappa=kap)
    mu0, f0, fp, tp, R = Q["mu"][0], Q["f"][0], Q["fp"][0], Q["tp"][0], Q["R"][0]
    delta = Q["delta"]
    rho = ((f0 + mu0 * fp) / P).real
    captured = 0.0 if abs(mu0) == 0 else float((-(mu0**2) * tp).real)
    thermal = params.T * float(R.real) if params.T > 0 else 0.0
    return float(captured / (1 - rho)), float(delta), float(rho / (1 - rho)), float(thermal)


def rf_theory(params: Params, times) -> ErrorCurve:
    """Error of the random-feature model (``N`` features, ``M`` kernel modes, teacher mode powers
    ``params.powers`` on all ``M``) and its parts at ``times``, by inverse Laplace transform
    (``t = inf``: :func:`rf_equilibrium`), with the simulator's split
    (:mod:`rfdmft.random_features`): the label-noise variance is ``sigma2 V(t)``, the bias holds
    everything else that does not come from the temperature, ``delta`` and the variance of
    fitting it included (:func:`rf_bias_split`). Small products throughout, so on one BLAS
    thread (two cost up to 100x on a loaded machine). Raises ``RuntimeError`` when the
    self-consistency does not converge."""
    with threadpool_limits(1, user_api="blas"):
        t, signal, delta, unit, thermal = _rf_parts(params, times)
    return ErrorCurve(times=t, bias=signal + delta * (1.0 + unit),
                      label_variance=params.sigma2 * unit, thermal_variance=thermal)


def rf_bias_split(params: Params, times) -> dict:
    """The theory's bias in three parts, where it separates them (the simulator cannot, design by
    design): ``signal``, the representable target not yet learned; ``unrepresented``, ``delta``,
    the part of the target no combination of the ``N`` features represents; ``fitting``,
    ``delta V(t)``, the variance of fitting ``delta`` as if it were label noise (``V`` the
    label-noise variance per unit ``sigma2``): the variance due to the random features. Given
    ``F`` the remainder is Gaussian and independent of the features, so on average over the data
    it acts exactly as label noise. Arrays over ``times``; their sum is ``rf_theory``'s bias."""
    with threadpool_limits(1, user_api="blas"):
        t, signal, delta, unit, _ = _rf_parts(params, times)
    return {"times": t, "signal": signal, "unrepresented": np.full(t.shape, delta),
            "fitting": delta * unit}


def _rf_parts(params: Params, times):
    """``(t, signal bias, delta, label-noise variance per unit noise V, thermal variance)``."""
    if params.lr > 0:
        raise ValueError("the random-feature theory is for continuous time (lr = 0)")
    t = validate_times(times, params)
    lam, w, wp = _rule(params, powers=True)
    S = float(lam @ w)
    delta = _delta(params)
    bias = np.full(t.shape, float(lam @ wp) - delta)
    label = np.zeros(t.shape)
    thermal = np.zeros(t.shape)
    # past full relaxation (every rate is at least gamma; e^-40 = 4e-18) the curve is its limit
    inf = np.isinf(t) | (params.gamma * np.where(np.isinf(t), 0.0, t) > 40.0)
    if inf.any():
        bias[inf], _, label[inf], thermal[inf] = _rf_equilibrium(params)
    go = ~inf & (t > 0)
    if go.any():
        tf = t[go]
        P, gamma, T = float(params.P), params.gamma, params.T
        starts, which = _windows(tf, CONTOUR["ratio"])
        z, wt = _contour(starts * CONTOUR["ratio"])
        both = rf_kappa(params, np.concatenate([z, 0.5 * z]))
        A = _quantities(params, z, both[: z.shape[0]])
        B2 = _quantities(params, 0.5 * z, both[z.shape[0]:])

        def invert(F):
            E = np.exp(tf[:, None] * z[which]) * wt[which]
            return np.imag(np.sum(E * F[which], axis=1))

        # Rh(z/2) - Rh(z) = (z + gamma) R(z) - (z/2 + gamma) R(z/2), without the sum of lambda
        lab = invert(2 * ((z + gamma) * A["R"] - (0.5 * z + gamma) * B2["R"]) / z**2)
        th = invert(T * B2["R"] / z) if T > 0 else np.zeros(tf.size)
        K, phi, a = CONTOUR["K"], CONTOUR["phi"], CONTOUR["a"]
        h = a / K
        u = np.r_[np.arange(K, -1, -1), -np.arange(1, K + 1)] * h
        bia = np.empty(tf.size)
        for i in range(z.shape[0]):
            zf = np.concatenate([z[i], np.conj(z[i, -2::-1])])
            kf = np.concatenate([A["kappa"][i], np.conj(A["kappa"][i, -2::-1])])
            Q = _quantities(params, zf, kf)
            mu, tt, tp, f, fp, q = Q["mu"], Q["t"], Q["tp"], Q["f"], Q["fp"], Q["q"]
            M1, M2 = mu[:, None], mu[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                t2 = (tt[:, None] - tt[None, :]) / (M2 - M1)
                S2 = (M1 * f[:, None] - M2 * f[None, :]) / (M1 - M2)
            diag = np.arange(zf.size)
            t2[diag, diag] = -tp
            S2[diag, diag] = f + mu * fp
            num = t2 / (P * P * q[:, None] * q[None, :])
            fac = (zf + gamma) / zf
            F = np.outer(fac, fac) * num / (1.0 - S2 / P)
            mu_c = (zf[K] / (1 - np.sin(phi))).real
            omega = h * 1j * mu_c * np.cos(1j * u - phi) / (2j * np.pi)
            sel = which == i
            e = omega[None, :] * np.exp(tf[sel, None] * zf[None, :])
            bia[sel] = np.einsum("tj,jl,tl->t", e, F, e).real
        parts = np.stack([bia, lab, th])
        if not np.all(np.isfinite(parts)) or np.any(parts < -1e-9 * (S + 1)):
            raise RuntimeError("the random-feature Laplace inversion gave untrusted values "
                               "(non-finite or negative); no numbers returned")
        bias[go], label[go], thermal[go] = np.maximum(parts, 0.0)
    return t, bias, delta, label, thermal
