r"""Finite-size corrections to the mean-field theory, at and around the interpolation threshold.

Conventions are those of :mod:`rfdmft.model`: the design is ``A = Phi Lambda^{1/2}`` (``P x N``,
``Phi`` with i.i.d. standard *real* normal entries), ``H = A^T A``, ``s = z + gamma`` and
``Q = (H + s)^{-1}``. The mean-field theory (:mod:`rfdmft.laplace`) is the limit ``N, P -> inf``
at fixed ``N / P``; here are the exact statements and the first correction at finite size.

Exact identity
--------------
Gaussian integration by parts over the ``P N`` entries of ``Phi`` gives, for every ``k``,

    E[(s + lambda_k (P - tau)) Q_kk] = 1 + lambda_k E[(Q H Q)_kk],   tau = tr(H Q) = N - s tr Q.

The mean-field theory drops the right-hand term and replaces ``tau`` by its mean:
``G_k = 1 / (s + lambda_k P q)`` with ``P q = P - N + s sum_k G_k``. With complex Gaussian
entries the identity has no ``Q H Q`` term; it is the orthogonal (real) ensemble's own term.

Ridgeless, ``t = inf``, ``N < P`` (:func:`ridgeless_limit`)
---------------------------------------------------------
At ``s = 0``, ``tau = N`` exactly and ``Q H Q = Q = H^{-1}``: ``E (H^{-1})_kk = 1 / (lambda_k (P -
N - 1))`` for every spectrum, so ``E tr(Lambda H^{-1}) = E tr W^{-1} = N / (P - N - 1)`` with
``W = Phi^T Phi`` Wishart (the mean-field theory: ``N / (P - N)``). The label-noise and thermal
variances at ``t = inf`` are ``(sigma2 + tail) tr W^{-1}`` and ``T tr W^{-1}``, the bias the
uncaptured tail; their design average and spread follow from the inverse-Wishart moments
(:func:`inverse_wishart_trace`). The mean is infinite for ``P <= N + 1``, the variance for
``P <= N + 3``.

``N = P + 1`` (:func:`null_weight_one`)
-------------------------------------
The null space of ``H`` is one direction, ``Lambda^{-1/2} u`` with ``u`` uniform on the sphere,
and its weight (the plateau of noise-free gradient flow) is ``1 / (u^T Lambda^{-1} u)``; with
``1/x = int_0^inf e^{-a x} da``,
``E = int_0^inf sum_j (1 + 2a/lambda_j)^{-1} prod_k (1 + 2a/lambda_k)^{-1/2} da``.

First correction (:func:`corrected_response`, :func:`theory_finite_size`)
-----------------------------------------------------------------------
Keeping the dropped term to first order in ``1 / (P q)`` with ``beta_k = E(QHQ)_kk / E Q_kk``
(``0 <= beta_k <= 1`` for real ``s``, since ``Q - QHQ = s Q^2 >= 0``) and
``E (Q^2)_kk = -d E Q_kk / ds`` evaluated in the mean-field theory:

    Gt_k = 1 / (s + lambda_k (P qt - beta_k)),   P qt = P - N + s sum_k Gt_k,
    beta_k = 1 + s d log G_k / ds = lambda_k P q G_k / (1 + s sum_j lambda_j G_j^2),

``Rt(z) = sum_k lambda_k Gt_k``: each mode sees about ``beta_k`` data points fewer than the
mean-field theory gives it. Neglected: ``Cov(tau, Q_kk)`` (``tau`` fluctuates by ``O(1)``, a
relative ``O(1/P^2)``) and the second-order part of ``beta_k``. At ``s = 0`` and ``N < P``
(``beta_k = 1``, ``P qt = P - N``) it is exact. For the isotropic teacher every part of the
error is a linear functional of the spectral measure whose transform is ``R``, so ``Rt``
replaces ``R`` in the inversion formulas of :mod:`rfdmft.laplace`. The expansion parameter is
``1 / (P q(s))``: the correction fails where ``P q`` is of order one at the frequencies that
matter, i.e. at the hard edge (``N = P``, ``|N - P| = 1``, ``gamma -> 0`` at the latest times),
where the few smallest eigenvalues of ``H``, spaced ``~ 1/P^2`` of the bulk, set the error.
Where the correction exceeds :data:`MAX_CORRECTION` (of the error in
:func:`theory_finite_size`, of ``R`` in :func:`corrected_response`), or a corrected ``E Q_kk``
is not the transform of a positive measure, the functions raise rather than return numbers.
Measured against the simulator (``tests/test_finite_size.py``, the Langevin chapter): below
that bound the remaining error is about the square of the correction.

Random features, ``t = inf`` (:func:`rf_ridgeless_limit`, :func:`rf_equilibrium_finite_size`)
------------------------------------------------------------------------------------------------
The random-feature model (model.md section 6) has two levels of randomness, the data ``A`` and
the features ``F``. Conditioning on the larger level makes the smaller one exact at ``gamma = 0``
(inverse Wishart): ``n / (P - n - 1)`` for ``n = min(N, M) < P`` given ``F``, ``1 / (N - P - 1)``
for ``P < n`` given ``A``, where the plain theory (:mod:`rfdmft.rf_theory`) has ``P - n`` and
``N - P``. What remains is a mode model with ``M`` modes and ``min(N, P)`` data points at its null
space, with the first correction above taken to ``s -> 0``. Against the simulator (300-400
designs, ``N, P = 100-200``) this removes the 2-10 % gap of the plain theory near the threshold.
With ridge and ``min(N, M) < P`` the data level given ``F`` takes the first correction above, its
sums over the spectrum of ``F Lambda F^T`` in closed form through the features' deterministic
equivalent (:func:`rf_equilibrium_finite_size`).

With ridge and ``P < min(N, M)`` the roles swap: given the data ``A`` the feature level is the mode
model with ``P`` dimensions (the eigen-directions of ``C = A A^T``, eigenvalues ``c_k / N``),
``N`` samples (the columns ``A f_j``) and ridge ``gamma``; the error given ``A`` is a sum of one-
and two-resolvent traces of ``R = (Phi Phi^T + gamma)^-1`` against diagonal matrices in that
basis. The first correction above, taken with per-mode ridges ``gamma + eps d_k``, gives both
(the two-resolvent ones as ``-d/d eps``); its sums over ``eig(C)`` are contour integrals of the
data level's traces (the mode model with ``M`` modes and ``P`` data, itself first-corrected) around
the few poles of the feature level (:class:`_DataSums`, :func:`_feature_level`). Without either
correction it reproduces :func:`rfdmft.rf_theory.rf_equilibrium` to ``1e-13``; ``gamma -> 0`` gives
the exact ``1 / (N - P - 1)`` of :func:`rf_ridgeless_limit`; ``N -> inf`` the mode model's own
correction (:func:`theory_finite_size`). Isotropic teacher only.

Random features along the time curve (:func:`rf_theory_finite_size`, ``min(N, M) < P``)
-----------------------------------------------------------------------------------------
The same data level at the complex points of the Laplace contours: ``Rt`` replaces ``R`` in the
label-noise and thermal parts (linear in the spectral measure of ``H`` weighted by ``K``), the
unrepresented part ``delta_F`` takes the first level's correction, and the signal not yet learned
(non-isotropic in feature space) keeps its mean-field value. Against the simulator (4000 designs,
``N, P = 100-300``, ``M = 160, 1000``, ``gamma = 0, 1e-5``) the plain theory near the threshold
is 0.8-5 % (23-40 standard errors) low at ``t >= 1e4`` and 0.3-0.7 % (12-25) low at
``t = 1..1e3``; corrected: ``t >= 1e5`` within 0.07 % (1.4 standard errors), ``t = 1e3..1e4``
within 0.22 % (up to 5), ``t = 100`` within 0.15 %; at ``t = 1..10``, where the signal not yet
learned dominates, 0.2-0.6 % (11-20 standard errors) remain: its own correction, not included.

Random features along the time curve, ``P < min(N, M)`` (:func:`rf_theory_finite_size`)
-----------------------------------------------------------------------------------------
Given the data the gradient flow from ``w = 0`` is a function of ``S = Phi Phi^T`` alone
(``K(S) = (gamma + S e^{-(S + gamma) t}) / (S + gamma)`` the part of the target not yet learned),
and for the isotropic teacher the error given ``A`` splits into one-resolvent traces of ``S``
against ``C``, ``1`` and ``B`` (the null-space weight ``V``, ``tr(S h^2 (C + sigma2))``,
``tr(S h B)``, thermal ``tr(B S q)``, ``tr q``) and one two-resolvent trace
``tr(K B K (C + sigma2))``. The one-resolvent traces take both levels' first correction at the
complex contour nodes (the feature level's per-direction expansion, its sums over ``eig(C)`` by
partial fractions of the data level's traces at complex points, :class:`_ComplexDataSums`); the
two-resolvent trace the feature level's mean field for two resolvents at different points
(:func:`_two_point`) with the data level's correction, on the double contour of
:mod:`rfdmft.rf_theory`. Against the simulator (400 designs, ``N, P = 100-200``, ``M = 1000``,
``gamma = 0, 1e-5, 1e-4``) the plain theory is 4-12 standard errors low at every time (up to 5 %
at ``t >= 1e4``); corrected within 2 standard errors (0.3 %) at every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize
from threadpoolctl import threadpool_limits

from .laplace import CONTOUR, solve_response, theory_laplace
from .model import ErrorCurve, Params, validate_times
from .quadrature import mode_rule

__all__ = ["inverse_wishart_trace", "RidgelessLimit", "ridgeless_limit", "null_weight_one",
           "corrected_response", "theory_finite_size", "MAX_CORRECTION", "RFFiniteSize",
           "rf_ridgeless_limit", "rf_equilibrium_finite_size", "rf_theory_finite_size"]


def _sizes(N, P) -> tuple[int, int]:
    for name, value in (("N", N), ("P", P)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(N), int(P)


def inverse_wishart_trace(N: int, P: int) -> tuple[float, float]:
    """Mean and variance of ``tr W^{-1}``, ``W = Phi^T Phi`` with ``Phi`` ``P x N`` standard real
    normal (Wishart with ``P`` degrees of freedom, identity scale, ``N x N``).

    With ``d = P - N``: mean ``N / (d - 1)`` (``inf`` for ``d <= 1``), variance
    ``2 N (P - 1) / (d (d - 1)^2 (d - 3))`` (``inf`` for ``d <= 3``), from the second moments
    ``E[(W^-1)_ij (W^-1)_kl] = c2 d_ij d_kl + c1 (d_ik d_jl + d_il d_jk)``,
    ``c1 = 1 / (d (d - 1) (d - 3))``, ``c2 = (d - 2) c1``. Requires ``P >= N`` (else ``W`` is
    singular: ``ValueError``).
    """
    N, P = _sizes(N, P)
    if P < N:
        raise ValueError(f"P must be >= N = {N} for W = Phi^T Phi to be invertible, got P = {P}")
    d = P - N
    mean = N / (d - 1) if d > 1 else math.inf
    var = 2.0 * N * (P - 1) / (d * (d - 1) ** 2 * (d - 3)) if d > 3 else math.inf
    return mean, var


@dataclass(frozen=True)
class RidgelessLimit:
    """Exact design averages of the error parts at ``t = inf`` without ridge (``N < P``).

    ``bias`` is the uncaptured tail (the captured modes are fitted exactly);
    ``label_variance = (sigma2 + tail) m``, ``thermal_variance = T m`` with
    ``m = E tr W^{-1} = N / (P - N - 1)``; ``error_std`` is the standard deviation of the error
    over designs (``inf`` where the variance is). ``mean_field`` is the large-size value
    ``N / (P - N)`` in place of ``m``, for comparison.
    """

    bias: float
    label_variance: float
    thermal_variance: float
    error_std: float
    m: float
    mean_field: float

    @property
    def error(self) -> float:
        return self.bias + self.label_variance + self.thermal_variance


def ridgeless_limit(params: Params) -> RidgelessLimit:
    """Exact design average (and spread) of the ``t = inf`` error for ``gamma = 0``, ``N < P``,
    any spectrum and any teacher (see the module docstring). ``ValueError`` otherwise."""
    if params.gamma != 0:
        raise ValueError(f"gamma must be 0 for the ridgeless limit, got {params.gamma:g}")
    if params.N >= params.P:
        raise ValueError(f"N must be < P for the ridgeless limit to exist, got N = {params.N}, "
                         f"P = {params.P}")
    mean, var = inverse_wishart_trace(params.N, params.P)
    noise = params.sigma2 + params.tail + params.T
    with np.errstate(invalid="ignore"):
        label = (params.sigma2 + params.tail) * mean if params.sigma2 + params.tail > 0 else 0.0
        thermal = params.T * mean if params.T > 0 else 0.0
        std = noise * math.sqrt(var) if noise > 0 else 0.0
    return RidgelessLimit(bias=params.tail, label_variance=label, thermal_variance=thermal,
                          error_std=std, m=mean,
                          mean_field=params.N / (params.P - params.N))


def null_weight_one(params: Params) -> float:
    """Exact design average of the null-space weight ``sum_k lambda_k - sum_i c_i`` at
    ``N = P + 1`` (the plateau of noise-free gradient flow without the tail), any spectrum:
    a one-dimensional integral, evaluated to relative accuracy ~1e-10."""
    if params.N != params.P + 1:
        raise ValueError(f"N must be P + 1 = {params.P + 1}, got N = {params.N}")
    lam = np.asarray(params.eigenvalues[: params.N], float)

    def integrand(v):                        # a = e^v, da = e^v dv
        a = math.exp(v)
        x = 2.0 * a / lam
        return a * float(np.sum(1.0 / (1.0 + x))) * math.exp(-0.5 * float(np.sum(np.log1p(x))))

    lo = math.log(lam.min()) - 40.0
    hi = math.log(lam.max()) + 40.0 * 2.0 / max(params.N - 1, 1) + 40.0
    value, err = integrate.quad(integrand, lo, hi, limit=400, epsabs=0.0, epsrel=1e-12)
    if not (math.isfinite(value) and err <= 1e-9 * abs(value)):
        raise RuntimeError(f"the null-weight integral did not converge (estimate {value:g}, "
                           f"error {err:g})")
    return value


# ------------------------------------------------------------------------------------------
# the first finite-size correction
# ------------------------------------------------------------------------------------------

_TOL = 1e-13
_MAXIT = 100
_PHYS = 1e-9               # tolerance of the positivity checks (relative)


def _q_real(rule, N: int, P: int, s: float) -> float:
    """Mean-field ``q`` at real ``s > 0``: the root of the increasing ``q - (1 - N/P) - (s/P)
    sum_k 1 / (s + lambda_k P q)`` on ``(0, 1]``."""
    lam, w = rule.lam, rule.weight

    def f(lq):
        q = math.exp(lq)
        return q - (1.0 - N / P) - (s / P) * float(np.sum(w / (s + lam * P * q)))

    lo = -5.0
    while f(lo) > 0:
        lo *= 2.0
        if lo < -1400:
            raise RuntimeError(f"no mean-field solution q(s) at s = {s:g}")
    return math.exp(optimize.brentq(f, lo, 0.0, xtol=1e-16, rtol=1e-15, maxiter=400))


def _corrected(rule, N: int, P: int, s: np.ndarray, q: np.ndarray, sums: bool = False):
    """``(R, Rt, ok)`` at the points ``s`` (complex, any shape) from the mean-field ``q`` there:
    Newton in ``x = P qt`` from ``x = P q``; ``ok`` is False where it did not converge or a
    corrected ``E Q_kk`` is not the transform of a positive measure of mass one. With ``sums``
    also the unweighted traces ``E tr Q``: ``(R, Rt, ok, S, St)``, ``S = sum_k G_k``."""
    lam, w = rule.lam, rule.weight
    shape = s.shape
    s = s.reshape(-1)[:, None].astype(complex)
    q = q.reshape(-1)[:, None].astype(complex)
    G = 1.0 / (s + lam * P * q)
    R = (w * lam * G).sum(axis=1)
    # beta_k = 1 - s G_k (1 + lambda_k P dq/ds) = lambda_k P G_k (q - s dq/ds), and with dq/ds
    # from the q-form of the self-consistency, q - s dq/ds = q / (1 + s sum_j lambda_j G_j^2):
    # no cancellation (for N > P, s -> 0, beta_k is O(s^2) while each term above is O(1))
    beta = lam * P * G * q / (1.0 + s * (w * lam * G**2).sum(axis=1, keepdims=True))
    x = P * q                                                   # start at the mean field
    done = np.zeros(x.shape, bool)
    for _ in range(_MAXIT):
        D = s + lam * (x - beta)
        F = x - (P - N) - s * (w / D).sum(axis=1, keepdims=True)
        dF = 1.0 + s * (w * lam / D**2).sum(axis=1, keepdims=True)
        step = F / dF
        x = np.where(done, x, x - step)
        done |= np.abs(step) <= _TOL * np.abs(x)          # relative: x -> 0 for N > P
        if done.all():
            break
    Gt = 1.0 / (s + lam * (x - beta))
    Rt = (w * lam * Gt).sum(axis=1)
    ok = done[:, 0] & np.all(np.isfinite(Gt), axis=1)
    # E Q_kk is the transform of a positive measure of mass 1 on h >= 0: sign conditions
    sgn = np.sign(s.imag)
    real = s.imag[:, 0] == 0
    tol = _PHYS * np.abs(Gt)
    ok &= np.where(real, np.all((Gt.real > 0) & (np.abs(Gt.imag) <= tol)
                                & (s.real * Gt.real <= 1.0 + _PHYS), axis=1),
                   np.all((sgn * Gt.imag <= tol) & (sgn * (s * Gt).imag >= -tol * np.abs(s)),
                          axis=1))
    if sums:
        return (R.reshape(shape), Rt.reshape(shape), ok.reshape(shape),
                (w * G).sum(axis=1).reshape(shape), (w * Gt).sum(axis=1).reshape(shape))
    return R.reshape(shape), Rt.reshape(shape), ok.reshape(shape)


#: Largest relative size of the first correction accepted (of the error in
#: :func:`theory_finite_size`, of ``R`` in :func:`corrected_response`). The neglected second
#: order is about its square: measured at alpha = 1/2, P = 100, gamma = 0, T = 0.1 against
#: 3000 designs, corrections of 11%, 13%, 19%, 26%, 36% of the thermal variance (N = P, P - 1,
#: t = 1e4..1e5) left 1.4%, 2.3%, 3.8%, 6.2%, 11% to the simulation; below 10% it is <= 1%.
MAX_CORRECTION = 0.1


def _small(R, Rt) -> np.ndarray:
    return np.abs(Rt - R) <= MAX_CORRECTION * np.abs(R)


def _check_valid(ok, params: Params, where: str):
    if not np.all(ok):
        raise RuntimeError(
            "the first finite-size correction is not valid here "
            f"(alpha={params.alpha}, N={params.N}, P={params.P}, gamma={params.gamma:g}, {where}): "
            f"it is not small (above {MAX_CORRECTION:.0%} of what it corrects) or not the "
            "transform of a positive measure: P q(s) is of order one, the few smallest "
            "eigenvalues of H set the error and no 1/P expansion holds; no numbers returned")


def corrected_response(params: Params, z) -> tuple[np.ndarray, np.ndarray]:
    """Mean-field ``R(z)`` and its first finite-size correction ``Rt(z)`` (module docstring),
    for complex ``z`` with ``z + gamma`` off ``(-inf, 0]``; real ``z + gamma = 0`` is allowed for
    ``N < P`` (the ridgeless static limit, where ``Rt = N / (P - N - 1)`` exactly). Raises
    ``RuntimeError`` where the correction exceeds :data:`MAX_CORRECTION` of ``R`` (except at
    that exact limit) or is not the transform of a positive measure."""
    try:
        z = np.asarray(z, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"z must be complex numbers, got {z!r}") from None
    flat = z.reshape(-1)
    bad = ~(np.isfinite(flat.real) & np.isfinite(flat.imag))
    if bad.any():
        raise ValueError(f"z must be finite complex numbers, got {flat[bad][0]}")
    s = flat + params.gamma
    bad = (s.imag == 0) & ((s.real < 0) | ((s.real == 0) & (params.N >= params.P)))
    if bad.any():
        raise ValueError(f"z + gamma must not lie on (-inf, 0] (0 only for N < P), got "
                         f"z = {flat[bad][0]} with gamma = {params.gamma:g}, N = {params.N}, "
                         f"P = {params.P}")
    rule = mode_rule(params)
    N, P = params.N, params.P
    q = np.empty(s.shape, complex)
    real = s.imag == 0
    for i in np.flatnonzero(real):
        q[i] = (1.0 - N / P) if s[i].real == 0 else _q_real(rule, N, P, float(s[i].real))
    if (~real).any():
        R_c, _ = solve_response(params, flat[~real])
        q[~real] = 1.0 / (1.0 + R_c)
    R, Rt, ok = _corrected(rule, N, P, s, q)
    zero = real & (s.real == 0)
    if zero.any() and P == N + 1:
        Rt[zero] = np.inf
        ok[zero] = True
    _check_valid(ok & (zero | _small(R, Rt)), params, "at the z asked")
    return R.reshape(z.shape), Rt.reshape(z.shape)


def _windows(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``[10^k, 10^(k+1))`` holding the times: (window ends, index of each time)."""
    ratio = CONTOUR["ratio"]
    k = np.floor(np.log(t) / math.log(ratio))
    t0 = ratio ** k
    k = np.where(t0 > t, k - 1, np.where(t0 * ratio <= t, k + 1, k))
    ks, which = np.unique(k, return_inverse=True)
    return ratio ** (ks + 1), which.reshape(-1)


