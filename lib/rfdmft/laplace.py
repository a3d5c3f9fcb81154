r"""Laplace-domain dynamical mean-field theory.

Self-consistency
----------------
For complex ``z`` off the negative real axis, with ``s = z + gamma``,

    G_k(z) = 1 / (s + lambda_k P q(z)),   q(z) = 1 / (1 + R(z)),   R(z) = sum_{k<=N} lambda_k G_k(z).

``R`` is the Laplace transform of the collective response ``r(tau) = E tr(Lambda e^{-(H+gamma) tau})``:
``R(z) = int dmu(h) / (z + gamma + h)`` with ``mu`` the ``Lambda``-weighted spectral measure of
``H`` (mass ``S_N = sum_{k<=N} lambda_k``; an atom at ``h = 0`` of weight the null-space
weight when ``N > P``). We also use the ``h``-weighted transform, computed without
cancellation from the modes,

    Rh(z) = int h dmu(h) / (z + gamma + h) = S_N - (z + gamma) R(z) = P q(z) sum_k lambda_k^2 G_k(z).

Reduction of the two-time objects
---------------------------------
For the isotropic teacher (captured mode powers 1), ``w(0) = 0``, every equal-time part of
``E_g(t)`` is a spectral average ``int dmu(h) f(h, t)`` (``a = h + gamma``; the uncaptured tail
acts on the labels as noise, so ``sigma_e2 = sigma2 + tail``):

* bias     ``B(t)  = tail + int dmu (gamma + h e^{-a t})^2 / a^2``,
* label    ``V(t)  = sigma_e2 int dmu h (1 - e^{-a t})^2 / a^2``,
* thermal  ``Th(t) = T int dmu (1 - e^{-2 a t}) / a``.

Taking the Laplace transform in ``t`` (``e^{-2at}`` -> ``1/(z + 2a) = (1/2) / (z/2 + a)``, so the
equal-time correlation at ``t`` needs the response at ``z`` and ``z/2``, i.e. at times ``t`` and
``2t``) and reducing the partial fractions in ``a`` gives one-time transforms only:

    L[B - tail](z) = [ (z + 2 gamma)^2 R(z/2) / 2 - 2 gamma (z + gamma) R(z) ] / z^2,
    L[V](z)        = 2 sigma_e2 [ Rh(z/2) - Rh(z) ] / z^2,
    L[Th](z)       = T R(z/2) / z.

General teacher (mode powers ``p_k``): label and thermal parts are unchanged (the tail
becomes ``sum_{k>N} lambda_k p_k``); the bias ``tr(Pi (1 - g H) Lambda (1 - g H))`` needs two
resolvents. With ``L[1 - g(t) H] = ((z + gamma) / z) G(z)`` it is a two-variable transform
evaluated on the diagonal ``t1 = t2 = t``:

    B(t) - tail = (2 pi i)^-2 oint oint e^{(z1 + z2) t} (z1 + gamma)(z2 + gamma) / (z1 z2)
                  sum_k p_k lambda_k G_k(z1) G_k(z2) / (1 - P q1 q2 sum_k lambda_k^2 G_k(z1) G_k(z2)),

the two-point deterministic equivalent of ``E tr(Pi G(z1) Lambda G(z2))`` (at ``p = 1`` it is
``(R(z1) - R(z2)) / (z2 - z1)`` and the double integral collapses to the formula above).

Gradient flow (``gamma = 0``): ``L[B - tail] = R(z/2)/2``, i.e. ``B(t) - tail = r(2t)``, the
collective response at time ``2t``. The poles at ``z = 0`` carry the ``t = inf`` values (simple
poles; a double pole for ``Th`` when ``gamma = 0, N > P``: free diffusion in the null space;
at ``N = P`` a branch point: the spectrum's hard edge at ``h = 0``).
The static values are computed by :mod:`rfdmft.equilibrium` (one copy).

Inversion
---------
Times are grouped into fixed windows ``[10^k, 10^(k+1))`` (a time's contour never depends on
the other times of a call); each window shares one hyperbolic contour
(Weideman & Trefethen 2007) ``z(u) = mu (1 + sin(i u - phi))``, trapezoidal nodes
``u_k = k h``, ``|k| <= 24`` (25 solves of the self-consistency at ``z`` and 25 at ``z/2``, by
conjugate symmetry), ``mu = 0.9837 * 24 / (10 t0)``, ``phi = 0.8942``, ``h = 3.0921 / 24``.
Parameters were tuned (Nelder-Mead) on Stieltjes transforms with poles spread over
``[0, 1e4]`` plus a double pole at 0: relative error <= 1e-11 over the window.

No difference of transforms is formed near ``z = 0`` (it cancelled like ``1e-16 P lambda_1 t``):
the label and bias transforms use the two-point sums ``C(z/2, z) = (R(z/2) - R(z)) / (z/2)`` and
``Ch(z/2, z) = (Rh(z/2) - Rh(z)) / (z/2)`` computed directly from the modes (see
:func:`_pair_sums`), ``L[V] = sigma_e2 Ch / z`` and ``L[B - tail] = R(z/2)/2 + gamma (z + gamma)
C / z``. Times ``t (h_max + gamma) <= 1e-10`` use the Taylor series (second order). Past
``t = 1e12``, where every limit is finite, the parts (each monotone in ``t``) take the
``t = inf`` values from the first time ``t_c`` at which the contour agrees with them to 1e-10;
times the contour cannot resolve (``|z| ~ 1/t`` under/overflowing the mode sums) are refused.
The compiled kernels run serially in slices of bounded work dispatched from Python, so Ctrl-C
raises ``KeyboardInterrupt`` within a fraction of a second.

Every sum over the ``N`` modes runs over the nodes of :func:`rfdmft.quadrature.mode_rule`
(the leading modes exactly, then a Chebyshev rule per band of ``log lambda``; relative error
~1e-13), so the cost is independent of ``N`` for power-law spectra.

The self-consistency is solved by Newton's method (in the closed upper half plane; the lower
half by conjugation), each step in ``R`` or in ``q = 1 / (1 + R)``, whichever is better
conditioned there (near ``N = P`` at small ``|z|``, ``R`` is large and only the ``q``-form
keeps its digits; see :func:`_newton`), continued from a far point ``z = i L`` where ``R ~ S_N / s``
along geometric steps to the contour's far end and from node to node, with a first-order
predictor and step halving whenever Newton fails or lands off the physical branch (``R / S_N``
must lie in the convex hull of ``{1 / (s + h): h >= 0}``, as the transform of a positive
measure of mass ``S_N`` on ``h >= 0`` does). A failure raises ``RuntimeError``; untrusted
numbers are never returned.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from .model import ErrorCurve, Params, validate_times
from .quadrature import mode_rule

__all__ = ["solve_response", "response_time", "theory_laplace", "CONTOUR"]

#: Hyperbolic contour: nodes per half-contour ``K``, time-window ratio, and (c, phi, a) with
#: ``mu = c K / t1``, ``h = a / K`` (``t1`` the window's end).
CONTOUR = dict(K=24, ratio=10.0, c=0.98372856, phi=0.89418547, a=3.09212502)

_TOL = 1e-14
_T_LATE = 1e12            # from here on, times may take the long-time limit (see theory_laplace)
_SMALL_T = 1e-10          # t (h_max + gamma) below which the Taylor series replaces the contour
_MAXIT = 40
_MAXSTEPS = 2000        # Newton attempts per contour node (continuation steps and halvings)


#: Modes per block of the compiled sums: plain sums inside a block (vectorised), blocks added
#: with compensation, so a full sum over a million modes keeps ~1e-15 relative accuracy.
_BLOCK = 256


@njit(cache=True, fastmath=True, error_model="numpy")
def _block_sums(lamP, w, wl, wl2P, sr, si, qr, qi, start, stop, acc):
    """``acc[:] = `` the plain sums of ``_sums`` over nodes ``start..stop-1``."""
    a1r = 0.0
    a1i = 0.0
    a2r = 0.0
    a2i = 0.0
    a3r = 0.0
    a3i = 0.0
    a4r = 0.0
    a4i = 0.0
    a5r = 0.0
    a5i = 0.0
    a6r = 0.0
    a6i = 0.0
    for k in range(start, stop):
        dr = sr + lamP[k] * qr
        di = si + lamP[k] * qi
        inv = 1.0 / (dr * dr + di * di)
        gr = dr * inv
        gi = -di * inv
        g2r = gr * gr - gi * gi
        g2i = 2.0 * gr * gi
        a1r += wl[k] * gr
        a1i += wl[k] * gi
        a2r += wl2P[k] * g2r
        a2i += wl2P[k] * g2i
        a3r += wl[k] * g2r
        a3i += wl[k] * g2i
        a4r += wl2P[k] * gr
        a4i += wl2P[k] * gi
        a5r += w[k] * gr
        a5i += w[k] * gi
        a6r += w[k] * g2r
        a6i += w[k] * g2i
    acc[0] = a1r
    acc[1] = a1i
    acc[2] = a2r
    acc[3] = a2i
    acc[4] = a3r
    acc[5] = a3i
    acc[6] = a4r
    acc[7] = a4i
    acc[8] = a5r
    acc[9] = a5i
    acc[10] = a6r
    acc[11] = a6i


@njit(cache=True, error_model="numpy")
def _sums(lamP, w, wl, wl2P, sr, si, qr, qi):
    """Weighted node sums at ``s`` and ``q`` (weights ``w_j`` of the mode rule,
    ``wl = w lam``, ``wl2P = w lam^2 P``): ``sum w lam G``, ``sum w lam^2 P G^2``,
    ``sum w lam G^2``, ``sum w lam^2 P G``, ``sum w G``, ``sum w G^2`` with
    ``G_j = 1 / (s + lam_j P q)``, in real arithmetic; blocks of ``_BLOCK`` nodes summed plainly,
    the blocks with Kahan compensation."""
    acc = np.empty(12)
    total = np.zeros(12)
    carry = np.zeros(12)
    n = lamP.size
    for start in range(0, n, _BLOCK):
        _block_sums(lamP, w, wl, wl2P, sr, si, qr, qi, start, min(n, start + _BLOCK), acc)
        if start == 0 and n <= _BLOCK:
            total[:] = acc
            break
        for j in range(12):
            y = acc[j] - carry[j]
            t = total[j] + y
            carry[j] = (t - total[j]) - y
            total[j] = t
    return (complex(total[0], total[1]), complex(total[2], total[3]),
            complex(total[4], total[5]), complex(total[6], total[7]),
            complex(total[8], total[9]), complex(total[10], total[11]))


@njit(cache=True)
def _physical(w, s):
    """Whether ``w = R / S_N`` can be ``int dnu(h) / (s + h)`` for a probability measure ``nu`` on
    ``h >= 0``: it must lie in the convex hull of the arc ``{1 / (s + h), h >= 0}`` and 0, i.e.
    in the disc ``|2 b w + i| <= 1`` (``b = Im s``) on the arc's side of the chord ``[0, 1/s]``
    (for real ``s > 0``: ``0 <= w <= 1/s``). Rejects the unphysical roots of the equation."""
    tol = 1e-9
    b = s.imag
    if b == 0.0:
        return s.real > 0.0 and abs(w.imag) <= tol * abs(w) and -tol * abs(w) <= w.real \
            and w.real <= (1.0 + tol) / s.real
    aw = abs(w)
    # just above the real axis left of the support (the discrete-time contours reach there):
    # the disc test is ill-conditioned (w lies within rounding of its boundary), but there a
    # measure on h >= 0 with s + h < 0 gives a real w with w s >= 1
    if s.real < 0.0 and abs(b) <= 1e-6 * abs(s):
        ws = w * s
        if ws.real >= 1.0 - tol and abs(ws.imag) <= 1e-5 * abs(ws):
            return True
    # the disc |2 b w + i| <= 1, i.e. sign(b) (Im w + b |w|^2) <= 0, with a slack relative to the
    # size of its terms (an absolute slack on |2 b w + i| accepts any w with |b w| ~ 1e-9)
    if math.copysign(1.0, b) * (w.imag + b * aw * aw) > tol * abs(b) * (aw * aw + aw / abs(s)):
        return False
    cross = ((1.0 / s).conjugate() * w).imag
    return cross * b >= -tol * abs(w) / abs(s) * abs(b)


@njit(cache=True, error_model="numpy")
def _newton(lamP, w, wl, wl2P, P, excess, s, R, S_N):
    """Newton at ``s = z + gamma`` for the self-consistency, each step in whichever of two
    equivalent forms is better conditioned at the current point:

    * ``F(R) = R - sum_k lam_k G_k``, ``F' = 1 - q^2 sum_k lam_k^2 P G_k^2``. The residual is a
      difference of two numbers of size ``|R|``, so ``R`` is known to ``eps / |F'|`` relative,
      and ``F' -> 1 - rho`` vanishes near ``N = P`` at small ``s`` (large ``R``).
    * ``Phi(q) = q - (1 - N/P) - (s / P) sum_k G_k``, ``Phi' = 1 + s sum_k lam_k G_k^2`` (from
      ``sum_k lam_k P q G_k = N - s sum_k G_k``). ``R = (1 - q) / q`` is known to
      ``eps (|1 - N/P| + |s sum G| / P) / (|q| |1 - q| |Phi'|)`` relative: good at ``N = P``,
      poor where ``q`` is small against ``1 - N/P`` (``N > P``, ``s -> 0``) or near ``q = 1``.

    ``R`` is the starting guess, ``excess = (P - N) / P`` (exact). Returns ``(R, Rh, dR/ds,
    passes)``; ``passes = -1`` when Newton did not converge or landed off the physical branch."""
    for it in range(_MAXIT):
        if R == -1.0:                 # (numba raises on complex division by zero)
            return R, R, R, -1
        q = 1.0 / (1.0 + R)
        S1, S2, S3, Q, S0, S00 = _sums(lamP, w, wl, wl2P, s.real, s.imag, q.real, q.imag)
        dF = 1.0 - q * q * S2
        dPhi = 1.0 + s * S3
        cond_R = 1.0 / abs(dF)
        cond_q = (abs(excess) + abs(s * S0) / P) / (abs(q) * abs(1.0 - q) * abs(dPhi))
        use_q = cond_q < cond_R
        if (dPhi == 0.0) if use_q else (dF == 0.0):
            return R, R, R, -1
        if use_q:
            q_new = q - (q - excess - s * S0 / P) / dPhi
            if q_new == 0.0:
                return R, R, R, -1
            R_new = (1.0 - q_new) / q_new
            step = R - R_new
            R = R_new
        else:
            step = (R - S1) / dF
            R = R - step
        if not (math.isfinite(R.real) and math.isfinite(R.imag)):
            return R, R, R, -1
        if abs(step) <= _TOL * abs(R):
            if not _physical(R / S_N, s):
                return R, R, R, -1
            # dR/ds from the better-conditioned form (for the continuation's predictor)
            if use_q:
                dq = (S0 - s * S00) / (P * dPhi)
                dR = -dq / (q * q)
            else:
                dR = -S3 / dF
            return R, Q * q, dR, it + 1
    return R, R, R, -1


#: Work per call of the compiled kernels, in mode evaluations (``passes x N``): about 0.1 s,
#: so that a Ctrl-C (handled by Python between calls) stops the solver within a second.
_CHUNK = 2_000_000


@njit(cache=True, error_model="numpy")
def _advance(lamP, w, wl, wl2P, P, excess, gamma, S_N, scale, Z, R_out, Rh_out, state_z,
             state_R, state_dR, state_frac, next_j, status, tries, budget):
    """Continue the rows of ``Z`` (independent continuation paths, nodes ordered far to near)
    for about ``budget`` mode evaluations, then return (resumable: the state of each row is kept
    in ``state_*``, ``next_j`` (-1: not started) and ``status`` (0 running, 1 done, -1 failed)).

    Each row starts far up the imaginary axis (``R ~ S_N / s`` there) and moves by geometric
    steps ``zc (target / zc)^frac``, which stay in the closed upper half plane, with a
    first-order predictor; ``frac`` is halved whenever Newton fails. Returns the number of
    rows still running."""
    n = lamP.size
    spent = 0
    for i in range(Z.shape[0]):
        if status[i] != 0:
            continue
        while spent < budget:
            if next_j[i] < 0:
                zc = 1j * 1e4 * (scale + S_N + gamma + abs(Z[i, 0]))
                Rc, Rh, dRc, its = _newton(lamP, w, wl, wl2P, P, excess, zc + gamma, S_N / (zc + gamma), S_N)
                spent += (abs(its) + 1) * n
                if its < 0:
                    status[i] = -1
                    break
                state_z[i] = zc
                state_R[i] = Rc
                state_dR[i] = dRc
                state_frac[i] = 1.0
                next_j[i] = 0
                continue
            j = next_j[i]
            target = Z[i, j]
            zc = state_z[i]
            frac = state_frac[i]
            zt = target if frac == 1.0 else zc * np.exp(frac * np.log(target / zc))
            R, Rh, dR, its = _newton(lamP, w, wl, wl2P, P, excess, zt + gamma,
                                     state_R[i] + state_dR[i] * (zt - zc), S_N)
            spent += (abs(its) + 1) * n
            tries[i] += 1
            if tries[i] > _MAXSTEPS:          # creeping continuation: give up (no wrong number)
                status[i] = -1
                break
            if its >= 0:
                state_z[i] = zt
                state_R[i] = R
                state_dR[i] = dR
                if frac == 1.0:
                    R_out[i, j] = R
                    Rh_out[i, j] = Rh
                    next_j[i] = j + 1
                    tries[i] = 0
                    if j + 1 == Z.shape[1]:
                        status[i] = 1
                        break
                state_frac[i] = 1.0
            else:
                frac *= 0.5
                state_frac[i] = frac
                if frac < 1e-8:
                    status[i] = -1
                    break
        if spent >= budget:
            break
    running = 0
    for i in range(Z.shape[0]):
        if status[i] == 0:
            running += 1
    return running


def _solve_paths(rule, N, P, gamma, Z):
    """Rows of ``Z`` are independent continuation paths; returns R, Rh and a status per row
    (negative: failed); ``rule`` the :class:`~rfdmft.quadrature.ModeRule` of the ``N`` modes. The compiled kernel runs in slices of about ``_CHUNK`` mode
    evaluations, so Python sees a Ctrl-C between slices and raises ``KeyboardInterrupt``
    (a signal arriving inside a multi-threaded numba region used to crash the process)."""
    lam = rule.lam
    Z = np.ascontiguousarray(Z, dtype=np.complex128)
    lamP = lam * P
    wl = rule.weight * lam
    wl2P = wl * lam * P
    S_N = float(wl.sum())
    scale = float(lamP.max())
    rows = Z.shape[0]
    R = np.zeros(Z.shape, dtype=np.complex128)
    Rh = np.zeros(Z.shape, dtype=np.complex128)
    sz = np.zeros(rows, np.complex128)
    sR = np.zeros(rows, np.complex128)
    sd = np.zeros(rows, np.complex128)
    sf = np.ones(rows)
    nj = np.full(rows, -1, np.int64)
    status = np.zeros(rows, np.int64)
    tries = np.zeros(rows, np.int64)
    budget = max(_CHUNK, 4 * lam.size)
    try:
        while _advance(lamP, rule.weight, wl, wl2P, float(P), (P - N) / P, float(gamma), S_N,
                       scale, Z, R, Rh, sz, sR, sd, sf, nj, status, tries, budget):
            pass
    except ZeroDivisionError:             # numba's complex division: |z| under/overflowed
        status[status == 0] = -1
    return R, Rh, status


@njit(cache=True, error_model="numpy")
def _pair_kernel(lam, weight, P, gamma, z1, z2, R1, R2, out, start, stop):
    """Two-point node sums (weights ``weight`` of the mode rule) at the pairs
    ``(z1[j], z2[j])``, ``start <= j < stop``, with ``G_ik = 1 / (s_i + lam_k P q_i)``:
    ``out[j] = ((1/P) sum w e1 e2, (1/P) sum w (s1 G1)(s2 G2), sum w lam (s1 G1)(s2 G2))`` where ``e_i = lam P q_i G_i = 1 - s_i G_i``. Every factor is
    bounded (no overflow or cancellation at small ``s``)."""
    for j in range(start, stop):
        s1 = z1[j] + gamma
        s2 = z2[j] + gamma
        q1 = 1.0 / (1.0 + R1[j])
        q2 = 1.0 / (1.0 + R2[j])
        a = 0j
        b = 0j
        c = 0j
        for block in range(0, lam.size, _BLOCK):   # plain sums per block, then added
            ba = 0j
            bb = 0j
            bc = 0j
            for k in range(block, min(lam.size, block + _BLOCK)):
                p1 = lam[k] * P * q1
                p2 = lam[k] * P * q2
                d1 = s1 + p1
                d2 = s2 + p2
                g1 = s1 / d1
                g2 = s2 / d2
                ba += weight[k] * ((p1 / d1) * (p2 / d2))
                gg = weight[k] * (g1 * g2)
                bb += gg
                bc += lam[k] * gg
            a += ba
            b += bb
            c += bc
        out[j, 0] = a / P
        out[j, 1] = b / P
        out[j, 2] = c


def _pair_sums(rule, N, P, gamma, z1, z2, R1, R2):
    """``C = int dmu / ((s1 + h)(s2 + h))`` and ``Ch = int h dmu / ((s1 + h)(s2 + h))`` at the
    pairs ``(z1, z2)`` (equal shapes), from the two-point deterministic equivalent

        C = sum_k lam_k G1k G2k / den,   Ch = q1 q2 P sum_k lam_k^2 G1k G2k / den,
        den = 1 - q1 q2 P sum_k lam_k^2 G1k G2k = N/P - 1 + q1 + q2 - (s1 s2 / P) sum_k G1k G2k

    (``(R(z1) - R(z2)) / (s2 - s1) = C``, ``(Rh(z1) - Rh(z2)) / (s2 - s1) = Ch``; the second
    form of ``den`` follows from ``sum_k s G_k = N - P (1 - q)``). Differences of transforms
    near ``z = 0`` are never formed; of the two forms of ``den`` (``1 - rho`` at ``z = 0``,
    small only near ``N = P``) the one with less cancellation is used. Returns ``(C, Ch)``
    with ``C`` as ``sum_k lam_k (s1 G1k)(s2 G2k) / den`` times ``1 / (s1 s2)`` left to the
    caller (``Cs``), i.e. ``(Cs, Ch)`` with ``C = Cs / (s1 s2)``. ``rule``: the mode rule of the
    ``N`` modes."""
    shape = z1.shape
    z1, z2 = z1.reshape(-1), z2.reshape(-1)
    R1, R2 = R1.reshape(-1), R2.reshape(-1)
    out = np.empty((z1.size, 3), np.complex128)
    lam = rule.lam
    step = max(1, _CHUNK // max(lam.size, 1))
    try:
        for start in range(0, z1.size, step):      # slices: Ctrl-C is seen between them
            _pair_kernel(lam, rule.weight, float(P), float(gamma), z1, z2, R1, R2, out, start,
                         min(z1.size, start + step))
    except ZeroDivisionError:                      # under/overflow: the caller refuses
        out[:] = np.nan
    sig, bss, cs = out[:, 0], out[:, 1], out[:, 2]
    q1, q2 = 1.0 / (1.0 + R1), 1.0 / (1.0 + R2)
    den_a = 1.0 - sig
    den_b = (N / P - 1.0) + q1 + q2 - bss
    cond_a = np.maximum(1.0, np.abs(sig)) / np.abs(den_a)
    cond_b = np.maximum.reduce([np.full(q1.shape, abs(N / P - 1.0)), np.abs(q1),
                                np.abs(q2), np.abs(bss)]) / np.abs(den_b)
    den = np.where(cond_b < cond_a, den_b, den_a)
    return (cs / den).reshape(shape), (sig / den).reshape(shape)


def solve_response(params: Params, z) -> tuple[np.ndarray, np.ndarray]:
    """``R(z)`` and ``Rh(z) = S_N - (z + gamma) R(z)`` at complex ``z`` (any shape).

    ``z`` must avoid the closed negative real half-line shifted by ``gamma`` (``z + gamma``
    not in ``(-inf, 0]``). Each point is reached by its own continuation from far away (use
    :func:`theory_laplace` for efficient contour work). Raises ``RuntimeError`` when the solver
    does not converge.
    """
    z = np.asarray(z, dtype=complex)
    flat = z.reshape(-1)
    bad = flat[~(np.isfinite(flat.real) & np.isfinite(flat.imag))]
    if bad.size:
        raise ValueError(f"z must be finite complex numbers, got {bad[0]}")
    s = flat + params.gamma
    if np.any((s.imag == 0) & (s.real <= 0)):
        raise ValueError("z + gamma must not lie on the negative real half-line (-inf, 0]")
    R = np.empty(flat.shape, complex)
    Rh = np.empty(flat.shape, complex)
    # conjugate symmetry: solve in the closed upper half plane
    up = np.where(flat.imag < 0, flat.conj(), flat)
    Rr, Rhr, status = _solve_paths(mode_rule(params), params.N, float(params.P), params.gamma,
                                   up.reshape(-1, 1))
    if np.any(status < 0):
        raise RuntimeError("the DMFT self-consistency for R(z) did not converge at "
                           f"z = {up[np.argmax(status < 0)]}")
    R[:] = np.where(flat.imag < 0, Rr[:, 0].conj(), Rr[:, 0])
    Rh[:] = np.where(flat.imag < 0, Rhr[:, 0].conj(), Rhr[:, 0])
    return R.reshape(z.shape), Rh.reshape(z.shape)


def _captured_isotropic(params: Params) -> bool:
    return params.teacher is None or bool(np.all(params.teacher[: params.N] == 1.0))


def _windows(t: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``[t0, ratio t0)`` with ``t0 = ratio^k`` fixed (integer ``k``): (starts, index per
    time). Each time's contour depends on that time only, never on the other times of the call."""
    k = np.floor(np.log(t) / math.log(ratio))
    t0 = ratio ** k
    k = np.where(t0 > t, k - 1, np.where(t0 * ratio <= t, k + 1, k))
    ks, which = np.unique(k, return_inverse=True)
    return ratio ** ks, which.reshape(-1)


def _contour(t1: np.ndarray):
    """Nodes ``z`` (windows x K+1, far to near) and weights ``z'(u) h / pi`` for window ends ``t1``."""
    K, c, phi, a = CONTOUR["K"], CONTOUR["c"], CONTOUR["phi"], CONTOUR["a"]
    h = a / K
    u = np.arange(K, -1, -1) * h                       # far (k = K) to near (k = 0)
    mu = (c * K / t1)[:, None]
    z = mu * (1 + np.sin(1j * u[None, :] - phi))
    dz = 1j * mu * np.cos(1j * u[None, :] - phi)
    w = dz * h / np.pi
    w[:, -1] *= 0.5                                    # the real-axis node counts once
    return z, w


def _responses(params: Params, tf: np.ndarray):
    """Contours for the positive finite times ``tf`` and ``R, Rh`` at ``z`` and ``z/2`` on them.

    Returns ``(z, w, which, R1, Rh1, R2, Rh2)``: nodes and weights per window, the window of each
    time, and the solutions at ``z`` (1) and ``z / 2`` (2)."""
    starts, which = _windows(tf, CONTOUR["ratio"])
    z, w = _contour(starts * CONTOUR["ratio"])
    R, Rh, status = _solve_paths(mode_rule(params), params.N, float(params.P), params.gamma,
                                 np.concatenate([z, 0.5 * z]))
    if np.any(status < 0):
        raise RuntimeError(
            "the DMFT self-consistency for R(z) did not converge on the Laplace contour "
            f"(alpha={params.alpha}, N={params.N}, P={params.P}, gamma={params.gamma}); "
            "no numbers returned")
    nw = starts.size
    return z, w, which, R[:nw], Rh[:nw], R[nw:], Rh[nw:]


def _invert(tf, z, w, which, F):
    """Inverse Laplace transform at times ``tf`` of ``F`` sampled on the window contours."""
    E = np.exp(tf[:, None] * z[which]) * w[which]
    return np.imag(np.sum(E * F[which], axis=1))


def _two_point_bias(params: Params, tf, z, which, R1) -> np.ndarray:
    """Bias minus tail for general teacher powers ``p_k``, by a two-variable inverse transform.

    ``1 - g(t) H`` has transform ``((z + gamma) / z) G(z)``, so
    ``B(t) - tail = (2 pi i)^-2 oint oint e^{(z1 + z2) t} (z1 + gamma)(z2 + gamma) / (z1 z2)
    E tr(Pi G(z1) Lambda G(z2)) dz1 dz2`` with the two-point deterministic equivalent
    ``E tr(Pi G1 Lambda G2) = sum_k p_k lambda_k G1k G2k / (1 - P q1 q2 sum_k lambda_k^2 G1k G2k)``
    (at ``p = 1`` it is ``(R(z1) - R(z2)) / (z2 - z1)``). Both variables use the window's contour.
    """
    K, phi, a = CONTOUR["K"], CONTOUR["phi"], CONTOUR["a"]
    h = a / K
    rule = mode_rule(params)
    lam = rule.lam
    plam = rule.power * lam
    lam2 = rule.weight * lam * lam
    P, gamma = float(params.P), params.gamma
    u = np.r_[np.arange(K, -1, -1), -np.arange(1, K + 1)] * h     # nodes of z, then conj(z)
    zf = np.concatenate([z, np.conj(z[:, -2::-1])], axis=1)
    qf = 1.0 / (1.0 + np.concatenate([R1, np.conj(R1[:, -2::-1])], axis=1))
    out = np.empty(tf.size)
    with threadpool_limits(1, user_api="blas"):    # small products: threads cost more (bench)
        for i in range(z.shape[0]):                                # loop over windows
            mu = (zf[i, K] / (1 - np.sin(phi))).real               # the real node: mu (1 - sin phi)
            omega = h * 1j * mu * np.cos(1j * u - phi) / (2j * np.pi)
            G = 1.0 / (zf[i, :, None] + gamma + P * qf[i, :, None] * lam[None, :])
            num = (G * plam) @ G.T
            den = 1.0 - P * np.outer(qf[i], qf[i]) * ((G * lam2) @ G.T)
            fac = (zf[i] + gamma) / zf[i]
            F = np.outer(fac, fac) * num / den
            sel = which == i
            e = omega[None, :] * np.exp(tf[sel, None] * zf[i][None, :])
            out[sel] = np.einsum("tj,jl,tl->t", e, F, e).real
    return out


def response_time(params: Params, tau) -> np.ndarray:
    """Collective response ``r(tau) = E tr(Lambda e^{-(H + gamma) tau})``, inverse transform of ``R``.

    ``r(0) = sum_{k<=N} lambda_k``; finite ``tau >= 0`` only. For gradient flow
    (``gamma = 0``) the bias is ``r(2 t) + tail``.
    """
    tau = np.array(tau, dtype=float).reshape(-1)
    if tau.size == 0 or not np.all(np.isfinite(tau) & (tau >= 0)):
        raise ValueError(f"tau must be finite non-negative numbers, got {tau!r}")
    rule = mode_rule(params)
    out = np.full(tau.shape, float(rule.weight @ rule.lam))
    pos = tau > 0
    if pos.any():
        z, w, which, R1, _, _, _ = _responses(params, tau[pos])
        out[pos] = _invert(tau[pos], z, w, which, R1)
    return out


def _clean(x: np.ndarray, scale: float, name: str) -> np.ndarray:
    """Clip round-off negatives (>= -1e-10 scale) to zero; refuse anything more negative."""
    if np.any(x < -1e-10 * scale):
        raise RuntimeError(f"the Laplace inversion gave a negative {name} ({x.min():.3g}); "
                           "no numbers returned")
    return np.maximum(x, 0.0)


def _contour_parts(params: Params, tf: np.ndarray, isotropic: bool):
    """Bias (tail included), label-noise and thermal variance at the positive finite times
    ``tf`` by inverse Laplace transform on the window contours."""
    rule = mode_rule(params)
    S_N = float(rule.weight @ rule.lam)
    signal = float(rule.power @ rule.lam)
    tail = params.tail
    sig_e = params.sigma2 + tail
    gamma, T = params.gamma, params.T
    label = np.zeros(tf.shape)
    thermal = np.zeros(tf.shape)
    z, w, which, R1, Rh1, R2, Rh2 = _responses(params, tf)
    if (isotropic and gamma > 0) or sig_e > 0:
        Cs, Ch = _pair_sums(rule, params.N, params.P, gamma, 0.5 * z, z, R2, R1)
        if not (np.all(np.isfinite(Cs)) and np.all(np.isfinite(Ch))):
            raise RuntimeError(
                "the two-point DMFT sums overflowed on the Laplace contour "
                f"(alpha={params.alpha}, N={params.N}, P={params.P}, gamma={params.gamma}); "
                "no numbers returned")
    if isotropic:
        # L[B - tail] = R(z/2)/2 + gamma (z + gamma) C(z/2, z) / z, C = Cs / (s1 s2); the
        # textbook form ((z + 2 gamma)^2 R(z/2)/2 - 2 gamma (z + gamma) R(z)) / z^2 cancels
        Fb = R2 / 2
        if gamma > 0:
            Fb = Fb + gamma * Cs / ((0.5 * z + gamma) * z)
        bias = tail + _clean(_invert(tf, z, w, which, Fb), S_N, "bias")
    else:
        bias = tail + _clean(_two_point_bias(params, tf, z, which, R1), signal + S_N, "bias")
    if sig_e > 0:
        # = 2 sig_e (Rh(z/2) - Rh(z)) / z^2, without the difference (it cancels as z -> 0)
        label = _clean(_invert(tf, z, w, which, sig_e * Ch / z), sig_e, "label-noise variance")
    if T > 0:
        thermal = _clean(_invert(tf, z, w, which, T * R2 / z), T, "thermal variance")
    for x in (bias, label, thermal):
        if not np.all(np.isfinite(x)):
            raise RuntimeError(
                "the Laplace inversion gave non-finite values "
                f"(alpha={params.alpha}, N={params.N}, P={params.P}, gamma={params.gamma}); "
                "no numbers returned")
    return bias, label, thermal


def theory_laplace(params: Params, times) -> ErrorCurve:
    """DMFT error curve by inverse Laplace transform (``w(0) = 0``, any teacher mode powers).

    Returns the bias (with the uncaptured tail), the label-noise variance (noise
    ``sigma2 + tail``) and the thermal variance at ``times``; ``t = inf`` comes from
    :func:`rfdmft.equilibrium.equilibrium`, as do times so long that every mode has relaxed
    (``gamma > 0`` and ``e^{-gamma t}`` below ``1e-13`` of the smallest equilibrium part).
    ``error_sem`` is ``None``. A non-isotropic teacher (``params.teacher``) uses the
    two-variable transform for the bias (cost: two ``(2K+1) x N x (2K+1)`` products per time
    window). Raises ``RuntimeError`` if the self-consistency does not converge. Random features
    (``params.features == "random"``): :func:`rfdmft.rf_theory.rf_theory`.
    """
    if params.features == "random":
        from .rf_theory import rf_theory

        return rf_theory(params, times)
    t = validate_times(times, params)
    isotropic = _captured_isotropic(params)
    rule = mode_rule(params)
    lam, weight = rule.lam, rule.weight
    S_N = float(weight @ lam)
    signal = float(rule.power @ lam)                              # captured target power
    tail = params.tail
    sig_e = params.sigma2 + tail
    gamma, T = params.gamma, params.T

    bias = np.full(t.shape, tail + signal)
    label = np.zeros(t.shape)
    thermal = np.zeros(t.shape)

    static = np.isinf(t)
    # h_max >= 2 (P lambda_1 + S_N) >= the largest eigenvalue of H (the support of dmu)
    h_max = 4.0 * (params.P * float(lam.max()) + S_N)
    if gamma > 0:
        # every part relaxes as e^{-a t}, a >= gamma, with amplitude <= 3 (1 + h_max/gamma)^2
        # times its t = inf value
        static |= t * gamma > math.log(3e13) + 2 * math.log1p(h_max / gamma)
    if static.any():
        from .equilibrium import equilibrium
        eq = equilibrium(params)
        bias[static] = eq.bias
        label[static] = eq.label_variance
        thermal[static] = eq.thermal_variance

    # t -> 0: the contour's nodes (|z| ~ 1/t) would overflow; below t a_max = 1e-10 the Taylor
    # series to second order is exact to relative (t a_max)^2 <= 1e-20 (a <= a_max on the support)
    with np.errstate(over="ignore"):
        small = ~static & (t > 0) & (t * (h_max + gamma) <= _SMALL_T)
    if small.any():
        ts = t[small]
        m1 = params.P * float(weight @ lam**2)                # int h dmu = E tr(Lambda H)
        m2 = params.P**2 * float(weight @ lam**3) + S_N * m1  # int h^2 dmu
        bias[small] = tail + signal - 2 * ts * params.P * float(rule.power @ lam**2)
        if isotropic:
            bias[small] += ts**2 * (2 * m2 + gamma * m1)
        label[small] = sig_e * ts**2 * (m1 - ts * (m2 + gamma * m1))
        thermal[small] = T * (2 * ts * S_N - 2 * ts**2 * (m1 + gamma * S_N))

    finite = ~static & ~small & (t > 0)
    if finite.any():
        tf = t[finite]
        parts = np.empty((3, tf.size))
        contour = np.ones(tf.size, bool)
        late = tf >= _T_LATE
        if late.any() and params.has_equilibrium:
            from .equilibrium import equilibrium
            eq = equilibrium(params)
            limits = np.array([eq.bias, eq.label_variance, eq.thermal_variance])
            if np.all(np.isfinite(limits)):
                # each part is monotone in t (bias decreasing, the variances increasing, for
                # every gamma >= 0), so past a time t_c where it is within tol of its limit it
                # stays within tol: times beyond t_c take the limits
                tol = 1e-10 * limits.sum() + 1e-15 * (signal + tail + S_N)
                t_c = _T_LATE
                while t_c <= tf.max():
                    try:
                        at = np.array(_contour_parts(params, np.array([t_c]), isotropic))[:, 0]
                    except RuntimeError:
                        break
                    if np.all(np.abs(at - limits) <= tol):
                        done = tf >= t_c
                        parts[:, done] = limits[:, None]
                        contour &= ~done
                        break
                    t_c = min(t_c * t_c, tf.max()) if t_c < tf.max() else 2 * t_c
        if contour.any():
            try:
                parts[:, contour] = _contour_parts(params, tf[contour], isotropic)
            except RuntimeError as err:
                if not late[contour].any():
                    raise
                raise RuntimeError(
                    f"{err}; the latest time asked, t = {tf[contour].max():g}, may be beyond what "
                    "the solver resolves for these parameters (|z| ~ 1/t on the contour)") from None
        bias[finite], label[finite], thermal[finite] = parts
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)
