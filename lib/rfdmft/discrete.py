r"""Discrete-time theory: gradient descent with a finite learning rate and minibatch SGD.

Gradient descent (model.md section 7)
-------------------------------------
One full-batch step multiplies each eigendirection of ``H`` by ``u = 1 - lr a`` (``a = h + gamma``),
so after ``n`` steps (``t = lr n``) every part of the error is a spectral average with ``u^n`` in
place of ``e^{-a t}`` (isotropic teacher, ``w(0) = 0``, ``sigma_e2 = sigma2 + tail``):

* bias     ``B_n = tail + int dmu (gamma + h u^n)^2 / a^2``,
* label    ``V_n = sigma_e2 int dmu h (1 - u^n)^2 / a^2``,
* thermal  ``Th_n = T int dmu 2 (1 - u^{2n}) / (a (2 - lr a))``
  (``2 T lr sum_{m<n} u^{2m}``: the discrete Langevin step adds ``2 T lr`` per step).

The counterpart of the Laplace transform is the generating function ``sum_n x^n V_n``. With
``x = e^{-lr p}`` its kernels are resolvents of ``H`` at the points

    z1 = (e^{lr p/2} - 1)/lr,  z2 = (e^{lr p} - 1)/lr,  z3 = -(e^{lr p/2} + 1)/lr

(``1 - x u = x lr (a + z2)``, ``1 - x u^2 = -x lr^2 (a + z1)(a + z3)``), and the partial fractions
in ``a`` close without any pole at ``a = 0`` (each numerator carries the factor ``a^2``). With
``R, Rh`` the transforms of ``dmu`` and ``h dmu`` (:mod:`rfdmft.laplace`), ``C12, D12`` their
two-point sums ``int dmu (1, h) / ((a + z1)(a + z2))`` (computed from the modes, no
cancellation), ``C13 = (R1 - R3)/(z3 - z1)``, ``D13`` likewise, and
``J(c) = C12 + (c - z3)/(z3 - z2) (C12 - C13)`` (``= int dmu (a + c)/((a + z1)(a + z2)(a + z3))``):

    F_B = e^{lr p/2} (R1 - R3)/2 + 2 gamma e^{lr p} J(-1/lr) + gamma^2 (e^{lr p}/z2) J(z4),
    F_V = sigma_e2 (e^{lr p}/z2) Jh(z4),        z4 = -(e^{lr p} + 1)/lr,
    F_T = T e^{lr p/2} (R1 - R3) / z2,

and ``V_n = (2 pi i)^-1 int F(p) e^{p t} dp`` along one period ``Im p in (-pi/lr, pi/lr]`` of a
vertical line ``Re p > 0`` (Bromwich for generating functions). As ``lr -> 0``, ``z1 -> p/2``,
``z2 -> p``, ``z3 -> -inf`` and these become the continuous transforms of :mod:`rfdmft.laplace`.

Minibatch SGD
-------------
A batch of ``B`` points drawn without replacement gives a gradient whose covariance is
``P^2 (P - B)/(B (P - 1)) S``, ``S`` the covariance over data points of ``r_mu a_mu``. The mean
follows gradient descent exactly. In the eigenbasis of the design (``a_mu . u_i = sqrt(h_i) U_mu_i``
with ``U`` Haar-distributed, independent of the spectrum), averaging the fourth moments
``sum_mu U_mu_i^2 U_mu_j^2 ~ (1 + 2 delta_ij)/P`` gives a diagonal ``S``:
``S_ii = h_i (2 L + C_ii) / P^2``, with ``L`` the training loss and ``C_ii`` the residual energy
in direction ``i`` (mean and fluctuation). The first term alone is homogenised SGD (Paquette,
Paquette, Adlam & Pennington 2022): Langevin noise ``kappa_B 2 L lr^2 H`` per step,
``kappa_B = (P - B)/(B (P - 1))``; the second, Gaussian fourth-moment term matters when the
residual sits in few directions, as it does for power-law spectra (at ``B = 1`` it is a fifth
of the extra error; see ``tests/test_sgd_theory.py``). The fluctuation of each direction obeys

    v_i <- u~_i^2 v_i + lr^2 kappa_B h_i (2 L + C0_ii),   u~^2 = u^2 + lr^2 kappa_B h^2,

(``C0`` the residual energy of gradient descent, thermal part included) with
``L = L_0 + sum_i h_i v_i / 2``: a renewal equation for ``L``. Its generating function needs the
resolvent at the two roots ``z+, z-`` of ``1 - x u~^2`` as well, and the spectral integrals close
by partial fractions in ``a`` (transforms of ``h dmu`` and ``h^2 dnu``, ``nu`` the unweighted
spectral measure of ``H``: ``int dnu h / (a + z) = P (1 - q)``). SGD is stable when every
direction has ``u~^2 < 1`` and the loss feedback gain
``lr^2 kappa_B int dnu h^2 / (1 - u~^2)`` is below one (:func:`sgd_stability`).
``L_0`` is the training loss of gradient descent.

Inversion
---------
Few steps (``n < SMALL_STEPS``): the trapezoidal rule on the vertical line ``Re p = 1/t_max``
(periodic, so geometrically convergent; ``30 n_max + 64`` nodes shared by these times). Many steps: the line is deformed
into two hairpins, the hyperbolic contour of :mod:`rfdmft.laplace` around the negative real
axis (the modes with ``0 < u``) and the same contour around ``Im p = pi/lr`` (the stiff modes,
``u < 0``, which alternate in sign: ``e^{i pi n}``), the latter only when the spectrum reaches
``lr a > 1``. Both hairpins stay within ``|Im p| < pi/(2 lr)`` of their axes.

The deterministic-equivalent spectrum's top edge (:func:`spectral_edge`) decides stability:
gradient descent needs ``lr (gamma + h_edge) < 2``; otherwise :class:`DivergenceError`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .laplace import CONTOUR, _pair_sums, _solve_paths
from .model import DivergenceError, ErrorCurve, Params, steps, validate_times
from .quadrature import mode_rule

__all__ = ["theory_discrete", "spectral_edge", "gd_stability_edge", "sgd_stability",
           "sgd_mode_stable",
           "SpectralMeasures", "ExactMeasures", "TheoryMeasures"]

#: Below this many steps the vertical-line rule is used (its cost grows like ``n``).
SMALL_STEPS = 200


# ------------------------------------------------------------------------------------------
# the spectral measures: transforms at complex points
# ------------------------------------------------------------------------------------------

class SpectralMeasures:
    """Transforms of the spectral measures of ``H`` that the discrete theory needs.

    ``mu`` is the ``Lambda``-weighted measure (mass ``S_N``), ``nu`` the unweighted one (mass
    ``N``); ``kappa = h dnu``. At complex ``z`` (``s = z + gamma``):
    ``R = int dmu/(h+s)``, ``Rh = int h dmu/(h+s)``, ``Rk = int h dnu/(h+s)``,
    ``Rk2 = int h^2 dnu/(h+s)``; at pairs: ``C = int dmu/((h+s1)(h+s2))``, ``D`` with ``h dmu``,
    ``Ck`` with ``h dnu``, ``Ck2`` with ``h^2 dnu``. Subclasses give them from the DMFT (:class:`TheoryMeasures`) or
    from one design's exact spectrum (:class:`ExactMeasures`, for tests)."""

    gamma: float
    S_N: float

    def one(self, z):                              # -> R, Rh, Rk, Rk2
        raise NotImplementedError

    def pair(self, z1, z2, one1, one2):            # -> C, D, Ck, Ck2
        raise NotImplementedError


