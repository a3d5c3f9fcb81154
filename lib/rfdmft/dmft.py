"""Time-domain dynamical mean-field theory (DMFT) of the training dynamics.

The equations (model.md, section 4) with ``v_k = w_k - wbar_k`` and ``a_k = lambda_k P``:

* mode ``k``: ``dv_k/dt = -gamma (v_k + wbar_k) - a_k (R_D * v_k)(t) + eta_k(t) + sqrt(2T) xi_k(t)``,
  ``v_k(0) = -wbar_k``, ``E[wbar_k^2] = p_k``, ``<eta_k(t) eta_k(s)> = a_k C_D(t, s)``;
* ``R_v(t) = sum_k lambda_k G_k(t)``, ``R_D = (1 + R_v)^-1``, ``C_D = R_D (C_v + sigma2 + tail) R_D^T``,
  ``C_v(t, s) = sum_k lambda_k <v_k(t) v_k(s)>``, ``E_g(t) = C_v(t, t) + tail``.

How they are solved
-------------------
*Responses* (one time, ``G_k(t, s) = G_k(t - s)``). Write ``R_D = delta - u`` (``u >= 0`` is the
resolvent kernel of ``R_v``: ``u = R_v - R_v * u``). Then
``G_k' = -(gamma + a_k) G_k + a_k m_k``, ``m_k = u * G_k``, ``G_k(0) = 1``. All ``N`` modes and ``u``
are marched together on the lag grid: each step is an exponential integrator (the stiff decay
``exp(-(gamma + a_k) dt)`` is exact, ``m_k`` is linear across the step), the convolutions use the
trapezoidal rule on the product; on the geometric part the integral is split at ``t/2`` so that
the fast factor is always sampled near lag 0 (where the grid is fine) and the slow factor is
interpolated at lags ``>= t/2`` (cubic Lagrange; linear inside the newest interval, whose
positive weights keep the marching recursion stable). The unknowns at a new node enter
linearly, so every step is solved exactly (one scalar linear equation couples the modes).
The march is second order; it is run on the grid and on the grid with every interval halved,
and the one-time inputs of the two-time solve (``B_k``, ``Gh_k``, ``Gh1_k``, ``int R_v``) are
Richardson-extrapolated at the common nodes (:func:`_response_parts`). This removes what was
most of the grid error of the whole scheme (bench problem: 2.6e-3 of the 2.3e-3 relative error
at resolution 1 came from the responses, opposite in sign to the two-time part's -2.7e-4).

*Correlations* (two times). ``v_k = -wbar_k B_k + G_k * eta_k``, ``B_k = G_k + gamma int_0^t G_k``.
Because ``G_k`` and ``R_D`` commute (both are convolutions), with ``Gh_k = R_D * G_k = G_k - m_k``
the closure becomes one linear equation for the two-time ``C_v``:
``C_v = F + sum_k c_k Gh_k (C_v) Gh_k^T``, ``c_k = lambda_k a_k``, with the sources
``F_teacher(t, s) = sum_k lambda_k p_k B_k(t) B_k(s)`` and
``F_label(t, s) = (sigma2 + tail) sum_k c_k Gh1_k(t) Gh1_k(s)`` (``Gh1_k = int_0^t Gh_k``), computed
exactly from one-time functions (the two-time functions are only needed up to the last
requested time, so that part of the grid ends there). The mode sum of the feedback is compressed
by a weighted SVD of ``sqrt(c_k) Gh_k(tau)`` (rank ``r``, typically 10-40, relative cut
``svd_tol``) into kernels ``psi_m`` (with signs ``s_m`` when some mode weights are negative, see
below) whose convolution operators on the time grid are built by product integration (``C``
piecewise cubic in each time, the kernel integrated on sub-pieces cut at the lag nodes with
3-point Gauss; :func:`_operator_rows`). The operators are causal (lower triangular), so the
linear equation is solved by marching over blocks of rows (:func:`_march`: with ``P_m = s_m Op_m
C`` every row block is two matrix products over all ``m`` at once plus a small substitution;
about ``r n^3`` multiply-adds, nearly all in BLAS); the self-consistency residual ``||C_v - F -
feedback(C_v)||_F / max|F|`` (estimated from random probes at ``O(r n^2)`` cost; it bounds the
largest entry) is then checked against ``tol`` (default ``1e-9``; GMRES refinement if it is
missed, ``RuntimeError`` if it is still missed). ``C_D = R_D (C_v + sigma2 + tail) R_D^T`` is
implied. The teacher part and the label part are solved separately: their diagonals are the bias
and the label-noise variance (same definitions as the simulator).

*Mode sums*. Every sum over the ``N`` modes goes through nodes ``(lam, weight, power)``:
``sum_k f(lambda_k) ~= sum_j weight_j f(lam_j)``, ``sum_k p_k f(lambda_k) ~= sum_j power_j
f(lam_j)`` (:func:`rfdmft.quadrature.mode_rule`, relative error ~1e-12 for the smooth functions
of ``log lambda`` summed here; without that module the modes themselves). The march of the
responses runs over the nodes only, so its cost does not grow with ``N`` for power laws.
(:func:`responses`, a public per-mode function, keeps every mode.)

*Thermal part*. Langevin noise is white, so the thermal correlation is a function of lags; the
mode process obeys the fluctuation-dissipation relation of this linear dynamics with symmetric
drift: ``C_v^thermal(t, s) = T int_{|t-s|}^{t+s} R_v``, so the thermal variance is
``T int_0^{2t} R_v(tau) dtau`` (exact given the response; no two-time solve is needed).

Grid and error estimate
-----------------------
Uniform step ``h0 = 0.4 / (3 resolution (gamma + P lambda_1))`` up to ``tau_u ~ h0 / delta``,
then geometric with ratio ``1 + delta`` (``delta = 0.32 / resolution``, about 8 resolution
points per decade) up to ``2 t_max`` (:func:`_solver_grid`). The two-time part is fourth order
in ``(h0, delta)`` (``C`` piecewise cubic); the responses come from a second-order march
extrapolated over two grids, whose remainder is of order about 2 (bench problem: the
successive differences of the raw march of ``u`` at ``t = 800`` shrink by 4.7, 4.3, 4.0, 3.9
as the step halves, not by a constant 4, so ``(4 half - full) / 3`` leaves a part of order
about 2) and dominates on fine grids. The solver runs at two resolutions
(``resolution`` and ``2 resolution``) and returns the finer grid's result: no extrapolation
across the grids, because with parts of different orders ``(4 fine - coarse) / 3`` multiplies
the fourth-order part's error by -4 (bench problem: 1.6e-4 relative against 1.9e-5 for the
finer grid alone, grids of 72 and 135 nodes). The error estimate
``TimeDomainSolution.error_estimate`` is the sum over the three parts (bias, label-noise
variance, thermal variance) of ``max(|fine - coarse|, |coarse - coarsest| / 4)``, the coarsest
grid at ``resolution / 2`` (about 1/8 of the cost of ``resolution``). ``|fine - coarse|`` bounds
the finer grid's error wherever that error at least halves when the step halves (it is about 3
times the error in a second-order regime, 15 times in a fourth-order one). Where ``|coarse -
coarsest|`` is more than 4 times larger, ``|fine - coarse|`` may be small by accident (the
errors of the two grids nearly equal, e.g. a pair not yet in its asymptotic regime), and the
part's estimate is ``|coarse - coarsest| / 4``: it bounds the finer grid's error wherever the
error shrinks at least 4 times per halving from the coarsest grid on (in a second-order regime
it is about 3 times that error; in a fourth-order regime, where it is the larger term, about 60
times: conservative). Per part, because the grid errors of the bias and of the label-noise
variance can be of similar size and opposite sign, so that their sum can nearly vanish on one
grid and not on the next. If the estimate exceeds ``grid_tol`` (default 1%) of the error at a
requested time, the resolution is doubled, up to ``max_resolution``, else ``RuntimeError``.
Results at the requested times are local 6-point Lagrange interpolations of grid values (error
``O(h^6)``, far below the grid error being estimated).

Bench problem (``N = 2000``, ``P = 500``, ``sigma2 = 0.01``, 300 times up to ``1000``): grids of
32, 56 and 104 nodes, relative error 3.6e-5 (estimate 3.3e-3), 20 ms on one core; before (``C``
piecewise linear, Richardson extrapolation across the grids ``(4 fine - coarse) / 3`` with 40,
72 and 135 nodes, 30 kernels) 7.1e-5 in 42 ms. Where the response remainder dominates (the
hard regimes below) that extrapolation was more accurate than the finer grid alone is now: e.g.
``alpha = 0.5``, ``N = P = 1000``, ``sigma2 = 0.1`` at ``t = 1e5``, the estimate accepts the
pair at resolutions 8 and 16 (1.5e-3, 4.9 s) where it accepted 4 and 8 before (4.3e-4, 1.7 s);
``max_resolution`` is 16 (it was 8) so that the finest grid allowed is still at least as fine
as before.

The compiled kernels (response march, operator build, the substitutions of the two-time march)
run in slices of bounded work dispatched from Python, so a Ctrl-C raises ``KeyboardInterrupt``
within a fraction of a second.

Accuracy is lowest where the renormalised ridge makes ``q = R_D(z -> 0) = gamma / kappa`` small
(weak weight decay with ``N > P`` at ``t >> 1/gamma``; gradient flow with ``N > P`` at very late
times): the memory term then nearly cancels the direct decay ``a_k G_k`` and quadrature errors
are amplified by about ``1 / q``. The error estimate sees this and refines the grid. At
``N = P`` without weight decay (``q -> 0`` like ``sqrt(z)``) the response itself is a few percent
off at ``t = 100 / (P lambda_1)`` on the default grid and the grid error is not yet second order
there: that is what the third grid of the estimate is for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.sparse.linalg import LinearOperator, gmres

from .model import ErrorCurve, Params, check_memory, time_domain_memory, validate_times
from .quadrature import mode_rule, rule_size_bound

__all__ = ["theory_time_domain", "solve_time_domain", "TimeDomainSolution", "time_grid",
           "responses", "spectral_gap", "grid_plan"]


# --------------------------------------------------------------------------------------------
# grid and interpolation
# --------------------------------------------------------------------------------------------

def time_grid(rate_max: float, t_end: float, resolution: float = 1.0) -> np.ndarray:
    """Nodes ``0, h0, 2 h0, ..`` up to ``h0 / delta``, then geometric (ratio ``1 + delta``) to ``t_end``.

    ``h0 = 0.1 / (resolution rate_max)``, ``delta = 0.12 / resolution``.
    """
    if not (resolution > 0 and math.isfinite(resolution)):
        raise ValueError(f"resolution must be a finite number > 0, got {resolution!r}")
    delta = 0.12 / resolution
    h0 = 0.1 / (resolution * max(rate_max, 1e-300))
    J = int(math.ceil(1.0 / delta))
    uniform = h0 * np.arange(J + 1)
    tau_u = uniform[-1]
    if t_end <= tau_u:
        m = int(math.ceil(t_end / h0))
        return h0 * np.arange(max(m, 4) + 1)
    count = int(math.ceil(math.log(t_end / tau_u) / math.log1p(delta)))
    geometric = tau_u * (1.0 + delta) ** np.arange(1, count + 1)
    return np.concatenate([uniform, geometric])


@njit(cache=True)
def _interval(grid, x, last):
    """Index ``q`` of the interval ``grid[q] <= x < grid[q+1]`` among nodes ``0..last``
    (bisection; clipped to ``0..last-1``, and ``0`` when ``last = 0``)."""
    lo, hi = 0, last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if grid[mid] <= x:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _known_part(weights, first, j, G, k, i):
    """``sum_c weights[j, c] G[k, first[j] + c]`` over the four stencil nodes, leaving out node
    ``i`` (the unknown of the current step)."""
    total = 0.0
    for c in range(4):
        wc = weights[j, c]
        idx = first[j] + c
        if wc != 0.0 and idx != i:
            total += wc * G[k, idx]
    return total


@njit(cache=True)
def _stencil(grid, x, nmax):
    """Cubic Lagrange stencil for the value at ``x`` from nodes ``0..nmax``: (first index, 4 weights).

    With fewer than 4 nodes available the remaining weights are zero.
    """
    q = _interval(grid, x, nmax)
    first = q - 1
    if first + 3 > nmax:
        first = nmax - 3
    if first < 0:
        first = 0
    w = np.zeros(4)
    npts = min(4, nmax - first + 1)
    for a in range(npts):
        xa = grid[first + a]
        v = 1.0
        for b in range(npts):
            if b != a:
                v *= (x - grid[first + b]) / (xa - grid[first + b])
        w[a] = v
    return first, w


@njit(cache=True)
def _linear_stencil(grid, x, nmax):
    """Linear interpolation stencil (first index, 4 weights of which 2 used) from nodes ``0..nmax``.

    Positive weights: used where the stencil touches the node being solved for, so that the
    marching recursion stays stable (cubic weights of alternating sign are not).
    """
    lo = _interval(grid, x, nmax)
    hi = min(lo + 1, nmax)
    w = np.zeros(4)
    if hi == lo:
        w[0] = 1.0
        return lo, w
    th = (x - grid[lo]) / (grid[hi] - grid[lo])
    w[0] = 1.0 - th
    w[1] = th
    return lo, w


@njit(cache=True, inline="always")
def _stencil4(grid, x, nmax):
    """:func:`_stencil` without allocation: ``(first, w0, w1, w2, w3)``."""
    q = _interval(grid, x, nmax)
    first = q - 1
    if first + 3 > nmax:
        first = nmax - 3
    if first < 0:
        first = 0
    npts = min(4, nmax - first + 1)
    w0 = w1 = w2 = w3 = 0.0
    for a_ in range(npts):
        xa = grid[first + a_]
        v = 1.0
        for b_ in range(npts):
            if b_ != a_:
                v *= (x - grid[first + b_]) / (xa - grid[first + b_])
        if a_ == 0:
            w0 = v
        elif a_ == 1:
            w1 = v
        elif a_ == 2:
            w2 = v
        else:
            w3 = v
    return first, w0, w1, w2, w3


@njit(cache=True)
def _phi_weights(z):
    """``phi1(z) = (1 - e^-z) / z`` and ``psi(z) = (1 - e^-z - z e^-z) / z^2`` (series near 0)."""
    if z < 0.5:
        phi1 = 0.0
        psi = 0.0
        term = 1.0  # (-z)^j / j!
        for j in range(14):
            phi1 += term / (j + 1)
            psi += term / (j + 2)
            term *= -z / (j + 1)
        return phi1, psi
    e = math.exp(-z)
    return (1.0 - e) / z, (1.0 - e - z * e) / (z * z)


# --------------------------------------------------------------------------------------------
# responses
# --------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy", fastmath={"nsz", "arcp", "contract", "reassoc"})
def _response_steps(grid, a, lam, gamma, J, G, m, u, Rv, start, stop):
    """Advance the march of ``G_k``, ``m_k = u * G_k`` and ``u`` (``R_D = delta - u``) on
    ``grid`` over the steps ``start <= i < stop`` (resumable: every node value lives in the
    arrays, so the march is dispatched in slices and a Ctrl-C is seen between them).

    ``J``: last index of the uniform part; ``a``: the rates ``lambda_k P`` of the modes (or mode
    nodes), ``lam``: their weights in the mode sums (``weight_k lambda_k``). ``G``, ``m``
    (``n x N``, time-major: the modes of one node are contiguous), ``u``, ``Rv`` (``n``) hold
    the nodes before ``start`` on entry.

    Every step is linear in the stored node values, so its quadrature (mode independent) is
    first folded into one weight per earlier node: ``M0_k = sum_l W_l G_k(t_l)``,
    ``alpha_k = sum_l V_l G_k(t_l)`` (``V`` has a few non-zeros near ``s = 0``), ``beta`` a
    number. The mode sums are then contiguous multiply-adds over the modes (vectorised), about
    ``i N`` per step instead of ``8 i N`` scattered loads.
    """
    N = a.size
    n = grid.size
    maxs = 4 * n + 8
    # per-step quadrature description: nodes s with weight w; small-s value from a stencil
    ws = np.zeros(maxs)
    sfirst = np.zeros(maxs, dtype=np.int64)
    sw = np.zeros((maxs, 4))
    lfirst = np.zeros(maxs, dtype=np.int64)
    lw = np.zeros((maxs, 4))
    P = np.zeros(N)
    Q = np.zeros(N)
    Mk = np.zeros(N)
    Ak = np.zeros(N)
    W = np.zeros(n)
    V = np.zeros(n)
    us_arr = np.zeros(maxs)
    ulk_arr = np.zeros(maxs)
    coef_arr = np.zeros(maxs)
    ck = gamma + a
    for i in range(start, stop):
        ti = grid[i]
        dt = ti - grid[i - 1]
        # ---- quadrature nodes for I(f, g)(t_i) = sum_s w_s [f(t_i - s) g(s) + (swap, geometric only)]
        if i <= J:
            # plain trapezoid on the uniform nodes: sum_j w_j f_{i-j} g_j
            cnt = i + 1
            for j in range(cnt):
                ws[j] = dt if (j > 0 and j < i) else 0.5 * dt
                sfirst[j] = j
                sw[j, 0] = 1.0
                sw[j, 1] = 0.0
                sw[j, 2] = 0.0
                sw[j, 3] = 0.0
                lfirst[j] = i - j
                lw[j, 0] = 1.0
                lw[j, 1] = 0.0
                lw[j, 2] = 0.0
                lw[j, 3] = 0.0
            split = False
        else:
            h = 0.5 * ti
            cnt = 0
            j = 0
            while grid[j] < h:
                cnt += 1
                j += 1
            # nodes 0..cnt-1 then the point h
            for j in range(cnt + 1):
                s = grid[j] if j < cnt else h
                if j == 0:
                    ws[j] = 0.5 * (grid[1] - grid[0]) if cnt > 1 else 0.5 * (h - grid[0])
                elif j < cnt:
                    right = grid[j + 1] if j + 1 < cnt else h
                    ws[j] = 0.5 * (right - grid[j - 1])
                else:
                    ws[j] = 0.5 * (h - grid[cnt - 1])
                if j < cnt:
                    sfirst[j] = j
                    sw[j, 0] = 1.0
                    sw[j, 1] = 0.0
                    sw[j, 2] = 0.0
                    sw[j, 3] = 0.0
                else:
                    f0, w0 = _stencil(grid, s, i - 1)
                    sfirst[j] = f0
                    for c in range(4):
                        sw[j, c] = w0[c]
                if ti - s > grid[i - 1]:
                    # linear inside the newest interval (positive weights: stable)
                    lo = _interval(grid, ti - s, i)
                    hi = min(lo + 1, i)
                    lfirst[j] = lo
                    lw[j, 2] = 0.0
                    lw[j, 3] = 0.0
                    if hi == lo:
                        lw[j, 0] = 1.0
                        lw[j, 1] = 0.0
                    else:
                        th = (ti - s - grid[lo]) / (grid[hi] - grid[lo])
                        lw[j, 0] = 1.0 - th
                        lw[j, 1] = th
                else:
                    f1, c0, c1, c2, c3 = _stencil4(grid, ti - s, i - 1)
                    lfirst[j] = f1
                    lw[j, 0] = c0
                    lw[j, 1] = c1
                    lw[j, 2] = c2
                    lw[j, 3] = c3
            cnt += 1
            split = True
        # ---- u-side quantities (mode independent)
        # for each node: u at small s, u at lag (known part, coefficient of u_i), Rv likewise
        # I(Rv, u) = sum w [Rv(t-s) u(s) + u(t-s) Rv(s)]  (uniform: only the first product)
        I0 = 0.0
        c1 = 0.0  # coefficient of Rv_i
        c2 = 0.0  # coefficient of u_i
        for j in range(cnt):
            us = 0.0
            Rs = 0.0
            for c in range(4):
                idx = sfirst[j] + c
                wc = sw[j, c]
                if wc != 0.0:
                    us += wc * u[idx]
                    Rs += wc * Rv[idx]
            ulk = 0.0
            Rlk = 0.0
            coef = 0.0
            for c in range(4):
                idx = lfirst[j] + c
                wc = lw[j, c]
                if wc != 0.0:
                    if idx == i:
                        coef += wc
                    else:
                        ulk += wc * u[idx]
                        Rlk += wc * Rv[idx]
            us_arr[j] = us
            ulk_arr[j] = ulk
            coef_arr[j] = coef
            w = ws[j]
            if split:
                I0 += w * (Rlk * us + ulk * Rs)
                c1 += w * coef * us
                c2 += w * coef * Rs
            else:
                # uniform trapezoid: f = Rv at lag, g = u at s; node s=t_i has g = u_i unknown
                if sfirst[j] == i:
                    c2 += w * Rlk  # Rv(0) * u_i   (lag 0 is a known node)
                elif coef != 0.0:
                    c1 += w * coef * us
                else:
                    I0 += w * Rlk * us
        # ---- the modes' quadrature folded into node weights (known nodes 0..i-1):
        # M0_k = sum_l W_l G_k(t_l), alpha_k = sum_l V_l G_k(t_l), beta the coefficient of G_i
        for l in range(i):
            W[l] = 0.0
            V[l] = 0.0
        beta = 0.0
        for j in range(cnt):
            w = ws[j]
            coef = coef_arr[j]
            if split:
                # m = sum w [u(t-s) G(s) + G(t-s) u(s)]
                ws_ = w * ulk_arr[j]
                wl_ = w * us_arr[j]
                wa_ = w * coef
                for c in range(4):
                    idx = sfirst[j] + c
                    wc = sw[j, c]
                    if wc != 0.0 and idx != i:
                        W[idx] += ws_ * wc
                        V[idx] += wa_ * wc
                    idx = lfirst[j] + c
                    wc = lw[j, c]
                    if wc != 0.0 and idx != i:
                        W[idx] += wl_ * wc
                beta += wa_ * us_arr[j]
            else:
                # m = sum w u(t-s) G(s)
                if sfirst[j] == i:
                    beta += w * ulk_arr[j]  # u(0) * G_i
                else:
                    target = coef != 0.0
                    for c in range(4):
                        idx = sfirst[j] + c
                        wc = sw[j, c]
                        if wc != 0.0 and idx != i:
                            if target:
                                V[idx] += w * coef * wc
                            else:
                                W[idx] += w * ulk_arr[j] * wc
        for k in range(N):
            Mk[k] = 0.0
            Ak[k] = 0.0
        for l in range(i):
            wl = W[l]
            vl = V[l]
            row = G[l]
            if vl != 0.0:
                for k in range(N):
                    g = row[k]
                    Mk[k] += wl * g
                    Ak[k] += vl * g
            elif wl != 0.0:
                for k in range(N):
                    Mk[k] += wl * row[k]
        # ---- modes: G_i = P_k + Q_k u_i (exponential integrator, m linear across the step)
        Pt = 0.0
        Qt = 0.0
        Gp = G[i - 1]
        mp = m[i - 1]
        for k in range(N):
            z = ck[k] * dt
            E = math.exp(-z)
            phi1, psi = _phi_weights(z)
            ak = a[k]
            w0 = dt * psi
            w1 = dt * (phi1 - psi)
            denom = 1.0 - ak * w1 * beta
            P[k] = (E * Gp[k] + ak * w0 * mp[k] + ak * w1 * Mk[k]) / denom
            Q[k] = ak * w1 * Ak[k] / denom
            Pt += lam[k] * P[k]
            Qt += lam[k] * Q[k]
        ui = ((1.0 - c1) * Pt - I0) / (1.0 + c2 - (1.0 - c1) * Qt)
        u[i] = ui
        Rsum = 0.0
        Gi = G[i]
        mi = m[i]
        for k in range(N):
            g = P[k] + Q[k] * ui
            Gi[k] = g
            mi[k] = Mk[k] + Ak[k] * ui + beta * g
            Rsum += lam[k] * g
        Rv[i] = Rsum


#: Work per call of a compiled kernel (multiply-adds): about 10-30 ms on this machine, so that a
#: Ctrl-C (handled by Python between calls) raises ``KeyboardInterrupt`` within ~0.1 s.
_CHUNK = 20_000_000


def _modes(params: Params, compress: bool = True):
    """Nodes of the mode sums: ``(lam, weight, power)`` with ``sum_k f(lambda_k) ~= sum_j
    weight_j f(lam_j)`` and ``sum_k p_k f(lambda_k) ~= sum_j power_j f(lam_j)``
    (:func:`rfdmft.quadrature.mode_rule`; with ``compress=False`` the modes themselves:
    ``lam = eigenvalues[:N]``, ``weight = 1``, ``power = powers[:N]``)."""
    if compress:
        rule = mode_rule(params)
        return (np.ascontiguousarray(rule.lam, dtype=float),
                np.ascontiguousarray(rule.weight, dtype=float),
                np.ascontiguousarray(rule.power, dtype=float))
    N = params.N
    return (np.ascontiguousarray(params.eigenvalues[:N], dtype=float), np.ones(N),
            np.ascontiguousarray(params.powers[:N], dtype=float))


def _march_responses(grid: np.ndarray, lam: np.ndarray, weight: np.ndarray, P: int,
                     gamma: float):
    """``G (n x N)``, ``m (n x N)``, ``u``, ``Rv`` on ``grid`` for mode nodes ``lam`` with
    weights ``weight``; the compiled march runs in slices of about ``_CHUNK`` multiply-adds."""
    grid = np.asarray(grid, dtype=float)
    a = np.ascontiguousarray(lam * P, dtype=float)
    wlam = np.ascontiguousarray(weight * lam, dtype=float)
    n, N = grid.size, a.size
    steps = np.diff(grid)
    J = int(np.searchsorted(steps, steps[0] * (1 + 1e-6), side="right"))
    G = np.zeros((n, N))
    m = np.zeros((n, N))
    u = np.zeros(n)
    Rv = np.zeros(n)
    G[0, :] = 1.0
    Rv[0] = wlam.sum()
    u[0] = Rv[0]
    start = 1
    while start < n:
        # step i costs about (i + 20) N multiply-adds
        stop = start + 1
        work = (start + 20) * N
        while stop < n and work < _CHUNK:
            work += (stop + 20) * N
            stop += 1
        _response_steps(grid, a, wlam, float(gamma), J, G, m, u, Rv, start, stop)
        start = stop
    return G, m, u, Rv


def _trapezoid_cumulative(grid: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Cumulative trapezoidal integral along the last axis (value 0 at the first node)."""
    d = np.diff(grid)
    out = np.zeros_like(f)
    out[..., 1:] = np.cumsum(0.5 * d * (f[..., 1:] + f[..., :-1]), axis=-1)
    return out


