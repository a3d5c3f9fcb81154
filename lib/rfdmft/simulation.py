"""Exact finite-size simulator: everything but the design averaged in closed form.

For one design ``A`` (``P x N``, ``A[mu, k] = sqrt(lambda_k) phi_k(x_mu)``) let
``H = A^T A = sum_i h_i v_i v_i^T`` and ``a_i = h_i + gamma``. The mean weights are
``g(H) A^T y`` with ``g(h) = (1 - exp(-a t)) / a`` (``t`` when ``a = 0``), and the Langevin
noise adds a Gaussian part of covariance ``T (1 - exp(-2 a t)) / a`` per eigendirection.
Averaging over the teacher (mode powers ``p_k``), the label noise and the uncaptured modes
(which act on the labels like extra noise of variance ``tail``) gives, with
``c_i = sum_k lambda_k v_ik^2`` and ``m_i = h_i g(h_i)``:

* bias ``= sum_k lambda_k p_k - 2 sum_i m_i d_i + m^T (X o Y) m + tail``, where
  ``X = V^T Lambda V``, ``Y = V^T P V``, ``d_i = sum_k lambda_k p_k v_ik^2``;
  for the isotropic teacher this is ``sum_i c_i (1 - m_i)^2`` over all ``N`` directions + tail;
* label-noise variance ``= (sigma2 + tail) sum_i c_i h_i g(h_i)^2``;
* thermal variance ``= T sum_i c_i (1 - exp(-2 a_i t)) / a_i`` over all ``N`` directions.

The null space of ``H`` (``h = 0``, present when ``N > P``) carries weight
``sum_k lambda_k - sum_i c_i``. All the linear algebra is one factorisation of ``A`` per
design, the cheapest that passes an accuracy test (see :func:`_spectral`): the ``r x r`` Gram
matrix's eigendecomposition (``r = min(P, N)``, about a third of a thin SVD), else the thin SVD,
else, for steep spectra, LAPACK's Jacobi SVD with high relative accuracy.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings

import numpy as np
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from .model import DivergenceError, ErrorCurve, Params, check_memory, steps, validate_times

__all__ = ["sample_design", "design_error", "simulate", "design_seeds", "one_blas_thread",
           "check_stable",
           "blas_threads", "spare_cores",
           "MAX_DESIGN_ENTRIES", "check_size", "exact_memory", "paths_memory", "time_design",
           "heavy_tailed", "HeavyTailWarning"]

#: Largest design (entries of ``P x N``, about 8 GB of float64) the simulators accept.
MAX_DESIGN_ENTRIES = 10**9


#: Upper bound on the threads any policy below chooses (``None``: the cores). The tests set 1.
MAX_THREADS: int | None = None

#: Matrices with at least this many entries may get a second BLAS thread (when a core is idle):
#: on an idle 2-core machine the digits kernel (1797 x 1797) factors 1.7x faster on two threads
#: and a 1000 x 4000 design 1.3x, while 250 x 1000 is 3x slower even there.
THREADED_ENTRIES = 2_000_000


def spare_cores() -> int:
    """Cores this process may add threads on: the cores minus the one-minute load average
    (this process's own running thread counted as one), rounded; 0 when unknown. Measured here:
    a second thread gains up to ~2x while the other core is idle and loses up to 20x while it
    is busy, so threads are only added when the load says a core is free."""
    cores = os.cpu_count() or 1
    if MAX_THREADS is not None:
        cores = min(cores, int(MAX_THREADS))
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0
    return max(0, int(math.floor(cores - max(load, 1.0) + 0.5)))


def blas_threads(entries: int = 0) -> int:
    """BLAS threads for factoring matrices of ``entries`` entries: one, plus the spare cores
    (:func:`spare_cores`) when ``entries >= THREADED_ENTRIES``."""
    return 1 + (spare_cores() if entries >= THREADED_ENTRIES else 0)


def one_blas_thread(entries: int = 0):
    """Context setting BLAS (OpenBLAS: numpy's and scipy's) to :func:`blas_threads` threads:
    one, unless the matrices are large (``entries >= THREADED_ENTRIES``) and a core is idle.

    Measured on this 2-core machine with medians of alternated calls (1 against 2 BLAS
    threads): with the other core idle two threads gain 1.3-1.7x on large matrices (a 1000 x
    4000 design, the digits kernel) and lose 3x on small ones (250 x 1000); with the other core
    busy, the usual state of a shared machine (load average 2-9.5), they lose 1.2-20x at every
    size (designs of 250 x 1000 to 2000 x 8000 0.06-0.42x; the digits kernel's ``eigh`` 2.2 s
    against 16.8 s). ``python -m rfdmft bench`` ("thread policy") re-measures both choices.
    """
    return threadpool_limits(blas_threads(entries), user_api="blas")


#: BLAS threads of :func:`simulate` at every design size. Measured on this 2-core machine
#: (medians of 5 alternated calls of ``design_error``, 200 times, Gram route): (P, N) =
#: (1000, 4000) 0.72 s on one thread, 0.48 s on two with the other core nearly idle; under load
#: (load average 2-3) (250, 1000) 39 ms vs 0.64 s, (500, 2000) 0.29 s vs 0.69 s, (2000, 8000)
#: 5.2 s vs 23 s (spread 3.4-28 s); at load 5.5-9.5 (1000, 4000) 2.3 s vs 17 s. Earlier, at
#: load 3.5-4.6: (1000, 4000) 0.67 s vs 11 s. Two threads gain at most 1.3-2x and lose up to
#: 20x; and one thread makes a design's numbers independent of the machine's load and of how a
#: sweep runs (serial, process pool or Dask: bit for bit), so the simulator keeps one thread.
SIMULATOR_BLAS_THREADS = 1


def design_seeds(seed: int, designs: int) -> list[np.random.SeedSequence]:
    """One independent seed per design: design ``d`` depends only on ``(seed, d)``."""
    return np.random.SeedSequence(seed).spawn(designs)


#: Spectra with ``lambda_N / lambda_1`` below this may need the accurate (Jacobi) SVD, whose
#: peak memory includes an ``N x N`` basis; the memory estimate then counts it.
STEEP_SPECTRUM = 1e-8


def _may_need_accurate(params: Params) -> bool:
    lam = params.eigenvalues[: params.N]
    return bool(lam[-1] < STEEP_SPECTRUM * lam[0])


def exact_memory(params: Params, times: int = 1, accurate: bool | None = None) -> float:
    """Estimated peak bytes of one design of the exact simulator: ``8 (3 P N + 6 n^2 + 6 t r)``
    with ``r = min(N, P)``, ``n = r`` for the fast SVD and ``n = N`` for the accurate one (its
    complete ``N x N`` basis), ``t`` the number of times. The design, its copy inside LAPACK and
    the squared directions give ``3 P N``; the factors and LAPACK's work ``~6 n^2``. Calibrated
    with ``tracemalloc`` at (N, P) = (2000, 500), (500, 2000), (1200, 1200), (1500, 500) and
    (500, 1500), isotropic and not, fast and accurate: 2.3-7.0 design sizes measured."""
    r = min(params.N, params.P)
    accurate = _may_need_accurate(params) if accurate is None else accurate
    n = params.N if accurate else r
    return 8.0 * (3.0 * params.P * params.N + 6.0 * float(n) ** 2 + 6.0 * times * r)


def paths_memory(params: Params, times: int = 1) -> float:
    """Estimated peak bytes of one sample path: ``8 (2 P M + 5 N^2 + 8 t N)``: the features
    (``P x M``) and a product of their size, ``H``, its eigenvectors (or ``K``) and the
    products with them (``N x N`` each), and the weights (times x 3 x N, twice).
    Calibrated with ``tracemalloc`` at (N, P, M) = (300, 100, 300), (100, 300, 600)."""
    return 8.0 * (2.0 * params.P * params.M + 5.0 * float(params.N) ** 2
                  + 8.0 * times * params.N)


def check_size(params: Params, columns: int | None = None, method: str | None = None,
               times: int = 1) -> None:
    """Refuse, before any work, designs too large for memory, naming the sizes and the estimate.

    ``method`` is ``"exact"`` (the closed-form simulator) or ``"sde"`` (sample paths); by default
    ``"sde"`` when ``columns`` differs from ``N`` (the paths draw all ``M`` modes), else
    ``"exact"``. Raises ``ValueError``.
    """
    columns = params.N if columns is None else columns
    if method is None:
        method = "exact" if columns == params.N else "sde"
    if method not in ("exact", "sde"):
        raise ValueError(f"method must be 'exact' or 'sde', got {method!r}")
    if method == "sde":
        columns = params.M
    if params.P * columns > MAX_DESIGN_ENTRIES:
        raise ValueError(
            f"P x N = {params.P} x {columns} is too large: a design may have at most "
            f"{MAX_DESIGN_ENTRIES:.0e} entries (about 8 GB)")
    if method == "exact":
        check_memory(exact_memory(params, times),
                     f"P x N = {params.P} x {params.N} (exact simulator, one design)")
    else:
        check_memory(paths_memory(params, times),
                     f"P x M = {params.P} x {params.M} with N = {params.N} (sample paths: "
                     "an N x N matrix, one design)")


def sample_design(params: Params, rng: np.random.Generator, columns: int | None = None) -> np.ndarray:
    """Design ``A[mu, k] = sqrt(lambda_k) phi_k(x_mu)`` with i.i.d. standard normal ``phi``.

    ``columns`` modes are drawn (default ``N``; ``M`` includes the uncaptured modes).
    """
    columns = params.N if columns is None else columns
    lam = params.eigenvalues[:columns]
    return rng.standard_normal((params.P, columns)) * np.sqrt(lam)


def _factors(a: np.ndarray, t: np.ndarray, lr: float = 0.0, n=None):
    """``g = (1 - e^{-a t}) / a`` and ``q = (1 - e^{-2 a t}) / a`` on a (times x modes) grid.

    Limits: ``a = 0`` gives ``g = t``, ``q = 2 t``; ``t = inf`` gives ``1 / a`` (inf if ``a = 0``).

    Gradient descent (``lr > 0`` with ``n`` the steps taken by each time, see
    :func:`rfdmft.model.steps`): ``u = 1 - lr a`` replaces ``e^{-a lr}``, so
    ``g = (1 - u^n) / a`` (``n lr`` at ``a = 0``) and ``q = 2 lr sum_{m<n} u^{2m}
    = 2 (1 - u^{2n}) / (a (2 - lr a))`` (``2 n lr`` at ``a = 0``; ``2 / (a (2 - lr a))`` at
    ``n = inf``). Needs ``|u| < 1`` where ``a > 0`` (checked by the callers).
    """
    if lr > 0 and n is not None:
        return _discrete_factors(a, n, lr)
    a = np.asarray(a, dtype=float)[None, :]
    t = np.asarray(t, dtype=float)[:, None]
    finite = np.isfinite(t)
    positive = a > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        at = np.where(finite, a * t, np.where(positive, np.inf, 0.0))
        g = np.where(positive, -np.expm1(-at) / np.where(positive, a, 1.0), t)
        q = np.where(positive, -np.expm1(-2 * at) / np.where(positive, a, 1.0), 2 * t)
    return g, q


def _discrete_powers(a: np.ndarray, n: np.ndarray, lr: float):
    """``u^n``, ``1 - u^n`` and ``1 - u^{2n}`` for ``u = 1 - lr a`` without cancellation, on a
    (times x modes) grid (``a`` of shape (1, r), ``n`` of shape (times, 1), ``inf`` allowed).

    ``|u|^n = exp(n log|u|)`` with ``log|u| = log1p(-lr a)`` for ``lr a < 1`` (``u > 0``) and
    ``log1p(lr a - 2)`` for ``lr a > 1`` (``u < 0``, a stiff direction; ``lr a - 2`` is exact
    there), ``-inf`` at ``u = 0``; the sign is that of ``u`` for odd ``n``. Then
    ``1 - u^n = -expm1(n log|u|)`` (``1 + |u|^n`` when ``u^n < 0``) and
    ``1 - u^{2n} = -expm1(2 n log|u|)``. Only meaningful where ``0 < lr a < 2``."""
    x = lr * a
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_u = np.where(x < 1, np.log1p(-np.minimum(x, 1.0)),
                         np.where(x > 1, np.log1p(np.maximum(x, 1.0) - 2.0), -np.inf))
        nlog = np.where(n == 0, 0.0, n * log_u)          # u^0 = 1, also where u = 0
        magnitude = np.exp(nlog)
        negative = (x > 1) & (np.fmod(n, 2.0) == 1.0)
        un = np.where(negative, -magnitude, magnitude)
        one_minus = np.where(negative, 1.0 + magnitude, -np.expm1(nlog))
        one_minus_2 = -np.expm1(2.0 * nlog)
    return un, one_minus, one_minus_2


def _discrete_factors(a: np.ndarray, n: np.ndarray, lr: float):
    """``g`` and ``q`` of :func:`_factors` for gradient descent with ``n`` steps of size ``lr``."""
    a = np.asarray(a, dtype=float)[None, :]
    n = np.asarray(n, dtype=float)[:, None]
    positive = a > 0
    _, one_minus, one_minus_2 = _discrete_powers(a, n, lr)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        safe = np.where(positive, a, 1.0)
        g = np.where(positive, one_minus / safe, n * lr)
        q = np.where(positive, 2.0 * one_minus_2 / (safe * (2.0 - lr * safe)), 2.0 * n * lr)
    return g, q


def check_stable(params: Params, h_max: float) -> None:
    """Refuse gradient descent beyond its stability edge: ``DivergenceError`` unless
    ``lr (h_max + gamma) < 2`` (``h_max`` the largest eigenvalue of this design's ``H``)."""
    a_max = float(h_max) + params.gamma
    if params.lr > 0 and not params.lr * a_max < 2.0:
        raise DivergenceError(
            f"gradient descent diverges: lr = {params.lr:g} times h_max + gamma = {a_max:.6g} "
            f"(the largest curvature of this design's loss) is {params.lr * a_max:.6g}, not "
            f"below 2, so the stiffest direction grows at every step; the largest stable "
            f"learning rate for this design is 2 / (h_max + gamma) = {2.0 / a_max:.6g}")


#: The fast SVD is trusted when its smallest ``h`` is at least this fraction of the largest
#: (then every ``h`` has about ``eps / sqrt(FAST_SPREAD)`` = 1e-11 relative accuracy) and, for
#: ``N > P``, the null weight (found by a subtraction) is at least ``NULL_FRACTION`` of the total.
FAST_SPREAD = 1e-10
NULL_FRACTION = 1e-5


def _fast_factor(params: Params, A: np.ndarray):
    """Thin SVD by LAPACK's divide and conquer: ``h`` and the range directions (rows of ``vt``)."""
    if params.P < params.N:      # factor the tall side: LAPACK is much faster on it than on A
        u, s, _ = np.linalg.svd(A.T, full_matrices=False)
        return s**2, u.T
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    return s**2, vt


#: The Gram route is trusted when every eigenvalue it returns is certified, a posteriori, to
#: this relative accuracy: ``eps / sqrt(FAST_SPREAD)`` = 2.2e-11, the accuracy the thin SVD's
#: own test (:data:`FAST_SPREAD`) guarantees a priori for its ``h = s^2``.
GRAM_TOLERANCE = np.finfo(float).eps / FAST_SPREAD ** 0.5


def gram_svd(X: np.ndarray, rank: int | None = None, check: bool = True,
             long_side: bool = True):
    """Thin SVD of ``X`` (``m x n``) from the Gram matrix of its short side (``r = min(m, n)``).

    ``G = X X^T`` (``m < n``) or ``X^T X``, its eigenvectors ``u_i`` (LAPACK's divide and
    conquer, descending), ``W_i = X^T u_i`` (or ``X u_i``) and ``h_i = |W_i|^2 = s_i^2``, the
    Rayleigh quotients computed without squaring ``X``. About 40 % of a thin SVD's work.

    The Gram matrix squares the condition number: its eigenvalues carry absolute errors
    ``~ eps h_1``. So the result is certified before it is used: the residuals
    ``r_i = X (X^T u_i) - h_i u_i``, again without squaring (rounding ``~ eps sqrt(h_1 h_i)``),
    bound the distance of ``h_i`` to the spectrum by ``|r_i|`` and, when the other Ritz values
    (minus their own bounds) stay ``delta_i > |r_i|`` away, by ``|r_i|^2 / delta_i`` (Kato and
    Temple). ``check`` accepts the result only if the bounds of the ``rank`` largest (default
    ``r``) are below :data:`GRAM_TOLERANCE` ``h_i``.

    Returns ``(h, u, w)`` for the ``rank`` largest: ``h`` descending, ``u`` the short side's
    singular vectors (``r x rank``, columns) and ``w`` the long side's (``rank x max(m, n)``,
    rows ``W_i / s_i`` made orthonormal by one Cholesky-QR step; ``None`` unless
    ``long_side``). When not certified: ``"svd"`` (the thin SVD may pass its own test) or
    ``"accurate"`` (``min diag G / max diag G < FAST_SPREAD``: the SVD certainly fails it).
    """
    m, n = X.shape
    wide = m < n
    r = min(m, n)
    rank = r if rank is None else int(rank)
    G = X @ X.T if wide else X.T @ X
    if check:
        d = np.diag(G)
        if not (np.all(np.isfinite(d)) and d.max() > 0):
            return "svd"
        if d.min() < FAST_SPREAD * d.max():
            return "accurate"
    _, u = np.linalg.eigh(G)
    del G
    u = u[:, ::-1]                               # descending
    W = u.T @ X if wide else (X @ u).T           # rows X^T u_i (or X u_i)
    h = np.einsum("ij,ij->i", W, W)
    if check:
        R = (X @ W.T if wide else X.T @ W.T) - u * h
        res = np.sqrt(np.einsum("ij,ij->j", R, R))
        del R
        res += 4 * np.finfo(float).eps * np.sqrt(max(m, n) * h[0] * h) + np.finfo(float).tiny
        order = np.argsort(-h)
        hs, rs = h[order], res[order]
        delta = np.full(hs.size, np.inf)
        if hs.size > 1:
            apart = np.abs(np.diff(hs))
            delta[:-1] = apart - rs[1:]
            delta[1:] = np.minimum(delta[1:], apart - rs[:-1])
        bound = np.where(delta > rs, np.minimum(rs, rs**2 / np.where(delta > rs, delta, 1.0)), rs)
        hs, bound = hs[:rank], bound[:rank]
        if not (np.all(np.isfinite(hs)) and (hs.size == 0 or hs[-1] > 0)
                and np.all(bound <= GRAM_TOLERANCE * hs)):
            return "svd"
        h, u, W = h[order], u[:, order], W[order]
    h, u, W = h[:rank], u[:, :rank], W[:rank]
    if not long_side:
        return h, u, None
    with np.errstate(divide="ignore", invalid="ignore"):
        W /= np.sqrt(h)[:, None]                 # in place: the design's size counts twice
    w, W = np.ascontiguousarray(W), None
    # the rows W_i / s_i are orthogonal only to ~ eps kappa(G); their span is the SVD's to its
    # accuracy. One Cholesky-QR step makes them orthonormal, so that sums of their squares
    # (a null weight found by a subtraction) are as accurate as the SVD's.
    chol, info = lapack.dpotrf(w @ w.T, lower=1, clean=1)
    if info == 0:
        solved, info = lapack.dtrtrs(chol, w, lower=1)
        w = solved if info == 0 else w
        del solved
    if info != 0 and check:
        return "svd"
    return h, u, w


def _gram_factor(params: Params, A: np.ndarray, check: bool = True):
    """``h`` and the range directions of the mode model's design from :func:`gram_svd`: the
    short side's ``u_i`` for ``P >= N``, the long side's rows ``A^T u_i / s_i`` for ``P < N``.
    For ``N > P`` the null weight must also pass :data:`NULL_FRACTION`, as for the SVD.
    Returns ``(h, vt)`` (``h`` descending) when trusted, else ``"svd"`` or ``"accurate"``."""
    N, P = params.N, params.P
    route = gram_svd(A, check=check, long_side=P < N)
    if isinstance(route, str):
        return route
    h, u, vt = route
    if P >= N:
        return h, np.ascontiguousarray(u.T)
    if check:
        lam = params.eigenvalues[:N]
        total = float(lam.sum())
        null = total - float(((vt**2) @ lam).sum())
        if null < 0.5 * NULL_FRACTION * total:   # the SVD finds the same null weight
            return "accurate"
        if null < NULL_FRACTION * total:
            return "svd"
    return h, vt


def _accurate_factor(params: Params, A: np.ndarray):
    """SVD with high relative accuracy for the column-graded design ``A = Phi Lambda^{1/2}``.

    LAPACK's preconditioned one-sided Jacobi SVD (``dgejsv``, Drmac and Veselic) computes the
    singular values of ``B D`` (``D`` diagonal, ``B`` well conditioned, as the Gaussian ``Phi``
    is) to relative accuracy ``eps kappa(B)`` however steep ``D``, and directions whose small
    components stay accurate. Returns ``h`` (``N`` values, zeros for the null space of ``H``)
    and a complete orthonormal basis of the ``N`` modes (``N x N``, one direction a row).
    """
    N, P = params.N, params.P
    if not np.any(A):
        return np.zeros(N), np.eye(N)
    if P >= N:               # A (P x N) graded by columns
        sva, _, v, work, _, info = lapack.dgejsv(A, joba=0, jobu=3, jobv=0, jobr=0, jobt=1, jobp=0)
        basis = v.T
    else:                    # A^T (N x P) graded by rows; the full U holds the null space of H
        sva, u, _, work, _, info = lapack.dgejsv(np.asfortranarray(A.T), joba=2, jobu=1, jobv=3,
                                                 jobr=0, jobt=1, jobp=0)
        basis = u.T
    if info != 0:
        raise np.linalg.LinAlgError(f"the accurate SVD (LAPACK dgejsv) failed (info = {info})")
    s = sva * (work[0] / work[1])
    h = np.zeros(N)
    h[: s.size] = s**2
    return h, basis


#: How ``_spectral`` factors a design: ``"auto"`` (the Gram route when it passes its accuracy
#: test, else the thin SVD when it passes its own, else the Jacobi SVD) or one route forced
#: without accuracy tests (``"gram"``, ``"svd"``, ``"accurate"``: for tests and benchmarks).
FACTOR_ROUTES = ("auto", "gram", "svd", "accurate")


def _spectral(params: Params, A: np.ndarray, factor: str = "auto"):
    """``h``, the directions ``V`` (rows), whether they are complete (``N`` of them) and the
    route taken (``"gram"``, ``"svd"`` or ``"accurate"``)."""
    if factor not in FACTOR_ROUTES:
        raise ValueError(f"factor must be one of {FACTOR_ROUTES}, got {factor!r}")
    lam = params.eigenvalues[: params.N]
    if factor == "gram":
        h, vt = _gram_factor(params, A, check=False)
        return h, vt, params.N <= params.P, "gram"
    route = "svd" if factor == "svd" else "accurate" if factor == "accurate" else None
    if route is None:
        route = _gram_factor(params, A)
        if not isinstance(route, str):
            return route[0], route[1], params.N <= params.P, "gram"
    if route == "svd":
        h, vt = _fast_factor(params, A)
        if factor == "svd":
            return h, vt, params.N <= params.P, "svd"
        if np.all(np.isfinite(h)) and h.size and h[0] > 0:
            trusted = h[-1] >= FAST_SPREAD * h[0]
            if trusted and params.N > params.P:
                trusted = (float(lam.sum() - ((vt**2) @ lam).sum())
                           >= NULL_FRACTION * float(lam.sum()))
            if trusted:
                return h, vt, params.N <= params.P, "svd"
    lam_ratio = float(lam[-1] / lam[0])
    check_memory(exact_memory(params, accurate=True),
                 f"P x N = {params.P} x {params.N} with lambda_N / lambda_1 = {lam_ratio:.3g} "
                 "(a spectrum this steep needs the accurate SVD and its N x N basis)")
    h, basis = _accurate_factor(params, A)
    return h, basis, True, "accurate"


def _unlearned(h: np.ndarray, gamma: float, t: np.ndarray, lr: float = 0.0,
               n=None) -> np.ndarray:
    """``1 - m = (gamma + h e^{-(h + gamma) t}) / (h + gamma)`` without cancellation (1 where
    ``h + gamma = 0``); a (times x modes) grid. Gradient descent (``lr > 0``, ``n`` steps):
    ``(gamma + h u^n) / (h + gamma)`` with ``u = 1 - lr (h + gamma)`` (negative, and the
    fraction then of either sign, in stiff directions)."""
    a = (h + gamma)[None, :]
    hh = h[None, :]
    positive = a > 0
    if lr > 0 and n is not None:
        un, _, _ = _discrete_powers(a, np.asarray(n, dtype=float)[:, None], lr)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            e = (gamma + hh * un) / np.where(positive, a, 1.0)
        return np.where(positive, np.minimum(e, 1.0), 1.0)
    t = np.asarray(t, dtype=float)[:, None]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        at = np.where(np.isfinite(t), a * t, np.where(positive, np.inf, 0.0))
        decay = np.exp(-at)
        e = (gamma + hh * decay) / np.where(positive, a, 1.0)
    return np.where(positive, np.minimum(e, 1.0), 1.0)


def design_error(params: Params, A: np.ndarray, times, *, factor: str = "auto") -> ErrorCurve:
    """Error and its parts for one fixed design ``A`` (``P x N``), averaged over everything else.

    Steep spectra (tiny ``lambda_N / lambda_1``) make the small eigenvalues of ``H`` and the
    small components of its eigenvectors carry the result; they are then computed with high
    relative accuracy (see :func:`_accurate_factor`), and the learned fraction ``1 - m`` of each
    direction in a form without cancellation.

    ``factor`` forces one factorisation without its accuracy test (``"gram"``, ``"svd"``,
    ``"accurate"``; for tests and benchmarks); the default ``"auto"`` takes the cheapest one
    that passes its test.

    Discrete time (``params.lr > 0``; the full-batch part when ``params.batch`` is set): exact
    gradient descent, ``u^n = (1 - lr (h + gamma))^n`` in place of ``e^{-(h + gamma) t}`` with
    ``n = steps(params, t)`` (:func:`_factors`); :class:`~rfdmft.model.DivergenceError` when
    ``lr (h_max + gamma) >= 2`` on this design (:func:`check_stable`).
    """
    if params.features != "modes":
        raise ValueError("design_error is the mode model's; for random features use "
                         "rfdmft.random_features.rf_design_error(params, A, F, times)")
    t = validate_times(times, params)
    A = _checked_design(params, A)
    return _design_error(params, A, t, _spectral(params, A, factor))


def _checked_design(params: Params, A) -> np.ndarray:
    A = np.asarray(A, dtype=float)
    if A.shape != (params.P, params.N):
        raise ValueError(f"A must have shape (P, N) = ({params.P}, {params.N}), got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A must be finite")
    return A


def _design_error(params: Params, A: np.ndarray, t: np.ndarray, spectral) -> ErrorCurve:
    """:func:`design_error` on validated times ``t``, with the factorisation ``spectral``
    (:func:`_spectral`'s result) given."""
    lam_all, powers = params.eigenvalues, params.powers
    lam, p = lam_all[: params.N], powers[: params.N]
    tail = params.tail
    gamma = params.gamma

    h, vt, complete, _ = spectral
    lr, n = params.lr, None
    if lr > 0:
        check_stable(params, float(np.max(h)) if h.size else 0.0)
        n = steps(params, t)
    v2 = vt**2                                   # squared components of the directions
    c = v2 @ lam                                 # weight of each direction
    null_weight = 0.0
    if not complete and params.N > params.P:
        null_weight = max(float(lam.sum() - c.sum()), 0.0)

    g, q = _factors(h + gamma, t, lr, n)         # (times, r)
    learning = h > 0                             # exact zeros carry no label signal
    e = np.where(learning, _unlearned(h, gamma, t, lr, n), 1.0)     # 1 - m
    if params.isotropic:
        bias = (e**2) @ c + null_weight
    elif complete:                               # (I - M) = V diag(e) V^T exactly
        XY = ((vt * lam) @ vt.T) * ((vt * p) @ vt.T)
        bias = np.einsum("ti,ij,tj->t", e, XY, e)
    else:
        m = 1.0 - e
        X = (vt * lam) @ vt.T
        Y = (vt * p) @ vt.T
        d = v2 @ (lam * p)
        bias = np.einsum("ti,ij,tj->t", m, X * Y, m) - 2.0 * m @ d + float(lam @ p)
    bias = np.maximum(bias, 0.0) + tail

    with np.errstate(over="ignore", invalid="ignore"):
        label = (params.sigma2 + tail) * (np.where(learning, h * g**2, 0.0) @ c)

    thermal = np.zeros_like(t)
    if params.T > 0:
        thermal = params.T * (q @ c)
        if null_weight > 0:
            _, q0 = _factors(np.array([gamma]), t, lr, n)
            thermal = thermal + params.T * null_weight * q0[:, 0]
    parts = np.stack([bias, label, thermal])
    if not np.all(np.isfinite(parts)):
        raise FloatingPointError(
            "the exact simulator produced non-finite values (the thermal variance without "
            f"equilibrium exceeds the floating-point range at t = {t[~np.isfinite(parts).all(0)][0]:g}?)")
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)


class HeavyTailWarning(RuntimeWarning):
    """The mean over designs is infinite at some of the times asked (see :func:`heavy_tailed`)."""


def heavy_tailed(params: Params, times, moment: int = 1) -> np.ndarray:
    """Per time: whether the ``moment``-th moment over designs of the error is infinite.

    Only ridgeless (``gamma = 0``) ``t = inf`` with noise on the labels or the weights
    (``s = sigma2 + tail + T > 0``) can be: there the error is ``bias + s tr(Lambda H^+)``
    with a bounded bias. For ``N < P``, ``H = Lambda^{1/2} W Lambda^{1/2}`` with ``W = Phi^T
    Phi`` a Wishart ``(P, I_N)`` matrix, so ``tr(Lambda H^-1) = tr W^-1`` for every spectrum,
    with mean ``N / (P - N - 1)``. For ``N > P``, ``tr(Lambda H^+) = tr(K^-2 Phi Lambda^2
    Phi^T)`` with ``K = Phi Lambda Phi^T`` lies within the factors ``(lambda_1 /
    lambda_N)^{+-1}`` of ``tr W'^-1``, ``W' = Phi Phi^T`` Wishart ``(N, I_P)`` (equal when
    isotropic, mean ``P / (N - P - 1)``). The smallest eigenvalue ``x`` of a Wishart ``(m,
    I_n)`` matrix has density ``~ x^{(m - n - 1)/2}`` at zero and ``1/x <= tr W^-1 <= n/x``,
    so the error has tail index ``(|N - P| + 1) / 2``: its ``k``-th moment is infinite when
    ``|N - P| <= 2k - 1``; the mean at ``|N - P| <= 1``, the variance (which ``error_sem``
    estimates) at ``|N - P| <= 3``. Finite times and ``gamma > 0`` bound the error. Returns a
    bool array aligned with ``times``.
    """
    if isinstance(moment, bool) or not isinstance(moment, (int, np.integer)) or moment < 1:
        raise ValueError(f"moment must be an integer >= 1, got {moment!r}")
    t = validate_times(times, params)
    noisy = params.sigma2 + params.tail + params.T > 0
    return np.isinf(t) & (params.gamma == 0 and noisy and abs(params.N - params.P) < 2 * moment)


def _heavy_tail_cause(params: Params) -> str:
    """Why :func:`heavy_tailed` holds, for messages: the sizes and the noise present."""
    noise = [f"{name} = {value:g}" for name, value in
             (("sigma2", params.sigma2), ("uncaptured tail", params.tail), ("T", params.T))
             if value > 0]
    return (f"gamma = 0, |N - P| = {abs(params.N - params.P)}, noise {', '.join(noise)}: the "
            "noise is divided by the smallest eigenvalues of H, and the design average of their "
            "inverse, E tr W^-1 = N / (P - N - 1) for N < P with W Wishart, is infinite for "
            "|N - P| <= 1")


def simulate(params: Params, times, designs: int = 20, seed: int = 0,
             progress: bool = False) -> ErrorCurve:
    """Exact typical-case error: ``designs`` random designs, closed-form averages over the rest.

    Returns the mean over designs of each part, the standard error of the total (``nan`` for
    a single design) and its median over designs (``error_median``). Reproducible from
    ``seed``. Where the mean over designs is infinite (:func:`heavy_tailed`: ridgeless
    ``t = inf`` with ``|N - P| <= 1``) the returned mean and standard error mean nothing and
    a :class:`HeavyTailWarning` (a ``RuntimeWarning``) says so; the median stays finite.

    Discrete time (model.md section 7): with ``params.lr > 0`` each design's full-batch
    gradient descent is exact (:func:`design_error`); with a minibatch (``params.batch`` set)
    the run is a Monte Carlo of minibatch SGD (:func:`rfdmft.sgd.simulate_sgd`), which adds
    ``sgd_variance``. Either raises :class:`~rfdmft.model.DivergenceError` beyond stability.
    """
    if params.features == "random":
        from .random_features import rf_simulate

        return rf_simulate(params, times, designs=designs, seed=seed, progress=progress)
    if params.batch is not None:
        from .sgd import simulate_sgd

        return simulate_sgd(params, times, designs=designs, seed=seed, progress=progress)
    t = validate_times(times, params)
    if isinstance(designs, bool) or not isinstance(designs, (int, np.integer)) or designs < 1:
        raise ValueError(f"designs must be an integer >= 1, got {designs!r}")
    check_size(params, method="exact", times=t.size)
    parts = np.empty((designs, 3, t.size))
    seeds = design_seeds(seed, designs)
    iterator = range(designs)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="designs", leave=False)
    with threadpool_limits(SIMULATOR_BLAS_THREADS, user_api="blas"):
        for d in iterator:
            rng = np.random.default_rng(seeds[d])
            curve = design_error(params, sample_design(params, rng), t)
            parts[d] = curve.bias, curve.label_variance, curve.thermal_variance
    heavy = heavy_tailed(params, t)
    if heavy.any():
        warnings.warn(f"the mean over designs is infinite at t = inf ({_heavy_tail_cause(params)});"
                      " there the mean and error_sem mean nothing: use error_median",
                      HeavyTailWarning, stacklevel=2)
    return _average(t, parts)


