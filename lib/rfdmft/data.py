"""Real data: a pool of inputs, a kernel's spectrum and a target's mode powers on it, kernel
regression trained by gradient flow on subsets, and finite-width random-feature ReLU networks.

Mapping onto the model (:mod:`rfdmft.model`): a pool of ``n`` inputs is the population (its
empirical measure). With the kernel matrix ``K`` of the pool, ``K / n = sum_k lambda_k u_k u_k^T``:
``lambda_k`` are the kernel's eigenvalues and ``phi_k(x_i) = sqrt(n) u_ik`` its eigenfunctions,
orthonormal under the pool measure, so ``K(x_i, x_j) = sum_k lambda_k phi_k(x_i) phi_k(x_j)`` and
``sum_k lambda_k = trace(K) / n``, the mean of ``K(x, x)``. A target ``y`` on the pool is
``y_i = sum_k sqrt(lambda_k) wbar_k phi_k(x_i)`` with ``wbar_k = (u_k . y) / sqrt(n lambda_k)``;
the teacher's mode powers are ``p_k = wbar_k^2`` and ``lambda_k p_k = (u_k . y)^2 / n`` add up to
``mean(y^2)``, the error at ``t = 0``.

Gradient flow on the summed loss from ``w = 0`` with the design ``A`` of the training inputs
``X`` gives ``w(t) = g_t(H) A^T y_X`` (``H = A^T A``) and therefore, in function space,
``f_t(x) = K(x, X) g_t(K_XX) y_X`` with ``g_t(h) = (1 - exp(-(h + gamma) t)) / (h + gamma)``
(``t`` when ``h + gamma = 0``): the kernel matrix ``K`` used here and the spectrum of ``K / n``
given to the theory are the same object, so times are in the same units.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .model import ErrorCurve, Params, validate_times
from .model import _integer as _count, _nonnegative as _finite_nonnegative
from .simulation import _factors, one_blas_thread

__all__ = ["arccos_kernel", "DigitsPool", "load_digits_pool", "empirical_spectrum",
           "feature_spectrum", "teacher_powers", "pool_params", "kernel_flow_error", "kernel_flow_curve",
           "relu_features", "readout_error", "readout_curve"]


def _inputs(name: str, X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D array (inputs x dimensions), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite")
    return X


# --------------------------------------------------------------------------- kernel

def arccos_kernel(X, Y=None, weight_variance: float = 2.0, bias_variance: float = 0.0) -> np.ndarray:
    """NNGP kernel of a one-hidden-layer ReLU network (Cho & Saul 2009, arc-cosine kernel of order 1).

    Network: ``f(x) = N^-1/2 sum_{i<=N} a_i relu(w_i . x + b_i)`` with ``w_i ~ N(0, (weight_variance
    / d) I_d)``, ``b_i ~ N(0, bias_variance)`` and readout weights of unit variance. As ``N -> inf``
    its covariance is ``K(x, y) = E relu(u) relu(v)`` for the Gaussian pre-activations ``(u, v)``
    with ``s_x^2 = weight_variance |x|^2 / d + bias_variance`` and ``c = weight_variance x.y / d +
    bias_variance``:

        K(x, y) = s_x s_y (sin th + (pi - th) cos th) / (2 pi),   cos th = c / (s_x s_y),

    so ``K(x, x) = s_x^2 / 2`` (with ``weight_variance = 2``, ``bias_variance = 0``: ``|x|^2 / d``).
    ``X`` is ``n x d``, ``Y`` (default ``X``) ``m x d``; returns the ``n x m`` matrix.
    """
    X = _inputs("X", X)
    Y = X if Y is None else _inputs("Y", Y)
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y must have the dimension of X ({X.shape[1]}), got {Y.shape[1]}")
    sw2 = _finite_nonnegative("weight_variance", weight_variance)
    sb2 = _finite_nonnegative("bias_variance", bias_variance)
    if sw2 + sb2 == 0:
        raise ValueError("weight_variance and bias_variance must not both be 0 (the kernel would vanish)")
    d = X.shape[1]
    c = sw2 * (X @ Y.T) / d + sb2
    sx = np.sqrt(sw2 * np.einsum("ij,ij->i", X, X) / d + sb2)
    sy = sx if Y is X else np.sqrt(sw2 * np.einsum("ij,ij->i", Y, Y) / d + sb2)
    norm = np.outer(sx, sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(np.where(norm > 0, c / np.where(norm > 0, norm, 1.0), 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    K = norm * (np.sqrt(1.0 - cos**2) + (np.pi - theta) * cos) / (2 * np.pi)
    if Y is X:
        K = 0.5 * (K + K.T)                     # exactly symmetric
    return K


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class DigitsPool:
    """The pool: inputs ``X`` (``n x 64``, standardised), scalar target ``y`` and digit ``labels``."""

    X: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    task: str

    @property
    def n(self) -> int:
        return self.X.shape[0]


TASKS = {"parity": lambda d: d % 2 == 0, "small": lambda d: d < 5}


def load_digits_pool(task: str = "parity") -> DigitsPool:
    """scikit-learn's bundled 8 x 8 handwritten digits (1797 images, no download) as a pool.

    Inputs: each pixel centred by its mean over the pool, then all pixels divided by one common
    scale so that ``mean |x|^2 / d = 1`` (one scale, not one per pixel: some border pixels are
    always zero). Target: ``+1`` if the digit is even (``task="parity"``) or below 5
    (``task="small"``), else ``-1``, centred over the pool and scaled to ``mean(y^2) = 1``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    from sklearn.datasets import load_digits
    data = load_digits()
    X = data.data.astype(float)
    X = X - X.mean(axis=0)
    X = X / math.sqrt(np.mean(np.sum(X**2, axis=1)) / X.shape[1])
    labels = data.target.astype(int)
    y = np.where(TASKS[task](labels), 1.0, -1.0)
    y = y - y.mean()
    y = y / math.sqrt(np.mean(y**2))
    return DigitsPool(X=X, y=y, labels=labels, task=task)


