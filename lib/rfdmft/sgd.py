"""Minibatch SGD by Monte Carlo (model.md section 7), measured against exact gradient descent.

One step (``B`` of the ``P`` training points, drawn uniformly without replacement afresh at
every step; ``l_mu = (y_mu - f(x_mu))^2 / 2``)::

    w <- w - lr [ (P / B) sum_{mu in batch} grad l_mu(w) + gamma w ] + sqrt(2 T lr) xi

from ``w = 0``; time is ``t = lr n``. Full-batch gradient descent (``B = P``) is exact per
design (:func:`rfdmft.simulation.design_error`); what the minibatches add is measured here.

Per design ``A`` (:func:`rfdmft.simulation.sample_design`), one run draws the captured teacher
``wbar_k ~ N(0, p_k)`` (``k <= N``) and labels ``y = A wbar + eps`` with
``eps ~ N(0, sigma2 + tail)``: averaged over the uncaptured features, the uncaptured modes act
on the labels exactly as i.i.d. noise of variance ``tail`` (the error depends on the labels
through their second moments only). Since the minibatch gradient is unbiased and the step is
affine in ``w``, the mean of ``w_SGD(n)`` over batches and Langevin noise is the exact
gradient-descent weight ``w_GD(n)`` for the same labels (closed form from the design's
factorisation). So the SGD error is the gradient-descent error plus
``E sum_k lambda_k (w_SGD - w_GD)_k^2 - (GD thermal variance)``: the run records that
deviation, which has a much smaller variance than a difference of two errors. The result's
``bias``, ``label_variance`` and ``thermal_variance`` are the exact gradient-descent parts of
the same designs and ``sgd_variance`` the Monte Carlo excess.

The steps run in a compiled kernel with its own random generator (xoshiro256**, state held in
a small array; batches by a partial Fisher-Yates shuffle), so a run is reproducible bit for
bit from its seed, independently of how the steps are sliced; the slices are dispatched from
Python (so Ctrl-C is seen between them) with an optional progress bar. Without Langevin noise
the weights stay in the span of the data, ``w = A^T c``, and the kernel steps the ``P``
coefficients ``c`` with ``K = A A^T`` (:func:`_sgd_steps_dual`, ``B P`` multiply-adds a step)
when that is cheaper than the weights (:func:`_sgd_steps`, ``2 B N``). :func:`sgd_numpy` is the same
steps as a plain numpy loop, given the batches and the Langevin noise explicitly
(:func:`sgd_sequence` gives those a seeded run uses): the reference of the tests and of
``python -m rfdmft bench``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from .model import DivergenceError, ErrorCurve, Params, steps, validate_times

__all__ = ["SGDRuns", "simulate_sgd", "design_sgd", "sgd_weights", "gd_weights", "sgd_sequence",
           "sgd_numpy", "check_sgd", "sgd_work", "MAX_SGD_WORK", "RUNAWAY"]

#: Largest Monte Carlo accepted, in multiply-adds ``steps x (work of a step) x runs`` (see
#: :func:`sgd_work`): a few minutes at the ~3e9 multiply-adds per second measured here (row
#: "sgd" of ``python -m rfdmft bench``: N = 400, P = 200, B = 8), also at half that speed on a
#: busy machine.
MAX_SGD_WORK = 3e11

#: Per-step work beyond the ``2 B`` row operations of the weight representation, in units of
#: ``N`` multiply-adds: the update and its divergence check, and, with ``T > 0``, the ``N``
#: Gaussian numbers (measured here: about 8 ns each, against ~0.15 ns per multiply-add in the
#: vectorised row operations).
SGD_STEP_OVERHEAD = 2
SGD_THERMAL_OVERHEAD = 50

#: A run has diverged when its squared weights exceed this many times the scale of exact
#: gradient descent's (:func:`_runaway_limit`), or are not finite.
RUNAWAY = 1e6

#: Multiply-adds per slice of steps dispatched from Python (a few milliseconds each).
SLICE_WORK = 20_000_000


# --------------------------------------------------------------------------------------------
# random numbers inside numba: xoshiro256** (Blackman and Vigna), state in a uint64[4] array
# --------------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def _next(s):
    """The next 64 random bits; advances the state ``s`` in place."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def _below(k, s):
    """A uniform integer in ``[0, k)``, ``1 <= k < 2^32``, without bias (Lemire's method)."""
    kk = np.uint64(k)
    low_mask = np.uint64(0xFFFFFFFF)
    m = (_next(s) >> np.uint64(32)) * kk
    low = m & low_mask
    if low < kk:
        threshold = (np.uint64(0x100000000) - kk) % kk
        while low < threshold:
            m = (_next(s) >> np.uint64(32)) * kk
            low = m & low_mask
    return np.int64(m >> np.uint64(32))