def _contour(t1: np.ndarray):
    """Nodes (windows x K+1, far to near) and weights of the hyperbolic contour of
    :data:`rfdmft.laplace.CONTOUR` for window ends ``t1``; ``f(t) = Im sum e^{tz} w F(z)``."""
    K, c, phi, a = CONTOUR["K"], CONTOUR["c"], CONTOUR["phi"], CONTOUR["a"]
    h = a / K
    u = np.arange(K, -1, -1) * h
    mu = (c * K / t1)[:, None]
    z = mu * (1 + np.sin(1j * u[None, :] - phi))
    w = 1j * mu * np.cos(1j * u[None, :] - phi) * h / np.pi
    w[:, -1] *= 0.5
    return z, w


def _slope(fun, x: float, e: float = 1e-3) -> float:
    """``fun'(x)`` by central differences at relative steps ``e`` and ``e / 2``,
    Richardson-extrapolated."""
    d1 = (fun(x * (1 + e)) - fun(x * (1 - e))) / (2 * e * x)
    d2 = (fun(x * (1 + e / 2)) - fun(x * (1 - e / 2))) / (e * x)
    return (4 * d2 - d1) / 3


def _static_delta(params: Params, rule) -> np.ndarray:
    """Correction (bias, label, thermal) at ``t = inf``: from ``Rt - R`` and its ``s``-derivative
    at ``s = gamma`` (central differences, Richardson-extrapolated)."""
    N, P, gamma = params.N, params.P, params.gamma
    sig_e = params.sigma2 + params.tail
    if gamma == 0:
        if N >= P:
            raise ValueError("t = inf with gamma = 0 and N >= P is not available in the corrected "
                             "theory; use a large finite time")
        if P == N + 1:
            return np.array([0.0, math.inf if sig_e > 0 else 0.0,
                             math.inf if params.T > 0 else 0.0])
        m = N / (P - N - 1) - N / (P - N)        # Rt(0) - R(0), exact
        return np.array([0.0, sig_e * m, params.T * m])

    def delta(s):
        q = _q_real(rule, N, P, s)
        R, Rt, ok = _corrected(rule, N, P, np.array([s + 0j]), np.array([q + 0j]))
        _check_valid(ok, params, f"t = inf (s = {s:g})")
        return (Rt - R)[0].real

    d0 = delta(gamma)
    dd = _slope(delta, gamma)                    # d(Rt - R)/ds
    # bias - tail = gamma^2 int dmu/(h+g)^2 = -gamma^2 R'; label = sig_e (R + gamma R')
    return np.array([-gamma**2 * dd, sig_e * (d0 + gamma * dd), params.T * d0])