@njit(cache=True)
def _trapezoid_rows(grid, f):
    """Cumulative trapezoidal integral over the rows of a time-major ``f`` (``n x N``)."""
    n, N = f.shape
    out = np.zeros((n, N))
    for i in range(1, n):
        h = 0.5 * (grid[i] - grid[i - 1])
        prev = out[i - 1]
        a = f[i - 1]
        b = f[i]
        o = out[i]
        for k in range(N):
            o[k] = prev[k] + h * (a[k] + b[k])
    return out


def _responses_time_major(params: Params, grid: np.ndarray, compress: bool = False):
    lam, weight, _ = _modes(params, compress)
    return _march_responses(grid, lam, weight, params.P, params.gamma)


def responses(params: Params, grid: np.ndarray):
    """Mode responses ``G_k(tau)``, ``Gh_k = (R_D * G_k)(tau)``, resolvent ``u`` and ``R_v`` on ``grid``."""
    G, m, u, Rv = _responses_time_major(params, grid)
    return G.T, (G - m).T, u, Rv


# --------------------------------------------------------------------------------------------
# two-time operators
# --------------------------------------------------------------------------------------------

_GAUSS_X = np.array([-math.sqrt(0.6), 0.0, math.sqrt(0.6)])
_GAUSS_W = np.array([5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0])