class ExactMeasures(SpectralMeasures):
    """The measures of one design: eigenvalues ``h`` of ``H`` with ``Lambda``-weights ``c``;
    ``nullity`` zero eigenvalues with total ``Lambda``-weight ``null_weight``."""

    def __init__(self, h, c, gamma, nullity=0, null_weight=0.0):
        self.h = np.asarray(h, float)
        self.c = np.asarray(c, float)
        self.gamma = float(gamma)
        self.nullity = int(nullity)
        self.null_weight = float(null_weight)
        self.S_N = float(self.c.sum() + null_weight)

    def one(self, z):
        s = np.asarray(z, complex)[..., None] + self.gamma
        g = 1.0 / (self.h + s)
        R = g @ self.c + self.null_weight / s[..., 0]
        Rh = (g * self.h) @ self.c
        Rk = g @ self.h
        Rk2 = g @ self.h**2
        return R, Rh, Rk, Rk2

    def pair(self, z1, z2, one1, one2):
        g1 = 1.0 / (self.h + np.asarray(z1, complex)[..., None] + self.gamma)
        g2 = 1.0 / (self.h + np.asarray(z2, complex)[..., None] + self.gamma)
        gg = g1 * g2
        s1 = np.asarray(z1, complex) + self.gamma
        s2 = np.asarray(z2, complex) + self.gamma
        C = gg @ self.c + self.null_weight / (s1 * s2)
        return C, (gg * self.h) @ self.c, gg @ self.h, gg @ self.h**2