def theory_finite_size(params: Params, times) -> ErrorCurve:
    """Error curve of the mean-field theory with its first finite-size correction (module
    docstring), isotropic teacher (captured mode powers 1; any ``M >= N``).

    The mean-field part is :func:`rfdmft.laplace.theory_laplace`; the correction is the inverse
    Laplace transform of the same formulas with ``Rt - R`` in place of ``R`` (bias
    ``[(z + 2 gamma)^2 dR(z/2)/2 - 2 gamma (z + gamma) dR(z)] / z^2``, label-noise variance
    ``2 sigma_e2 [(z + gamma) dR(z) - (z/2 + gamma) dR(z/2)] / z^2``, thermal ``T dR(z/2) / z``)
    on the contours of :data:`rfdmft.laplace.CONTOUR`; ``t = inf`` uses ``Rt - R`` and its
    derivative at ``s = gamma`` (ridgeless, ``N < P``: the exact ``N / (P - N - 1)``). The
    correction to the error must stay below :data:`MAX_CORRECTION` of it (the neglected second
    order, about its square, then stays below 1%). Times with ``t (h_max + gamma) <= 1e-10`` keep the mean-field
    value (the correction there is below ``1e-10`` relative). Raises ``RuntimeError`` where the
    correction is not valid (``P q`` of order one: the hard edge), ``ValueError`` for a
    non-isotropic teacher or ``t = inf`` with ``gamma = 0`` and ``N >= P``.
    """
    t = validate_times(times, params)
    if params.teacher is not None and not np.all(params.teacher[: params.N] == 1.0):
        raise ValueError("teacher must have captured mode powers 1 (isotropic) for the "
                         "finite-size correction")
    base = theory_laplace(params, t)
    rule = mode_rule(params)
    N, P, gamma, T = params.N, params.P, params.gamma, params.T
    sig_e = params.sigma2 + params.tail
    parts = np.array([base.bias, base.label_variance, base.thermal_variance], dtype=float)

    h_max = 4.0 * (P * float(rule.lam.max()) + float(rule.weight @ rule.lam))
    static = np.isinf(t)
    if gamma > 0:
        static |= t * gamma > math.log(3e13) + 2 * math.log1p(h_max / gamma)
    if static.any():
        parts[:, static] += _static_delta(params, rule)[:, None]
    with np.errstate(over="ignore"):
        finite = ~static & (t > 0) & (t * (h_max + gamma) > 1e-10)
    if finite.any():
        tf = t[finite]
        ends, which = _windows(tf)
        z, w = _contour(ends)
        zz = np.concatenate([z, 0.5 * z])                        # z, then z / 2
        up = np.where(zz.imag < 0, zz.conj(), zz)
        real = up.imag == 0
        s = up + gamma
        q = np.empty(up.shape, complex)
        if real.any():
            for i, j in zip(*np.nonzero(real)):
                q[i, j] = _q_real(rule, N, P, float(s[i, j].real))
        R_c, _ = solve_response(params, up[~real])
        q[~real] = 1.0 / (1.0 + R_c)
        R, Rt, ok = _corrected(rule, N, P, s, q)
        _check_valid(ok, params, f"on the contour of t = {tf.min():g}..{tf.max():g}")
        dR = np.where(zz.imag < 0, (Rt - R).conj(), Rt - R)
        nw = ends.size
        d1, d2 = dR[:nw], dR[nw:]                                # at z and at z / 2
        Fb = d2 / 2 if gamma == 0 else ((z + 2 * gamma)**2 * d2 / 2
                                        - 2 * gamma * (z + gamma) * d1) / z**2
        Fv = 2 * sig_e * ((z + gamma) * d1 - (0.5 * z + gamma) * d2) / z**2
        Ft = T * d2 / z
        E = np.exp(tf[:, None] * z[which]) * w[which]
        for row, F, on in ((0, Fb, True), (1, Fv, sig_e > 0), (2, Ft, T > 0)):
            if on:
                parts[row, finite] += np.imag(np.sum(E * F[which], axis=1))
    if np.any(np.isnan(parts)):
        raise RuntimeError("the corrected theory gave non-finite values; no numbers returned")
    base_error = base.error
    with np.errstate(invalid="ignore"):
        size = np.abs(parts.sum(axis=0) - base_error)
    exact = static & (gamma == 0)                  # N < P ridgeless t = inf: exact, any size
    bad = ~exact & ~(size <= MAX_CORRECTION * np.abs(base_error))
    if bad.any():
        _check_valid(False, params, f"t = {t[bad][0]:g}, correction "
                                    f"{size[bad][0] / abs(base_error[bad][0]):.0%} of the error")
    return ErrorCurve(times=t, bias=parts[0], label_variance=parts[1],
                      thermal_variance=parts[2])


# ------------------------------------------------------------------------------------------
# random features: the ridgeless t = inf limit, exact at the data level
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RFFiniteSize:
    """Design average of the random-feature model's ``t = inf`` error at finite size
    (:func:`rf_ridgeless_limit`, :func:`rf_equilibrium_finite_size`), in the simulator's split:
    ``bias`` is the error of the noise-averaged predictor (the part ``delta`` of the target the
    features cannot represent included, with its amplification), ``label_variance`` the
    label-noise part, ``thermal_variance`` the Langevin part.

    ``thermal_variance`` is ``0`` without equilibrium (``T = 0`` or ``gamma = 0`` with
    ``P < min(N, M)``). ``mean_field`` is the plain theory's error
    (:func:`rfdmft.rf_theory.rf_equilibrium`);
    ``data_factor`` the exact data-level coefficient (``n / (P - n - 1)`` for ``n = min(N, M) < P``,
    ``1 / (N - P - 1)`` for ``P < min(N, M)``; ``nan`` with ridge, where the data level is
    corrected to first order instead); ``first_level`` the relative change of the error
    made by the first finite-size correction of the other level's sums (``0`` where that level
    is exact).
    """

    bias: float
    label_variance: float
    thermal_variance: float
    mean_field: float
    data_factor: float
    first_level: float

    @property
    def error(self) -> float:
        return self.bias + self.label_variance + self.thermal_variance


def _null_space_sums(rule, M: int, n: int) -> dict:
    """The mode model with the ``M`` modes of ``rule`` and ``n < M`` data points, ridgeless
    (``s -> 0``), in its mean-field form and with the first correction of :func:`_corrected`.

    Mean field: ``n q = s / kappa``, ``s G_k -> u0_k = kappa / (kappa + lambda_k)`` with
    ``d(kappa) = sum_k lambda_k / (lambda_k + kappa) = n``. Corrected: ``beta_k = s b_k + O(s^2)``
    with ``b_k = r_k / (kappa^2 d2)``, ``r_k = 1 - u0_k``, ``d2 = sum_k lambda_k / (lambda_k +
    kappa)^2``; with ``n qt = s xi``, ``s Gt_k -> u_k = 1 / (1 + lambda_k (xi - b_k))`` and the
    self-consistency at ``O(s^0)``: ``sum_k (1 - u_k) = n`` (``xi = 1 / kappa`` in the mean field).
    ``u_k`` is the diagonal of the null-space projector ``E (I - P_A)_kk``, ``xi = E tr(A A^T)^-1``
    (``n x n``). Returns ``kappa``, ``xi``, ``xi0`` and ``u``, ``u0`` at the rule's nodes."""
    from .equilibrium import _ridge

    lam, w = rule.lam, rule.weight
    kappa = _ridge(rule, M, n, 0.0)
    r = lam / (lam + kappa)
    d2 = float(w @ (lam / (lam + kappa) ** 2))
    b = r / (kappa * kappa * d2)

    def excess(xi):                    # increasing where every 1 + lambda_k (xi - b_k) > 0
        e = xi - b
        return float(w @ (lam * e / (1.0 + lam * e))) - n

    hi = 2.0 / kappa
    for _ in range(60):
        if excess(hi) > 0:
            break
        hi *= 2.0
    lo = max(float(np.max(b - 1.0 / lam)), 0.0) + 1e-13 * hi
    bracketed = excess(lo) < 0 < excess(hi)
    xi = optimize.brentq(excess, lo, hi, xtol=1e-16 * hi, rtol=1e-15, maxiter=400) \
        if bracketed else math.nan
    u = 1.0 / (1.0 + lam * (xi - b))
    if not (bracketed and np.all(u > 0) and np.all(u < 1)):
        raise ValueError(f"the first correction of the first level (M = {M} modes, n = {n}) is "
                         "not a projector's diagonal (P q of order one): no numbers returned")
    return dict(kappa=kappa, xi=xi, xi0=1.0 / kappa, u=u, u0=kappa / (lam + kappa))


def _unrepresented(rule, N: int, M: int) -> tuple[float, float]:
    """``E delta_F``, the part of the target ``N`` random features cannot represent, with the first
    correction of the first level (:func:`_null_space_sums`, ``M`` modes and ``N`` data) and in
    the mean field (``kappa0 d_p(kappa0)``); ``(0, 0)`` for ``N >= M``."""
    if N >= M:
        return 0.0, 0.0
    lam, wp = rule.lam, rule.power
    level = _null_space_sums(rule, M, N)
    return float(wp @ (lam * level["u"])), float(wp @ (lam * level["u0"]))


def _representable(rule, delta: float, delta0: float) -> float:
    """Ratio of the representable target power ``sum_k p_k lambda_k - delta`` with the first
    level's correction of ``delta`` to its mean-field value: the signal not yet learned (kept in
    the mean field otherwise) is scaled by it, so that the error at ``t = 0`` stays exactly
    ``sum_k p_k lambda_k``."""
    total = float(rule.power @ rule.lam)
    return (total - delta) / (total - delta0) if total > delta0 else 1.0


def _null_space_label(rule, M: int, n: int, V: float, kappa: float) -> float:
    """``E tr(Lambda H^+)`` (the ridgeless label-noise factor of the mode model with ``M`` modes and
    ``n < M`` data) with the first correction: ``d/ds [s Rt(s)]`` at ``s = 0``
    (``s Rt(0) = V = sum_k lambda_k u_k``), by the second-order one-sided difference of
    :func:`_corrected` at ``s = h, 2 h``, ``h = 1e-4 kappa n`` (the scale of ``s`` there is
    ``kappa^2 d2 ~ kappa n``: truncation ~1e-8 relative)."""
    h = 1e-4 * kappa * n
    values = []
    for s in (h, 2.0 * h):
        q = _q_real(rule, M, n, s)
        _, Rt, ok = _corrected(rule, M, n, np.array([s + 0j]), np.array([q + 0j]))
        if not ok[0]:
            raise ValueError(f"the first correction of the first level (M = {M} modes, n = {n}) "
                             "is not valid near s = 0: no numbers returned")
        values.append(s * float(Rt[0].real))
    return (-3.0 * V + 4.0 * values[0] - values[1]) / (2.0 * h)