@njit(cache=True, inline="always")
def _stencil_at(grid, x, first, nmax):
    """Lagrange weights at ``x`` of the (up to) four nodes ``first..`` among ``0..nmax``."""
    npts = min(4, nmax - first + 1)
    w0 = w1 = w2 = w3 = 0.0
    for a_ in range(npts):
        xa = grid[first + a_]
        v = 1.0
        for b_ in range(npts):
            if b_ != a_:
                v *= (x - grid[first + b_]) / (xa - grid[first + b_])
        if a_ == 0:
            w0 = v
        elif a_ == 1:
            w1 = v
        elif a_ == 2:
            w2 = v
        else:
            w3 = v
    return w0, w1, w2, w3


@njit(cache=True, inline="always")
def _cubic_at(grid, den, first, x):
    """Lagrange weights at ``x`` of the four nodes ``first..first+3`` (``den[first]``: the
    inverse denominators, :func:`_cubic_denominators`)."""
    d0 = x - grid[first]
    d1 = x - grid[first + 1]
    d2 = x - grid[first + 2]
    d3 = x - grid[first + 3]
    e = den[first]
    return d1 * d2 * d3 * e[0], d0 * d2 * d3 * e[1], d0 * d1 * d3 * e[2], d0 * d1 * d2 * e[3]