class TheoryMeasures(SpectralMeasures):
    """The deterministic equivalents (DMFT): ``R, Rh`` from :func:`rfdmft.laplace._solve_paths`;
    ``Rk = P (1 - q)`` and ``Rk2 = P (S_N - s (1 - q))`` from ``sum_k s G_k = N - P (1 - q)``;
    ``C, D`` from the two-point sums; ``Ck = P q1 q2 C`` (``(Rk1 - Rk2)/(s2 - s1)``, without the
    difference) and ``Ck2 = Rk2 - s1 Ck`` (``h^2 g1 g2 = h g2 - s1 h g1 g2``)."""

    def __init__(self, params: Params):
        self.params = params
        self.rule = mode_rule(params)
        self.gamma = params.gamma
        self.S_N = float(self.rule.weight @ self.rule.lam)

    def one(self, z):
        """``z``: rows of continuation paths (far to near); any half plane (conjugated here)."""
        z = np.asarray(z, complex)
        shape = z.shape
        Z = np.atleast_2d(z)
        lower = Z.imag < 0
        up = np.where(lower, Z.conj(), Z)
        p = self.params
        # real points left of the support (the contours' real nodes at z3): R is real-analytic
        # there; solve a hair above the axis and keep the real part (error ~ (1e-13)^2)
        left = (up.imag == 0) & (up.real + p.gamma <= 0)
        up = np.where(left, up + 1e-13j * np.abs(up + p.gamma), up)
        R, Rh, status = _solve_paths(self.rule, p.N, float(p.P), p.gamma, up)
        R = np.where(left, R.real + 0j, R)
        Rh = np.where(left, Rh.real + 0j, Rh)
        if np.any(status < 0):
            raise RuntimeError(
                "the DMFT self-consistency did not converge on the discrete-time contour "
                f"(alpha={p.alpha}, N={p.N}, P={p.P}, gamma={p.gamma}, lr={p.lr}); "
                "no numbers returned")
        R = np.where(lower, R.conj(), R).reshape(shape)
        Rh = np.where(lower, Rh.conj(), Rh).reshape(shape)
        s = z + p.gamma
        one_q = R / (1.0 + R)                                  # 1 - q
        return R, Rh, p.P * one_q, p.P * (self.S_N - s * one_q)

    def pair(self, z1, z2, one1, one2):
        p = self.params
        R1, R2 = one1[0], one2[0]
        Cs, D = _pair_sums(self.rule, p.N, p.P, p.gamma, np.asarray(z1, complex),
                           np.asarray(z2, complex), R1, R2)
        C = Cs / ((z1 + p.gamma) * (z2 + p.gamma))
        q1, q2 = 1.0 / (1.0 + R1), 1.0 / (1.0 + R2)
        Ck = p.P * q1 * q2 * C
        s1 = np.asarray(z1, complex) + p.gamma
        return C, D, Ck, p.P * (1.0 - q2) - s1 * Ck


# ------------------------------------------------------------------------------------------
# generating functions on a set of contour points
# ------------------------------------------------------------------------------------------