@njit(cache=True)
def _uniform(s):
    """A uniform double in ``[0, 1)`` (53 random bits)."""
    return np.float64(_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _draw_batch(perm, B, s):
    """Partial Fisher-Yates: ``perm[:B]`` becomes a uniformly random ordered subset of ``B``
    of the ``P`` indices (whatever order ``perm`` was in)."""
    P = perm.size
    for i in range(B):
        j = i + _below(P - i, s)
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp


@njit(cache=True)
def _draw_normals(out, s):
    """Fill ``out`` with standard normals: Marsaglia's polar method, in pairs (an odd last one
    uses half a pair); about 2.5x faster here than Box-Muller's sine and cosine."""
    n = out.size
    i = 0
    while i < n:
        while True:
            u = 2.0 * _uniform(s) - 1.0
            v = 2.0 * _uniform(s) - 1.0
            q = u * u + v * v
            if 0.0 < q < 1.0:
                break
        f = math.sqrt(-2.0 * math.log(q) / q)
        out[i] = u * f
        if i + 1 < n:
            out[i + 1] = v * f
        i += 2


# --------------------------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------------------------

#: Floating-point freedoms of the inner loops: reassociation (so that LLVM vectorises the dot
#: products) and fused multiply-adds; not ``nnan``/``ninf``, which would let the compiler drop
#: the checks for non-finite weights.
_FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FAST)
def _row_dot(X, mu, v):
    """``X[mu, :] . v``."""
    s = 0.0
    for k in range(v.size):
        s += X[mu, k] * v[k]
    return s


@njit(cache=True, fastmath=_FAST)
def _row_axpy(r, X, mu, out):
    """``out += r X[mu, :]``."""
    for k in range(out.size):
        out[k] += r * X[mu, k]


@njit(cache=True, fastmath=_FAST)
def _weight_update(w, grad, decay, scale, kick, xi, thermal):
    """``w <- decay w - scale grad (+ kick xi)``; returns ``|w|^2``."""
    norm = 0.0
    if thermal:
        for k in range(w.size):
            value = decay * w[k] - scale * grad[k] + kick * xi[k]
            w[k] = value
            norm += value * value
    else:
        for k in range(w.size):
            value = decay * w[k] - scale * grad[k]
            w[k] = value
            norm += value * value
    return norm


@njit(cache=True)
def _sgd_steps(A, y, w, perm, state, lr, gamma, temperature, B, count, limit, resid, grad, xi):
    """``count`` SGD steps on the weights ``w`` in place (``perm``, ``state`` advance with
    them): per step the batch, its ``B`` residuals ``a_mu . w - y_mu``, the gradient
    ``sum r_mu a_mu``, the Langevin normals (``T > 0``) and the update.

    Returns 0 when all went well, else the step (1-based, within this slice) after which
    ``|w|^2`` was not finite or exceeded ``limit``."""
    P = A.shape[0]
    scale = lr * P / B
    decay = 1.0 - lr * gamma
    thermal = temperature > 0.0
    kick = math.sqrt(2.0 * temperature * lr)
    for step in range(count):
        _draw_batch(perm, B, state)
        for i in range(B):
            mu = perm[i]
            resid[i] = _row_dot(A, mu, w) - y[mu]
        grad[:] = 0.0
        for i in range(B):
            _row_axpy(resid[i], A, perm[i], grad)
        if thermal:
            _draw_normals(xi, state)
        norm = _weight_update(w, grad, decay, scale, kick, xi, thermal)
        if not norm <= limit:
            return step + 1
    return 0