@njit(cache=True)
def _cubic_denominators(grid):
    """``den[f, a] = 1 / prod_{b != a} (grid[f + a] - grid[f + b])`` (``a, b < 4``)."""
    n = grid.size
    den = np.zeros((max(n - 3, 1), 4))
    for f in range(n - 3):
        for a_ in range(4):
            v = 1.0
            for b_ in range(4):
                if b_ != a_:
                    v *= grid[f + a_] - grid[f + b_]
            den[f, a_] = 1.0 / v
    return den


@njit(cache=True, fastmath={"nsz", "arcp", "contract", "reassoc"})
def _operator_rows(grid, kern, gx, gw, ops, start, stop):
    """Rows ``start <= i < stop`` of ``ops[i, j, m] = int_0^{t_i} psi_m(t_i - s) phi_j(s) ds``,
    ``phi_j`` the cardinal functions of the piecewise-cubic interpolant of ``C`` in ``s`` on
    ``grid`` (``kern[tau, m] = psi_m`` at the nodes, node-major, so that the loops over the
    kernels are contiguous and vectorise).

    On each interval ``[grid[j], grid[j+1]]`` of ``[0, t_i]`` ``C`` is the Lagrange cubic
    through the nodes ``j-1..j+2``, shifted to stay inside ``0..i`` (one-sided at both ends):
    only nodes ``<= i`` enter, so the operators stay lower triangular and the causal march
    (:func:`_march`) applies unchanged. (Rows ``i < 3``, with fewer than four nodes, use the
    interpolant of lower degree through the nodes there are.) ``[0, t_i]`` is cut at the grid
    nodes and at the points ``t_i - tau_q``; on each piece 3-point Gauss with the kernels
    interpolated (cubic Lagrange) at the lag. The pieces are visited in increasing ``s``: a
    piece lies in the ``s`` interval ``a_idx - 1`` and its lag in the interval ``q``, so no
    search is needed, and the Lagrange weights use precomputed inverse denominators.

    (Piecewise linear ``C``, hat functions, made the two-time part second order: -2.7e-4 and
    -1.4e-3 relative on the bench problem at resolutions 1 and 0.5, the largest part of the
    grid error once the responses were extrapolated; piecewise cubic makes it fourth order.)
    """
    n, r = kern.shape
    den = _cubic_denominators(grid)
    for i in range(max(start, 1), stop):
        ti = grid[i]
        prev = 0.0
        a_idx = 1
        q = i - 1
        while True:
            s_node = grid[a_idx] if a_idx <= i else 1e308
            s_lag = ti - grid[q] if q >= 0 else 1e308
            nxt = s_node if s_node <= s_lag else s_lag
            if nxt >= 1e308:
                break
            if nxt - prev > 1e-14 * ti:
                mid = 0.5 * (prev + nxt)
                half = 0.5 * (nxt - prev)
                j = a_idx - 1
                fs = j - 1
                if fs + 3 > i:
                    fs = i - 3
                if fs < 0:
                    fs = 0
                first = q - 1
                if first + 3 > i:
                    first = i - 3
                if first < 0:
                    first = 0
                # the three Gauss points folded into 4 x 4 coefficients (s stencil x lag stencil)
                c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = 0.0
                c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = 0.0
                for g in range(3):
                    s = mid + half * gx[g]
                    wq = half * gw[g]
                    if i >= 3:
                        w0, w1, w2, w3 = _cubic_at(grid, den, first, ti - s)
                        v0, v1, v2, v3 = _cubic_at(grid, den, fs, s)
                    else:
                        w0, w1, w2, w3 = _stencil_at(grid, ti - s, first, i)
                        v0, v1, v2, v3 = _stencil_at(grid, s, fs, i)
                    v0 *= wq
                    v1 *= wq
                    v2 *= wq
                    v3 *= wq
                    c00 += v0 * w0
                    c01 += v0 * w1
                    c02 += v0 * w2
                    c03 += v0 * w3
                    c10 += v1 * w0
                    c11 += v1 * w1
                    c12 += v1 * w2
                    c13 += v1 * w3
                    c20 += v2 * w0
                    c21 += v2 * w1
                    c22 += v2 * w2
                    c23 += v2 * w3
                    c30 += v3 * w0
                    c31 += v3 * w1
                    c32 += v3 * w2
                    c33 += v3 * w3
                k0 = kern[first]
                k1 = kern[first + 1]
                k2 = kern[first + 2]
                k3 = kern[first + 3]
                if i >= 3:
                    row0 = ops[i, fs]
                    row1 = ops[i, fs + 1]
                    row2 = ops[i, fs + 2]
                    row3 = ops[i, fs + 3]
                    for mk in range(r):
                        x0 = k0[mk]
                        x1 = k1[mk]
                        x2 = k2[mk]
                        x3 = k3[mk]
                        row0[mk] += (c00 * x0 + c01 * x1) + (c02 * x2 + c03 * x3)
                        row1[mk] += (c10 * x0 + c11 * x1) + (c12 * x2 + c13 * x3)
                        row2[mk] += (c20 * x0 + c21 * x1) + (c22 * x2 + c23 * x3)
                        row3[mk] += (c30 * x0 + c31 * x1) + (c32 * x2 + c33 * x3)
                else:
                    # fewer than four nodes: the missing weights are zero
                    cs = ((c00, c01, c02, c03), (c10, c11, c12, c13), (c20, c21, c22, c23))
                    for a_ in range(i + 1):
                        row = ops[i, fs + a_]
                        d0, d1, d2, d3 = cs[a_]
                        for mk in range(r):
                            row[mk] += (d0 * k0[mk] + d1 * k1[mk]) + (d2 * k2[mk] + d3 * k3[mk])
            prev = nxt
            if s_node <= s_lag:
                a_idx += 1
                if s_lag == s_node:
                    q -= 1
            else:
                q -= 1