def _kernels(params: Params, measures: SpectralMeasures, p, stiff_sheet: bool, sgd: bool):
    """``F`` (``lr`` times the generating function, as a function of ``p``) of each part at the
    points ``p`` (a row: one continuation path); on the stiff sheet ``p`` stands for
    ``i pi / lr + p`` (``e^{lr p} -> -e^{lr p}``, ``e^{lr p/2} -> i e^{lr p/2}``). Returns a dict of
    arrays: ``bias`` (tail excluded), ``label``, ``thermal`` and, with ``sgd``, ``sgd``."""
    lr, gamma = params.lr, params.gamma
    sig_e = params.sigma2 + params.tail
    p = np.asarray(p, complex)[None, :]
    if stiff_sheet:
        E = -np.exp(lr * p)
        E2 = 1j * np.exp(lr * p / 2)
        z1 = (E2 - 1.0) / lr
        z2 = (E - 1.0) / lr
    else:                                 # expm1: lr p is tiny for many steps
        E = np.exp(lr * p)
        E2 = np.exp(lr * p / 2)
        z1 = np.expm1(lr * p / 2) / lr
        z2 = np.expm1(lr * p) / lr
    z3 = -(E2 + 1.0) / lr
    z4 = -(E + 1.0) / lr
    z5 = -1.0 / lr
    one1 = measures.one(z1)
    one3 = measures.one(z3)
    R1, Rh1, Rk1, Rk21 = one1
    R3, Rh3, Rk3, Rk23 = one3
    one2 = measures.one(z2)
    C12, D12, Ck12, _ = measures.pair(z1, z2, one1, one2)
    d31 = z3 - z1
    d32 = z3 - z2
    C13 = (R1 - R3) / d31
    D13 = (Rh1 - Rh3) / d31
    Ck13 = (Rk1 - Rk3) / d31

    def J(c12, c13, c):
        return c12 + (c - z3) / d32 * (c12 - c13)

    out = {}
    F_B = E2 * (R1 - R3) / 2
    if gamma > 0:
        F_B = F_B + 2 * gamma * E * J(C12, C13, z5) + gamma**2 * (E / z2) * J(C12, C13, z4)
    out["bias"] = F_B
    out["label"] = sig_e * (E / z2) * J(D12, D13, z4)
    out["thermal"] = params.T * E2 * (R1 - R3) / z2
    if sgd:
        P = params.P
        B = params.batch_size
        kappa_B = (P - B) / (B * (P - 1)) if P > 1 else 0.0
        # training loss of gradient descent: (1/2)[int f^2 h dnu + sig_e (int (f^2 - 1) dnu + P)]
        # plus (1/2) int h dnu (thermal factor)
        FB_k = E2 * (Rk1 - Rk3) / 2
        if gamma > 0:
            FB_k = FB_k + 2 * gamma * E * J(Ck12, Ck13, z5) \
                + gamma**2 * (E / z2) * J(Ck12, Ck13, z4)
        z6 = -2.0 / lr
        # int dkappa (a + z6)/((a + z1)(a + z3)), by partial fractions (z1, z3 are far apart)
        K16 = ((z6 - z1) * Rk1 - (z6 - z3) * Rk3) / d31
        F_psi = -(E / z2) * K16
        if gamma > 0:
            F_psi = F_psi - gamma * (E / z2) * J(Ck12, Ck13, z4)
        F_L0 = 0.5 * (FB_k + sig_e * (F_psi + P * E / z2)) \
            + 0.5 * params.T * E2 * (Rk1 - Rk3) / z2
        # the fourth-moment (Wick) correction: per step each direction gets lr^2 kappa_B h
        # (2 L + C_ii), C_ii its own residual energy; the SGD part of C_ii moves into the
        # multiplier u~^2 = u^2 + lr^2 kappa_B h^2, whose resolvent points are z+, z-
        x = 1.0 / E
        c1 = 1.0 + lr * kappa_B * gamma
        c0 = lr * kappa_B * gamma**2 - z2
        c2 = lr * (1.0 + kappa_B)
        big = (c1 + np.sqrt(c1 * c1 - c2 * c0)) / c2
        zp = -(c0 / c2) / big
        zm = -big
        one_p = measures.one(zp)
        Rh_p, Rk2_p = one_p[1], one_p[3]
        Rh_m, Rk2_m = _transforms(measures, zm)
        # z+ - z1 = O(kappa_B lr p^2): that pair enters through two-point sums, not differences
        _, D1p, _, Ck2_1p = measures.pair(z1, zp, one1, one_p)
        poles = (z1, z2, z3, zp, zm)
        R_hmu = (Rh1, one2[1], Rh3, Rh_p, Rh_m)
        R_h2nu = (Rk21, one2[3], Rk23, Rk2_p, Rk2_m)
        Yc = -1.0 / (x * lr**2 * (1.0 + kappa_B))
        # numerators as products of factors (a + c)
        terms = [(-1.0 / (x * lr**2), (sig_e - gamma,), (0, 2, 3, 4))]
        if gamma > 0:
            terms += [(2 * gamma / (x * lr), (sig_e - gamma, z5), (0, 1, 2, 3, 4)),
                      (gamma**2 / (x * lr * z2), (sig_e - gamma, z4), (0, 1, 2, 3, 4))]
        if params.T > 0:
            terms += [(-2 * params.T / (x * lr**2 * z2), (-gamma,), (0, 2, 3, 4))]

        def source(R, pair):              # int dm C0(a) Y(a), m = h mu or h^2 nu
            total = 0.0
            for coef, factors, use in terms:
                total = total + coef * _partial_fractions(poles, R, factors, use, pair)
            return Yc * total

        I_nu1 = Yc * _partial_fractions(poles, R_h2nu, (), (3, 4))
        I_mu1 = Yc * _partial_fractions(poles, R_hmu, (), (3, 4))
        g = x * lr**2 * kappa_B
        F_L = (F_L0 + lr * g / 2 * source(R_h2nu, Ck2_1p)) / (1.0 - g * I_nu1)
        out["sgd"] = g * (2 * F_L * I_mu1 + lr * source(R_hmu, D1p))
        out["loss"] = F_L
    return out


