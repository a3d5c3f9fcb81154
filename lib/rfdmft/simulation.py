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
``sum_k lambda_k - sum_i c_i``. One thin SVD of ``A`` per design is all the linear algebra.
"""

from __future__ import annotations

import contextlib

import numpy as np
from threadpoolctl import threadpool_limits

from .model import ErrorCurve, Params, validate_times

__all__ = ["sample_design", "design_error", "simulate", "design_seeds", "one_blas_thread",
           "MAX_DESIGN_ENTRIES"]

#: Largest design (entries of ``P x N``, about 8 GB of float64) the simulators accept.
MAX_DESIGN_ENTRIES = 10**9


#: Designs with fewer entries than this are factored on one BLAS thread (see ``one_blas_thread``).
SMALL_DESIGN_ENTRIES = 2_000_000


def one_blas_thread(entries: int = 0):
    """Context limiting BLAS to one thread for matrices of fewer than ``SMALL_DESIGN_ENTRIES``
    entries: on those, extra OpenBLAS threads cost more than they gain (many times more on busy
    cores); larger factorisations keep every thread."""
    if entries >= SMALL_DESIGN_ENTRIES:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def design_seeds(seed: int, designs: int) -> list[np.random.SeedSequence]:
    """One independent seed per design: design ``d`` depends only on ``(seed, d)``."""
    return np.random.SeedSequence(seed).spawn(designs)


def check_size(params: Params, columns: int | None = None) -> None:
    """Refuse designs too large for memory, naming the parameters."""
    columns = params.N if columns is None else columns
    if params.P * columns > MAX_DESIGN_ENTRIES:
        raise ValueError(
            f"P x N = {params.P} x {columns} is too large: a design may have at most "
            f"{MAX_DESIGN_ENTRIES:.0e} entries (about 8 GB)")


def sample_design(params: Params, rng: np.random.Generator, columns: int | None = None) -> np.ndarray:
    """Design ``A[mu, k] = sqrt(lambda_k) phi_k(x_mu)`` with i.i.d. standard normal ``phi``.

    ``columns`` modes are drawn (default ``N``; ``M`` includes the uncaptured modes).
    """
    columns = params.N if columns is None else columns
    lam = params.eigenvalues[:columns]
    return rng.standard_normal((params.P, columns)) * np.sqrt(lam)


def _factors(a: np.ndarray, t: np.ndarray):
    """``g = (1 - e^{-a t}) / a`` and ``q = (1 - e^{-2 a t}) / a`` on a (times x modes) grid.

    Limits: ``a = 0`` gives ``g = t``, ``q = 2 t``; ``t = inf`` gives ``1 / a`` (inf if ``a = 0``).
    """
    a = np.asarray(a, dtype=float)[None, :]
    t = np.asarray(t, dtype=float)[:, None]
    finite = np.isfinite(t)
    positive = a > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        at = np.where(finite, a * t, np.where(positive, np.inf, 0.0))
        g = np.where(positive, -np.expm1(-at) / np.where(positive, a, 1.0), t)
        q = np.where(positive, -np.expm1(-2 * at) / np.where(positive, a, 1.0), 2 * t)
    return g, q


def design_error(params: Params, A: np.ndarray, times) -> ErrorCurve:
    """Error and its parts for one fixed design ``A`` (``P x N``), averaged over everything else."""
    t = validate_times(times, params)
    A = np.asarray(A, dtype=float)
    if A.shape != (params.P, params.N):
        raise ValueError(f"A must have shape (P, N) = ({params.P}, {params.N}), got {A.shape}")
    lam_all, powers = params.eigenvalues, params.powers
    lam, p = lam_all[: params.N], powers[: params.N]
    tail = params.tail

    if params.P < params.N:      # factor the tall side: LAPACK is much faster on it than on A
        u, s, _ = np.linalg.svd(A.T, full_matrices=False)
        vt = u.T
    else:
        _, s, vt = np.linalg.svd(A, full_matrices=False)
    h = s**2
    v2 = vt**2                                   # (r, N): squared components of the range directions
    c = v2 @ lam                                 # weight of each range direction
    null_weight = max(float(lam.sum() - c.sum()), 0.0) if params.N > params.P else 0.0
    gamma = params.gamma

    g, q = _factors(h + gamma, t)                # (times, r)
    learning = h > 0                             # exact zeros carry no label signal
    m = np.where(learning, g * h, 0.0)           # fraction of a direction learned
    if params.isotropic:
        bias = ((1.0 - m) ** 2) @ c + null_weight
    else:
        X = (vt * lam) @ vt.T
        Y = (vt * p) @ vt.T
        d = v2 @ (lam * p)
        bias = np.einsum("ti,ij,tj->t", m, X * Y, m) - 2.0 * m @ d + float(lam @ p)
    bias = bias + tail

    label = (params.sigma2 + tail) * (np.where(learning, h * g**2, 0.0) @ c)

    thermal = np.zeros_like(t)
    if params.T > 0:
        thermal = params.T * (q @ c)
        if null_weight > 0:
            _, q0 = _factors(np.array([gamma]), t)
            thermal = thermal + params.T * null_weight * q0[:, 0]
    return ErrorCurve(times=t, bias=bias, label_variance=label, thermal_variance=thermal)


def simulate(params: Params, times, designs: int = 20, seed: int = 0,
             progress: bool = False) -> ErrorCurve:
    """Exact typical-case error: ``designs`` random designs, closed-form averages over the rest.

    Returns the mean over designs of each part and the standard error of the total
    (``nan`` for a single design). Reproducible from ``seed``.
    """
    t = validate_times(times, params)
    if isinstance(designs, bool) or not isinstance(designs, (int, np.integer)) or designs < 1:
        raise ValueError(f"designs must be an integer >= 1, got {designs!r}")
    check_size(params)
    parts = np.empty((designs, 3, t.size))
    seeds = design_seeds(seed, designs)
    iterator = range(designs)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="designs", leave=False)
    with one_blas_thread(params.P * params.N):
        for d in iterator:
            rng = np.random.default_rng(seeds[d])
            curve = design_error(params, sample_design(params, rng), t)
            parts[d] = curve.bias, curve.label_variance, curve.thermal_variance
    return _average(t, parts)


def _average(t: np.ndarray, parts: np.ndarray) -> ErrorCurve:
    """Mean over designs (axis 0) of (bias, label, thermal) and the standard error of their sum."""
    designs = parts.shape[0]
    total = parts.sum(axis=1)
    sem = total.std(axis=0, ddof=1) / np.sqrt(designs) if designs > 1 else np.full(t.size, np.nan)
    mean = parts.mean(axis=0)
    return ErrorCurve(times=t, bias=mean[0], label_variance=mean[1], thermal_variance=mean[2],
                      error_sem=sem)
