"""Sample paths: one design, one teacher, one draw of label noise, one Langevin path.

Everything is drawn explicitly, the uncaptured modes ``k > N`` included, and the dynamics
``dw = -[(H + gamma) w - A^T y] dt + sqrt(2 T) dB``, ``w(0) = 0``, is integrated either
exactly (Ornstein-Uhlenbeck steps in the eigenbasis of ``H``, any time step, ``t = inf`` as a
draw from equilibrium) or by Euler-Maruyama in weight space with step ``dt``.

By linearity ``w = w_teacher + w_noise + w_thermal``, driven by the captured teacher, by the
effective label noise (label noise plus uncaptured modes), and by the Langevin noise. Their
errors are the path's bias, label-noise and thermal parts; the cross terms have mean zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numba
from numba import njit, prange

from .model import ErrorCurve, Params, validate_times
from .simulation import (_average, check_size, design_seeds, one_blas_thread, sample_design,
                         spare_cores)

__all__ = ["SamplePath", "sample_path", "simulate_paths"]


@dataclass(frozen=True)
class SamplePath:
    """One run. ``weights[j, s, k]``: part ``s`` (teacher, noise, thermal) of ``w_k(times[j])``.

    ``error`` is the path's actual ``E_g``; ``bias``, ``label_variance`` and ``thermal_variance``
    are the errors of the three parts (the bias includes the uncaptured tail).
    """

    times: np.ndarray
    weights: np.ndarray
    teacher: np.ndarray          # wbar_k, k = 1..M
    error: np.ndarray
    bias: np.ndarray
    label_variance: np.ndarray
    thermal_variance: np.ndarray

    @property
    def w(self) -> np.ndarray:
        """The weights ``w(t)`` (times x N)."""
        return self.weights.sum(axis=1)


@njit(cache=True)
def _ou_steps(a, drive, temperature, times, xi):
    """Exact OU updates of ``dz = -(a z - drive) dt + sqrt(2T) dB`` per eigen-coordinate.

    ``drive`` is (2, n): the teacher and noise drives; the thermal part has none.
    Returns ``z[j, part, i]`` at ``times[j]`` (``inf``: an equilibrium draw).
    """
    n = a.size
    z = np.zeros((times.size, 3, n))
    state = np.zeros((3, n))
    now = 0.0
    for j in range(times.size):
        dt = times[j] - now
        for i in range(n):
            ai = a[i]
            if ai > 0.0 and math.isinf(dt):
                decay, gain, var = 0.0, 1.0 / ai, temperature / ai
            elif ai > 0.0:
                decay = math.exp(-ai * dt)
                gain = -math.expm1(-ai * dt) / ai
                var = -temperature * math.expm1(-2.0 * ai * dt) / ai
            elif math.isinf(dt):          # free direction, T = 0 (checked): nothing moves it
                decay, gain, var = 1.0, 0.0, 0.0
            else:
                decay, gain, var = 1.0, dt, 2.0 * temperature * dt
            for s in range(2):
                state[s, i] = state[s, i] * decay + drive[s, i] * gain
            state[2, i] = state[2, i] * decay + math.sqrt(var) * xi[j, i]
        for s in range(3):
            for i in range(n):
                z[j, s, i] = state[s, i]
        now = times[j]
    return z


@njit(cache=True, fastmath=True)
def _block_products(K, w, j, rows):
    """``(w @ K)[:, j:j + rows]`` for the three parts (``K`` symmetric, ``rows <= 4``): rows
    ``j..j+3`` of ``K`` against ``w`` in one pass, each ``w[:, i]`` loaded once for four rows
    (12 accumulators; measured 1.7x the speed of one row per pass at 400 modes)."""
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = 0.0
    j1, j2, j3 = min(j + 1, j + rows - 1), min(j + 2, j + rows - 1), min(j + 3, j + rows - 1)
    for i in range(K.shape[1]):
        w0 = w[0, i]
        w1 = w[1, i]
        w2 = w[2, i]
        k0 = K[j, i]
        k1 = K[j1, i]
        k2 = K[j2, i]
        k3 = K[j3, i]
        a00 += k0 * w0
        a01 += k0 * w1
        a02 += k0 * w2
        a10 += k1 * w0
        a11 += k1 * w1
        a12 += k1 * w2
        a20 += k2 * w0
        a21 += k2 * w1
        a22 += k2 * w2
        a30 += k3 * w0
        a31 += k3 * w1
        a32 += k3 * w2
    return (a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32)


@njit(cache=True)
def _drift_block(K, w, drive, h, new, block):
    """Columns ``4 block .. 4 block + 3`` of ``new = w + h (drive - w @ K)`` for the three parts
    (fewer at the end; a short block repeats its last row in the products and writes it once)."""
    j = 4 * block
    rows = min(4, K.shape[0] - j)
    a = _block_products(K, w, j, rows)
    for q in range(rows):
        for s in range(3):
            new[s, j + q] = w[s, j + q] + h * (drive[s, j + q] - a[3 * q + s])


@njit(cache=True)
def _drift_step(K, w, drive, h, new):
    """``new = w + h (drive - w @ K)``, four rows of ``K`` at a time."""
    for block in range((K.shape[0] + 3) // 4):
        _drift_block(K, w, drive, h, new, block)


@njit(cache=True, parallel=True)
def _drift_step_parallel(K, w, drive, h, new):
    """:func:`_drift_step` with the blocks of rows shared among threads (the same arithmetic)."""
    for block in prange((K.shape[0] + 3) // 4):
        _drift_block(K, w, drive, h, new, block)


#: Models with at least this many modes share each Euler-Maruyama step among numba's threads
#: when a core is idle (:func:`rfdmft.simulation.spare_cores`); otherwise, and below, serial.
#: Measured on this 2-core machine (medians of alternated calls, serial against 2 threads; the
#: paths agree bit for bit): with the other core idle, 2 threads gain 1.8-1.9x from 1024 modes
#: on and lose below ~1000 (0.55-0.9x); with it busy (load 2.2-9.5) they lose at every size
#: measured (0.07-0.8x from 256 to 3072 modes: each step waits for a thread the scheduler runs
#: late; 0.73-1.0x at 4096-8192).
PARALLEL_MODES = 1024


def _euler_maruyama(K, b, temperature, times, dt, seed):
    """Euler-Maruyama for ``dw = -(K w - b_s) dt + sqrt(2T) dB`` for the three parts.

    ``K = H + gamma`` (n x n, symmetric); ``b`` (2, n) the teacher and noise drives. Seeded here
    so the generator inside the compiled code is reproducible. Each step reads ``K`` once
    (all three parts together), on numba's threads when ``n >= PARALLEL_MODES``, more than
    one thread is set (``numba.set_num_threads``) and a core is idle, else serially: the same
    path either way.
    """
    parallel = (b.shape[1] >= PARALLEL_MODES and numba.get_num_threads() > 1
                and spare_cores() > 0)
    return _euler_maruyama_steps(K, b, temperature, times, dt, seed, parallel)


@njit(cache=True)
def _euler_maruyama_steps(K, b, temperature, times, dt, seed, parallel):
    """The steps of :func:`_euler_maruyama`, each shared among numba's threads if ``parallel``
    (the same arithmetic per row either way; for measurements and tests of the thread choice)."""
    np.random.seed(seed)
    n = b.shape[1]
    out = np.zeros((times.size, 3, n))
    w = np.zeros((3, n))
    new = np.zeros((3, n))
    drive = np.zeros((3, n))
    drive[:2] = b
    now = 0.0
    amplitude = math.sqrt(2.0 * temperature)
    for j in range(times.size):
        steps = int(math.ceil((times[j] - now) / dt - 1e-9))
        h = (times[j] - now) / steps if steps > 0 else 0.0
        kick = amplitude * math.sqrt(h)
        for _ in range(steps):
            if parallel:
                _drift_step_parallel(K, w, drive, h, new)
            else:
                _drift_step(K, w, drive, h, new)
            w, new = new, w
            if temperature > 0.0:
                for i in range(n):
                    w[2, i] += kick * np.random.standard_normal()
        out[j] = w
        now = times[j]
    return out


def sample_path(params: Params, times, seed: int = 0, integrator: str = "exact",
                dt: float | None = None) -> SamplePath:
    """Draw one design, teacher, label noise and Langevin path, and follow ``w(t)``.

    ``integrator`` is ``"exact"`` (Ornstein-Uhlenbeck steps in the eigenbasis of ``H``) or
    ``"euler"`` (Euler-Maruyama with step ``dt``, default ``0.05 / max(h + gamma)``).
    Times must be increasing; ``inf`` only with the exact integrator.
    """
    t = _check_path_arguments(params, times, integrator, dt)
    if np.any(np.diff(t) < 0):
        raise ValueError("t must be in increasing order for a sample path")
    return _sample_path(params, t, np.random.SeedSequence(seed), integrator, dt)


def _check_path_arguments(params, times, integrator, dt):
    if params.discrete:
        raise ValueError(f"sample paths are continuous-time Langevin paths, got lr = {params.lr:g}; "
                         "discrete-time training is simulated by rfdmft.simulate (gradient "
                         "descent exactly, minibatch SGD by rfdmft.sgd)")
    t = validate_times(times, params)
    if integrator not in ("exact", "euler"):
        raise ValueError(f"integrator must be 'exact' or 'euler', got {integrator!r}")
    if integrator == "euler" and np.isinf(t).any():
        raise ValueError("t = inf needs integrator='exact' (Euler-Maruyama cannot reach it)")
    if dt is not None and not (isinstance(dt, (int, float)) and 0 < dt < math.inf):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    check_size(params, params.M, method="sde", times=t.size)
    return t


def _sample_path(params, t, seed_sequence, integrator, dt):
    rng = np.random.default_rng(seed_sequence)
    N, lam = params.N, params.eigenvalues
    features = sample_design(params, rng, columns=params.M)          # P x M, tail included
    teacher = rng.standard_normal(params.M) * np.sqrt(params.powers)
    eps = rng.standard_normal(params.P) * math.sqrt(params.sigma2)
    A = features[:, :N]
    y_captured = A @ teacher[:N]
    y_noise = features[:, N:] @ teacher[N:] + eps
    drives = np.stack([A.T @ y_captured, A.T @ y_noise])             # (2, N)
    H = A.T @ A

    if integrator == "exact":
        h, U = np.linalg.eigh(H)
        null = h <= 1e-12 * max(h[-1], 1e-300)
        h = np.where(null, 0.0, h)
        b = drives @ U
        b[:, null] = 0.0                                             # no signal in the null space
        xi = rng.standard_normal((t.size, N))
        z = _ou_steps(h + params.gamma, b, params.T, t, xi)
        weights = z @ U.T
    else:
        if dt is None:
            dt = 0.05 / (np.linalg.eigvalsh(H)[-1] + params.gamma)
        K = H + params.gamma * np.eye(N)
        weights = _euler_maruyama(K, drives, params.T, t, float(dt),
                                  int(rng.integers(2**31 - 1)))

    captured = lam[:N]
    tail = float(np.dot(lam[N:], teacher[N:] ** 2))
    w = weights.sum(axis=1)
    error = ((w - teacher[:N]) ** 2) @ captured + tail
    bias = ((weights[:, 0] - teacher[:N]) ** 2) @ captured + tail
    label = weights[:, 1] ** 2 @ captured
    thermal = weights[:, 2] ** 2 @ captured
    return SamplePath(times=t, weights=weights, teacher=teacher, error=error, bias=bias,
                      label_variance=label, thermal_variance=thermal)


def simulate_paths(params: Params, times, designs: int = 20, seed: int = 0,
                   integrator: str = "exact", dt: float | None = None,
                   progress: bool = False) -> ErrorCurve:
    """Average of ``designs`` independent sample paths (each its own design, teacher and noise).

    The parts are averaged separately and ``error`` is their sum, an unbiased estimate of
    ``E_g`` (the cross terms of a single path have mean zero); ``error_sem`` is its standard error.
    """
    t = _check_path_arguments(params, times, integrator, dt)
    if isinstance(designs, bool) or not isinstance(designs, (int, np.integer)) or designs < 1:
        raise ValueError(f"designs must be an integer >= 1, got {designs!r}")
    order = np.argsort(t, kind="stable")
    seeds = design_seeds(seed, designs)
    iterator = range(designs)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="paths", leave=False)
    parts = np.empty((designs, 3, t.size))
    with one_blas_thread(params.N * max(params.N, params.P)):
        for d in iterator:
            path = _sample_path(params, t[order], seeds[d], integrator, dt)
            parts[d][:, order] = path.bias, path.label_variance, path.thermal_variance
    return _average(t, parts)