def _transforms(measures: SpectralMeasures, z):
    """``Rh`` and ``Rk2`` at ``z`` (transforms of ``h dmu`` and ``h^2 dnu``)."""
    R, Rh, Rk, Rk2 = measures.one(z)
    return Rh, Rk2


def _partial_fractions(poles, R, factors, use, pair=None):
    """``int dm prod_c (a + c) / prod_{j in use} (a + z_j)`` (``factors``: the constants ``c``;
    fewer factors than poles), ``R[j]`` the transform of ``m`` at ``poles[j]``.

    Lagrange's partial fractions, ``sum_j num(-z_j) / prod_{k != j} (z_k - z_j) R_m(z_j)``, except
    for the nearly equal poles ``z1`` and ``z+`` (indices 0 and 3; ``z+ - z1 = O(kappa_B lr p^2)``)
    when both are used: their part is ``f(-z1) int dm g1 g+ + [-z1, -z+]f R_m(z+)`` with
    ``f = num / prod_{others}`` and ``pair = int dm g1 g+`` from the two-point sums; the
    divided difference ``[-z1, -z+]f`` by the product rule, without cancellation."""
    def num(a):
        value = 1.0
        for c in factors:
            value = value * (a + c)
        return value

    together = pair is not None and 0 in use and 3 in use
    total = 0.0
    for j in use:
        if together and j in (0, 3):
            continue
        den = 1.0
        for k in use:
            if k != j:
                den = den * (poles[k] - poles[j])
        total = total + num(-poles[j]) / den * R[j]
    if together:
        x1, x2 = -poles[0], -poles[3]
        # f as factors: (a + c) and 1 / (a + z_j), j among the others
        parts = [(lambda a, c=c: a + c, lambda c=c: 1.0) for c in factors]
        parts += [(lambda a, z=poles[j]: 1.0 / (a + z),
                   lambda z=poles[j]: -1.0 / ((x1 + z) * (x2 + z)))
                  for j in use if j not in (0, 3)]
        f1 = 1.0
        for value, _ in parts:
            f1 = f1 * value(x1)
        diff = 0.0
        for i, (_, dd) in enumerate(parts):
            term = dd()
            for value, _ in parts[:i]:
                term = term * value(x1)
            for value, _ in parts[i + 1:]:
                term = term * value(x2)
            diff = diff + term
        total = total + f1 * pair + diff * R[3]
    return total