def rf_ridgeless_limit(params: Params) -> RFFiniteSize:
    r"""Design average of the ``t = inf`` error of the random-feature model (model.md section 6)
    without ridge (``gamma = 0``), exact at the data level and with the first finite-size
    correction at the other level. Any teacher powers on the ``M`` modes.

    Derivation. Write ``n = min(N, M)`` and ``a ~ N(0, Lambda)`` an input in mode space.

    1. ``n < P`` (more data than features). Given ``F`` the data level is the mode model with
       Gaussian features ``phi = F a`` of covariance ``K = F Lambda F^T``, a teacher in feature
       space and label noise ``sigma2 + delta_F``: ``delta_F = sum_k p_k lambda_k (I - P_F)_kk``,
       ``P_F`` the projector onto ``range(Lambda^1/2 F^T)``, is the part of the target the
       features cannot represent (Gaussian and independent of ``phi``). Ordinary least squares
       on ``n`` Gaussian features gives, for every ``K`` (inverse Wishart, :func:`ridgeless_limit`),
       ``E[E_g | F] = delta_F + (sigma2 + delta_F + T) n / (P - n - 1)`` exactly. The theory has
       ``P - n`` in place of ``P - n - 1`` and the deterministic equivalent ``kappa0 d_p(kappa0)``
       in place of ``E delta_F``.
    2. ``P < n`` (more features than data). Given the data ``A`` (``P x M``), the ``N`` columns
       ``A f_j`` of ``Phi = A F^T`` and the test features ``f_j . a`` are i.i.d. Gaussian in
       ``R^{P+1}``; conditioning the test entry on the training ones splits the min-norm
       prediction ``(F a)^T Phi^+ y`` into the kernel interpolant ``a^T A^T C^-1 y``
       (``C = A A^T``) and ``xi^T Phi^+ y`` with ``xi`` independent of ``Phi``, of variance
       ``c(a) / N`` per entry (``c(a)`` the kernel's posterior variance at ``a``). With
       ``E[(Phi Phi^T)^-1 | A] = N C^-1 / (N - P - 1)`` (inverse Wishart, ``N`` degrees of freedom):
       ``E[E_g | A] = E_krr(A) + V(A) Y(A) / (N - P - 1)`` exactly, ``E_krr`` the ridgeless
       kernel-regression error with all ``M`` modes, ``V = tr(Lambda (I - P_A))`` the mean
       posterior variance, ``Y = E y^T C^-1 y = sum_k p_k (P_A)_kk + sigma2 tr C^-1``. The theory
       has ``N - P`` in place of ``N - P - 1``.
    3. What is left is the other level: the mode model with ``M`` modes and ``n`` data points
       (``n = N`` in 1., ``n = P`` in 2.), at its null space ``s -> 0`` (:func:`_null_space_sums`):
       ``E (I - P)_kk = u_k``, ``E tr C^-1 = xi``, ``E tr(Lambda H^+) = d/ds [s Rt(s)]_0``
       (:func:`_null_space_label`), with the first correction of :func:`corrected_response` in
       place of the deterministic equivalents. ``E[V Y] = E V E Y`` up to ``Cov(V, Y)``, a
       relative ``O(1/P^2)``. For a non-isotropic teacher the bias of kernel regression in 2.,
       ``tr(Pi (I - P_A) Lambda (I - P_A))`` (quadratic in ``P_A``), keeps its mean-field value
       (for the isotropic teacher it is ``V``, corrected).

    Holds for ``lr = 0``, ``gamma = 0``, ``min(N, M) != P``; ``T > 0`` only for ``min(N, M) < P``
    (otherwise there is no equilibrium). ``P = n + 1`` (1.) and ``N = P + 1`` (2.) give ``inf``.
    Raises ``ValueError`` for other input, where the first level's correction is not valid, or
    where it changes the error by more than :data:`MAX_CORRECTION` (``first_level``).
    """
    from .equilibrium import _compose, _overlaps
    from .rf_theory import _compressed, rf_equilibrium

    if params.features != "random":
        raise ValueError(f"features must be 'random' for the random-feature ridgeless limit, got "
                         f"{params.features!r} (the mode model has ridgeless_limit)")
    if params.lr > 0:
        raise ValueError(f"lr must be 0 (continuous time) for the random-feature ridgeless limit, "
                         f"got {params.lr:g}")
    if params.gamma != 0:
        raise ValueError(f"gamma must be 0 for the ridgeless limit, got {params.gamma:g}")
    N, M, P = params.N, params.M, params.P
    n = min(N, M)
    if n == P:
        raise ValueError(f"min(N, M) = P = {P} is the interpolation threshold: the ridgeless error "
                         "is infinite")
    if params.T > 0 and n > P:
        raise ValueError(f"T must be 0 for min(N, M) = {n} > P = {P} without ridge: the weights "
                         "diffuse freely and the error has no t = inf limit")
    sigma2, T = params.sigma2, params.T
    mean_field = sum(rf_equilibrium(params))
    rule = _compressed(params)
    lam, w, wp = rule.lam, rule.weight, rule.power
    with np.errstate(divide="ignore", invalid="ignore"):      # inf - inf at P = n + 1, N = P + 1
        if n < P:
            factor = n / (P - n - 1) if P > n + 1 else math.inf
            delta, delta0 = _unrepresented(rule, N, M)
            amplified = lambda d: d * (1.0 + factor) if d > 0 else 0.0
            bias = amplified(delta)
            label = sigma2 * factor if sigma2 > 0 else 0.0
            thermal = T * factor if T > 0 else 0.0
            change = abs(amplified(delta) - amplified(delta0))
            theory = delta0 * P / (P - n) + (sigma2 + T) * n / (P - n)
        else:
            factor = 1.0 / (N - P - 1) if N > P + 1 else math.inf
            level = _null_space_sums(rule, M, P)
            u, u0 = level["u"], level["u0"]
            V, V0 = float(w @ (lam * u)), float(w @ (lam * u0))
            TP, TP0 = float(wp @ (1.0 - u)), float(wp @ (1.0 - u0))
            krr = _compose(M, P, 0.0, 0.0, 0.0, 1.0, level["kappa"],
                           _overlaps(lam, w, wp, level["kappa"]))
            L = _null_space_label(rule, M, P, V, level["kappa"])
            bias_krr = V if params.isotropic else krr.bias
            bias = bias_krr + V * TP * factor
            label = sigma2 * (L + V * level["xi"] * factor) if sigma2 > 0 else 0.0
            thermal = 0.0
            plain = (krr.bias + V0 * TP0 * factor
                     + (sigma2 * (krr.label_variance + V0 * level["xi0"] * factor)
                        if sigma2 > 0 else 0.0))
            change = abs(bias + label - plain)
            theory = krr.bias + sigma2 * krr.label_variance \
                + V0 * (TP0 + sigma2 * level["xi0"]) / (N - P)
    if not abs(theory - mean_field) <= 1e-8 * mean_field:      # the same terms as rf_theory's
        raise RuntimeError(f"the plain theory's terms were not reproduced ({theory!r} against "
                           f"rf_equilibrium's {mean_field!r}); no numbers returned")
    error = bias + label + thermal
    first_level = change / error if math.isfinite(error) and error > 0 else 0.0   # exact if inf
    if first_level > MAX_CORRECTION:
        raise ValueError("the first finite-size correction of the first level changes the "
                         f"error by {first_level:.0%} (above {MAX_CORRECTION:.0%}) at N = {N}, "
                         f"M = {M}, P = {P}: n = min(N, P) is too close to M for a 1/P "
                         "expansion; no numbers returned")
    return RFFiniteSize(bias=float(bias), label_variance=float(label),
                        thermal_variance=float(thermal), mean_field=float(mean_field),
                        data_factor=float(factor), first_level=float(first_level))


def _feature_kappa(rule, N: int, kappa0: float, m: float) -> float:
    """The features' deterministic equivalent at real ``m > 0``: ``kappa`` with
    ``kappa (1 - d(kappa) / N) = m`` (:mod:`rfdmft.rf_theory`), the root in
    ``[max(kappa0, m), 2 m + sum_k lambda_k / N]`` (increasing there)."""
    lam, w = rule.lam, rule.weight

    def d(kappa):
        return float(w @ (lam / (lam + kappa)))

    lo = max(kappa0, m)
    hi = m + float(w @ lam) / N + m
    return optimize.brentq(lambda k: k * (1.0 - d(k) / N) - m, lo, hi, xtol=1e-16 * hi,
                           rtol=1e-15, maxiter=400)


def _feature_values(rule, N: int, kappa):
    """``f = sum_j s_j / (s_j + m)`` over the eigenvalues ``s_j`` of ``K = F Lambda F^T`` and
    ``df/dm`` from ``kappa(m)`` (any shape, complex allowed): ``f = d(kappa)``,
    ``m = kappa (1 - d / N)``."""
    lam, w = rule.lam, rule.weight
    k = np.asarray(kappa)[..., None]
    f = (w * lam / (lam + k)).sum(axis=-1)
    dk = (w * lam / (lam + k) ** 2).sum(axis=-1)              # -d'(kappa)
    return f, -dk / (1.0 - f / N + np.asarray(kappa) * dk / N)


def _feature_resolvent(rule, N: int, kappa0: float, m: float) -> tuple[float, float]:
    """:func:`_feature_values` at real ``m > 0``."""
    f, fp = _feature_values(rule, N, _feature_kappa(rule, N, kappa0, m))
    return float(f), float(fp)


def _feature_kappa_c(rule, N: int, m: np.ndarray, m0: np.ndarray, kappa_m0: np.ndarray,
                     steps: int = 8):
    """``kappa(m)`` at complex ``m`` (1-d arrays), continued on straight lines from points ``m0``
    where it is known (``kappa_m0``): Newton on ``kappa (1 - d(kappa) / N) = m`` at ``steps``
    intermediate points. Returns ``(kappa, ok)``; ``ok`` is False where Newton did not converge
    or ``f(m)`` is not on the physical sheet (``Im f`` of the sign opposite to ``Im m``)."""
    lam, w = rule.lam, rule.weight
    kappa = np.array(kappa_m0, complex)
    done = np.ones(m.shape, bool)
    for k in range(1, steps + 1):
        target = m0 + (m - m0) * (k / steps)
        done = np.zeros(m.shape, bool)
        for _ in range(_MAXIT):
            g = 1.0 / (lam + kappa[:, None])
            d = (w * lam * g).sum(axis=1)
            dd = (w * lam * g * g).sum(axis=1)
            step = (kappa * (1.0 - d / N) - target) / (1.0 - d / N + kappa * dd / N)
            kappa = np.where(done, kappa, kappa - step)
            done |= np.abs(step) <= _TOL * np.abs(kappa)
            if done.all():
                break
    f = _feature_values(rule, N, kappa)[0]
    ok = done & np.isfinite(f) & (f.imag * np.sign(m.imag) <= _PHYS * np.abs(f))
    return kappa, ok


def _data_level(rule, N: int, P: int, s: np.ndarray, mu: np.ndarray, kappa_mu: np.ndarray):
    """First-corrected ``Rt = E tr(K (Phi^T Phi + s)^-1)`` (:func:`_corrected`) of the data level
    given the features (``K = F Lambda F^T``, ``P`` data), its sums over ``eig(K)`` through the
    features' deterministic equivalent; ``s`` complex (1-d), ``mu`` the mean-field ``s / (P q)``
    there and ``kappa_mu = kappa(mu)``. Returns ``(Rt, ok)``.

    Mean field: ``G_j = 1 / (s + s_j P q) = 1 / (P q (s_j + mu))``, ``mu (P - f(mu)) = s``,
    ``P q = P - f(mu)``, ``R = f / (P q)``. Correction: ``beta_j = s_j / ((s_j + mu) D)`` with
    ``D = 1 + mu f2 / (P q)``, ``f2 = -f'(mu)``; ``Gt_j = 1 / (s + s_j (x - beta_j))`` is
    ``(s_j + mu) D / (a2 s_j^2 + a1 s_j + a0)``, ``a2 = x D - 1``, ``a1 = (s + x mu) D``,
    ``a0 = s mu D``, with roots ``-m1, -m2`` (negative reals for real ``s``: the discriminant is
    ``D (D (s - x mu)^2 + 4 s mu) > 0``), so by partial fractions every sum over ``j`` is ``f`` at
    ``m1`` and ``m2`` (``sum_j 1 / (s_j + m) = (N - f(m)) / m``). With
    ``c_i = (mu - m_i) / (m_k - m_i)``: ``Rt = (D / a2) sum_i c_i f(m_i)`` and the
    self-consistency ``x = P qt = P - N + s sum_j Gt_j`` is ``x = P - s (D / a2) sum_i c_i
    f(m_i) / m_i`` (the ``N`` cancels exactly: ``(D / a2) sum_i c_i / m_i = 1 / s``), solved by
    secant steps from the mean field ``x = P q``; ``m_i`` start from ``mu`` (``m_i -> mu`` as
    ``P -> inf``)."""
    f, fp = _feature_values(rule, N, kappa_mu)
    Pq = P - f
    D = 1.0 + mu * (-fp) / Pq
    m0 = np.concatenate([mu, mu])
    k0 = np.concatenate([kappa_mu, kappa_mu])
    state = {"m": m0, "kappa": k0}               # continued from the last solution

    def sums(x):
        a2, a1, a0 = x * D - 1.0, (s + x * mu) * D, s * mu * D
        root = np.sqrt(a1 * a1 - 4.0 * a2 * a0)
        m1, m2 = (a1 - root) / (2.0 * a2), (a1 + root) / (2.0 * a2)       # minus the roots
        m = np.concatenate([m1, m2])
        kappa, ok = _feature_kappa_c(rule, N, m, state["m"], state["kappa"])
        state["m"], state["kappa"] = np.where(ok, m, m0), np.where(ok, kappa, k0)
        fm = _feature_values(rule, N, kappa)[0]
        f1, f2 = fm[: s.size], fm[s.size:]
        c1, c2 = (mu - m1) / (m2 - m1), (mu - m2) / (m1 - m2)
        S = s * D / a2 * (c1 * f1 / m1 + c2 * f2 / m2)
        Rt = D / a2 * (c1 * f1 + c2 * f2)
        return x - P + S, Rt, ok[: s.size] & ok[s.size:]

    x0, x1 = Pq, Pq * (1.0 - 1e-3)
    F0 = sums(x0)[0]
    done = np.zeros(s.shape, bool)
    for _ in range(_MAXIT):
        F1 = sums(x1)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(done, 0.0, F1 * (x1 - x0) / (F1 - F0))
        x0, F0, x1 = x1, F1, x1 - step
        done |= ~(np.abs(step) > 1e-13 * np.abs(x1))
        if done.all():
            break
    _, Rt, ok = sums(x1)
    ok &= done & np.isfinite(Rt) & (np.abs(x1) > 0)
    real = s.imag == 0
    tol = _PHYS * np.abs(Rt)
    ok &= np.where(real, (Rt.real > 0) & (np.abs(Rt.imag) <= tol),
                   np.sign(s.imag) * Rt.imag <= tol)
    return Rt, ok