# --------------------------------------------------------------------------- spectrum and teacher

def _kernel_matrix(K) -> np.ndarray:
    K = np.asarray(K, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 2:
        raise ValueError(f"K must be a square kernel matrix of the pool (n x n, n >= 2), got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("K must be finite")
    if not np.allclose(K, K.T, rtol=1e-10, atol=1e-12 * np.abs(K).max()):
        raise ValueError("K must be symmetric")
    return K


def empirical_spectrum(K, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and orthonormal eigenvectors (columns) of ``K / n``.

    Eigenvalues at or below ``rtol * lambda_1`` are round-off (or a rank deficit, e.g. a
    finite-width kernel) and are dropped with their eigenvectors; the target power they would
    carry is reported by :func:`teacher_powers`, not lost. Returns ``(lam, U)`` with ``lam`` of
    length ``m <= n`` and ``U`` of shape ``n x m``; ``lam.sum()`` is ``trace(K) / n`` up to the
    dropped eigenvalues.
    """
    K = _kernel_matrix(K)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    n = K.shape[0]
    with one_blas_thread():                      # many threads cost more than they gain here
        lam, U = np.linalg.eigh(K / n)
    lam, U = lam[::-1], U[:, ::-1]
    if not lam[0] > 0:
        raise ValueError("K must have a positive eigenvalue, got none")
    keep = lam > rtol * lam[0]
    return lam[keep].copy(), np.ascontiguousarray(U[:, keep])


def feature_spectrum(F, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """:func:`empirical_spectrum` of the feature kernel ``K = F F^T`` (``F`` is ``n x N``) without
    forming it: eigenvalues of ``F^T F / n`` (the same non-zero ones as ``K / n``) and the pool
    eigenvectors ``u = F v / sqrt(n lambda)``. At most ``min(n, N)`` eigenvalues; those at or
    below ``rtol * lambda_1`` are dropped as in :func:`empirical_spectrum`."""
    F = _inputs("F", F)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    n, N = F.shape
    if N >= n:
        return empirical_spectrum(F @ F.T, rtol=rtol)
    with one_blas_thread():
        lam, V = np.linalg.eigh(F.T @ F / n)
    lam, V = lam[::-1], V[:, ::-1]
    if not lam[0] > 0:
        raise ValueError("F must not vanish on the pool")
    keep = lam > rtol * lam[0]
    lam, V = lam[keep], V[:, keep]
    U = (F @ V) / np.sqrt(n * lam)
    return lam.copy(), U


def teacher_powers(eigenvectors, eigenvalues, y) -> tuple[np.ndarray, float]:
    """Mode powers ``p_k = wbar_k^2 = (u_k . y)^2 / (n lambda_k)`` of a target ``y`` on the pool.

    Returns ``(p, dropped)``: ``dropped = mean(r^2)`` with ``r = y - U U^T y`` is the target
    power outside the kept eigenvectors (modes the kernel cannot represent), so that
    ``sum_k lambda_k p_k + dropped = mean(y^2)``.
    """
    U = np.asarray(eigenvectors, dtype=float)
    lam = np.asarray(eigenvalues, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if U.ndim != 2 or U.shape[1] != lam.size:
        raise ValueError(f"eigenvectors must be n x m with m = len(eigenvalues) = {lam.size}, "
                         f"got shape {U.shape}")
    if y.size != U.shape[0]:
        raise ValueError(f"y must have one value per pool input ({U.shape[0]}), got {y.size}")
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("eigenvalues must be finite and positive")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    n = y.size
    proj = U.T @ y
    residual = y - U @ proj
    return proj**2 / (n * lam), float(np.mean(residual**2))


def pool_params(eigenvalues, powers, P: int, N: int | None = None, dropped: float = 0.0,
                **fields) -> Params:
    """``Params`` for a pool's spectrum and teacher: ``M`` modes, the model using the first ``N``
    (default all). A positive ``dropped`` target power (see :func:`teacher_powers`) becomes one
    extra uncaptured mode carrying exactly that power, so it enters as tail (error and
    effective label noise). Other fields (``sigma2``, ``gamma``, ``T``) are passed on."""
    lam = np.asarray(eigenvalues, dtype=float).reshape(-1)
    p = np.asarray(powers, dtype=float).reshape(-1)
    if p.shape != lam.shape:
        raise ValueError(f"powers must have the length of eigenvalues ({lam.size}), got {p.size}")
    dropped = _finite_nonnegative("dropped", dropped)
    N = lam.size if N is None else _count("N", N)
    if N > lam.size:
        raise ValueError(f"N must be at most the number of eigenvalues ({lam.size}), got {N}")
    if dropped > 0:
        extra = lam[-1] * 1e-3 if lam.size and lam[-1] > 0 else 1e-300
        lam = np.append(lam, extra)
        p = np.append(p, dropped / extra)
    return Params.from_spectrum(lam, N=N, P=P, teacher=p, **fields)


# --------------------------------------------------------------------------- kernel regression

def _subset(name: str, idx, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D array of integer indices, got {idx!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{name} must index the pool (0..{n - 1}), got values from "
                         f"{idx.min()} to {idx.max()}")
    return idx.astype(np.intp)


def _test_mask(test: str, train: np.ndarray, n: int) -> np.ndarray:
    if test == "pool":
        return np.ones(n, dtype=bool)
    if test == "train":
        mask = np.zeros(n, dtype=bool)
        mask[train] = True
        return mask
    if test == "heldout":
        mask = np.ones(n, dtype=bool)
        mask[train] = False
        if not mask.any():
            raise ValueError("test='heldout' needs at least one pool input outside train_idx")
        return mask
    raise ValueError(f"test must be 'heldout', 'pool' or 'train', got {test!r}")


def _flow_predictions(K: np.ndarray, y: np.ndarray, train: np.ndarray, t: np.ndarray,
                      gamma: float) -> np.ndarray:
    """Predictions ``f_t`` on the whole pool (``n x times``) of kernel flow trained on ``train``."""
    h, V = np.linalg.eigh(K[np.ix_(train, train)])
    keep = h > train.size * np.finfo(float).eps * max(h.max(), 0.0)
    h, V = h[keep], V[:, keep]
    g, _ = _factors(h + gamma, t)                # (times, r)
    B = K[:, train] @ V                          # (n, r)
    c = V.T @ y[train]
    return B @ (g * c).T


def _check_flow(K, y, train_idx, times, gamma):
    K = np.asarray(K, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    n = y.size
    if K.ndim != 2 or K.shape != (n, n):
        raise ValueError(f"K must be the n x n kernel matrix of the pool (n = len(y) = {n}), "
                         f"got shape {K.shape}")
    return K, y, _subset("train_idx", train_idx, n), validate_times(times), \
        _finite_nonnegative("gamma", gamma)


def kernel_flow_error(K, y, train_idx, times, gamma: float = 0.0, test: str = "heldout") -> np.ndarray:
    """Error of kernel gradient flow trained on ``train_idx``, at ``times`` (vectorised).

    ``f_t = K(., X) g_t(K_XX) y_X`` (from ``f = 0``, summed loss, weight decay ``gamma``), exact via
    one ``eigh`` of ``K_XX``. Directions with eigenvalue ``<= n_train * eps * max`` are null
    directions of ``K_XX`` (duplicated inputs, rank deficit): in exact arithmetic they do not
    reach the predictor, so they are left out rather than amplified by ``t``. The error is the
    mean of ``(f_t - y)^2`` over the pool inputs outside the training set (``test="heldout"``),
    over the whole pool (``test="pool"``, the model's population error) or over the training
    inputs (``test="train"``).
    """
    K, y, train, t, gamma = _check_flow(K, y, train_idx, times, gamma)
    mask = _test_mask(test, train, y.size)
    with one_blas_thread(train.size**2):
        pred = _flow_predictions(K, y, train, t, gamma)
    return np.mean((pred[mask] - y[mask, None]) ** 2, axis=0)


def _curve(t: np.ndarray, runs: np.ndarray, thermal: np.ndarray | None = None) -> ErrorCurve:
    """Mean over runs (axis 0) and its standard error; ``thermal`` (runs x times) split off."""
    total = runs if thermal is None else runs + thermal
    count = runs.shape[0]
    sem = total.std(axis=0, ddof=1) / math.sqrt(count) if count > 1 else np.full(t.size, np.nan)
    th = np.zeros(t.size) if thermal is None else thermal.mean(axis=0)
    return ErrorCurve(times=t, bias=runs.mean(axis=0), label_variance=np.zeros(t.size),
                      thermal_variance=th, error_sem=sem)


def _subsets(n: int, P: int, subsets: int, seed: int, replace: bool):
    """``subsets`` random training sets of ``P`` pool indices, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(subsets):
        yield rng.choice(n, size=P, replace=replace)


def kernel_flow_curve(K, y, P: int, times, subsets: int = 20, seed: int = 0, gamma: float = 0.0,
                      test="heldout", replace: bool = False):
    """:func:`kernel_flow_error` averaged over ``subsets`` random training sets of ``P`` pool inputs.

    Training sets are drawn without (``replace=False``) or with replacement, reproducibly from
    ``seed``. The mean error is returned as the ``bias`` of an ``ErrorCurve`` (the labels are
    noise-free) with ``error_sem`` the standard error over subsets. ``test`` is one name (see
    :func:`kernel_flow_error`) or a tuple of names; for a tuple the result is a dict of curves,
    all from the same training sets and one factorisation each.
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    n = y.size
    P = _count("P", P)
    tests = (test,) if isinstance(test, str) else tuple(test)
    if not tests:
        raise ValueError("test must name at least one test set, got none")
    if P > n or (P == n and not replace and "heldout" in tests):
        raise ValueError(f"P must be below the pool size {n} (held-out test needs points left), got {P}")
    subsets = _count("subsets", subsets)
    K, y, _, t, gamma = _check_flow(K, y, np.arange(1), times, gamma)
    for name in tests:
        _test_mask(name, np.arange(1), n)        # validates the names
    runs = np.empty((len(tests), subsets, t.size))
    with one_blas_thread(P * P):
        for s, idx in enumerate(_subsets(n, P, subsets, seed, replace)):
            pred = _flow_predictions(K, y, idx, t, gamma)
            for j, name in enumerate(tests):
                mask = _test_mask(name, idx, n)
                runs[j, s] = np.mean((pred[mask] - y[mask, None]) ** 2, axis=0)
    curves = {name: _curve(t, runs[j]) for j, name in enumerate(tests)}
    return curves[test] if isinstance(test, str) else curves


# --------------------------------------------------------------------------- random-feature networks

def relu_features(X, N: int, seed: int = 0, weight_variance: float = 2.0,
                  bias_variance: float = 0.0) -> np.ndarray:
    """Features ``F[x, i] = relu(w_i . x + b_i) / sqrt(N)`` of a ReLU layer of width ``N``.

    ``w_i ~ N(0, (weight_variance / d) I_d)``, ``b_i ~ N(0, bias_variance)``, drawn from ``seed``:
    the network of :func:`arccos_kernel`, whose finite-width kernel ``F F^T`` tends to that
    kernel as ``N -> inf``. A readout ``f = F a`` is the model with ``N`` features.
    """
    X = _inputs("X", X)
    N = _count("N", N)
    sw2 = _finite_nonnegative("weight_variance", weight_variance)
    sb2 = _finite_nonnegative("bias_variance", bias_variance)
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    W = rng.standard_normal((d, N)) * math.sqrt(sw2 / d)
    b = rng.standard_normal(N) * math.sqrt(sb2)
    return np.maximum(X @ W + b, 0.0) / math.sqrt(N)


def readout_error(F, y, train_idx, times, gamma: float = 0.0, T: float = 0.0,
                  test: str = "heldout") -> tuple[np.ndarray, np.ndarray]:
    """Expected error of a readout ``f = F a`` trained on ``train_idx`` by Langevin dynamics.

    ``da = -[F_X^T (F_X a - y_X) + gamma a] dt + sqrt(2 T) dB``, ``a(0) = 0``. Over the Langevin
    noise ``a(t)`` is Gaussian with mean ``g_t(H) F_X^T y_X`` (``H = F_X^T F_X``) and covariance
    ``T (1 - exp(-2 (H + gamma) t)) / (H + gamma)`` in the eigenbasis of ``H`` (``2 T t`` on the
    null space when ``gamma = 0``). Returns ``(mean_error, thermal)``: the error of the mean
    predictor and the expected extra error from the noise, ``tr(Cov F_test^T F_test) / n_test``,
    over the held-out pool inputs or the whole pool (``test``). One thin SVD of ``F_X``.
    """
    F = _inputs("F", F)
    y = np.asarray(y, dtype=float).reshape(-1)
    n, N = F.shape
    if y.size != n:
        raise ValueError(f"y must have one value per row of F ({n}), got {y.size}")
    train = _subset("train_idx", train_idx, n)
    gamma = _finite_nonnegative("gamma", gamma)
    T = _finite_nonnegative("T", T)
    t = validate_times(times)
    if T > 0 and gamma == 0 and np.isinf(t).any():
        raise ValueError("t = inf is not allowed with T > 0 and gamma = 0: the thermal "
                         "variance T tr(H^+) grows without bound where H is singular or nearly so "
                         "(the weights diffuse in its null space); use gamma > 0 or finite times")
    mask = _test_mask(test, train, n)
    FX, Ft = F[train], F[mask]
    with one_blas_thread(FX.size):
        _, s, Vt = np.linalg.svd(FX, full_matrices=False)
    h = s**2
    keep = h > max(FX.shape) * np.finfo(float).eps * max(h.max(), 0.0)
    h, Vt = h[keep], Vt[keep]
    g, q = _factors(h + gamma, t)                # (times, r)
    B = Ft @ Vt.T                                # (tests, r)
    c = Vt @ (FX.T @ y[train])
    pred = B @ (g * c).T
    mean_error = np.mean((pred - y[mask, None]) ** 2, axis=0)
    thermal = np.zeros(t.size)
    if T > 0:
        ntest = Ft.shape[0]
        weight = np.sum(B**2, axis=0) / ntest    # c_i = |F_test v_i|^2 / n_test
        thermal = T * (q @ weight)
        null = max(float(np.sum(Ft**2)) / ntest - float(weight.sum()), 0.0)
        if null > 0 and h.size < N:
            _, q0 = _factors(np.array([gamma]), t)
            thermal = thermal + T * null * q0[:, 0]
    return mean_error, thermal


def readout_curve(X, y, N: int, P: int, times, subsets: int = 20, seed: int = 0,
                  gamma: float = 0.0, T: float = 0.0, test: str = "heldout",
                  weight_variance: float = 2.0, bias_variance: float = 0.0,
                  feature_seed: int | None = None) -> ErrorCurve:
    """:func:`readout_error` of width-``N`` ReLU random-feature networks, averaged over
    ``subsets`` draws of the ``P`` training inputs (without replacement) and of the features:
    a new feature draw for each subset, or, with ``feature_seed`` given, the one network
    ``relu_features(X, N, feature_seed, ...)`` for all of them.

    Returns an ``ErrorCurve``: ``bias`` the mean predictor's error, ``thermal_variance`` the
    expected Langevin part, ``error_sem`` the standard error of their sum over draws.
    """
    X = _inputs("X", X)
    y = np.asarray(y, dtype=float).reshape(-1)
    n = X.shape[0]
    if y.size != n:
        raise ValueError(f"y must have one value per input ({n}), got {y.size}")
    P = _count("P", P)
    if P >= n:
        raise ValueError(f"P must be below the pool size {n}, got {P}")
    subsets = _count("subsets", subsets)
    t = validate_times(times)
    if feature_seed is not None:
        F = relu_features(X, N, seed=_count("feature_seed", feature_seed, 0),
                          weight_variance=weight_variance, bias_variance=bias_variance)
    runs = np.empty((subsets, t.size))
    thermal = np.empty((subsets, t.size))
    seeds = np.random.SeedSequence(seed).spawn(subsets)
    with one_blas_thread(P * N):
        for s in range(subsets):
            rng = np.random.default_rng(seeds[s])
            if feature_seed is None:
                F = relu_features(X, N, seed=int(rng.integers(2**63)),
                                  weight_variance=weight_variance, bias_variance=bias_variance)
            idx = rng.choice(n, size=P, replace=False)
            runs[s], thermal[s] = readout_error(F, y, idx, t, gamma=gamma, T=T, test=test)
    return _curve(t, runs, thermal)