@njit(cache=True)
def _sgd_steps_dual(K, y, c, perm, state, lr, gamma, B, count, limit, resid):
    """The same steps without Langevin noise, on the coefficients ``c`` of ``w = A^T c``
    (the weights stay in the span of the data from ``w = 0``), with ``K = A A^T``: the
    residuals are ``K[mu, :] . c - y_mu`` and the update ``c <- decay c``,
    ``c_mu -= scale r_mu`` on the batch: ``B P`` multiply-adds a step instead of ``2 B N``.

    Returns 0 when all went well, else the step (1-based) after which a squared residual of
    the batch was not finite or exceeded ``limit``."""
    P = K.shape[0]
    scale = lr * P / B
    decay = 1.0 - lr * gamma
    for step in range(count):
        _draw_batch(perm, B, state)
        bad = False
        for i in range(B):
            mu = perm[i]
            r = _row_dot(K, mu, c) - y[mu]
            resid[i] = r
            if not r * r <= limit:
                bad = True
        if decay != 1.0:
            for k in range(P):
                c[k] *= decay
        for i in range(B):
            c[perm[i]] -= scale * resid[i]
        if bad:
            return step + 1
    return 0


@njit(cache=True)
def _sgd_draws(perm, state, count, B, N, thermal):
    """The batches (``count x B``) and Langevin normals (``count x N``; ``0 x N`` without
    noise) that :func:`_sgd_steps` draws from the same ``perm`` and ``state``, in its order."""
    batches = np.empty((count, B), dtype=np.int64)
    xi = np.empty((count if thermal else 0, N))
    row = np.empty(N)
    for n in range(count):
        _draw_batch(perm, B, state)
        for i in range(B):
            batches[n, i] = perm[i]
        if thermal:
            _draw_normals(row, state)
            xi[n] = row
    return batches, xi


# --------------------------------------------------------------------------------------------
# arguments, seeds, work
# --------------------------------------------------------------------------------------------

def _batch_size(params: Params, batch) -> int:
    """``batch`` (default ``params.batch_size``), checked: an integer in ``1..P``."""
    if batch is None:
        return params.batch_size
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) \
            or not 1 <= batch <= params.P:
        raise ValueError(f"batch must be an integer from 1 to P = {params.P}, got {batch!r}")
    return int(batch)


def _needs_lr(params: Params) -> None:
    if not params.lr > 0:
        raise ValueError(f"lr must be > 0 for minibatch SGD (discrete steps), got "
                         f"lr = {params.lr:g}")


def _state(seed) -> np.ndarray:
    """xoshiro256** state (4 x uint64, not all zero) from an integer or a SeedSequence."""
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    state = sequence.generate_state(4, dtype=np.uint64)
    if not state.any():
        state[0] = 1
    return state


def _step_counts(params: Params, t: np.ndarray, batch: int) -> np.ndarray:
    """Steps per time; ``t = inf`` refused (the Monte Carlo cannot run forever)."""
    if np.isinf(t).any():
        raise ValueError(
            f"t = inf cannot be simulated with minibatch SGD (B = {batch} of P = {params.P}): "
            "a Monte Carlo cannot run forever; use the discrete-time theory "
            "(rfdmft.discrete.theory_discrete, or `theory --lr`) for t = inf, or finite times")
    return steps(params, t).astype(np.int64)


