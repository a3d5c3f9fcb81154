"""Exact per-design simulator of the random-feature model (model.md section 6).

The data design ``A`` (``P x M``, ``A[mu, k] = sqrt(lambda_k) phi_k(x_mu)``, all ``M`` kernel
modes) is seen through ``N`` random features ``F`` (``N x M``, i.i.d. ``N(0, 1/N)``): the
student ``f(x) = w . F a(x)`` has the design ``Phi = A F^T`` (``P x N``) and predicts with
``beta = F^T w`` in mode space. Gradient flow with weight decay and temperature on the summed
loss, ``w(0) = 0``; teacher ``wbar_k ~ N(0, p_k)`` on all ``M`` modes, labels
``y = A wbar + eps``; ``E_g = (beta - wbar)^T Lambda (beta - wbar)``, averaged in closed form
over the teacher, the label noise and the Langevin noise for the given ``(A, F)``. There is no
separate tail: what the features cannot represent is in the bias.

One thin SVD ``Phi = U S V^T`` gives everything. ``Phi`` has rank at most
``rho = min(P, N, M)`` (it factors through the ``M`` modes), so only the first ``rho`` singular
triplets are kept; the others are zero in exact arithmetic. With ``h_i = s_i^2``,
``a_i = h_i + gamma`` and the time factors ``g = (1 - e^{-a t}) / a``,
``q = (1 - e^{-2 a t}) / a`` (:func:`rfdmft.simulation._factors`) the mean weights are
``V diag(g s) U^T y`` and the mean prediction ``Q wbar + ...`` with
``Q = B^T diag(g s) C``, ``B = V^T F`` and ``C = U^T A`` (``rho x M``). With the ``rho x rho``
matrices ``X = B Lambda B^T`` and ``Y = C Pi C^T`` (``Pi = diag(p)``) and
``eps_i = sum_k B_ik lambda_k p_k C_ik``:

* bias ``= tr((Q - I)^T Lambda (Q - I) Pi) = d^T (X o Y) d - 2 d . eps + sum_k lambda_k p_k``
  with ``d = g s``;
* label-noise variance ``= sigma2 sum_i g_i^2 h_i X_ii``;
* thermal variance ``= T sum_i q_i X_ii + T q0 (tr(F Lambda F^T) - sum_i X_ii)``, the second
  term the null space of ``Phi^T Phi`` (``q0 = q`` at ``a = gamma``). Its weight is zero
  exactly unless ``P < min(N, M)``: otherwise ``range(V) = range(F)``.

``Q = m(Z)`` is a function of ``Z = F^T F A^T A`` (``M x M``) with ``m(z) = z g(z)``: its
right eigenvectors are the columns of ``B^T``, its left ones the rows of ``C``, and
``C B^T = S``. When ``M <= min(P, N)`` these ``rho = M`` directions are complete and
``Q - I = -B^T diag(e / s) C`` exactly, ``e = 1 - m`` (:func:`rfdmft.simulation._unlearned`),
so the bias is also ``(e/s)^T (X o Y) (e/s)``, a sum without the cancellation of the form above
when the bias has decayed far below ``sum_k lambda_k p_k`` (gradient flow learns everything).
Each time takes the form with the smaller rounding bound (terms weighted by the SVD's relative
accuracy ``eps s_1 / s_i`` in their directions): the first form at early times, when the small
``s_i`` have not been learned, the second at late ones.

Work: the product ``A F^T``, its factorisation (the ``r x r`` Gram matrix of its short side,
certified a posteriori, else the thin SVD: :func:`_factor`), ``B`` and ``C``
(``rho (N + P) M`` multiply-adds) and ``X``, ``Y`` (``rho^2 M``, symmetric products); see
:func:`time_rf_design`. Measured on this 2-core machine (one BLAS thread, medians of 5
alternated calls, 200 times, load 0.7) against the product plus
``numpy.linalg.svd(Phi, full_matrices=False)``: 0.75x at ``M = r/2`` (``r = min(P, N)``),
1.0x at ``M = r``, 1.16x at ``2 r``, 1.25x at the bench's ``(P, N, M) = (1000, 2000, 4000)``,
1.35x at ``4 r``, 1.7-1.8x at ``8 r``, 2.2x at ``16 r`` and 2.9x at ``50 r``. For
``M >> r`` the contractions over ``M`` dominate both sides and the ratio tends to their
multiply-adds, ``1 + (rho (N + P) + rho^2) / (P N)`` (3 at ``N = 2 P``): ``B`` and ``C`` are
each as large as the product itself, and the teacher-averaged bias needs both.

Inputs: ``Params`` as it is (``N`` the number of features, ``M`` the kernel modes, the powers
of length ``M``); continuous time only. ``N > M`` is meaningful here, although the mode
model's ``Params`` refuses it for now. No accurate (Jacobi) route as for the mode model:
relative accuracy ``~ eps s_1 / s_i`` in the directions of small ``s_i`` (thin SVD), or the
Gram route's certified ``2e-11`` in ``h``.
"""