def _operators(grid: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """``Lr[i, j, m] = (Op_m)[i, j]`` (node-major layout), built in slices of rows."""
    r, n = psi.shape
    grid = np.asarray(grid, dtype=float)
    kern = np.ascontiguousarray(psi.T)
    ops = np.zeros((n, n, r))
    start = 1
    while start < n:
        stop = start + 1
        work = 40 * r * start
        while stop < n and work < _CHUNK:
            work += 40 * r * stop
            stop += 1
        _operator_rows(grid, kern, _GAUSS_X, _GAUSS_W, ops, start, stop)
        start = stop
    return ops


def _conv_operators(grid, kernels, gx=_GAUSS_X, gw=_GAUSS_W):
    """``Op[m, i, j] = int_0^{t_i} psi_m(t_i - s) phi_j(s) ds`` (``r x n x n``; see
    :func:`_operator_rows`)."""
    return np.ascontiguousarray(_operators(grid, np.asarray(kernels, dtype=float))
                                .transpose(2, 0, 1))


def _compress(grid: np.ndarray, Gh: np.ndarray, c: np.ndarray, svd_tol: float):
    """Kernels ``psi_m`` and signs ``s_m`` with ``sum_k c_k Gh_k(x) Gh_k(y) ~= sum_m s_m
    psi_m(x) psi_m(y)`` (``Gh``: modes x times).

    Weighted (trapezoid ``wq`` in time) SVD ``sqrt|c| Gh sqrt(wq) = U S V^T``; with weights of
    both signs (a quadrature rule over the modes may have a few negative ones) the signed
    ``k x k`` core ``S U^T diag(sign c) U S`` is diagonalised. With fewer times than modes the
    same decomposition comes from the eigenvalues ``+-s^2`` of the signed Gram matrix
    ``(sqrt|c| Gh sqrt(wq))^T diag(sign c) (sqrt|c| Gh sqrt(wq))`` (cheaper). Kept: the terms
    above ``svd_tol`` times the largest (in singular-value units). Returns ``(psi, signs,
    relative cut)``."""
    d = np.diff(grid)
    wq = np.zeros(grid.size)
    wq[:-1] += 0.5 * d
    wq[1:] += 0.5 * d
    sq = np.sqrt(wq)
    A = (np.sqrt(np.abs(c))[:, None] * Gh) * sq[None, :]
    if A.shape[1] <= A.shape[0]:
        # fewer times than modes: the signed Gram matrix A^T diag(sign c) A (times x times) is
        # the weighted kernel itself; its eigen-decomposition is the same compression, about
        # 6x cheaper than the SVD at 130 times x 220 mode nodes. Round-off 1e-16 of its largest
        # eigenvalue, i.e. singular values resolved down to 1e-8 relative (svd_tol >= 1e-8:
        # below that the kept terms only add round-off to the reconstruction).
        e, Q = np.linalg.eigh((A.T * np.sign(c)[None, :]) @ A)
        order = np.argsort(-np.abs(e))
        e, Q = e[order], Q[:, order]
        values, basis, signs = np.sqrt(np.abs(e)), Q.T, np.sign(e)
    elif np.all(c >= 0):
        u_, s, vt = np.linalg.svd(A, full_matrices=False)
        values, basis, signs = s, vt, np.ones(s.size)
    else:
        u_, s, vt = np.linalg.svd(A, full_matrices=False)
        core = (s[:, None] * (u_.T * np.sign(c)[None, :]) @ u_) * s[None, :]
        e, Q = np.linalg.eigh(0.5 * (core + core.T))
        order = np.argsort(-np.abs(e))
        e, Q = e[order], Q[:, order]
        values, basis, signs = np.sqrt(np.abs(e)), Q.T @ vt, np.sign(e)
    if not values[0] > 0:
        return np.zeros((1, grid.size)), np.ones(1), 0.0
    keep = max(int(np.sum(values > svd_tol * values[0])), 1)
    psi = (values[:keep, None] * basis[:keep]) / sq[None, :]
    cut = float(values[keep] / values[0]) if keep < values.size else 0.0
    return psi, np.where(signs[:keep] < 0, -1.0, 1.0), cut


class _Operators:
    """The convolution operators ``Op_m`` as ``right[i, j, m] = Op_m[i, j]`` (node-major: the
    kernels of one entry are contiguous) with the signs ``s_m`` of the compression, so that
    ``T(C) = sum_m s_m Op_m C Op_m^T``."""

    def __init__(self, right: np.ndarray, signs: np.ndarray):
        self.right = right
        self.signs = np.ascontiguousarray(signs, dtype=float)
        self.n, _, self.r = right.shape

    def __call__(self, C: np.ndarray) -> np.ndarray:
        """``T(C)`` (dense products over the kernels; for the refinement only)."""
        out = np.zeros((self.n, self.n))
        for mk in range(self.r):
            L = np.ascontiguousarray(self.right[:, :, mk])
            out += self.signs[mk] * (L @ C @ L.T)
        return out

    def probe(self, Cs, Fs, probes: int = 8) -> list:
        """``|| C - F - T(C) ||_F`` for each pair of ``Cs, Fs``, estimated from ``probes``
        Gaussian vectors ``x`` (fixed seed): ``E ||R x||^2 = probes ||R||_F^2``, and
        ``||R||_F >= max |R_ij|``. Costs ``O(r n^2 probes)``, not the ``O(r n^3)`` of ``T(C)``."""
        n, r = self.n, self.r
        X = np.random.default_rng(12345).standard_normal((n, probes))
        flat = self.right.reshape(n, n * r)
        # Op_m^T x at (b, p, m) (the product in this orientation avoids a slow BLAS path)
        V = np.ascontiguousarray((X.T @ flat).reshape(probes, n, r).transpose(1, 0, 2))
        out = []
        for C, F in zip(Cs, Fs):
            W = (C @ V.reshape(n, probes * r)).reshape(n, probes, r) * self.signs
            W = np.ascontiguousarray(W.transpose(0, 2, 1)).reshape(n * r, probes)
            R = C @ X - F @ X - flat @ W
            out.append(float(math.sqrt(np.sum(R * R) / probes)))
        return out


@njit(cache=True, inline="always", fastmath={"nsz", "arcp", "contract", "reassoc"})
def _solve_entry(Lr, sg, Pm, C, k, i0, b0, i, j, tmp):
    """One entry ``C[i, j]`` (and its mirror) of the block solves below, from ``k`` (the part of
    ``K`` for this entry) and the columns ``b0 <= b < j`` of this block already solved:
    completes ``P_m[i, j]`` with the rows ``a`` in ``[i0, i)``, solves for ``C[i, j]`` (which
    enters ``P_m[i, j]`` through ``s_m Op_m[i, i]``) and adds that term to ``P_m[i, j]``."""
    r = sg.size
    Li = Lr[i]
    Pi = Pm[i]
    Lj = Lr[j]
    dii = Li[i]
    djj = Lj[j]
    for mk in range(r):
        tmp[mk] = 0.0
    for a_ in range(i0, i):
        x = C[a_, j]
        La = Li[a_]
        for mk in range(r):
            tmp[mk] += La[mk] * x
    Pij = Pi[j]
    for mk in range(r):
        Pij[mk] += sg[mk] * tmp[mk]
    num = k
    for b in range(b0, j):
        Pb = Pi[b]
        Lb = Lj[b]
        sm = 0.0
        for mk in range(r):
            sm += Pb[mk] * Lb[mk]
        num += sm
    den = 1.0
    for mk in range(r):
        num += Pij[mk] * djj[mk]
        den -= sg[mk] * dii[mk] * djj[mk]
    cij = num / den
    C[i, j] = cij
    C[j, i] = cij
    for mk in range(r):
        Pij[mk] += sg[mk] * dii[mk] * cij


@njit(cache=True, fastmath={"nsz", "arcp", "contract", "reassoc"})
def _solve_block_off(Lr, sg, Pm, C, K, i0, i1, j0, j1):
    """Entries ``C[i, j]``, ``i0 <= i < i1``, ``j0 <= j < j1 <= i0`` (and their mirror), given
    ``K = F + sum_m sum_{b < j0} P_m[i, b] Op_m[j, b]``; keeps ``Pm[i, b, m] = P_m[i, b] =
    sum_{a <= i} s_m Op_m[i, a] C[a, b]`` up to date (on entry it holds the part ``a < i0``).

    Column by column, then row by row: ``C[i, j] = K + sum_m sum_{j0 <= b <= j} P_m[i, b]
    Op_m[j, b]``; the unknown ``C[i, j]`` enters ``P_m[i, j]`` through ``s_m Op_m[i, i]``."""
    tmp = np.empty(sg.size)
    for j in range(j0, j1):
        for i in range(i0, i1):
            _solve_entry(Lr, sg, Pm, C, K[i - i0, j - j0], i0, j0, i, j, tmp)


@njit(cache=True, fastmath={"nsz", "arcp", "contract", "reassoc"})
def _solve_block_diag(Lr, sg, Pm, C, K, i0, i1):
    """The diagonal block ``C[i, j]``, ``i0 <= j <= i < i1``, given ``K = F + sum_m sum_{b <
    i0} P_m[i, b] Op_m[j, b]`` and ``Pm[i, b]`` (``b`` in the block) holding the part ``a <
    i0`` of ``P_m[i, b]``. Row by row, then column by column (see :func:`_solve_block_off`)."""
    tmp = np.empty(sg.size)
    for i in range(i0, i1):
        for j in range(i0, i + 1):
            _solve_entry(Lr, sg, Pm, C, K[i - i0, j - i0], i0, i0, i, j, tmp)


def _march(ops: _Operators, F: np.ndarray, block: int = 16, work=None) -> np.ndarray:
    """Solve ``C = F + sum_m s_m Op_m C Op_m^T`` (``Op_m`` lower triangular, ``F`` symmetric)
    exactly by causal marching over blocks of ``block`` rows.

    With ``P_m = s_m Op_m C`` the equation reads ``C[i, j] = F[i, j] + sum_m sum_{b <= j}
    P_m[i, b] Op_m[j, b]`` and row ``i`` of ``P_m`` only needs rows ``a <= i`` of ``C``. For a
    block ``I`` of rows: (1) ``P[i, :i0, :] = C[:i0, :i0] Op[i, :i0, :]`` (batched matrix
    products over the rows, all ``m`` at once); (2) for each block ``J`` of earlier columns,
    ``K = F[I, J] + P[I, :j0] . Op[J, :j0]`` (one product; the sum over ``b`` and ``m`` is its
    inner dimension), then the ``|I| x |J|`` entries by substitution
    (:func:`_solve_block_off`), which also completes ``P[I, J]``; (3) the diagonal block
    likewise. About ``r n^3`` multiply-adds, nearly all in BLAS matrix products; every call
    does at most about ``_CHUNK`` multiply-adds (or one row's product), so a Ctrl-C is seen
    between them. ``work``: an ``n x n x r`` array to use for ``P`` (its content is
    ignored)."""
    Lr, sg = ops.right, ops.signs
    n, r = ops.n, ops.r
    F = np.ascontiguousarray(F, dtype=float)
    C = np.zeros((n, n))
    Pm = np.empty((n, n, r)) if work is None else work
    signed = bool(np.any(sg < 0))
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        nb = i1 - i0
        if i0 > 0:
            # P[i, :i0] = C[:i0, :i0] Op[i, :i0] for the rows of the block, several rows per
            # (batched) product, at most about _CHUNK multiply-adds per call (Ctrl-C)
            step = max(1, _CHUNK // (i0 * i0 * r))
            for a0 in range(i0, i1, step):
                a1 = min(a0 + step, i1)
                np.matmul(C[:i0, :i0], Lr[a0:a1, :i0, :], out=Pm[a0:a1, :i0, :])
            if signed:
                Pm[i0:i1, :i0, :] *= sg
            for j0 in range(0, i0, block):
                j1 = min(j0 + block, i0)
                K = F[i0:i1, j0:j1].copy()
                if j0 > 0:
                    K += Pm[i0:i1, :j0, :].reshape(nb, j0 * r) @ \
                        Lr[j0:j1, :j0, :].reshape(j1 - j0, j0 * r).T
                _solve_block_off(Lr, sg, Pm, C, K, i0, i1, j0, j1)
            np.matmul(C[i0:i1, :i0], Lr[i0:i1, :i0, :], out=Pm[i0:i1, i0:i1, :])
            if signed:
                Pm[i0:i1, i0:i1, :] *= sg
            K = F[i0:i1, i0:i1] + Pm[i0:i1, :i0, :].reshape(nb, i0 * r) @ \
                Lr[i0:i1, :i0, :].reshape(nb, i0 * r).T
        else:
            Pm[i0:i1, i0:i1, :] = 0.0
            K = F[i0:i1, i0:i1].copy()
        _solve_block_diag(Lr, sg, Pm, C, np.ascontiguousarray(K), i0, i1)
    return C


def _march_two_time(ops, F, block=16, signs=None):
    """Solve ``C = F + sum_m s_m Op_m C Op_m^T`` for ``ops`` given as ``r x n x n`` (signs
    ``s_m``, default 1) by :func:`_march`."""
    ops = np.asarray(ops, dtype=float)
    r = ops.shape[0]
    signs = np.ones(r) if signs is None else np.asarray(signs, dtype=float)
    return _march(_Operators(np.ascontiguousarray(ops.transpose(1, 2, 0)), signs), F, block)


def _solve_two_time(ops: _Operators, Fs, tol: float):
    """Solve ``C = F + T(C)`` for each source in ``Fs``: causal marching, residual checked,
    GMRES refinement if needed.

    Returns the solutions and the largest relative residual ``||C - F - T(C)||_F / max|F|``
    (estimated with random probes, :meth:`_Operators.probe`; it bounds the largest entry of the
    residual)."""
    n = ops.n
    work = np.empty((n, n, ops.r))
    scales = [float(np.abs(F).max()) for F in Fs]
    scaled = [F / s if s > 0 else F for F, s in zip(Fs, scales)]
    Cs = [_march(ops, F, work=work) if s > 0 else np.zeros((n, n))
          for F, s in zip(scaled, scales)]
    del work
    residuals = ops.probe(Cs, scaled)
    for k, (C, F) in enumerate(zip(Cs, scaled)):
        if not np.all(np.isfinite(C)):
            residuals[k] = math.inf
        if residuals[k] <= tol:
            continue

        def matvec(x):
            X = x.reshape(n, n)
            return (X - ops(X)).ravel()

        op = LinearOperator((n * n, n * n), matvec=matvec, dtype=float)
        x0 = C.ravel() if np.all(np.isfinite(C)) else None
        x, _ = gmres(op, F.ravel(), x0=x0, rtol=0.1 * tol, atol=0.0, restart=40, maxiter=5)
        Cs[k] = x.reshape(n, n)
        residuals[k] = float(np.abs(Cs[k] - F - ops(Cs[k])).max())
    return [C * s for C, s in zip(Cs, scales)], max(residuals)


# --------------------------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimeDomainSolution:
    """Result of :func:`solve_time_domain`.

    ``curve``: the error curve (the finer grid's; with one grid, that grid's);
    ``error_estimate``: conservative estimate of the absolute grid error of ``curve.error``, the
    sum over its three parts of ``max(|fine - coarse|, |coarse - coarsest| / 4)`` with a third,
    coarser grid (``None`` with one grid; see the module docstring); ``coarse``/``fine``: the
    curves at the two resolutions; ``grid_points`` per resolution; ``rank`` of the compressed
    feedback; ``residual`` the largest relative residual of the two-time solves (``||R||_F /
    max|F|``, estimated from random probes).
    """

    curve: ErrorCurve
    error_estimate: np.ndarray | None
    coarse: ErrorCurve | None
    fine: ErrorCurve
    grid_points: tuple
    rank: int
    residual: float


def _lagrange(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lagrange weights ``w[i, a]`` at ``x[i]`` of the nodes ``nodes[i, :]``."""
    p = nodes.shape[1]
    w = np.ones(nodes.shape)
    for a_ in range(p):
        for b_ in range(p):
            if b_ != a_:
                w[:, a_] *= (x - nodes[:, b_]) / (nodes[:, a_] - nodes[:, b_])
    return w


#: Nodes of the local Lagrange interpolation from the grid to the requested times. Six (error
#: ``O(h^6)``): the interpolation error must stay far below the second-order error of the
#: scheme, which the Richardson pair estimates; a cubic's ``O(h^4)`` error (``~1e-5`` relative
#: on the default grids) was comparable to it once the responses were extrapolated.
_INTERP_POINTS = 6


def _interp(grid: np.ndarray, values: np.ndarray, t: np.ndarray, power: int = 0) -> np.ndarray:
    """Values at times ``t`` by local Lagrange interpolation (``_INTERP_POINTS`` nodes around
    the interval of each time) on the grid nodes.

    ``power > 0``: the values vanish like ``t**power`` at ``t = 0`` (the label-noise variance
    like ``t^2``, the integral of the response like ``t``). Below the second node they are then
    interpolated as ``t**power`` times the cubic through ``values / grid**power`` at nodes 1..4:
    the node values carry a relative error of order ``(h0 rate)^2`` that varies from node to
    node, and a plain interpolant through node 0 turns that variation into a spurious term
    linear in ``t`` which dominates ``t**power`` as ``t -> 0`` (a negative label variance at
    ``t = 1e-8``).
    """
    t = np.asarray(t, dtype=float)
    n = grid.size
    p = min(_INTERP_POINTS, n)
    q = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, max(n - 2, 0))
    first = np.clip(q - (p // 2 - 1), 0, n - p)
    idx = first[:, None] + np.arange(p)[None, :]
    out = np.sum(_lagrange(grid[idx], t) * values[idx], axis=1)
    if power > 0 and n >= 5:
        small = (t < grid[2]) & (t > 0)
        if small.any():
            x = t[small]
            nodes = grid[1:5]
            w = _lagrange(np.broadcast_to(nodes, (x.size, 4)), x)
            out[small] = (w @ (values[1:5] / nodes**power)) * x**power
    out[t == 0.0] = values[0]
    return out


def _refine(grid: np.ndarray, rho: int) -> np.ndarray:
    """``grid`` with every interval cut into ``rho`` equal pieces (node ``i`` of ``grid`` is node
    ``rho i`` of the result)."""
    if rho == 1:
        return grid
    d = np.diff(grid)
    inner = grid[:-1, None] + d[:, None] * (np.arange(rho) / rho)[None, :]
    return np.concatenate([inner.ravel(), grid[-1:]])


def _response_parts(params: Params, grid: np.ndarray, n2: int, lam, weight):
    """The one-time inputs of the two-time solve at the nodes of ``grid``: ``B_k``, ``Gh_k`` and
    ``Gh1_k = int_0^t Gh_k`` on the first ``n2`` nodes (time-major, ``n2 x nodes``) and
    ``R1 = int_0^t R_v`` on all nodes (``None`` when ``T = 0``).

    The responses are marched on ``grid`` and on ``grid`` with every interval halved (same
    nodes), integrated on their own grids, and Richardson-extrapolated at the common nodes
    (``(4 half - full) / 3``): the march is second order, so this removes its leading error
    (the largest part of the second-order error of the whole scheme), at about 5/4 of the
    cost of the march at the finer grid, which is small next to the two-time solve. What is
    left is a remainder of order about 2 (the raw march's error is not a clean ``h^2`` series:
    successive differences shrink by 3.8-5.5 rather than 4), which is most of the grid error of
    the solver's finer grid (the two-time part being fourth order): on the bench problem, at
    the grid of 135 nodes, +8e-5 relative in the label-noise variance against the two-time
    part's -6e-5."""
    out = []
    if params.T == 0:         # int R_v (to 2 t) not needed: the responses only up to node n2
        grid = grid[:n2]
    for rho in (1, 2):
        g = _refine(grid, rho)
        G, m, u, Rv = _march_responses(g, lam, weight, params.P, params.gamma)  # n x nodes
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(u))):
            raise RuntimeError("time-domain DMFT: the response functions are not finite (the "
                               "marching scheme is unstable at these settings); no numbers "
                               "returned")
        R1 = _trapezoid_cumulative(g, Rv)[::rho] if params.T > 0 else None
        last = rho * (n2 - 1) + 1
        g2 = g[:last]
        G, m = G[:last], m[:last]
        Gh = G - m
        del m
        B = G + params.gamma * _integrate(g2, G) if params.gamma else G
        del G
        Gh1 = _integrate(g2, Gh) if params.sigma2 + params.tail > 0 else None
        out.append((B[::rho], Gh[::rho], None if Gh1 is None else Gh1[::rho], R1))
    full, half = out

    def extrapolate(a, b):
        return None if a is None else np.ascontiguousarray((4.0 * b - a) / 3.0)

    return tuple(extrapolate(a, b) for a, b in zip(full, half))


def _solve_on_grid(params: Params, grid: np.ndarray, tol: float, svd_tol: float,
                   late: float | None = None, compress: bool = True):
    """Bias, label-noise variance and ``int_0^t R_v`` at the nodes of ``grid``; the two-time
    parts only on the nodes up to just past ``late`` (default: all). Returns ``(two-time grid,
    bias, label, full grid, R1, rank, residual)``."""
    lam, weight, power = _modes(params, compress)
    tail = params.tail
    n2 = grid.size
    if late is not None:      # the two-time functions on [0, t] need the responses on [0, t]
        n2 = min(grid.size, max(int(np.searchsorted(grid, late)) + 3, 5))
    grid2 = grid[:n2]
    B, Gh, Gh1, R1 = _response_parts(params, grid, n2, lam, weight)
    c = lam * lam * params.P * weight

    psi, signs, _ = _compress(grid2, Gh.T, c, svd_tol)
    ops = _Operators(_operators(grid2, psi), signs)

    sources = [(B * (lam * power)) @ B.T]
    del B
    noise = params.sigma2 + tail
    if noise > 0:
        sources.append(noise * ((Gh1 * c) @ Gh1.T))
    del Gh, Gh1
    solutions, residual = _solve_two_time(ops, sources, tol)
    bias = np.diag(solutions[0]) + tail
    label = np.diag(solutions[1]).copy() if noise > 0 else np.zeros(n2)
    del solutions, sources
    if not residual <= tol:
        raise RuntimeError(
            f"time-domain DMFT: the two-time self-consistency did not reach the tolerance "
            f"{tol:g} (relative residual {residual:.3g})")
    return grid2, bias, label, grid, R1, psi.shape[0], residual


#: Cumulative integrals of the response functions in time (sources of the two-time solves):
#: trapezoidal, second order like the response march they integrate, whose error the
#: extrapolation of :func:`_response_parts` then removes together with the march's (a
#: fourth-order rule here, with the old Richardson extrapolation across grids, made the error
#: smaller but a mix of orders with different signs, non-monotone on coarse grids, where the
#: estimate was then too small).
_integrate = _trapezoid_rows


def _curve_at(params: Params, parts, t: np.ndarray) -> ErrorCurve:
    grid2, bias, label, grid, R1, _, _ = parts
    b = _interp(grid2, bias, t)
    lv = _interp(grid2, label, t, power=2)
    if params.T > 0:
        th = params.T * _interp(grid, R1, 2.0 * t, power=1)
    else:
        th = np.zeros(t.size)
    b[t == 0] = bias[0]
    lv[t == 0] = 0.0
    th[t == 0] = 0.0
    return ErrorCurve(times=t, bias=b, label_variance=lv, thermal_variance=th)


# --------------------------------------------------------------------------------------------
# late times, reach and size
# --------------------------------------------------------------------------------------------

#: A time is taken from the equilibrium when the proven distance of every part from its
#: ``t = inf`` value is below this fraction of the ``t = inf`` error.
RELAXED = 1e-12
#: The two-time operators are built in absolute time, so at time ``t`` a lag carries a
#: round-off of about ``1e-16 t``; the grid may end at most this many fastest time scales
#: ``1 / (gamma + P lambda_1)`` after 0 (round-off then ``<= 1e-7`` of the finest step).
REACH = 1e9


@njit(cache=True)
def _kappa_below(lam, Plam):
    """Lower end of a bisection bracket (200 halvings) of the root ``kappa'`` of
    ``sum_k lambda_k / (P lambda_k + kappa') = 1`` (``N > P``): a value ``< kappa'``."""
    def excess(k):
        total = 0.0
        for i in range(lam.size):
            total += lam[i] / (Plam[i] + k)
        return total - 1.0
    lo, hi = 0.0, 0.0
    for i in range(lam.size):
        hi += lam[i]
    while excess(hi) > 0:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if excess(mid) > 0:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def _branch_max(lam, Plam, y):
    """``max_y y (1 - sum_k lambda_k / (P lambda_k - y))`` over the samples ``y`` (and 0)."""
    best = 0.0
    for j in range(y.size):
        phi = 0.0
        for i in range(lam.size):
            phi += lam[i] / (Plam[i] - y[j])
        x = y[j] * (1.0 - phi)
        if x > best:
            best = x
    return best


def spectral_gap(params: Params) -> float:
    """Lower edge ``h_min`` of the non-zero spectrum of ``H`` in the DMFT (deterministic equivalent).

    With ``gamma`` absorbed in ``z``, the self-consistency ``R(z) = sum_k lambda_k /
    (z + lambda_k P q)``, ``q = 1 / (1 + R)`` is inverted on the real axis ``z = -x``: writing
    ``y = x / q``, ``1 - q = phi(y) = sum_k lambda_k / (P lambda_k - y)`` and
    ``x(y) = y (1 - phi(y))``. Outside the spectrum ``x`` increases along the physical branch,
    which starts at ``x = 0`` from ``y = 0`` (``N < P``) or from ``y* < 0`` with ``phi(y*) = 1``
    (``N > P``; the atom of the null space sits at ``x = 0``); its maximum is the edge. Returned:
    the largest ``x`` on a fine sample of the branch, which is never above the edge (a valid
    lower bound on every relaxation rate). ``0`` at ``N = P``, where the spectrum reaches 0.
    """
    lam = np.asarray(params.eigenvalues[: params.N], dtype=float)
    N, P = lam.size, params.P
    if N == P:
        return 0.0
    u = np.unique(np.concatenate([np.logspace(-14, 0, 160, endpoint=False),
                                  1.0 - np.logspace(-14, 0, 160, endpoint=False)]))
    Plam = P * lam
    if N < P:
        y = Plam[-1] * u
    else:
        # y* = -kappa' with sum_k lambda_k / (P lambda_k + kappa') = 1 (kappa' = P kappa)
        lo = _kappa_below(lam, Plam)
        y = -lo * u           # lo < kappa': every sample lies on the physical branch
    return _branch_max(lam, Plam, y)


def _relaxation(params: Params, t: np.ndarray):
    """Times past full relaxation, their equilibrium parts and a proven bound on the difference.

    With ``M(t) = gamma / (H + gamma) + D(t)``, ``D = H e^{-(H + gamma) t} / (H + gamma)``
    (``||D|| <= x = e^{-r t}``, ``r = gamma + h_min``: ``D`` vanishes on the null space) the
    captured bias ``b(t) = tr(Lambda M P M)`` obeys ``|b(t) - b| <= 2 x sqrt(S b) + x^2 S``
    (Cauchy-Schwarz; ``S = sum_k lambda_k p_k`` the captured signal); the label-noise variance
    ``sigma_e2 tr(Lambda g H g)``, ``g = (1 - e^{-(H + gamma) t}) / (H + gamma)``, obeys
    ``|L(t) - L| <= (2 x + x^2) L``; the thermal variance ``T int dmu (1 - e^{-2(h + gamma) t})
    / (h + gamma)`` is below its limit by at most ``e^{-2 r_T t} Th`` (``r_T = gamma + h_min``
    when ``N < P``, else ``gamma``: the null-space atom relaxes at ``gamma``). These hold for
    every design and hence for the DMFT. A time is relaxed when the sum is below
    ``RELAXED x`` the ``t = inf`` error. Returns ``(mask, bound, equilibrium or None)``.
    """
    mask = np.zeros(t.size, dtype=bool)
    bound = np.zeros(t.size)
    if not params.has_equilibrium:
        return mask, bound, None
    from .equilibrium import equilibrium
    eq = equilibrium(params)
    parts = np.array([eq.bias, eq.label_variance, eq.thermal_variance], dtype=float)
    if not np.all(np.isfinite(parts)):
        return mask, bound, None          # e.g. N = P ridgeless: no finite limit to return
    gap = spectral_gap(params)
    r = params.gamma + gap
    r_T = params.gamma + (gap if params.N < params.P else 0.0)
    lam = params.eigenvalues[: params.N]
    S = float(lam @ params.powers[: params.N])
    b = max(float(eq.bias) - params.tail, 0.0)
    E = float(parts.sum())
    with np.errstate(over="ignore", under="ignore"):
        x = np.exp(-r * t) if r > 0 else np.ones(t.size)
        xT = np.exp(-2.0 * r_T * t) if r_T > 0 else np.ones(t.size)
    bound = (2.0 * x * math.sqrt(S * b) + x * x * S + (2.0 * x + x * x) * eq.label_variance
             + xT * eq.thermal_variance)
    mask = np.isfinite(t) & (t > 0) & (bound <= RELAXED * E + 1e-300)
    return mask, np.where(mask, bound, 0.0), eq


def _memory_check(params: Params, grid_points: int) -> None:
    """``MemoryError`` (one line) before a solve that would not fit in this machine's memory
    (:func:`rfdmft.model.time_domain_memory` over the bound on the nodes of the mode rule)."""
    try:
        # the responses are marched on the grid and on the grid with halved intervals
        check_memory(time_domain_memory(2 * rule_size_bound(params), grid_points),
                     f"N = {params.N} (time-domain theory, {grid_points} grid points)")
    except ValueError as error:
        raise MemoryError(str(error)) from None


#: The solver's grid at resolution ``r`` is :func:`time_grid` at resolution ``GRID_SCALE r``
#: with the rate ``UNIFORM_REFINE`` times larger: geometric ratio ``1 + 0.32 / r`` (about 8
#: ``r`` points per decade), the uniform start ``h0 = 0.4 / (3 r rate)``. ``GRID_SCALE`` was
#: 0.5 with the second-order two-time part and the Richardson extrapolation across grids; with
#: the fourth-order two-time part (:func:`_operator_rows`) the finer grid alone at 0.375 is
#: more accurate than that extrapolation was at 0.5 (bench problem: 3.6e-5 against 7.1e-5
#: relative, 104 instead of 135 nodes on the finer grid; at 0.5, 1.9e-5). The finer start
#: keeps the label-noise and thermal variances at times below the second node accurate: they
#: are extrapolated from the first nodes (see :func:`_interp`) with an error of order ``(h0
#: rate)^4``.
GRID_SCALE = 0.375
UNIFORM_REFINE = 2.0


def _solver_grid(rate_max: float, t_end: float, resolution: float) -> np.ndarray:
    """The time grid of :func:`solve_time_domain` at ``resolution`` (see ``GRID_SCALE``)."""
    return time_grid(UNIFORM_REFINE * rate_max, t_end, GRID_SCALE * resolution)


def grid_plan(params: Params, times, resolution: float = 1.0) -> int:
    """Number of grid points of the largest solve :func:`solve_time_domain` does first
    (resolution ``2 resolution``), after the times past relaxation are taken from the
    equilibrium; ``0`` when no solve is needed. Cheap (no dynamics is solved)."""
    t = validate_times(times, params)
    t = t[np.isfinite(t)]
    relaxed, _, _ = _relaxation(params, t)
    if relaxed.all() and t.size:
        return 0
    rate_max = params.gamma + params.P * float(params.eigenvalues[0])
    late = float(t[~relaxed].max()) if t.size else 0.0
    t_end = max(2.0 * late, 10.0 / rate_max) * 1.02
    if not math.isfinite(t_end) or t_end * rate_max > REACH:
        return 0
    return int(_solver_grid(rate_max, t_end, 2.0 * resolution).size)


def _clean(x: np.ndarray, scale: float, name: str) -> np.ndarray:
    """Clip round-off negatives (the two-time solves work in units of ``max|F|`` with relative
    round-off ~1e-15 per operation; ``>= -1e-12 scale``) to zero; refuse anything more negative."""
    if np.any(x < -1e-12 * scale):
        raise RuntimeError(f"time-domain DMFT gave a negative {name} ({x.min():.3g}); "
                           "no numbers returned")
    return np.maximum(x, 0.0)


def _solve_time_domain(params: Params, times, resolution: float = 1.0,
                      richardson: bool = True,
                      tol: float = 1e-9, grid_tol: float | None = 1e-2,
                      max_resolution: float = 16.0, svd_tol: float = 1e-5) -> TimeDomainSolution:
    """:func:`solve_time_domain` (BLAS limited to one thread by the caller)."""
    t = validate_times(times, params)
    if np.isinf(t).any():
        raise ValueError("theory_time_domain needs finite times; t = inf is the equilibrium "
                         "(kernel ridge regression / posterior) limit, not a time-domain result")
    if not (tol > 0):
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if grid_tol is not None and not grid_tol > 0:
        raise ValueError(f"grid_tol must be > 0 or None, got {grid_tol!r}")
    if not (resolution > 0 and math.isfinite(resolution)):
        raise ValueError(f"resolution must be a finite number > 0, got {resolution!r}")
    lam = params.eigenvalues[: params.N]
    rate_max = params.gamma + params.P * lam[0]
    relaxed, bound, eq = _relaxation(params, t)
    solved = ~relaxed
    ts = t[solved]

    bias = np.zeros(t.size)
    label = np.zeros(t.size)
    thermal = np.zeros(t.size)
    if relaxed.any():
        bias[relaxed], label[relaxed], thermal[relaxed] = (eq.bias, eq.label_variance,
                                                           eq.thermal_variance)

    def assemble(curves, estimate, grid_points, rank, residual):
        out = []
        for c in curves:
            if c is None:
                out.append(None)
                continue
            b, lv, th = bias.copy(), label.copy(), thermal.copy()
            b[solved], lv[solved], th[solved] = c.bias, c.label_variance, c.thermal_variance
            out.append(ErrorCurve(times=t, bias=b, label_variance=lv, thermal_variance=th))
        est = None
        if estimate is not None:
            est = bound.copy()
            est[solved] = estimate
        return TimeDomainSolution(out[0], est, out[1], out[2], grid_points, rank, residual)

    if ts.size == 0:
        curve = ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)
        return TimeDomainSolution(curve, bound.copy() if richardson else None,
                                  curve if richardson else None, curve, (), 0, 0.0)

    late = float(ts.max())
    t_end = max(2.0 * late, 10.0 / rate_max) * 1.02
    if not t_end * rate_max <= REACH:
        reach = REACH / (2.04 * rate_max)
        far = ts[2.04 * ts * rate_max > REACH]
        gap = spectral_gap(params) if params.has_equilibrium else 0.0
        why = (f"the dynamics has not provably relaxed by then (slowest rate gamma + h_min = "
               f"{params.gamma + gap:.3g}, h_min the spectral gap of H)")
        if not params.has_equilibrium:
            why = "there is no equilibrium to relax to (T > 0, gamma = 0, N >= P)"
        raise RuntimeError(
            f"time-domain DMFT cannot reach t = {far.min():.6g}: beyond t = {reach:.3g} "
            f"(= {REACH:g} / (2 (gamma + P lambda_1))) its time grid loses the fastest time "
            f"scale to round-off, and {why}; use the Laplace solver (method 'laplace')")

    S_N = float(lam.sum())
    signal = float(lam @ params.powers[: params.N])

    def run(res):
        grid = _solver_grid(rate_max, t_end, res)
        _memory_check(params, grid.size)
        parts = _solve_on_grid(params, grid, tol, svd_tol, late=late)
        return _curve_at(params, parts, ts), grid.size, parts[5], parts[6]

    def cleaned(c):
        return ErrorCurve(
            times=c.times, bias=_clean(c.bias, signal + params.tail, "bias"),
            label_variance=_clean(c.label_variance, params.sigma2 + params.tail,
                                  "label-noise variance"),
            thermal_variance=_clean(c.thermal_variance, params.T * max(S_N, 1.0) * t_end,
                                    "thermal variance"))

    if richardson:
        _memory_check(params, _solver_grid(rate_max, t_end, 2.0 * resolution).size)
    coarse = run(resolution)
    if not richardson:
        c = cleaned(coarse[0])
        return assemble((c, None, c), None, (coarse[1],), coarse[2], coarse[3])
    coarsest = run(0.5 * resolution)     # third level: is the pair (coarse, fine) asymptotic?
    res = resolution
    while True:
        fine = run(2.0 * res)
        ccc, cc, fc = coarsest[0], coarse[0], fine[0]

        # the finer grid's result (the two-time part is fourth order, the responses' remainder
        # about second: an extrapolation (4 fine - coarse) / 3 would multiply the former's
        # error by -4). Its error estimate: |fine - coarse| (>= its error wherever the error at
        # least halves with the step), or |coarse - coarsest| / 4 where that is larger: a
        # |fine - coarse| much smaller than the previous difference may be an accident of
        # errors changing sign between the grids (per part, and summed: the grid errors of the
        # bias and of the label variance can have opposite signs and cancel in their sum on
        # one grid and not on the next)
        curve = cleaned(fc)
        estimate = sum(np.maximum(np.abs(getattr(fc, name) - getattr(cc, name)),
                                  0.25 * np.abs(getattr(cc, name) - getattr(ccc, name)))
                       for name in ("bias", "label_variance", "thermal_variance"))
        solution = assemble((curve, cc, fc), estimate, (coarse[1], fine[1]),
                            max(coarse[2], fine[2]), max(coarse[3], fine[3]))
        if grid_tol is None or np.all(estimate <= grid_tol * np.abs(curve.error)):
            return solution
        if 4.0 * res > max_resolution:
            worst = float(np.max(estimate / np.abs(curve.error)))
            raise RuntimeError(
                f"time-domain DMFT: the grid error estimate ({worst:.2g} relative) is above "
                f"grid_tol = {grid_tol:g} at resolution {2 * res:g}; raise max_resolution "
                f"(currently {max_resolution:g}) or grid_tol")
        res *= 2.0
        coarsest, coarse = coarse, fine