def _line_nodes(n: float, lr: float, M: int):
    """Upper half of the vertical line ``Re p = 1/t`` (``t = n lr``), ``M`` trapezoidal nodes
    over one period, half a step off the real axis: ``p`` (far to near) and the weights with
    ``V_n = Re sum_j w_j F(p_j) e^{p_j t}``."""
    t = n * lr
    c = 1.0 / t
    k = np.arange(M // 2 - 1, -1, -1)
    theta = (k + 0.5) * 2 * math.pi / M                       # lr Im p in (0, pi)
    p = c + 1j * theta / lr
    w = np.full(p.shape, 2.0 / (lr * M))                      # both halves: 2 Re
    return p, w


def _hairpin_nodes(t1: float):
    """The hyperbolic contour of :mod:`rfdmft.laplace` for window end ``t1``: ``p`` (far to
    near, upper half) and weights with ``V = Im sum_j w_j F e^{p t}``."""
    K, c, phi, a = CONTOUR["K"], CONTOUR["c"], CONTOUR["phi"], CONTOUR["a"]
    h = a / K
    u = np.arange(K, -1, -1) * h
    mu = c * K / t1
    p = mu * (1 + np.sin(1j * u - phi))
    dp = 1j * mu * np.cos(1j * u - phi)
    w = dp * h / np.pi
    w[-1] *= 0.5
    return p, w


def _hairpin_reach(t1: float) -> float:
    """Largest ``|Im p|`` on the hairpin for window end ``t1``."""
    K, c, phi, a = CONTOUR["K"], CONTOUR["c"], CONTOUR["phi"], CONTOUR["a"]
    return c * K / t1 * math.cos(phi) * math.sinh(a)


def _invert(params, measures, times_n, sgd, stiff):
    """Parts at the step counts ``times_n`` (positive integers, as floats)."""
    lr = params.lr
    keys = ["bias", "label", "thermal"] + (["sgd"] if sgd else [])
    out = {k: np.zeros(times_n.size) for k in keys}
    t = times_n * lr
    small = times_n < SMALL_STEPS
    # few steps: one vertical line Re p = 1/t_max for all of them (e^{p t} <= e on it)
    if small.any():
        n_max = float(times_n[small].max())
        M = int(30 * n_max + 64)
        M += M % 2
        p, w = _line_nodes(n_max, lr, M)
        F = _kernels(params, measures, p, False, sgd)
        e = w[None, :] * np.exp(t[small, None] * p[None, :])
        for k in keys:
            out[k][small] = np.real(e @ F[k][0])
    big = np.flatnonzero(~small)
    if big.size:
        ratio = CONTOUR["ratio"]
        k = np.floor(np.log(t[big]) / math.log(ratio))
        t0 = ratio ** k
        k = np.where(t0 > t[big], k - 1, np.where(t0 * ratio <= t[big], k + 1, k))
        starts, which = np.unique(k, return_inverse=True)
        t1s = ratio ** (starts + 1)
        for j, t1 in enumerate(t1s):
            sel = big[which.reshape(-1) == j]
            if lr * _hairpin_reach(t1) >= math.pi / 2:
                raise AssertionError("hairpin too wide")          # excluded by SMALL_STEPS
            p, w = _hairpin_nodes(t1)
            # around the real axis
            F = _kernels(params, measures, p, False, sgd)
            e = w[None, :] * np.exp(t[sel, None] * p[None, :])
            for key in keys:
                out[key][sel] += np.imag(e @ F[key][0])
            if stiff:   # around Im p = pi/lr: e^{lr p} = -e^{lr p'}, e^{lr p/2} = i e^{lr p'/2}
                F = _kernels(params, measures, p, True, sgd)
                sign = np.where(times_n[sel] % 2 == 0, 1.0, -1.0)
                for key in keys:
                    out[key][sel] += sign * np.imag(e @ F[key][0])
    return out


# ------------------------------------------------------------------------------------------
# stability
# ------------------------------------------------------------------------------------------

def spectral_edge(params: Params) -> float:
    """Top edge ``h_edge`` of the support of the deterministic-equivalent spectrum of ``H`` (it
    depends on the spectrum, ``N`` and ``P`` only, and is cached on them)."""
    return _spectral_edge(params.replace(sigma2=0.0, gamma=0.0, T=0.0, lr=0.0, batch=None))


@functools.lru_cache(maxsize=64)
def _spectral_edge(params: Params) -> float:
    """Top edge ``h_edge`` of the support of the deterministic-equivalent spectrum of ``H``.

    Beyond the support, real ``s = -x`` has a real solution with ``q > 1``; solving the
    self-consistency for ``s`` at given ``q`` (``sum_k lam_k / (s + lam_k P q) = 1/q - 1``, one
    root left of every pole) gives ``x(q)``, and the edge is its minimum over ``q > 1``
    (Silverstein & Choi 1995)."""
    rule = mode_rule(params)
    lam, wt = rule.lam, rule.weight
    P = float(params.P)
    lam1 = float(lam.max())

    def x_of(q):
        target = 1.0 / q - 1.0                  # < 0
        # f(x) = sum w lam / (lam P q - x) for x > lam1 P q: negative, increasing to 0 as x grows
        lo = lam1 * P * q * (1 + 1e-15)
        hi = max(2.0 * lo, lo + 1.0)
        f = lambda x: float(wt @ (lam / (lam * P * q - x))) - target
        while f(hi) < 0:
            hi *= 2.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if f(mid) < 0:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-15 * hi:
                break
        return 0.5 * (lo + hi)

    qs = 1.0 + np.logspace(-12, 6, 181)
    xs = np.array([x_of(q) for q in qs])
    i = int(np.argmin(xs))
    lo, hi = qs[max(i - 1, 0)], qs[min(i + 1, qs.size - 1)]
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = x_of(c), x_of(d)
    for _ in range(100):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = x_of(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = x_of(d)
        if b - a <= 1e-12 * b:
            break
    return float(min(fc, fd, xs[i]))


def gd_stability_edge(params: Params) -> float:
    """Largest stable learning rate of gradient descent in the theory: ``2 / (gamma + h_edge)``."""
    return 2.0 / (params.gamma + spectral_edge(params))


def _kappa(params: Params) -> float:
    """``kappa_B = (P - B) / (B (P - 1))``: the minibatch gradient's covariance factor."""
    P, B = params.P, params.batch_size
    return (P - B) / (B * (P - 1)) if P > 1 else 0.0


def sgd_mode_stable(params: Params) -> bool:
    """Whether every direction of the spectrum keeps ``u^2 + lr^2 kappa_B h^2 < 1`` (the fluctuation
    of a direction, fed by its own residual, decays). The left side is convex in ``h`` and at
    most one at ``h = 0``, so the top of the support decides."""
    kappa, lr, gamma = _kappa(params), params.lr, params.gamma
    h = spectral_edge(params)
    return (1 - lr * (h + gamma))**2 + lr**2 * kappa * h * h < 1.0


def sgd_stability(params: Params) -> float:
    """Feedback gain of minibatch SGD, ``lr^2 kappa_B int dnu h^2 / (1 - u^2 - lr^2 kappa_B h^2)``
    (at ``gamma = 0``: ``lr kappa_B int dnu h / (2 - lr (1 + kappa_B) h)``): the minibatch noise,
    proportional to the training loss, raises the loss by this factor of itself; SGD is stable
    when it is below one and :func:`sgd_mode_stable` holds."""
    kappa, lr, gamma = _kappa(params), params.lr, params.gamma
    if kappa == 0:
        return 0.0
    if not sgd_mode_stable(params):
        return math.inf
    measures = TheoryMeasures(params)
    z2 = 1e-12 / lr                        # x -> 1 from below (p -> 0+)
    c1 = 1.0 + lr * kappa * gamma
    c0 = lr * kappa * gamma**2 - z2
    c2 = lr * (1.0 + kappa)
    big = (c1 + math.sqrt(c1 * c1 - c2 * c0)) / c2
    poles = (np.array([[-(c0 / c2) / big + 0j]]), np.array([[-big + 0j]]))
    R = tuple(_transforms(measures, z)[1] for z in poles)
    I = -1.0 / (lr**2 * (1.0 + kappa)) * _partial_fractions(poles, R, (), (0, 1))
    return float((lr**2 * kappa * I).real[0, 0])


# ------------------------------------------------------------------------------------------
# the error curve
# ------------------------------------------------------------------------------------------

def theory_discrete(params: Params, times, measures: SpectralMeasures | None = None) -> ErrorCurve:
    """Error curve of gradient descent (full batch) or minibatch SGD at learning rate
    ``params.lr``, at ``times`` (reported after ``n = floor(t / lr)`` steps,
    :func:`rfdmft.model.steps`), isotropic captured teacher, ``w(0) = 0``.

    Parts as in continuous time; for minibatch SGD also ``sgd_variance`` (the extra error of
    SGD over gradient descent, with the fourth-moment term). ``t = inf`` is given for gradient descent
    (minibatch SGD: refused). Raises :class:`~rfdmft.model.DivergenceError` beyond the stability
    edge, ``RuntimeError`` if a solver does not converge. ``measures`` replaces the DMFT by
    other spectral measures (e.g. one design's, :class:`ExactMeasures`)."""
    if not params.discrete:
        raise ValueError(f"theory_discrete needs a learning rate lr > 0, got lr = {params.lr!r}")
    if not (params.teacher is None or bool(np.all(params.teacher[: params.N] == 1.0))):
        raise ValueError("the discrete-time theory is implemented for the isotropic teacher "
                         "(captured mode powers 1); use theory_laplace for other teachers in "
                         "continuous time")
    t = validate_times(times, params)
    sgd = params.batch is not None
    if sgd and np.isinf(t).any():
        raise ValueError("t = inf is not available for minibatch SGD (the stationary state of "
                         "the noise is not computed); use finite times")
    theory = measures is None
    if theory:
        measures = TheoryMeasures(params)
        edge = spectral_edge(params)
        a_max = params.gamma + edge
        if params.lr * a_max >= 2.0:
            raise DivergenceError(
                f"gradient descent diverges: lr = {params.lr:g} is at or beyond the stability edge "
                f"2 / (gamma + h_max) = {2.0 / a_max:.6g} (h_max = {edge:.6g}, the top of the "
                "spectrum of H); use a smaller lr")
        if sgd:
            if not sgd_mode_stable(params):
                raise DivergenceError(
                    f"minibatch SGD diverges: lr = {params.lr:g} with batch B = {params.batch} "
                    "makes the top directions unstable under their own minibatch noise "
                    "((1 - lr a)^2 + lr^2 kappa_B h^2 >= 1 at the top of the spectrum, "
                    "kappa_B = (P - B)/(B (P - 1))); use a smaller lr or a larger batch")
            level = sgd_stability(params)
            if level >= 1.0:
                raise DivergenceError(
                    f"minibatch SGD diverges: lr = {params.lr:g} with batch B = {params.batch} "
                    f"feeds the minibatch noise back through the loss with gain {level:.4g} >= 1 "
                    "(lr kappa_B int h^2 dnu / (a (2 - lr a)), kappa_B = (P - B)/(B (P - 1))); "
                    "use a smaller lr or a larger batch")
        stiff = params.lr * a_max > 1.0
    else:
        stiff = True
    n = steps(params, t)
    tail = params.tail
    S_N = measures.S_N
    bias = np.full(t.shape, tail + S_N)
    label = np.zeros(t.shape)
    thermal = np.zeros(t.shape)
    sgd_var = np.zeros(t.shape) if sgd else None

    static = np.isinf(t)
    if static.any():
        from .equilibrium import equilibrium
        eq = equilibrium(params.replace(lr=0.0, batch=None))
        bias[static] = eq.bias
        label[static] = eq.label_variance
        # discrete Langevin: T int dmu 2 / (a (2 - lr a)) = Th_eq + T int dmu 1/(2/lr - a)
        Th = eq.thermal_variance
        if params.T > 0:
            z = np.array([[-2.0 / params.lr + 1j * 1e-9 * 2.0 / params.lr]])
            R_edge = measures.one(z)[0].real[0, 0]
            Th = Th - params.T * R_edge
        thermal[static] = Th
    go = ~static & (n > 0)
    if go.any():
        parts = _invert(params, measures, n[go], sgd, stiff)
        bias[go] = tail + parts["bias"]
        label[go] = parts["label"]
        thermal[go] = parts["thermal"]
        if sgd:
            sgd_var[go] = parts["sgd"]
    for name, x in (("bias", bias), ("label-noise variance", label),
                    ("thermal variance", thermal), ("SGD variance", sgd_var)):
        if x is None:
            continue
        if not np.all(np.isfinite(x)):
            raise RuntimeError(f"the discrete-time inversion gave a non-finite {name}; "
                               "no numbers returned")
        scale = S_N + tail + params.sigma2 + params.T * S_N / max(params.gamma, 1e-300) \
            if name == "thermal variance" else S_N + tail + params.sigma2 + 1.0
        if np.any(x < -1e-9 * scale):
            raise RuntimeError(f"the discrete-time inversion gave a negative {name} "
                               f"({x.min():.3g}); no numbers returned")
        np.maximum(x, 0.0, out=x)
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal,
                      sgd_variance=sgd_var)