from __future__ import annotations

import contextlib

import numpy as np
from threadpoolctl import threadpool_limits

from .model import ErrorCurve, Params, check_memory, validate_times
from .simulation import (MAX_DESIGN_ENTRIES, SIMULATOR_BLAS_THREADS, _average,
                         _factors, _unlearned, design_seeds, gram_svd, sample_design)

__all__ = ["rf_design_error", "rf_simulate", "sample_features", "rf_has_equilibrium",
           "rf_memory", "check_rf_size", "rf_design_seeds", "time_rf_design"]


#: The complete form of the bias needs ``h_M >= COMPLETE_SPREAD h_1``: ``s_M`` at least ~1e4
#: rounding units of the SVD (``eps s_1``) away from zero, so that it is a direction of ``Phi``
#: and not a zero of a degenerate ``A`` or ``F`` (random ones have none).
COMPLETE_SPREAD = 1e-24


def rf_has_equilibrium(params: Params) -> bool:
    """Whether the error has a ``t = inf`` limit: not for Langevin without weight decay
    (``T > 0``, ``gamma = 0``) when ``min(N, M) >= P``.

    The weights diffuse freely in the null space of ``Phi^T Phi``; only the part of it inside
    ``range(F)`` (dimension ``min(N, M) - P`` when positive) changes the prediction
    ``F^T w``. For ``min(N, M) = P`` there is no such part, but the smallest eigenvalues of
    ``Phi^T Phi`` accumulate at zero and the design average of ``T tr(. / h)`` diverges (as
    for the mode model at ``N = P``). For ``M < P <= N`` the error has an equilibrium although
    the weights do not."""
    return not (params.T > 0 and params.gamma == 0 and min(params.N, params.M) >= params.P)


def _rf_times(params: Params, times) -> np.ndarray:
    """Validated times; ``inf`` refused without equilibrium; discrete time refused."""
    if params.lr > 0 or params.batch is not None:
        raise ValueError(
            f"random features are simulated in continuous time only (lr = 0), got "
            f"lr = {params.lr:g}" + ("" if params.batch is None else f", batch = {params.batch}"))
    t = validate_times(times)
    if np.isinf(t).any() and not rf_has_equilibrium(params):
        n_eff = min(params.N, params.M)
        why = (f"min(N, M) = {n_eff} > P = {params.P}: the weights diffuse freely in the "
               f"{n_eff - params.P} null directions of Phi^T Phi that F^T sees, and the thermal "
               "variance grows without bound" if n_eff > params.P else
               f"min(N, M) = P = {params.P}: the smallest eigenvalues of Phi^T Phi accumulate "
               "at zero and the thermal variance T int dmu(h)/h diverges")
        raise ValueError(f"t = inf is not allowed with T = {params.T:g} > 0, gamma = 0 and "
                         f"{why}; use gamma > 0, min(N, M) < P, or finite times")
    return t