def _average(t: np.ndarray, parts: np.ndarray) -> ErrorCurve:
    """Mean over designs (axis 0) of (bias, label, thermal), the standard error of their sum
    and its median over designs."""
    designs = parts.shape[0]
    total = parts.sum(axis=1)
    if designs > 1:              # scaled, so that parts near the float range do not overflow
        scale = np.max(np.abs(total), axis=0)
        scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        sem = (total / scale).std(axis=0, ddof=1) * scale / np.sqrt(designs)
    else:
        sem = np.full(t.size, np.nan)
    mean = parts.mean(axis=0)
    return ErrorCurve(times=t, bias=mean[0], label_variance=mean[1], thermal_variance=mean[2],
                      error_sem=sem, error_median=np.median(total, axis=0))


def time_design(params: Params, times=200, repeats: int = 5, threads: int | None = 1,
                factor: str = "auto", seed: int = 0) -> dict:
    """Seconds of :func:`design_error` on one design against one thin SVD of the same design.

    ``numpy.linalg.svd(A, full_matrices=False)`` and ``design_error(params, A, times)`` are
    called alternately ``repeats`` times each (after one warm-up call of each) under ``threads``
    BLAS threads (``None``: the process's default). Returns the medians ``design`` and ``svd``,
    ``ratio = design / svd``, the spreads (``design_spread``, ``svd_spread``: max - min), the
    ``route`` the design took and ``threads``. ``times`` is a number of log-spaced times in
    ``[0.1, 1e4]`` or an array.
    """
    import time as _time

    t = np.logspace(-1, 4, int(times)) if np.ndim(times) == 0 else np.asarray(times, float)
    A = sample_design(params, np.random.default_rng(seed))
    limit = (contextlib.nullcontext() if threads is None
             else threadpool_limits(int(threads), user_api="blas"))
    with limit:
        route = _spectral(params, A, factor)[3]
        calls = {"design": lambda: design_error(params, A, t, factor=factor),
                 "svd": lambda: np.linalg.svd(A, full_matrices=False)}
        seconds = {name: [] for name in calls}
        for name in calls:
            calls[name]()
        for _ in range(repeats):
            for name, call in calls.items():
                start = _time.perf_counter()
                call()
                seconds[name].append(_time.perf_counter() - start)
    result = {name: float(np.median(v)) for name, v in seconds.items()}
    result.update({f"{name}_spread": float(np.ptp(v)) for name, v in seconds.items()})
    result.update(ratio=result["design"] / result["svd"], route=route,
                  threads=threads, P=params.P, N=params.N)
    return result