def _rf_data_level(rule, N: int, M: int, P: int, kappa0: float, s: float) -> tuple[float, float]:
    """Mean-field ``R`` and first-corrected ``Rt`` (:func:`_data_level`) of the data level given
    the features at real ``s > 0`` (``min(N, M) < P``); ``mu`` solves ``mu (P - f(mu)) = s``."""
    n = min(N, M)                                  # f < n: the nonzero eigenvalues of K
    g = lambda lm: math.exp(lm) * (P - _feature_resolvent(rule, N, kappa0, math.exp(lm))[0]) - s
    mu = math.exp(optimize.brentq(g, math.log(s / P), math.log(s / (P - n)), xtol=1e-15,
                                  rtol=1e-15, maxiter=400))
    kappa = _feature_kappa(rule, N, kappa0, mu)
    f = float(_feature_values(rule, N, kappa)[0])
    Rt, ok = _data_level(rule, N, P, np.array([s + 0j]), np.array([mu + 0j]),
                         np.array([kappa + 0j]))
    if not ok[0]:
        raise RuntimeError(f"the data level's first correction did not converge at s = {s:g} "
                           f"(N = {N}, P = {P}); no numbers returned")
    return f / (P - f), float(Rt[0].real)


# ------------------------------------------------------------------------------------------
# random features with ridge, P < min(N, M): the feature level given the data
# ------------------------------------------------------------------------------------------