def _checked(params: Params, A, F) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in (("A", A), ("F", F)):
        try:
            arrays.append(np.asarray(value, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__}") \
                from None
    A, F = arrays
    if A.shape != (params.P, params.M):
        raise ValueError(f"A must have shape (P, M) = ({params.P}, {params.M}) (data x kernel "
                         f"modes), got {A.shape}")
    if F.shape != (params.N, params.M):
        raise ValueError(f"F must have shape (N, M) = ({params.N}, {params.M}) (random "
                         f"features x kernel modes), got {F.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A must be finite")
    if not np.all(np.isfinite(F)):
        raise ValueError("F must be finite")
    return A, F


def sample_features(params: Params, rng: np.random.Generator) -> np.ndarray:
    """Random features ``F`` (``N x M``) with i.i.d. ``N(0, 1/N)`` entries, so ``E[F^T F] = I``."""
    return rng.standard_normal((params.N, params.M)) / np.sqrt(params.N)


def _thin_svd(Phi: np.ndarray):
    """``U, s, V^T`` of ``Phi`` (thin), by LAPACK's divide and conquer on the tall side."""
    P, N = Phi.shape
    if P < N:
        v, s, ut = np.linalg.svd(Phi.T, full_matrices=False)
        return ut.T, s, v.T
    return np.linalg.svd(Phi, full_matrices=False)


def _factor(Phi: np.ndarray, rho: int):
    """``U`` (``P x rho``), ``s`` and ``V^T`` (``rho x N``) of the ``rho`` largest singular
    triplets of ``Phi``: from the Gram matrix of its short side when that passes its accuracy
    test (:func:`rfdmft.simulation.gram_svd`, ``h`` certified to 2e-11 relative), else the
    thin SVD."""
    route = gram_svd(Phi, rank=rho)
    if isinstance(route, str):
        U, s, Vt = _thin_svd(Phi)
        return U[:, :rho], s[:rho], Vt[:rho]
    h, u, w = route
    if Phi.shape[0] < Phi.shape[1]:              # u: the P side, w: rows on the N side
        return u, np.sqrt(h), w
    return w.T, np.sqrt(h), np.ascontiguousarray(u.T)


def rf_design_error(params: Params, A, F, times) -> ErrorCurve:
    """Error and its parts for one data design ``A`` (``P x M``) and one feature matrix ``F``
    (``N x M``), averaged over the teacher (mode powers ``params.powers``), the label noise and
    the Langevin noise, at ``times`` (``inf`` allowed where :func:`rf_has_equilibrium`).

    Continuous time only (``params.lr = 0``). Reads ``params.eigenvalues`` and
    ``params.powers`` (length ``M``), ``N``, ``M``, ``P``, ``sigma2``, ``gamma``, ``T``.
    Raises ``ValueError`` for bad shapes, non-finite entries or refused times.
    """
    t = _rf_times(params, times)
    A, F = _checked(params, A, F)
    return _rf_design_error(params, A, F, t)


def _rf_design_error(params: Params, A: np.ndarray, F: np.ndarray, t: np.ndarray) -> ErrorCurve:
    P, N, M = params.P, params.N, params.M
    lam = np.asarray(params.eigenvalues, dtype=float)
    p = np.asarray(params.powers, dtype=float)
    gamma = params.gamma
    rho = min(P, N, M)

    U, s, Vt = _factor(A @ F.T, rho)
    h = s**2
    C = U.T @ A                                  # rows c_i = A^T u_i: left eigenvectors of Z
    del U
    B = Vt @ F                                   # rows b_i = F^T v_i: right eigenvectors of Z
    del Vt
    Bl = B * np.sqrt(lam)
    X = Bl @ Bl.T                                # V^T F Lambda F^T V
    x_diag = np.einsum("ij,ij->i", Bl, Bl)
    del Bl
    Cp = C * np.sqrt(p)
    XY = X * (Cp @ Cp.T)                         # X o (U^T A Pi A^T U)
    del Cp
    cross = np.einsum("ik,k,ik->i", B, lam * p, C)
    del B, C
    signal = float(lam @ p)

    g, q = _factors(h + gamma, t)                # (times, rho)
    learning = h > 0                             # exact zeros carry no label signal
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.where(learning, g * s, 0.0)       # m / s
    bias = ((d @ XY) * d).sum(axis=1) - 2.0 * (d @ cross) + signal
    complete = rho == M and h.size > 0 and h[0] > 0 and h[-1] >= COMPLETE_SPREAD * h[0]
    if complete:                                 # Q - I = -B^T diag(e / s) C exactly
        r = _unlearned(h, gamma, t) / s
        # rounding bound of each form: a term (i, j) is off by about eps (2 + s_1/s_i + s_1/s_j)
        # relative: its own rounding, and the SVD's absolute accuracy eps s_1 in s_i and s_j
        unit = np.finfo(float).eps
        weight = unit * (1.0 + s[0] / s)
        bias_e = ((r @ XY) * r).sum(axis=1)
        magnitude = np.abs(XY)
        ad = np.abs(d)
        bound_d = 2.0 * ((ad @ magnitude) * ad * weight).sum(axis=1) \
            + 2.0 * ((ad * weight) @ np.abs(cross)) + unit * signal
        bound_e = 2.0 * ((r @ magnitude) * r * weight).sum(axis=1)
        bias = np.where(bound_e < bound_d, bias_e, bias)
    bias = np.maximum(bias, 0.0)

    with np.errstate(over="ignore", invalid="ignore"):
        label = params.sigma2 * (np.where(learning, h * g**2, 0.0) @ x_diag)

    thermal = np.zeros_like(t)
    if params.T > 0:
        thermal = params.T * (q @ x_diag)
        if P < min(N, M):                        # null directions of Phi^T Phi inside range(F)
            total = float(np.einsum("nk,nk,k->", F, F, lam))
            null_weight = max(total - float(x_diag.sum()), 0.0)
            _, q0 = _factors(np.array([gamma]), t)
            thermal = thermal + params.T * null_weight * q0[:, 0]
    parts = np.stack([bias, label, thermal])
    if not np.all(np.isfinite(parts)):
        raise FloatingPointError(
            "the random-feature simulator produced non-finite values (at t = "
            f"{t[~np.isfinite(parts).all(0)][0]:g}); the thermal variance without equilibrium "
            "exceeds the floating-point range?")
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)