def sgd_work(params: Params, times, designs: int = 1, batch: int | None = None) -> float:
    """Multiply-adds of a Monte Carlo of ``designs`` runs to the largest of ``times``:
    ``steps x (work of a step) x designs``, a step costing ``(B + 1) P`` in the dual
    representation (``T = 0``, ``P`` below about ``2 N``) and ``(2 B + 2) N`` in the weights
    (plus ``SGD_THERMAL_OVERHEAD N`` for the Langevin normals when ``T > 0``), see
    :func:`_representation`."""
    B = _batch_size(params, batch)
    t = validate_times(times, params)
    n = _step_counts(params, t, B)
    return float(n.max()) * _step_work(params.P, params.N, B, params.T) * designs


def check_sgd(params: Params, times, designs: int = 1, batch: int | None = None) -> np.ndarray:
    """Refuse, before any work, a Monte Carlo that cannot run: ``lr = 0``, ``t = inf``, or more
    work than :data:`MAX_SGD_WORK` (a few minutes); one-line ``ValueError`` naming the
    parameters and what would fit. Returns the validated times."""
    _needs_lr(params)
    B = _batch_size(params, batch)
    t = validate_times(times, params)
    n_max = int(_step_counts(params, t, B).max())
    work = sgd_work(params, t, designs, B)
    if work > MAX_SGD_WORK:
        per_step = _step_work(params.P, params.N, B, params.T)
        t_fit = math.floor(MAX_SGD_WORK / (per_step * designs)) * params.lr
        designs_fit = int(MAX_SGD_WORK // (per_step * n_max))
        raise ValueError(
            f"t = {float(t.max()):g} with lr = {params.lr:g} ({n_max} steps), B = {B}, "
            f"N = {params.N}, P = {params.P} and {designs} designs is too much work for the SGD "
            f"Monte Carlo: {work:.3g} multiply-adds, more than the {MAX_SGD_WORK:.0e} that run "
            f"in a few minutes; what fits: t <= {t_fit:.4g}"
            + (f", or designs <= {designs_fit}" if designs_fit >= 1 else "")
            + " (or the theory: theory --lr)")
    return t


# --------------------------------------------------------------------------------------------
# one run: SGD weights, exact GD weights
# --------------------------------------------------------------------------------------------

#: Representations of a run: ``"weights"`` (:func:`_sgd_steps`), ``"dual"``
#: (:func:`_sgd_steps_dual`, ``T = 0`` only), or ``"auto"``: the dual one when it exists and
#: costs less, ``P (B + 1) < N (2 B + 1)`` multiply-adds a step (about ``P < 2 N``).
REPRESENTATIONS = ("auto", "weights", "dual")


def _representation(P: int, N: int, B: int, temperature: float, choice: str = "auto") -> str:
    if choice not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {choice!r}")
    if choice == "dual" and temperature > 0:
        raise ValueError("representation 'dual' needs T = 0 (Langevin noise leaves the span of "
                         f"the data), got T = {temperature:g}")
    if choice != "auto":
        return choice
    return "dual" if temperature == 0 and P * (B + 1) < N * (2 * B + 1) else "weights"


def _step_work(P: int, N: int, B: int, temperature: float) -> float:
    """Multiply-adds of one step in the representation ``"auto"`` chooses (the Langevin
    normals counted as :data:`SGD_THERMAL_OVERHEAD` multiply-adds each)."""
    if _representation(P, N, B, temperature) == "dual":
        return float((B + 1) * P)
    return float((2 * B + SGD_STEP_OVERHEAD + (SGD_THERMAL_OVERHEAD if temperature > 0 else 0))
                 * N)


def _diverged(step: int, lr: float, B: int, what: str, exact: bool = True,
              finite: bool = True) -> DivergenceError:
    return DivergenceError(
        f"minibatch SGD diverged {'at' if exact else 'by'} step {step} (lr = {lr:g}, B = {B}"
        f"{what}): the weights {'ran away' if finite else 'are not finite'} (beyond "
        f"{RUNAWAY:.0e} times the scale of exact gradient descent on this design); minibatch "
        "noise grows with the loss, so SGD can diverge where gradient descent is stable: use a "
        "smaller lr or a larger batch")


def _run(A, y, lr, gamma, temperature, B, counts, state, limit, bar=None, what="",
         representation="auto", K=None):
    """Weights after each of the sorted step ``counts`` of one run (``len(counts) x N``).

    ``limit`` bounds ``|w|^2`` (checked every step in the weight representation; in the dual
    one every step through the batch residuals, ``r^2 <= 2 (max_mu |a_mu|^2 limit +
    max y^2)``, and at the end of every slice directly). ``K = A A^T`` may be given (dual)."""
    A = np.ascontiguousarray(A, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    P, N = A.shape
    form = _representation(P, N, B, temperature, representation)
    perm = np.arange(P, dtype=np.int64)
    resid = np.empty(B)
    out = np.empty((len(counts), N))
    slice_steps = max(1, int(SLICE_WORK // _step_work(P, N, B, temperature)))
    if form == "dual":
        K = np.ascontiguousarray(A @ A.T) if K is None else K
        c = np.zeros(P)
        with np.errstate(over="ignore"):
            residual_limit = 2.0 * (float(np.max(np.diag(K))) * limit + float(np.max(y * y)))
    else:
        w = np.zeros(N)
        grad = np.empty(N)
        xi = np.empty(N)
    done = 0
    for j, target in enumerate(counts):
        while done < target:
            count = int(min(slice_steps, target - done))
            if form == "dual":
                bad = _sgd_steps_dual(K, y, c, perm, state, lr, gamma, B, count,
                                      residual_limit, resid)
                if bad:
                    raise _diverged(done + bad, lr, B, what,
                                    finite=bool(np.all(np.isfinite(c))))
                w = A.T @ c
                norm = float(w @ w)
                if not norm <= limit:
                    raise _diverged(done + count, lr, B, what, exact=False,
                                    finite=bool(np.isfinite(norm)))
            else:
                bad = _sgd_steps(A, y, w, perm, state, lr, gamma, temperature, B, count, limit,
                                 resid, grad, xi)
                if bad:
                    raise _diverged(done + bad, lr, B, what,
                                    finite=bool(np.all(np.isfinite(w))))
            done += count
            if bar is not None:
                bar.update(count)
        out[j] = A.T @ c if form == "dual" else w
    return out


def _gd_gain(params: Params, spectral, counts) -> np.ndarray:
    """``g_n(h_i) = (1 - u_i^n) / a_i`` of :func:`rfdmft.simulation._factors` for gradient
    descent at the step ``counts`` (``len(counts) x r``); zero on exact null directions, which
    the labels do not drive."""
    from .simulation import _factors

    h = spectral[0]
    g, _ = _factors(h + params.gamma, None, params.lr, np.asarray(counts, dtype=float))
    return np.where(h > 0, g, 0.0)


def _gd_from_spectral(params: Params, spectral, A, y, counts) -> np.ndarray:
    """Exact gradient-descent weights ``V diag(g_n) V^T A^T y`` at the step ``counts``."""
    vt = spectral[1]
    drive = vt @ (A.T @ y)
    return (_gd_gain(params, spectral, counts) * drive) @ vt


def gd_weights(params: Params, A, y, step_counts) -> np.ndarray:
    """Exact full-batch gradient-descent weights from ``w = 0`` after each of ``step_counts``
    steps of size ``params.lr``, for design ``A`` and labels ``y`` (no Langevin noise): the
    mean of the SGD weights over batches and noise. Closed form from the design's
    factorisation; ``DivergenceError`` beyond the stability edge."""
    from .simulation import _checked_design, _spectral, check_stable

    _needs_lr(params)
    A = _checked_design(params, A)
    y = _labels(params, y)
    n = _counts(step_counts)
    spectral = _spectral(params, A)
    check_stable(params, float(np.max(spectral[0])) if spectral[0].size else 0.0)
    return _gd_from_spectral(params, spectral, A, y, n)


def _counts(step_counts) -> np.ndarray:
    n = np.asarray(step_counts)
    if n.ndim != 1 or not np.issubdtype(n.dtype, np.integer) or (n < 0).any():
        raise ValueError(f"steps must be a 1-D array of integers >= 0, got {step_counts!r}")
    return n.astype(np.int64)


def _labels(params: Params, y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.shape != (params.P,) or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be P = {params.P} finite labels, got an array of shape "
                         f"{y.shape}" + ("" if y.shape != (params.P,) else " with non-finite "
                                         "entries"))
    return y


def sgd_weights(params: Params, A, y, step_counts, seed=0, batch: int | None = None,
                progress: bool = False, representation: str = "auto") -> np.ndarray:
    """Weights of one minibatch SGD run on design ``A`` with labels ``y`` after each of
    ``step_counts`` steps (any order; ``len x N``), from ``w = 0``, seeded by ``seed`` (an
    integer or a ``numpy.random.SeedSequence``). ``batch`` overrides ``params.batch_size``
    (e.g. ``P``: a Monte Carlo of full-batch gradient descent). ``representation`` forces
    the weights or the dual form of the steps (see :data:`REPRESENTATIONS`; same numbers up to
    round-off); divergence is checked only as non-finite values here."""
    from .simulation import _checked_design

    _needs_lr(params)
    B = _batch_size(params, batch)
    A = _checked_design(params, A)
    y = _labels(params, y)
    n = _counts(step_counts)
    order = np.argsort(n, kind="stable")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=int(n.max(initial=0)), desc="SGD steps", leave=False)
    try:
        sorted_w = _run(A, y, params.lr, params.gamma, params.T, B, n[order], _state(seed),
                        np.finfo(float).max, bar, representation=representation)
    finally:
        if bar is not None:
            bar.close()
    out = np.empty_like(sorted_w)
    out[order] = sorted_w
    return out


def sgd_sequence(params: Params, count: int, seed=0, batch: int | None = None):
    """The batches (``count x B`` indices) and Langevin normals (``count x N``, or ``None``
    when ``T = 0``) of the first ``count`` steps of the run :func:`sgd_weights` makes with
    ``seed``: the input of :func:`sgd_numpy`."""
    B = _batch_size(params, batch)
    perm = np.arange(params.P, dtype=np.int64)
    batches, xi = _sgd_draws(perm, _state(seed), int(count), B, params.N, params.T > 0)
    return batches, (xi if params.T > 0 else None)


def sgd_numpy(params: Params, A, y, step_counts, batches, xi=None) -> np.ndarray:
    """The same SGD steps as a plain numpy loop, with the batches (``steps x B``) and the
    Langevin normals (``steps x N``, needed when ``T > 0``) given: the reference of the tests
    and of the benchmark. Returns the weights after each of ``step_counts`` (any order)."""
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    n = _counts(step_counts)
    batches = np.asarray(batches)
    P, N = A.shape
    B = batches.shape[1]
    lr, gamma = params.lr, params.gamma
    kick = math.sqrt(2.0 * params.T * lr)
    if n.max(initial=0) > batches.shape[0] or (params.T > 0 and (
            xi is None or np.shape(xi)[0] < n.max(initial=0))):
        raise ValueError("batches (and xi when T > 0) must cover the largest step count")
    out = np.empty((n.size, N))
    w = np.zeros(N)
    done = 0
    for j in np.argsort(n, kind="stable"):
        while done < n[j]:
            rows = A[batches[done]]
            r = rows @ w - y[batches[done]]
            w = w - lr * ((P / B) * (rows.T @ r) + gamma * w)
            if params.T > 0:
                w = w + kick * xi[done]
            done += 1
        out[j] = w
    return out


# --------------------------------------------------------------------------------------------
# runs on a design, averages over designs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SGDRuns:
    """Runs of minibatch SGD on one design.

    ``gd`` the exact gradient-descent parts of the design (an :class:`ErrorCurve`, averaged
    over teacher, label noise and Langevin noise); ``deviation[r, j]``
    ``= sum_k lambda_k (w_SGD - w_GD)_k^2`` of run ``r`` at ``times[j]``; ``error[r, j]`` the
    actual error of run ``r`` (for checks). The Monte Carlo estimate of the SGD error is
    ``gd.bias + gd.label_variance + mean(deviation)``, and of its excess over gradient descent
    ``mean(deviation) - gd.thermal_variance`` (:attr:`sgd_variance`)."""

    times: np.ndarray
    steps: np.ndarray
    gd: ErrorCurve
    deviation: np.ndarray
    error: np.ndarray

    @property
    def sgd_variance(self) -> np.ndarray:
        return self.deviation.mean(axis=0) - self.gd.thermal_variance

    @property
    def estimate(self) -> np.ndarray:
        """Monte Carlo estimate of the SGD error on this design."""
        return self.gd.bias + self.gd.label_variance + self.deviation.mean(axis=0)


def _runaway_limit(params: Params, spectral, y, n_max: int) -> float:
    """``RUNAWAY`` times a bound on the squared weights of gradient descent to ``n_max`` steps:
    ``|w_GD|^2 <= max_i (g_n(h_i) sqrt(h_i))^2 |y|^2`` with ``|g_n| <= min(n lr, 2 / a)``,
    plus the Langevin spread ``2 T lr n_max N``."""
    h = spectral[0]
    a = h + params.gamma
    with np.errstate(divide="ignore"):
        gain = np.minimum(n_max * params.lr, np.where(a > 0, 2.0 / np.where(a > 0, a, 1.0),
                                                      np.inf))
    scale = float(np.max(gain * np.sqrt(np.maximum(h, 0.0)), initial=0.0)) ** 2 \
        * float(y @ y) + 2.0 * params.T * params.lr * n_max * params.N
    return RUNAWAY * max(scale, np.finfo(float).tiny)


def _design_runs(params, A, spectral, t, n, rng, runs, B, bar=None, what=""):
    """``runs`` runs on design ``A``: (deviation, error), each ``runs x times``."""
    N = params.N
    lam = params.eigenvalues[:N]
    p = params.powers[:N]
    noise = math.sqrt(params.sigma2 + params.tail)
    order = np.argsort(n, kind="stable")
    counts = n[order]
    gain = _gd_gain(params, spectral, counts)
    vt = spectral[1]
    deviation = np.empty((runs, t.size))
    error = np.empty((runs, t.size))
    K = None
    if _representation(params.P, N, B, params.T) == "dual":
        K = np.ascontiguousarray(A @ A.T)
    for r in range(runs):
        wbar = rng.standard_normal(N) * np.sqrt(p)
        y = A @ wbar + noise * rng.standard_normal(params.P)
        state = _state(np.random.SeedSequence(int(rng.integers(2**63))))
        limit = _runaway_limit(params, spectral, y, int(counts[-1]) if counts.size else 0)
        w = _run(A, y, params.lr, params.gamma, params.T, B, counts, state, limit, bar, what,
                 K=K)
        w_gd = (gain * (vt @ (A.T @ y))) @ vt
        deviation[r, order] = ((w - w_gd) ** 2) @ lam
        error[r, order] = ((w - wbar) ** 2) @ lam + params.tail
    return deviation, error


def design_sgd(params: Params, A, times, runs: int = 1, seed=0, batch: int | None = None,
               progress: bool = False) -> SGDRuns:
    """``runs`` independent minibatch SGD runs (each its own teacher, label noise, batches and
    Langevin noise) on the fixed design ``A`` (``P x N``), with the exact gradient-descent
    parts of ``A``. ``batch`` overrides ``params.batch_size`` (``P`` forces the Monte Carlo
    of full-batch gradient descent, whose ``sgd_variance`` is zero up to round-off at
    ``T = 0``). Reproducible from ``seed``."""
    from .simulation import _checked_design, _design_error, _spectral

    if isinstance(runs, bool) or not isinstance(runs, numbers.Integral) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    B = _batch_size(params, batch)
    t = check_sgd(params, times, runs, B)
    A = _checked_design(params, A)
    n = _step_counts(params, t, B)
    spectral = _spectral(params, A)
    gd = _design_error(params.replace(batch=None), A, t, spectral)
    rng = np.random.default_rng(seed)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=int(n.max(initial=0)) * runs, desc="SGD steps", leave=False)
    try:
        deviation, error = _design_runs(params, A, spectral, t, n, rng, runs, B, bar)
    finally:
        if bar is not None:
            bar.close()
    return SGDRuns(times=t, steps=n, gd=gd, deviation=deviation, error=error)


def simulate_sgd(params: Params, times, designs: int = 20, seed: int = 0,
                 progress: bool = False, batch: int | None = None) -> ErrorCurve:
    """Typical-case error of minibatch SGD: ``designs`` random designs, one run on each (its
    own teacher, label noise, batch sequence and Langevin noise).

    ``bias``, ``label_variance``, ``thermal_variance``: the exact full-batch gradient-descent
    parts of the same designs (averaged over designs); ``sgd_variance``: the mean over designs
    of ``sum_k lambda_k (w_SGD - w_GD)_k^2`` minus the gradient-descent thermal variance;
    ``error_sem`` the standard error over designs of the total, ``error_median`` its median.
    Design ``d`` is the one :func:`rfdmft.simulation.simulate` draws with the same ``seed``.
    ``batch`` overrides ``params.batch_size`` (see :func:`design_sgd`). Refuses ``t = inf``
    and runs beyond :data:`MAX_SGD_WORK` (``ValueError``); ``DivergenceError`` when gradient
    descent or the run diverges.
    """
    from .simulation import (SIMULATOR_BLAS_THREADS, _average, _design_error, _spectral,
                             check_size, design_seeds, sample_design)
    from threadpoolctl import threadpool_limits

    if isinstance(designs, bool) or not isinstance(designs, (int, np.integer)) or designs < 1:
        raise ValueError(f"designs must be an integer >= 1, got {designs!r}")
    B = _batch_size(params, batch)
    t = check_sgd(params, times, designs, B)
    check_size(params, method="exact", times=t.size)
    n = _step_counts(params, t, B)
    gd_params = params.replace(batch=None)
    parts = np.empty((designs, 4, t.size))
    seeds = design_seeds(seed, designs)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=int(n.max(initial=0)) * designs, desc="SGD steps", leave=False)
    try:
        with threadpool_limits(SIMULATOR_BLAS_THREADS, user_api="blas"):
            for d in range(designs):
                rng = np.random.default_rng(seeds[d])
                A = sample_design(params, rng)
                spectral = _spectral(params, A)
                try:
                    gd = _design_error(gd_params, A, t, spectral)
                except DivergenceError as error:
                    raise DivergenceError(f"minibatch SGD diverges with full-batch gradient "
                                          f"descent, which its mean follows: {error}") from None
                deviation, _ = _design_runs(params, A, spectral, t, n, rng, 1, B, bar,
                                            what=f", design {d + 1} of {designs}")
                parts[d] = (gd.bias, gd.label_variance, gd.thermal_variance,
                            deviation[0] - gd.thermal_variance)
    finally:
        if bar is not None:
            bar.close()
    # the total per design is bias + label + thermal + excess = bias + label + deviation:
    # its standard error and median over designs come from _average
    spread = _average(t, np.stack([parts[:, 0], parts[:, 1], parts[:, 2] + parts[:, 3]], axis=1))
    mean = parts.mean(axis=0)
    return ErrorCurve(times=t, bias=mean[0], label_variance=mean[1], thermal_variance=mean[2],
                      error_sem=spread.error_sem, error_median=spread.error_median,
                      sgd_variance=mean[3])