_BLAS = None


def _one_blas_thread():
    """``one_blas_thread()`` (:mod:`rfdmft.simulation`: BLAS on one thread) through one
    threadpoolctl controller made at the first solve: ``threadpool_limits`` finds the loaded
    BLAS libraries anew each time, which costs about 1.4 ms, 5 % of a solve of the bench
    problem. (The BLAS libraries this module uses, numpy's and scipy's, are loaded by its
    imports.)"""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS.limit(limits=1)


def solve_time_domain(params: Params, times, resolution: float = 1.0,
                      richardson: bool = True,
                      tol: float = 1e-9, grid_tol: float | None = 1e-2,
                      max_resolution: float = 16.0, svd_tol: float = 1e-5) -> TimeDomainSolution:
    """Solve the DMFT equations in the time domain; see the module docstring for the method.

    ``times`` finite and ``>= 0`` (use an equilibrium solver for ``t = inf``). ``resolution``
    scales the grid density (about ``8 resolution`` points per decade); with ``richardson`` the
    solution is also computed at ``2 resolution`` (the result is that finer grid's; the name is
    historical: the two grids' results were once extrapolated) and at ``resolution / 2`` for
    the error estimate (see the module docstring), and while the error estimate
    exceeds ``grid_tol`` times the error at some requested time the resolution is doubled (up to
    ``max_resolution``; ``RuntimeError`` if the target is still missed; ``grid_tol=None``
    disables the check). ``tol``: relative residual required of the two-time self-consistency;
    ``svd_tol``: relative singular-value cut of the mode-sum compression (the dropped terms
    are below ``svd_tol^2`` of the feedback kernel: 1e-5 changes the results by ~1e-11
    relative against 1e-7, with 20 instead of 26 kernels on the bench problem).

    Times past full relaxation (proven with the spectral gap of ``H`` and ``gamma``, see
    :func:`_relaxation`: every part within ``RELAXED = 1e-12`` of the ``t = inf`` error) take
    the equilibrium values, with that proven bound as their error estimate, so the grid never
    grows with ``t`` beyond the relaxation time. Times that are not relaxed and lie beyond
    ``REACH / (2 (gamma + P lambda_1))`` are refused (``RuntimeError``): the grid's absolute
    times would lose the fast time scale to round-off. A solve that would not fit in memory
    is refused before any work (``MemoryError``).
    """
    with _one_blas_thread():
        return _solve_time_domain(params, times, resolution=resolution, richardson=richardson,
                                  tol=tol, grid_tol=grid_tol, max_resolution=max_resolution,
                                  svd_tol=svd_tol)


def theory_time_domain(params: Params, times, resolution: float = 1.0,
                       richardson: bool = True,
                       tol: float = 1e-9, grid_tol: float | None = 1e-2,
                       max_resolution: float = 16.0) -> ErrorCurve:
    """Generalisation error and its parts from the time-domain DMFT (``error_sem`` is ``None``).

    See :func:`solve_time_domain` (which also returns the grid error estimate). ``t = inf``
    is the equilibrium limit, taken from :func:`rfdmft.equilibrium.equilibrium`.
    """
    t = validate_times(times, params)
    static = np.isinf(t)
    parts = np.zeros((3, t.size))
    if (~static).any():
        curve = solve_time_domain(params, t[~static], resolution=resolution,
                                  richardson=richardson, tol=tol, grid_tol=grid_tol,
                                  max_resolution=max_resolution).curve
        parts[:, ~static] = curve.bias, curve.label_variance, curve.thermal_variance
    if static.any():
        from .equilibrium import equilibrium
        limit = equilibrium(params)
        parts[:, static] = np.array([[limit.bias], [limit.label_variance],
                                     [limit.thermal_variance]])
    return ErrorCurve(times=t, bias=parts[0], label_variance=parts[1], thermal_variance=parts[2])