def rf_memory(params: Params, times: int = 1) -> float:
    """Estimated peak bytes of one design of :func:`rf_simulate`:
    ``8 (P M + N M + 3 P N + 4 rho M + 6 r^2 + 10 t rho)`` with ``r = min(P, N)``,
    ``rho = min(P, N, M)``, ``t`` the number of times: the design and the features, the
    product ``Phi``, its copy inside LAPACK and its factors, ``B``, ``C`` and their weighted
    copies, the ``rho x rho`` matrices and the (times x rho) factors. An upper bound: measured
    with ``tracemalloc`` (one design of :func:`rf_simulate`) at (P, N, M, times) =
    (300, 600, 1200, 200), (600, 300, 1200, 200), (400, 400, 100, 200), (200, 1000, 3000, 50),
    (1000, 200, 150, 500) the peak is 1/1.3 to 1/3.1 of it."""
    P, N, M = params.P, params.N, params.M
    r, rho = min(P, N), min(P, N, M)
    return 8.0 * (P * M + N * M + 3.0 * P * N + 4.0 * rho * M + 6.0 * float(r) ** 2
                  + 10.0 * times * rho)


def check_rf_size(params: Params, times: int = 1) -> None:
    """Refuse, before any work, designs too large for memory (``ValueError``)."""
    for name, rows, columns in (("P x M", params.P, params.M), ("N x M", params.N, params.M),
                                ("P x N", params.P, params.N)):
        if rows * columns > MAX_DESIGN_ENTRIES:
            raise ValueError(f"{name} = {rows} x {columns} is too large: a matrix of the "
                             f"random-feature simulator may have at most "
                             f"{MAX_DESIGN_ENTRIES:.0e} entries (about 8 GB)")
    check_memory(rf_memory(params, times),
                 f"P x N x M = {params.P} x {params.N} x {params.M} (random-feature simulator, "
                 "one design)")