class _DataSums:
    """Design averages over the data ``A`` (``P x M``, ``P < M``) of sums over the ``P`` nonzero
    eigenvalues ``c_k`` of ``C = A A^T``, with weights ``1``, ``b_k = v_k^T Lambda v_k``
    (``v_k`` the right singular vectors of ``A``) or ``b_k / c_k = B_kk``
    (``B = C^-1 A Lambda A^T C^-1``): the mode model with the ``M`` modes and ``P`` data, in the
    mean field or with the first correction of :func:`_corrected` (``corrected``).

    The traces ``tau_1(s) = E tr (C + s)^-1 = E tr (H + s)^-1 - (M - P) / s`` and
    ``tau_b(s) = E sum_k b_k / (c_k + s) = R(s) - V / s`` (``H = A^T A``, ``V = E tr(Lambda (I -
    P_A))`` its null-space weight, :func:`_null_space_sums`) are analytic at ``s = 0``; for
    ``rho`` analytic off a few points ``c = -m`` (``m > 0``) and bounded at infinity,
    ``sum_k w_k (rho(c_k) - rho(inf)) = -(1 / 2 pi i) oint (rho(-s) - rho(inf)) tau_w(s) ds`` on
    one circle around all the ``m`` that leaves out ``s = 0`` and the spectrum (``s <= -c_min``),
    by the trapezoidal rule (geometric convergence). ``sum_k b_k rho(c_k) / c_k`` is
    ``rho(0) E tr B + sum_k b_k (rho(c_k) - rho(0)) / c_k``, ``E tr B = E tr(Lambda H^+) =
    d/ds [s R(s)]_0`` (as :func:`_null_space_label`)."""

    def __init__(self, rule, M: int, P: int, corrected: bool, nodes: int = 64):
        self.rule, self.M, self.P, self.corrected, self.nodes = rule, M, P, corrected, nodes
        level = _null_space_sums(rule, M, P)
        lam, w = rule.lam, rule.weight
        self.V = float(w @ (lam * (level["u"] if corrected else level["u0"])))
        self.total = {"one": float(P), "b": float(w @ lam) - self.V}
        h = 1e-4 * level["kappa"] * P                  # as in _null_space_label
        values = [s * float(self._traces(np.array([s + 0j]))[0][0].real) for s in (h, 2.0 * h)]
        self.trB = (-3.0 * self.V + 4.0 * values[0] - values[1]) / (2.0 * h)

    def _traces(self, s: np.ndarray):
        """``(E tr(Lambda (H + s)^-1), E tr (H + s)^-1)`` at the points ``s`` (1-d, in the order
        of a path from a real point: each starts Newton from the previous one)."""
        rule, M, P = self.rule, self.M, self.P
        lam, w = rule.lam, rule.weight
        q = np.empty(s.shape, complex)
        qk = complex(_q_real(rule, M, P, abs(s[0])))
        for i, si in enumerate(s):
            if si.imag == 0:
                qk = complex(_q_real(rule, M, P, float(si.real)))
            else:
                for _ in range(_MAXIT):
                    g = 1.0 / (si + lam * P * qk)
                    F = qk - (1.0 - M / P) - (si / P) * np.sum(w * g)
                    step = F / (1.0 + si * np.sum(w * lam * g * g))
                    qk -= step
                    if abs(step) <= _TOL * abs(qk):
                        break
                else:
                    raise RuntimeError(f"the data level's mean field did not converge at s = {si}")
            q[i] = qk
        R, Rt, ok, S, St = _corrected(rule, M, P, s, q, sums=True)
        if not np.all(ok):
            raise RuntimeError("the data level's first correction is not valid on the contour "
                               f"(M = {M}, P = {P}); no numbers returned")
        return (Rt, St) if self.corrected else (R, S)

    def sum(self, rho, weight: str, poles) -> float:
        """``E sum_k w_k rho(c_k)``, ``w`` ``'one'``, ``'b'`` or ``'d'`` (``b_k / c_k``); ``rho``
        vectorised, analytic off ``c = -m`` for ``m`` in ``poles`` (all ``> 0``)."""
        if weight == "d":
            r0 = rho(np.zeros(1, complex))[0]
            return float((r0 * self.trB).real) + self.sum(lambda c: (rho(c) - r0) / c, "b", poles)
        poles = np.sort(np.asarray(poles, float))
        if not (poles.size and poles[0] > 0 and np.all(np.isfinite(poles))):
            raise RuntimeError(f"poles must be positive, got {poles}")
        r_inf = rho(np.array([1e12 * (poles[-1] + 1.0) + 0j]))[0]
        total = complex(r_inf * self.total[weight])
        # one circle through s = m_min / 2 and m_max + m_min / 2 (it leaves out s = 0 and the
        # spectrum): the trapezoidal error is ~ ((r - m_min / 2) / r)^K from the poles inside
        lo, hi = 0.5 * poles[0], poles[-1] + 0.5 * poles[0]
        c0, r = 0.5 * (lo + hi), 0.5 * (hi - lo)
        ratio = max(1.0 - lo / r, 1e-300)           # 0 for one pole (at the centre)
        K = max(self.nodes, 2 * math.ceil(0.5 * math.log(1e-15) / math.log(ratio)))
        if K > 4096:
            raise RuntimeError("the feature level's poles are too far apart for the contour; no "
                               "numbers returned")
        theta = np.pi * (np.arange(K // 2) + 0.5) / (K // 2)     # upper half of the circle
        s = c0 + r * np.exp(1j * np.concatenate([[0.0], theta]))
        R, S = self._traces(s)
        tau = (S - (self.M - self.P) / s) if weight == "one" else (R - self.V / s)
        f = (rho(-s[1:]) - r_inf) * tau[1:] * 1j * r * np.exp(1j * theta)
        # the lower half is the conjugate of the upper (rho, tau real on the real axis) with
        # ds conjugated and negated: (1 / 2 pi i) oint = 2 Im(sum f) / K
        total -= 2.0 * float(np.sum(f).imag) / K
        return float(total.real)


def _feature_level(sums, N: int, P: int, gamma: float, sigma2: float, T: float,
                   corrected: bool, info: dict | None = None) -> tuple[float, float, float]:
    r"""``t = inf`` (bias, label-noise variance, thermal variance) of the random-feature model with
    ridge ``gamma`` for ``P < min(N, M)`` and the isotropic teacher, from the feature level given
    the data (:func:`rf_equilibrium_finite_size`) in its mean field or with its first correction
    (``corrected``), the sums over ``eig(C)`` by ``sums`` (a :class:`_DataSums`, or exact sums
    over one design with the same interface: ``sum``, ``V``, ``trB``).

    With ``lambda(c) = c / N`` (the feature level: ``P`` dimensions, ``N`` samples) and per-mode
    ridges ``s_k = gamma + eps d_k``: mean field ``G(c) = 1 / (gamma + lambda x)``,
    ``x = N - P + gamma sum G``, ``D = 1 + gamma sum lambda G^2``, ``beta(c) = lambda x G / D``;
    corrected ``Gt(c) = 1 / (gamma + lambda (xt - beta))``, ``xt = N - P + gamma sum Gt``. The
    two-resolvent traces ``E tr(R diag(d) R Y)`` are ``-d/d eps sum_k Y_k Gt_k`` at ``eps = 0``
    (the same expansion with per-mode ridges), ``R = (Phi Phi^T + gamma)^-1``."""
    lamf = lambda c: c / N
    fx = lambda x: x - (N - P) - gamma * (N / x) * sums.sum(lambda c: 1.0 / (c + gamma * N / x),
                                                            "one", [gamma * N / x])
    x = optimize.brentq(fx, N - P, N, xtol=1e-14 * N, rtol=1e-15, maxiter=200)
    m0 = gamma * N / x
    G = lambda c: 1.0 / (gamma + c * x / N)
    D = 1.0 + gamma * sums.sum(lambda c: lamf(c) * G(c) ** 2, "one", [m0])
    if corrected:
        beta = lambda c: lamf(c) * x * G(c) / D

        def resolvent(xt):
            # Gt = (c + m0) D / (a2 c^2 + a1 c + a0): poles at the roots -m1, -m2
            a2, a1, a0 = (xt * D - 1.0) / N, (gamma + m0 * xt / N) * D, gamma * m0 * D
            disc = a1 * a1 - 4.0 * a2 * a0
            if not (a2 > 0 and disc > 0):
                raise ValueError("the feature level's first correction has no positive "
                                 "resolvent here (N - P of order one at this ridge); no numbers "
                                 "returned")
            root = math.sqrt(disc)
            m1, m2 = 2.0 * a0 / (a1 + root), (a1 + root) / (2.0 * a2)
            return (lambda c: 1.0 / (gamma + lamf(c) * (xt - beta(c)))), [m0, m1, m2]

        def gap(xt):
            Gt, poles = resolvent(xt)
            return xt - (N - P) - gamma * sums.sum(Gt, "one", poles)

        lo, hi = max(x - 0.5, 1.0 / D + 1e-9), x + 1.5
        if not (gap(lo) < 0 < gap(hi)):
            raise ValueError("the feature level's first correction did not close (N - P of "
                             "order one at this ridge); no numbers returned")
        xt = optimize.brentq(gap, lo, hi, xtol=1e-13 * hi, rtol=1e-15, maxiter=200)
        Gt, poles = resolvent(xt)
    else:
        xt, Gt, poles = x, G, [m0]

    def two(weight):
        """``(E tr(R diag(d) R C), E tr(R diag(d) R))``, ``d = b / c`` (``'d'``) or ``1``."""
        xp = sums.sum(lambda c: G(c) * (1.0 - gamma * G(c)), weight, [m0]) / D
        if not corrected:
            return tuple(sums.sum(lambda c: Y(c) * G(c) ** 2, weight, [m0])
                         + xp * sums.sum(lambda c: Y(c) * G(c) ** 2 * lamf(c), "one", [m0])
                         for Y in (lambda c: c, lambda c: 1.0 + 0.0 * c))
        Ep = (sums.sum(lambda c: lamf(c) * G(c) ** 2 * (1.0 - 2.0 * gamma * G(c)), weight, [m0])
              - 2.0 * gamma * xp * sums.sum(lambda c: lamf(c) ** 2 * G(c) ** 3, "one", [m0]))
        beta_d = lambda c: -lamf(c) * x * G(c) ** 2 / D          # d beta_k = d_k beta_d + beta_0
        beta_0 = lambda c: (lamf(c) * xp * gamma * G(c) ** 2 / D
                            - lamf(c) * x * G(c) * Ep / D**2)
        num = (sums.sum(lambda c: Gt(c) * (1.0 - gamma * Gt(c))
                        + gamma * Gt(c) ** 2 * lamf(c) * beta_d(c), weight, poles)
               + gamma * sums.sum(lambda c: Gt(c) ** 2 * lamf(c) * beta_0(c), "one", poles))
        xtp = num / (1.0 + gamma * sums.sum(lambda c: lamf(c) * Gt(c) ** 2, "one", poles))
        return tuple(sums.sum(lambda c: Y(c) * Gt(c) ** 2 * (1.0 - lamf(c) * beta_d(c)),
                              weight, poles)
                     + sums.sum(lambda c: Y(c) * Gt(c) ** 2 * lamf(c) * (xtp - beta_0(c)),
                                "one", poles)
                     for Y in (lambda c: c, lambda c: 1.0 + 0.0 * c))

    V, trB = sums.V, sums.trB
    Bc, B1 = two("d")                                   # E tr(R B R C), E tr(R B R)
    Ic, I1 = two("one")                                 # E tr(R^2 C), E tr R^2
    Sc = sums.sum(lambda c: c * Gt(c), "one", poles)    # E tr(R C)
    S1 = sums.sum(Gt, "one", poles)                     # E tr R
    Sd = sums.sum(Gt, "d", poles)                       # E tr(B R)
    bias = V + gamma**2 * Bc + (V / N) * (Sc - gamma * Ic)
    label = sigma2 * (trB - 2.0 * gamma * Sd + gamma**2 * B1 + (V / N) * (S1 - gamma * I1))
    thermal = T * (trB - gamma * Sd + (V / N) * (S1 + (N - P) / gamma)) if T > 0 else 0.0
    if info is not None:
        info.update(x=x, xt=xt, trR=S1, trRC=Sc, trRBRC=Bc, trRBR=B1)
    return float(bias), float(label), float(thermal)

def _rf_ridge_more_features(params: Params) -> RFFiniteSize:
    """:func:`rf_equilibrium_finite_size` for ``P < min(N, M)`` with ``gamma > 0``."""
    from .rf_theory import _compressed, rf_equilibrium

    N, M, P, gamma, sigma2, T = (params.N, params.M, params.P, params.gamma, params.sigma2,
                                 params.T)
    if not params.isotropic:
        raise ValueError(f"the finite-size correction with ridge (gamma = {gamma:g} > 0) and "
                         f"P = {P} < min(N, M) = {min(N, M)} is available for the isotropic "
                         "teacher only (a structured teacher adds off-diagonal two-resolvent "
                         "terms at the feature level, not included); got teacher powers that "
                         "are not all 1")
    base = rf_equilibrium(params)
    rule = _compressed(params)
    with threadpool_limits(1, user_api="blas"):
        plain_sums, data = _DataSums(rule, M, P, False), _DataSums(rule, M, P, True)
        plain = _feature_level(plain_sums, N, P, gamma, sigma2, T, corrected=False)
        mf_info, info = {}, {}
        parts = _feature_level(data, N, P, gamma, sigma2, T, corrected=True, info=info)
        data_only = _feature_level(data, N, P, gamma, sigma2, T, corrected=False, info=mf_info)
    scale = sum(base)
    if not all(abs(a - b) <= 1e-8 * scale for a, b in zip(plain, base)):
        raise RuntimeError(f"the feature level's mean field did not reproduce the plain theory "
                           f"({plain!r} against rf_equilibrium's {base!r}); no numbers returned")
    error = sum(parts)
    if not (math.isfinite(error) and error > 0 and all(x >= 0 for x in parts)):
        raise RuntimeError("the random-feature finite-size correction gave untrusted values; "
                           "no numbers returned")
    first_level = abs(sum(data_only) - sum(plain)) / error
    # the feature level's expansion: its change of E tr R and E tr(R C), as corrected_response
    resolvent = max(abs(info[k] / mf_info[k] - 1.0) for k in ("trR", "trRC"))
    if resolvent > MAX_CORRECTION:
        raise ValueError(f"the feature level's first correction changes the resolvent by "
                         f"{resolvent:.0%} (above {MAX_CORRECTION:.0%}) at N = {N}, P = {P}, "
                         f"gamma = {gamma:g}: N - P is too small for a 1/(N - P) expansion at "
                         "this ridge; no numbers returned")
    if abs(error - scale) > MAX_CORRECTION * error or first_level > MAX_CORRECTION:
        raise ValueError(f"the first finite-size correction changes the error by "
                         f"{abs(error - scale) / error:.0%} (the data level's part "
                         f"{first_level:.0%}; above {MAX_CORRECTION:.0%} is refused) at "
                         f"N = {N}, M = {M}, P = {P}, gamma = {gamma:g}: N - P or M - P is too "
                         "small for a 1/P expansion at this ridge; no numbers returned")
    return RFFiniteSize(bias=parts[0], label_variance=parts[1], thermal_variance=parts[2],
                        mean_field=float(scale), data_factor=math.nan,
                        first_level=float(first_level))


def rf_equilibrium_finite_size(params: Params) -> RFFiniteSize:
    r"""The random-feature model's ``t = inf`` error (:func:`rfdmft.rf_theory.rf_equilibrium`) with
    its first finite-size correction. ``gamma = 0``: :func:`rf_ridgeless_limit` (exact at the
    data level). ``gamma > 0`` and ``min(N, M) < P`` (more data than features) as follows;
    ``gamma > 0`` and ``P < min(N, M)`` further below.

    1. Given ``F`` the data level is the mode model with the spectrum of ``K = F Lambda F^T``, a
       teacher in feature space and label noise ``sigma2 + delta_F`` (:func:`rf_ridgeless_limit`).
       Its error at ridge ``gamma`` is ``delta_F + B + (sigma2 + delta_F) (R + gamma R') +
       T R`` with ``R(s) = E tr(K (Phi^T Phi + s)^-1)`` at ``s = gamma`` and ``B`` the captured
       bias (``O(gamma^2)``: it vanishes ridgeless).
    2. ``R`` gets the mode model's first correction (:func:`_corrected`, each mode sees about
       ``beta_j`` data points fewer) with its sums over ``eig(K)`` in closed form through the
       features' deterministic equivalent (:func:`_rf_data_level`); ``R'`` by differences
       (:func:`_slope`). As ``gamma -> 0`` it tends to the exact ``N / (P - N - 1)``.
    3. ``E delta_F`` gets the first level's correction (:func:`_null_space_sums`, the mode
       model with ``M`` modes and ``N`` data at its null space), as in :func:`rf_ridgeless_limit`.

    Neglected: the first correction of ``B`` (non-isotropic in feature space; its mean-field value
    is kept, scaled by the corrected representable power, :func:`_representable`), the features'
    own finite-size correction of ``R`` at ``gamma > 0`` and ``Cov(delta_F, R_F)``.

    ``gamma > 0`` with ``P < min(N, M)`` (more features than data), isotropic teacher: given the
    data ``A`` (``P x M``, ``C = A A^T``, ``P_A`` the projector onto ``range(A^T)``), the test
    features split as in :func:`rf_ridgeless_limit` (2.), and with ``R = (Phi Phi^T + gamma)^-1``,
    ``S = Phi Phi^T`` (Wishart with ``N`` degrees of freedom and scale ``C / N`` given ``A``),
    ``B = C^-1 A Lambda A^T C^-1``, ``V = tr(Lambda (I - P_A))``:

        E[E_g | A, F] = V + sigma2 tr B - 2 gamma sigma2 tr(B R) + gamma^2 tr(R B R (C + sigma2))
                        + (V / N) tr(R S R (C + sigma2))   (+ T [tr B - gamma tr(B R)
                        + (V / N) (tr R + (N - P) / gamma)] with Langevin noise),

    exact (the teacher and the label noise averaged; the cross term of the kernel interpolant's
    residual with the ridge term vanishes for the isotropic teacher). ``E[. | A]`` is the mode
    model with the eigenvalues ``c_k / N``, ``N`` samples and ridge ``gamma``: its first correction
    (each direction sees ``beta_k`` samples fewer), with per-mode ridges ``gamma + eps d_k`` for
    the two-resolvent traces ``E tr(R diag(d) R Y) = -d/d eps sum_k Y_k E R_kk`` (only the
    diagonal of ``B`` in the eigenbasis of ``C`` enters, by the sign symmetry of ``S``'s
    distribution), ``R S R = R - gamma R^2`` (:func:`_feature_level`). The sums over ``eig(C)``
    with the weights ``1``, ``v_k^T Lambda v_k`` and ``B_kk`` are then the data level (the mode
    model with the ``M`` modes and ``P`` data) with its own first correction, by contour integrals
    around the feature level's poles (:class:`_DataSums`). Neglected: second order (both
    levels' products and the neglected parts of :func:`_corrected`), ``Cov(V, tr(...))``.
    Verified against the simulator (600 designs, ``N, P = 100-400``: within 1.5 standard errors
    where the plain theory is 6-16 low), on single designs against ``E[E_g | A]`` (6000 feature
    draws), ``gamma -> 0`` (:func:`rf_ridgeless_limit`) and ``N -> inf``
    (:func:`theory_finite_size`). ``first_level`` is the data level's part.

    Raises ``ValueError`` at ``min(N, M) = P``, for a non-isotropic teacher with
    ``P < min(N, M)``, where the feature level's correction changes ``E tr R`` or ``E tr(R C)`` by
    more than :data:`MAX_CORRECTION` (``N - P`` of order one at a small ridge) and where a
    correction exceeds :data:`MAX_CORRECTION` of the error.
    """
    if params.gamma == 0:
        return rf_ridgeless_limit(params)
    from .rf_theory import _compressed, _kappa0, rf_equilibrium

    if params.features != "random":
        raise ValueError(f"features must be 'random' for the random-feature finite-size "
                         f"correction, got {params.features!r} (the mode model has "
                         "theory_finite_size)")
    if params.lr > 0:
        raise ValueError(f"lr must be 0 (continuous time), got {params.lr:g}")
    N, M, P, gamma = params.N, params.M, params.P, params.gamma
    if min(N, M) == P:
        raise ValueError(f"the finite-size correction with ridge (gamma = {gamma:g} > 0) is "
                         f"available for min(N, M) != P, got N = {N}, M = {M}, P = {P}: at the "
                         "interpolation threshold no 1/P expansion holds")
    if P < min(N, M):
        return _rf_ridge_more_features(params)
    sigma2, T = params.sigma2, params.T
    base = rf_equilibrium(params)
    rule = _compressed(params)
    delta, delta0 = _unrepresented(rule, N, M)
    kappa0 = _kappa0(params)
    pair = lambda s: _rf_data_level(rule, N, M, P, kappa0, s)
    R, Rt = pair(gamma)
    slope, slope_t = _slope(lambda s: pair(s)[0], gamma), _slope(lambda s: pair(s)[1], gamma)
    label0, label = R + gamma * slope, Rt + gamma * slope_t        # E tr(K H (H + gamma)^-2)
    captured = base[0] - delta0 * (1.0 + label0)                  # rf_equilibrium's bias holds
    bias = delta + captured * _representable(rule, delta, delta0) + delta * label
    plain = delta0 + captured + (sigma2 + delta0) * label0 + T * R
    error = bias + sigma2 * label + T * Rt
    if not (math.isfinite(error) and error > 0 and abs(plain / sum(base) - 1.0) < 1e-6):
        raise RuntimeError("the random-feature finite-size correction did not reproduce the "
                           "plain theory's terms; no numbers returned")
    first_level = abs(delta - delta0) * (1.0 + label) / error
    if abs(error - plain) > MAX_CORRECTION * error:
        raise ValueError(f"the first finite-size correction changes the error by "
                         f"{abs(error - plain) / error:.0%} (above {MAX_CORRECTION:.0%}) at "
                         f"N = {N}, P = {P}, gamma = {gamma:g}: P - N is too small for a 1/P "
                         "expansion at this ridge; no numbers returned")
    return RFFiniteSize(bias=float(bias), label_variance=float(sigma2 * label),
                        thermal_variance=float(T * Rt), mean_field=float(sum(base)),
                        data_factor=math.nan, first_level=float(first_level))


# ------------------------------------------------------------------------------------------
# random features along the time curve with P < min(N, M): the feature level given the data
# ------------------------------------------------------------------------------------------

def _mode_q_complex(rule, M: int, P: int, m: np.ndarray, start=None, steps: int = 60):
    """Mean-field ``q`` of the mode model (the ``M`` modes of ``rule``, ``P`` data) at complex
    ``m`` off ``(-inf, 0]`` (1-d): Newton on ``q = 1 - M/P + (m/P) sum_k 1 / (m + lambda_k P q)``,
    continued on geometric steps from far up the imaginary axis, or on ``4`` straight steps from
    ``start = (m0, q0)`` (a nearby solution). Returns ``(q, ok)``."""
    lam, w = rule.lam, rule.weight
    m = np.asarray(m, complex)
    flip = m.imag < 0
    target = np.where(flip, m.conj(), m)
    if start is None:
        origin = 1j * 1e4 * (P * float(lam.max()) + np.abs(target) + 1.0)
        q = np.ones(target.shape, complex)
        path = lambda k: origin * np.exp(np.log(target / origin) * (k / steps))
    else:
        m0, q0 = start
        m0 = np.where(flip, np.conj(m0), m0)
        q = np.where(flip, np.conj(q0), q0).astype(complex)
        steps = 4
        path = lambda k: m0 + (target - m0) * (k / steps)
    done = np.zeros(target.shape, bool)
    for k in range(1, steps + 1):
        sk = path(k)
        done = np.zeros(target.shape, bool)
        for _ in range(4 * _MAXIT):
            g = 1.0 / (sk[:, None] + lam * P * q[:, None])
            F = q - (1.0 - M / P) - (sk / P) * (w * g).sum(axis=1)
            step = F / (1.0 + sk * (w * lam * g * g).sum(axis=1))
            q = np.where(done, q, q - step)
            done |= np.abs(step) <= 1e-12 * np.abs(q)
            if done.all():
                break
    g = 1.0 / (sk[:, None] + lam * P * q[:, None])                # one more (quadratic) step
    q = q - (q - (1.0 - M / P) - (sk / P) * (w * g).sum(axis=1)) \
        / (1.0 + sk * (w * lam * g * g).sum(axis=1))
    ok = done & np.isfinite(q) & (q.imag * np.sign(target.imag) >= -_PHYS * np.abs(q))
    return np.where(flip, q.conj(), q), ok


class _ComplexDataSums:
    """The data level (the mode model with the ``M`` modes and ``P`` data, mean field or with the
    first correction of :func:`_corrected`) at complex points: ``tau_1(m) = E tr (C + m)^-1`` and
    ``tau_b(m) = E sum_k b_k / (c_k + m)`` (:class:`_DataSums`), with ``V`` and ``E tr B`` from
    :class:`_DataSums`. Every sum over ``eig(C)`` of a rational function with simple poles at
    ``c = -m_i`` is then a combination of these by partial fractions."""

    def __init__(self, rule, M: int, P: int, corrected: bool):
        self.rule, self.M, self.P, self.corrected = rule, M, P, corrected
        base = _DataSums(rule, M, P, corrected)
        self.V, self.trB = base.V, base.trB
        self.ok = True
        self._last = None

    def __call__(self, m: np.ndarray):
        m = np.asarray(m, complex)
        last = self._last
        if last is not None and not (last[0].shape == m.shape
                                     and np.all(np.abs(m - last[0]) <= 0.25 * np.abs(last[0]))):
            last = None                  # continue only from a nearby solution
        q, ok = _mode_q_complex(self.rule, self.M, self.P, m, start=last)
        if last is not None and not ok.all():
            q, ok = _mode_q_complex(self.rule, self.M, self.P, m)
        R, Rt, okc, S, St = _corrected(self.rule, self.M, self.P, m, q, sums=True)
        self._last = (m, q)
        self.ok &= bool(np.all(ok))
        if self.corrected:
            self.ok &= bool(np.all(okc))
            R, S = Rt, St
        return S - (self.M - self.P) / m, R - self.V / m

    def weighted(self, poles, coef, weight: str):
        """``E sum_k w_k sum_i coef_i / (c_k + m_i)`` with ``w = 1`` (``'one'``), ``c``
        (``'c'``) or ``b / c`` (``'d'``, the diagonal of ``B``)."""
        out = 0.0
        for m, c in zip(poles, coef):
            t1, tb = self(m)
            out = out + c * (t1 if weight == "one" else (self.P - m * t1) if weight == "c"
                             else (self.trB - tb) / m)
        return out


def _secant(fun, x0, x1, what: str):
    F0 = fun(x0)
    for _ in range(4 * _MAXIT):
        F1 = fun(x1)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(F1 == F0, 0.0, F1 * (x1 - x0) / (F1 - F0))
        x0, F0, x1 = x1, F1, x1 - step
        if np.all(np.abs(step) <= 1e-13 * np.abs(x1)):
            return x1
    raise RuntimeError(f"the feature level's {what} did not converge; no numbers returned")


def _feature_traces(sums: _ComplexDataSums, N: int, P: int, s: np.ndarray, corrected: bool):
    """``E tr R``, ``E tr(R C)``, ``E tr(R B)`` with ``R = (S + s)^-1`` at complex ``s`` (1-d),
    ``S = Phi Phi^T`` the feature level given the data (:func:`_feature_level`, there at the real
    ``s = gamma``): mean field ``G(c) = (N / x) / (c + m0)``, ``m0 = s N / x``,
    ``x = N - P + s sum G``; corrected ``Gt(c) = 1 / (s + (c / N)(xt - beta(c)))``,
    ``beta = (c / N) x G / D``, ``D = 1 + s sum (c / N) G^2``, ``xt = N - P + s sum Gt``, which is
    ``(D / a2) (c + m0) / ((c + m1) (c + m2))``: partial fractions over ``m1, m2``."""
    x = _secant(lambda x: x - (N - P) - s * (N / x) * sums(s * N / x)[0],
                np.full(s.shape, float(N), complex), np.full(s.shape, N - 0.5 * P, complex),
                "mean field")
    m0 = s * N / x
    if not corrected:
        poles, coef = [m0], [N / x]
    else:
        h = 1e-6 * m0
        t0 = sums(m0)[0]
        dt = (sums(m0 + h)[0] - sums(m0 - h)[0]) / (2.0 * h)
        sums(m0)                                   # continue from m0 again
        D = 1.0 + s * (N / x**2) * (t0 + m0 * dt)  # sum_k c / (c + m0)^2 = tau + m0 tau'

        def fractions(xt):
            a2, a1, a0 = (xt * D - 1.0) / N, (s + m0 * xt / N) * D, s * m0 * D
            root = np.sqrt(a1 * a1 - 4.0 * a2 * a0)
            m1, m2 = (a1 - root) / (2.0 * a2), (a1 + root) / (2.0 * a2)
            return [m1, m2], [D / a2 * (m0 - m1) / (m2 - m1), D / a2 * (m0 - m2) / (m1 - m2)]

        xt = _secant(lambda xt: xt - (N - P) - s * sums.weighted(*fractions(xt), "one"),
                     x, x * (1.0 - 1e-3), "first correction")
        poles, coef = fractions(xt)
    sums.ok = True                      # judged on the solution, not on the secant's trials
    if corrected:
        sums(m0)
    return {k: sums.weighted(poles, coef, k) for k in ("one", "c", "d")}


def _feature_mean_field(sums: _ComplexDataSums, N: int, P: int, s: np.ndarray):
    """The feature level's mean field at complex ``s`` (1-d): ``x = N - P + s (N / x) tau_1(m0)``,
    ``m0 = s N / x`` (:func:`_feature_traces`). Returns ``(x, m0)``."""
    x = _secant(lambda x: x - (N - P) - s * (N / x) * sums(s * N / x)[0],
                np.full(s.shape, float(N), complex), np.full(s.shape, N - 0.5 * P, complex),
                "mean field")
    return x, s * N / x


def _two_point(sums: _ComplexDataSums, N: int, P: int, total: float, s: np.ndarray):
    r"""``E tr(R_i B R_j Y)`` for ``Y = C`` and ``Y = 1`` on all pairs of the points ``s`` (1-d),
    ``R_i = (S + s_i)^-1``: the feature level's mean field for two resolvents, with
    ``G_i(c) = (N / x_i) / (c + m_i)``, ``lambda(c) = c / N``, ``d = B_kk``:

        E tr(R_i B R_j Y) = sum_k Y G_i G_j (d + lambda Gamma_ij),
        Gamma_ij = (x_i x_j / N) sum lambda d G_i G_j / (1 - (x_i x_j / N) sum lambda^2 G_i G_j)

    (the off-diagonal block of the mode model's self-consistency ``x = N / (1 + sum lambda G)``
    for the block resolvent of ``[[S + s_i, -D], [0, S + s_j]]``). The sums over ``eig(C)`` are
    partial fractions of the data level's ``tau`` (:class:`_ComplexDataSums`; ``d c = b``,
    ``sum c = E tr C = P tr Lambda``), their derivative on the diagonal."""
    x, m = _feature_mean_field(sums, N, P, s)
    sums.ok = True
    h = 1e-3 * m
    values = [sums(m + e * h) for e in (0.0, 1.0, -1.0, 0.5, -0.5)]
    sums(m)

    def T(k, t1, tb, mm):
        return {"b": tb, "d": (sums.trB - tb) / mm, "c": P - mm * t1,
                "c2": P * total - mm * P + mm * mm * t1}[k]

    def pf(k):
        f = T(k, *values[0], m)
        d1 = (T(k, *values[1], m + h) - T(k, *values[2], m - h)) / (2.0 * h)
        d2 = (T(k, *values[3], m + 0.5 * h) - T(k, *values[4], m - 0.5 * h)) / h
        df = (4.0 * d2 - d1) / 3.0                     # Richardson: error O(h^4)
        mi, mj = m[:, None], m[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (f[:, None] - f[None, :]) / (mj - mi)
        idx = np.arange(m.size)
        out[idx, idx] = -df
        return out

    g = N * N / np.outer(x, x)
    xx = np.outer(x, x) / N
    Lb, Lc, Lc2 = g * pf("b") / N, g * pf("c") / N, g * pf("c2") / N**2
    Gamma = xx * Lb / (1.0 - xx * Lc2)
    return g * pf("b") + Gamma * N * Lc2, g * pf("d") + Gamma * Lc

def _rf_time_more_features(params: Params, t: np.ndarray) -> ErrorCurve:
    r""":func:`rf_theory_finite_size` for ``P < min(N, M)``, isotropic teacher (docstring there)."""
    from .rf_theory import _compressed, rf_theory

    N, M, P, gamma, T, sigma2 = params.N, params.M, params.P, params.gamma, params.T, params.sigma2
    with threadpool_limits(1, user_api="blas"):
        base = rf_theory(params, t)
    rule = _compressed(params)
    bias, label, thermal = base.bias.copy(), base.label_variance.copy(), \
        base.thermal_variance.copy()
    total = float(rule.weight @ rule.lam)
    with threadpool_limits(1, user_api="blas"):
        levels = [_ComplexDataSums(rule, M, P, c) for c in (False, True)]
    # the time-independent two-resolvent part gamma^2 tr(R B R (C + sigma2)) (t = inf)
    const = [(0.0, 0.0), (0.0, 0.0)]                 # (Y = C, Y = 1) x (feature MF, corrected)
    if gamma > 0:
        data = _DataSums(rule, M, P, True)
        infos = [{}, {}]
        with threadpool_limits(1, user_api="blas"):
            for info, corrected in zip(infos, (False, True)):
                _feature_level(data, N, P, gamma, sigma2, T, corrected=corrected, info=info)
        const = [tuple(gamma**2 * info[k] for info in infos) for k in ("trRBRC", "trRBR")]
    static = np.isinf(t)
    h_max = 4.0 * (P * float(rule.lam.max()) + total) * (1.0 + math.sqrt(P / N)) ** 2
    if gamma > 0:
        static |= t * gamma > math.log(3e13) + 2 * math.log1p(h_max / gamma)
    with np.errstate(over="ignore"):
        finite = ~static & (t > 0) & (t * (h_max + gamma) > 1e-10)
    if finite.any():
        tf = t[finite]
        ends, which = _windows(tf)
        z, w = _contour(ends)
        nw = ends.size
        zz = np.concatenate([z, 0.5 * z]).reshape(-1)
        E = np.exp(tf[:, None] * z[which]) * w[which]
        invert = lambda F: np.imag(np.sum(E * F[which], axis=1))
        one = []
        for lev, corrected in zip(levels, (False, True)):
            with threadpool_limits(1, user_api="blas"):
                r = _feature_traces(lev, N, P, zz + gamma, corrected)
            if not lev.ok:
                _check_valid(False, params, f"the data level on the contour of t = "
                                            f"{tf.min():g}..{tf.max():g}")
            r = {k: v.reshape(2 * nw, -1) for k, v in r.items()}
            V, trB = lev.V, lev.trB
            # tr(S h^2 Y), h = (1 - e^{-a t}) / a: 2 [(z + gamma) R_Y(z) - (z/2 + gamma) R_Y(z/2)] / z^2
            X = lambda k: invert(2.0 * ((z + gamma) * r[k][:nw] - (0.5 * z + gamma) * r[k][nw:])
                                 / z**2)
            eh = invert((trB - (z + gamma) * r["d"][:nw]) / z)            # tr(S h B)
            parts = [V + (V / N) * X("c"), 2.0 * eh - trB + (V / N) * X("one")]
            if T > 0:                    # tr(B S q) + (V / N)(tr q + (N - P) q(0)), q at z / 2
                q0 = 2.0 * tf if gamma == 0 else -np.expm1(-2.0 * gamma * tf) / gamma
                parts.append(invert((trB - (0.5 * z + gamma) * r["d"][nw:]) / z)
                             + (V / N) * (invert(r["one"][nw:] / z) + (N - P) * q0))
            one.append(parts)
        mf, co = one
        # the two-resolvent part tr(K B K Y), K(S) = L^-1[(z + gamma) R(z) / z]: the double
        # contour of rf_theory's signal term, the feature level's mean field (_two_point)
        Kc, phi, a = CONTOUR["K"], CONTOUR["phi"], CONTOUR["a"]
        hh = a / Kc
        u = np.r_[np.arange(Kc, -1, -1), -np.arange(1, Kc + 1)] * hh
        two = np.zeros((2, 2, tf.size))                  # (data MF, corrected) x (Y = C, 1)
        for i in range(nw):
            zf = np.concatenate([z[i], np.conj(z[i, -2::-1])])
            mu_c = (zf[Kc] / (1 - np.sin(phi))).real
            omega = hh * 1j * mu_c * np.cos(1j * u - phi) / (2j * np.pi)
            fac = (zf + gamma) / zf
            sel = which == i
            e = omega[None, :] * np.exp(tf[sel, None] * zf[None, :])
            for lv, lev in enumerate(levels):
                with threadpool_limits(1, user_api="blas"):
                    pair = _two_point(lev, N, P, total, zf + gamma)
                if not lev.ok:
                    _check_valid(False, params, f"the data level on the contour of t = "
                                                f"{tf.min():g}..{tf.max():g}")
                for k in range(2):
                    F = np.outer(fac, fac) * pair[k]
                    two[lv, k, sel] = np.einsum("tj,jl,tl->t", e, F, e).real
        plain = (base.bias[finite], base.label_variance[finite] / sigma2 if sigma2 > 0 else None)
        for k in range(2):
            if plain[k] is None:
                continue
            miss = np.abs(mf[k] + two[0, k] - plain[k])
            # (rf_theory's own inversion is good to ~1e-5 at t ~ 1e8: a guard against a wrong
            # sheet, not a precision test)
            if not np.all(miss <= 1e-4 * (np.abs(plain[k]) + 1e-6 * total)):
                raise RuntimeError("the feature level's mean field did not reproduce the plain "
                                   f"theory along the time curve (off by {miss.max():.2g}); no "
                                   "numbers returned")
        # the feature level's own correction of the two-resolvent part is known at t = 0 (none:
        # tr(B Y), S-free) and t = inf (gamma^2 tr(R B R Y), _feature_level): the part that decays
        # is scaled between them
        starts = (total - levels[1].V, levels[1].trB)
        for k, arr in enumerate((bias, label)):
            if k == 1 and sigma2 == 0:
                continue
            c_m, c_c = const[k]
            value = co[k] + c_c + (two[1, k] - c_m) * (starts[k] - c_c) / (starts[k] - c_m)
            arr[finite] = value * (sigma2 if k == 1 else 1.0)
        if T > 0:
            thermal[finite] += T * (co[2] - mf[2])
    if static.any():
        limit = rf_equilibrium_finite_size(params)
        bias[static], label[static] = limit.bias, limit.label_variance
        thermal[static] = limit.thermal_variance
    error = bias + label + thermal
    if not np.all(np.isfinite(error)):
        raise RuntimeError("the corrected random-feature theory gave non-finite values; no "
                           "numbers returned")
    if np.any(np.stack([bias, label, thermal]) < -1e-9 * total):
        raise RuntimeError("the corrected random-feature theory gave negative parts; no numbers "
                           "returned")
    with np.errstate(invalid="ignore"):
        size = np.abs(error - base.error)
    exact = static & (gamma == 0)
    bad = ~exact & ~(size <= MAX_CORRECTION * np.abs(base.error))
    if bad.any():
        _check_valid(False, params, f"t = {t[bad][0]:g}, correction "
                                    f"{size[bad][0] / abs(base.error[bad][0]):.0%} of the error")
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)


# ------------------------------------------------------------------------------------------
# random features along the time curve (min(N, M) < P)
# ------------------------------------------------------------------------------------------

def rf_theory_finite_size(params: Params, times) -> ErrorCurve:
    r"""The random-feature error curve (:func:`rfdmft.rf_theory.rf_theory`, the simulator's split)
    with its first finite-size correction, for ``n = min(N, M) < P`` (more data than features)
    and, isotropic teacher, for ``P < min(N, M)`` (more features than data, further below).

    Given ``F`` the data level is the mode model with the spectrum of ``K = F Lambda F^T``, the
    teacher ``beta*`` and label noise ``sigma2 + delta_F`` (:func:`rf_ridgeless_limit`); its error
    is ``signal(t) + delta_F (1 + V(t)) + sigma2 V(t) + thermal(t)``. ``V`` (the label-noise
    variance per unit noise) and the thermal variance are linear functionals of the spectral
    measure whose transform is ``R(z) = E tr(K (H + z + gamma)^-1)``: the mode model's first
    correction replaces ``R`` by ``Rt`` in their inversion formulas (:func:`theory_finite_size`),
    ``Rt`` from :func:`_data_level` at the complex contour nodes (the sums over ``eig(K)`` through
    the features' deterministic equivalent, continued from ``mu(z)`` of
    :func:`rfdmft.rf_theory.rf_kappa`). ``E delta_F`` takes the first level's correction
    (:func:`_unrepresented`). ``t = inf`` (and ``t gamma`` so large that the curve has reached
    it) is :func:`rf_equilibrium_finite_size`; at ``gamma = 0`` the curve tends to it as
    ``t -> inf`` (``Rt(0) = n / (P - n - 1)`` exactly).

    Neglected: the first correction of ``signal(t)``, the representable target not yet learned
    (a two-resolvent quantity with the non-isotropic teacher ``beta*``: its mean-field value is
    kept, scaled by the corrected representable power (:func:`_representable`) so that the error
    at ``t = 0`` is exactly ``sum_k p_k lambda_k``; it vanishes at ``t = inf`` without ridge; at
    ``t = 1..10`` near the threshold it leaves 0.2-0.6 % against the simulator),
    ``Cov(delta_F, R_F)`` and the features' own
    finite-size correction of ``R``.

    ``P < min(N, M)`` (more features than data), isotropic teacher: condition on the data ``A``
    instead (:func:`rf_equilibrium_finite_size`, ``C = A A^T``, ``B = C^-1 A Lambda A^T C^-1``,
    ``V = tr(Lambda (I - P_A))``). Given ``A`` and ``F`` the weights are ``w(t) = Phi^T h(S) y``,
    ``h(e) = (1 - e^{-(e + gamma) t}) / (e + gamma)``, ``S = Phi Phi^T``; the test features split
    into ``Phi^T C^-1 A a`` and a part independent of ``Phi`` of variance ``V / N``, so with
    ``K(S) = I - S h(S)`` (exact; teacher, label noise and the features' null-space part
    averaged):

        E[E_g | A] = V + (V / N) E tr(S h^2 (C + sigma2)) + sigma2 (2 E tr(S h B) - tr B)
                     + E tr(K B K (C + sigma2))
                     (+ T [E tr(B S q) + (V / N)(E tr q + (N - P) q(0))],
                     q(e) = (1 - e^{-2 (e + gamma) t}) / (e + gamma)).

    The one-resolvent terms are linear in the spectral measure of ``S`` weighted by ``C``, ``1`` or
    ``diag B``: their transforms ``E tr(Y (S + z + gamma)^-1)`` take the feature level's first
    correction (:func:`_feature_level` at complex ``s``, :func:`_feature_traces`) and the data
    level's (:class:`_ComplexDataSums`) in the inversion formulas of :func:`theory_finite_size`.
    ``tr(K B K Y)`` is the double inverse transform of ``(z1 + gamma)(z2 + gamma) / (z1 z2)
    E tr(R(z1) B R(z2) Y)`` (:func:`_two_point`: the feature level's mean field for two
    resolvents, the data level first-corrected); the feature level's own correction of it is
    known at ``t = 0`` (none: ``tr(B Y)``) and ``t = inf`` (``gamma^2 tr(R B R Y)``,
    :func:`_feature_level`), and its decaying part is scaled between the two. Neglected: that
    correction in between (at ``t = 1..100`` near the threshold about 0.1 % of the error),
    ``Cov(V, .)`` and second order. Without the corrections it reproduces :func:`rf_theory`
    (checked on every call); ``t -> inf`` gives :func:`rf_equilibrium_finite_size` (to ``1e-7``),
    ``N -> inf`` the mode model's :func:`theory_finite_size`.

    Raises ``ValueError`` at ``min(N, M) = P`` and for a structured teacher with
    ``P < min(N, M)``. Where the correction exceeds :data:`MAX_CORRECTION` of the error at a
    finite time or is not the transform of a positive measure: ``RuntimeError`` (as
    :func:`theory_finite_size`).
    """
    from .rf_theory import _compressed, _quantities, _rf_parts

    if params.features != "random":
        raise ValueError(f"features must be 'random' for the random-feature finite-size "
                         f"correction, got {params.features!r} (the mode model has "
                         "theory_finite_size)")
    if params.lr > 0:
        raise ValueError(f"lr must be 0 (continuous time), got {params.lr:g}")
    N, M, P, gamma, T, sigma2 = params.N, params.M, params.P, params.gamma, params.T, params.sigma2
    if min(N, M) == P:
        raise ValueError(
            f"the random-feature finite-size correction along the time curve is available for "
            f"min(N, M) != P, got N = {N}, M = {M}, P = {P}: at the interpolation threshold no "
            "1/P expansion holds")
    if P < min(N, M):
        if not params.isotropic:
            raise ValueError(
                f"the random-feature finite-size correction along the time curve with P = {P} < "
                f"min(N, M) = {min(N, M)} is available for the isotropic teacher only (a "
                "structured teacher makes the signal not yet learned a two-resolvent term at the "
                "feature level whose first correction is not included); got teacher powers that "
                "are not all 1")
        return _rf_time_more_features(params, validate_times(times, params))
    with threadpool_limits(1, user_api="blas"):
        t, signal, delta0, unit, thermal = _rf_parts(params, times)
    rule = _compressed(params)
    delta, delta0_c = _unrepresented(rule, N, M)
    if not abs(delta0_c - delta0) <= 1e-8 * max(delta0, 1e-300):
        raise RuntimeError(f"the unrepresented part was not reproduced ({delta0_c!r} against "
                           f"rf_theory's {delta0!r}); no numbers returned")
    plain = signal + delta0 * (1.0 + unit) + sigma2 * unit + thermal
    unit_c, thermal_c = unit.copy(), thermal.copy()

    lam_max = float(rule.lam.max()) * (1.0 + math.sqrt(M / N)) ** 2     # top of eig(K)
    h_max = 4.0 * (P * lam_max + float(rule.weight @ rule.lam))
    static = np.isinf(t)
    if gamma > 0:
        static |= t * gamma > math.log(3e13) + 2 * math.log1p(h_max / gamma)
    with np.errstate(over="ignore"):
        finite = ~static & (t > 0) & (t * (h_max + gamma) > 1e-10)
    if finite.any():
        tf = t[finite]
        ends, which = _windows(tf)
        z, w = _contour(ends)                                     # upper half plane, far to near
        zz = np.concatenate([z, 0.5 * z]).reshape(-1)              # z, then z / 2
        with threadpool_limits(1, user_api="blas"):
            Q = _quantities(params, zz)
        Rt, ok = _data_level(rule, N, P, zz + gamma, Q["mu"], Q["kappa"])
        _check_valid(ok, params, f"on the contour of t = {tf.min():g}..{tf.max():g}")
        dR = (Rt - Q["R"]).reshape(2 * ends.size, -1)
        d1, d2 = dR[: ends.size], dR[ends.size:]                   # at z and at z / 2
        E = np.exp(tf[:, None] * z[which]) * w[which]
        invert = lambda F: np.imag(np.sum(E * F[which], axis=1))
        unit_c[finite] += invert(2 * ((z + gamma) * d1 - (0.5 * z + gamma) * d2) / z**2)
        if T > 0:
            thermal_c[finite] += T * invert(d2 / z)
    bias = signal * _representable(rule, delta, delta0) + delta * (1.0 + unit_c)
    label = sigma2 * unit_c
    if static.any():
        limit = rf_equilibrium_finite_size(params)
        bias[static] = limit.bias
        label[static] = limit.label_variance
        thermal_c[static] = limit.thermal_variance
    error = bias + label + thermal_c
    if not np.all(np.isfinite(error[~static])):
        raise RuntimeError("the corrected random-feature theory gave non-finite values; no "
                           "numbers returned")
    with np.errstate(invalid="ignore"):
        size = np.abs(error - plain)
    exact = static & (gamma == 0)          # rf_ridgeless_limit: exact at the data level
    bad = ~exact & ~(size <= MAX_CORRECTION * np.abs(plain))
    if bad.any():
        _check_valid(False, params, f"t = {t[bad][0]:g}, correction "
                                    f"{size[bad][0] / abs(plain[bad][0]):.0%} of the error")
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal_c)