def rf_design_seeds(seed: int, designs: int) -> list[tuple[np.random.SeedSequence, ...]]:
    """Per design ``d`` the seeds of its data and of its features: the two children of
    ``design_seeds(seed, designs)[d]`` (independent streams; design ``d`` depends only on
    ``(seed, d)``)."""
    return [tuple(sequence.spawn(2)) for sequence in design_seeds(seed, designs)]


def _draw(params: Params, seeds) -> tuple[np.ndarray, np.ndarray]:
    data_seed, feature_seed = seeds
    A = sample_design(params, np.random.default_rng(data_seed), columns=params.M)
    F = sample_features(params, np.random.default_rng(feature_seed))
    return A, F


def rf_simulate(params: Params, times, designs: int = 20, seed: int = 0,
                progress: bool = False) -> ErrorCurve:
    """Typical-case error of the random-feature model: ``designs`` draws of the data design
    ``A`` and the features ``F`` (independent streams, :func:`rf_design_seeds`), each averaged
    over everything else in closed form (:func:`rf_design_error`).

    Returns the mean over designs of each part, the standard error of the total (``nan`` for
    one design) and its median over designs. Reproducible from ``seed``; one BLAS thread, as
    :func:`rfdmft.simulation.simulate`.
    """
    t = _rf_times(params, times)
    if isinstance(designs, bool) or not isinstance(designs, (int, np.integer)) or designs < 1:
        raise ValueError(f"designs must be an integer >= 1, got {designs!r}")
    check_rf_size(params, t.size)
    parts = np.empty((designs, 3, t.size))
    seeds = rf_design_seeds(seed, designs)
    iterator = range(designs)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="designs", leave=False)
    with threadpool_limits(SIMULATOR_BLAS_THREADS, user_api="blas"):
        for d in iterator:
            A, F = _draw(params, seeds[d])
            curve = _rf_design_error(params, A, F, t)
            parts[d] = curve.bias, curve.label_variance, curve.thermal_variance
    return _average(t, parts)


def time_rf_design(params: Params, times=200, repeats: int = 5, threads: int | None = 1,
                   seed: int = 0) -> dict:
    """Seconds of :func:`rf_design_error` on one design against the product ``A F^T`` plus
    ``numpy.linalg.svd(Phi, full_matrices=False)``, called alternately ``repeats`` times each
    (after one warm-up call of each) under ``threads`` BLAS threads (``None``: the default).
    Returns the medians ``rf`` and ``reference``, ``ratio = rf / reference`` and the spreads
    (max - min). ``times`` is a number of log-spaced times in ``[0.1, 1e4]`` or an array."""
    import time as _time

    t = np.logspace(-1, 4, int(times)) if np.ndim(times) == 0 else np.asarray(times, float)
    A, F = _draw(params, rf_design_seeds(seed, 1)[0])
    limit = (contextlib.nullcontext() if threads is None
             else threadpool_limits(int(threads), user_api="blas"))
    with limit:
        calls = {"rf": lambda: rf_design_error(params, A, F, t),
                 "reference": lambda: np.linalg.svd(A @ F.T, full_matrices=False)}
        seconds = {name: [] for name in calls}
        for call in calls.values():
            call()
        for _ in range(repeats):
            for name, call in calls.items():
                start = _time.perf_counter()
                call()
                seconds[name].append(_time.perf_counter() - start)
    result = {name: float(np.median(v)) for name, v in seconds.items()}
    result.update({f"{name}_spread": float(np.ptp(v)) for name, v in seconds.items()})
    result.update(ratio=result["rf"] / result["reference"], threads=threads,
                  P=params.P, N=params.N, M=params.M)
    return result
