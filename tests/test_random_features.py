"""The exact random-feature simulator against brute force, sample paths and known limits.

Every reference here is computed independently of ``rfdmft.random_features``: matrix
exponentials of the ``N x N`` dynamics (scipy and mpmath), Lyapunov equations, Monte Carlo
draws of the teacher, the label noise and the Langevin paths, the mode model's simulator, and
the least-squares identities of Gaussian regression.
"""

import math

import mpmath
import numpy as np
import pytest
from scipy.linalg import expm, solve_continuous_lyapunov

from rfdmft import Params, design_error, random_features
from rfdmft.random_features import (rf_design_error, rf_design_seeds, rf_has_equilibrium,
                                    rf_simulate, sample_features)
from rfdmft.simulation import gram_svd, sample_design


def rf_params(N, M, P, alpha=1.0, **fields):
    """``Params`` for ``N`` random features on ``M`` kernel modes. The mode model's ``Params``
    refuses ``M < N`` (a random-feature field is to come); the simulator reads only ``N``,
    ``M``, ``P``, the spectrum, the powers and the scalars, so ``N`` is set past that check."""
    params = Params(alpha=alpha, N=min(N, M), P=P, M=M, **fields)
    object.__setattr__(params, "N", N)
    return params


def draw(params, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((params.P, params.M)) * np.sqrt(params.eigenvalues)
    F = rng.standard_normal((params.N, params.M)) / np.sqrt(params.N)
    return A, F


# ------------------------------------------------------------------ brute force (matrix exponentials)

def mean_map(K, Phi, t):
    """``L(t) = int_0^t e^{-K s} ds Phi^T``: mean weights ``L(t) y`` of ``dw = -(K w - Phi^T y) dt``
    from ``w = 0``, as the top-right block of ``expm([[-K, Phi^T], [0, 0]] t)``; ``t = inf``:
    the minimum-norm limit ``K^+ Phi^T``."""
    N, P = Phi.shape[1], Phi.shape[0]
    if np.isinf(t):
        return np.linalg.pinv(K) @ Phi.T
    block = np.zeros((N + P, N + P))
    block[:N, :N] = -K
    block[:N, N:] = Phi.T
    return expm(block * t)[:N, N:]


def propagator(K, t):
    return expm(-K * t)


def langevin_covariance(K, T, t):
    """``Sigma(t) = 2 T int_0^t e^{-2 K s} ds`` by Van Loan's block exponential on a short step,
    then doubling ``Sigma(2 s) = e^{-K s} Sigma(s) e^{-K s} + Sigma(s)`` (the block has a
    growing part, so long steps cancel)."""
    N = K.shape[0]
    if t == 0 or T == 0:
        return np.zeros((N, N))
    doublings = max(0, int(np.ceil(np.log2(max(np.abs(K).sum(axis=1).max() * t, 1e-300) / 0.25))))
    step = t / 2**doublings
    block = np.zeros((2 * N, 2 * N))
    block[:N, :N], block[:N, N:], block[N:, N:] = K, 2 * T * np.eye(N), -K
    E = expm(block * step)
    decay = E[N:, N:]                            # e^{-K step}
    sigma = decay.T @ E[:N, N:]
    for _ in range(doublings):
        sigma = decay @ sigma @ decay.T + sigma
        decay = decay @ decay
    return sigma


def brute_force(params, A, F, t):
    """(bias, label, thermal) by the explicit averages: ``Q = F^T L A``,
    ``tr((Q - I)^T Lambda (Q - I) Pi)``, ``sigma2 tr(L^T F Lambda F^T L)`` and
    ``tr(F Lambda F^T Sigma(t))``."""
    lam, p = params.eigenvalues, params.powers
    Lam = np.diag(lam)
    Phi = A @ F.T
    N, M = F.shape
    K = Phi.T @ Phi + params.gamma * np.eye(N)
    L = mean_map(K, Phi, t)
    R = F.T @ L @ A - np.eye(M)
    bias = np.trace(R.T @ Lam @ R @ np.diag(p))
    G = F @ Lam @ F.T
    label = params.sigma2 * np.trace(L.T @ G @ L)
    if params.T == 0:
        thermal = 0.0
    elif np.isinf(t):
        # restricted to the range of K: the null directions of K outside range(F) diffuse freely
        # but carry no weight in G (checked here)
        values, vectors = np.linalg.eigh(K)
        keep = values > 1e-9 * values.max()
        R_ = vectors[:, keep]
        assert np.all(np.abs(vectors[:, ~keep].T @ G @ vectors[:, ~keep]) < 1e-12)
        K_r = R_.T @ K @ R_
        sigma = solve_continuous_lyapunov(K_r, 2 * params.T * np.eye(K_r.shape[0]))
        thermal = np.trace(R_.T @ G @ R_ @ sigma)
    else:
        thermal = np.trace(G @ langevin_covariance(K, params.T, t))
    return np.array([bias, label, thermal])


TEACHER7 = np.array([2.0, 0.1, 1.5, 0.0, 0.7, 3.0, 0.4])
CASES = [
    rf_params(5, 7, 4),                                                   # gradient flow
    rf_params(5, 7, 4, alpha=0.6, sigma2=0.3, gamma=0.2, T=0.1, teacher=TEACHER7),
    rf_params(9, 7, 6, alpha=1.4, sigma2=0.2, T=0.15, teacher=TEACHER7),  # no equilibrium
    rf_params(9, 7, 6, alpha=0.8, sigma2=0.1, gamma=0.3, T=0.1),
    rf_params(5, 7, 4, alpha=1.2, T=0.2, gamma=0.05),                     # null space of Phi^T Phi
    rf_params(6, 4, 9, alpha=1.0, sigma2=0.2, T=0.1, teacher=[1.0, 0.2, 2.0, 0.5]),  # M < N < P
    rf_params(9, 3, 6, alpha=1.5, T=0.2),                 # M < P < N: the error equilibrates
    rf_params(4, 4, 7, alpha=1.0, sigma2=0.05),           # square F, M = N < P
    rf_params(4, 6, 9, alpha=0.9, gamma=0.1, T=0.05),     # N < M < P
]
TIMES = [0.0, 0.03, 0.4, 2.0, 15.0, np.inf]


@pytest.mark.parametrize("params", CASES, ids=lambda p: f"N{p.N}M{p.M}P{p.P}")
def test_matches_brute_force(params):
    A, F = draw(params, 11)
    times = [t for t in TIMES if np.isfinite(t) or rf_has_equilibrium(params)]
    curve = rf_design_error(params, A, F, times)
    ours = np.stack([curve.bias, curve.label_variance, curve.thermal_variance], axis=1)
    scale = float(params.eigenvalues @ params.powers)
    for j, t in enumerate(times):
        np.testing.assert_allclose(ours[j], brute_force(params, A, F, t), rtol=1e-10,
                                   atol=1e-14 * scale, err_msg=f"t = {t}")


def test_brute_force_covers_the_cases():
    """The cases above reach every branch: the null space of Phi^T Phi inside range(F)
    (P < min(N, M)), complete directions (M <= min(N, P)), t = inf with and without
    weight decay, and a refused t = inf."""
    assert any(p.P < min(p.N, p.M) and p.T > 0 for p in CASES)
    assert any(p.M <= min(p.N, p.P) for p in CASES)
    assert any(not rf_has_equilibrium(p) for p in CASES)
    assert any(p.M < p.P <= p.N and p.T > 0 and p.gamma == 0 for p in CASES)


def test_late_time_bias_keeps_relative_accuracy():
    """Gradient flow with M <= min(N, P) learns everything: the bias decays to zero. Against
    ``e^{-Z t}`` (``Z = F^T F A^T A``, ``Q - I = -e^{-Z t}``) in 50-digit arithmetic, the bias
    keeps its relative accuracy far below ``eps sum_k lambda_k`` (down to 1e-80 here); so does
    weight decay at t = inf, where ``Q - I = -gamma (Z + gamma)^{-1}``. (The expanded form
    ``d^T (X o Y) d - 2 d . eps + sum lambda p`` loses all digits below ~1e-16.)"""
    mpmath.mp.dps = 50
    params = rf_params(6, 4, 9, alpha=1.0, teacher=[1.0, 0.3, 2.0, 0.5])
    lam, p = params.eigenvalues, params.powers
    A, F = draw(params, 5)
    Z = mpmath.matrix((F.T @ F).tolist()) * mpmath.matrix((A.T @ A).tolist())

    def bias(E):
        return float(sum(lam[k] * p[l] * E[k, l] ** 2 for k in range(4) for l in range(4)))

    times = [1.0, 30.0, 100.0, 300.0, 1000.0]
    curve = rf_design_error(params, A, F, times)
    for j, t in enumerate(times):
        assert curve.bias[j] == pytest.approx(bias(mpmath.expm(-Z * t)), rel=1e-11, abs=0), t
    assert 0 < curve.bias[-1] < 1e-60
    for gamma in (1e-6, 1e-9):
        ridge = rf_params(6, 4, 9, alpha=1.0, gamma=gamma, teacher=[1.0, 0.3, 2.0, 0.5])
        value = rf_design_error(ridge, A, F, [np.inf]).bias[0]
        expected = bias(gamma * (Z + gamma * mpmath.eye(4)) ** -1)
        assert value == pytest.approx(expected, rel=1e-11, abs=0), gamma
        assert value < 1e-10


def test_ill_conditioned_features_at_every_time():
    """Features with a singular value 1e-7 (``F^T F`` of condition 1e14): the small singular
    value of ``Phi`` is known only to ``eps s_1`` absolutely. The complete form divides by it
    at every time (off by 1e-9 early on), the expanded form only once it is learned; the
    simulator must pick the accurate one at each time (reference: ``e^{-Z t}`` in 60 digits)."""
    mpmath.mp.dps = 60
    for teacher in (None, [1.0, 1e-6, 1.0, 1e-6]):
        params = rf_params(6, 4, 9, alpha=1.0, teacher=teacher)
        lam, p = params.eigenvalues, params.powers
        A, F = draw(params, 1)
        u, _, vt = np.linalg.svd(F, full_matrices=False)
        F = u @ np.diag([1.0, 1.0, 1.0, 1e-7]) @ vt
        Z = mpmath.matrix((F.T @ F).tolist()) * mpmath.matrix((A.T @ A).tolist())
        times = [0.0, 1e-3, 0.1, 1.0, 10.0, 1e3]
        curve = rf_design_error(params, A, F, times)
        for j, t in enumerate(times):
            E = mpmath.expm(-Z * t)
            bias = float(sum(lam[k] * p[l] * E[k, l] ** 2 for k in range(4) for l in range(4)))
            assert curve.bias[j] == pytest.approx(bias, rel=1e-12, abs=0), (teacher, t)


@pytest.mark.parametrize("P, N, M", [(60, 150, 400), (150, 60, 400), (80, 120, 50),
                                     (120, 80, 50), (100, 100, 400), (300, 300, 2000)])
def test_gram_route_agrees_with_the_thin_svd(P, N, M, monkeypatch):
    """The simulator factors ``Phi`` through the certified Gram route when it passes its test;
    every part at every time agrees with the thin-SVD route on the same design (wide, tall,
    rank-deficient ``M < min(P, N)``, square), and a design whose small singular value the
    Gram matrix cannot resolve (``s_rho / s_1 = 1e-12``) is refused by the certificate."""
    params = Params(alpha=1.0, N=N, P=P, M=M, sigma2=0.1, gamma=1e-4, T=1e-3,
                    features="random")
    A, F = draw(params, 3)
    assert not isinstance(gram_svd(A @ F.T, rank=min(P, N, M)), str)
    times = [0.1, 10.0, 1e3, 1e6, np.inf]
    gram = rf_design_error(params, A, F, times)
    monkeypatch.setattr(random_features, "gram_svd", lambda *args, **kw: "svd")
    svd = rf_design_error(params, A, F, times)
    for part in ("bias", "label_variance", "thermal_variance"):
        np.testing.assert_allclose(getattr(gram, part), getattr(svd, part), rtol=1e-11,
                                   err_msg=part)
    u, s, vt = np.linalg.svd(A @ F.T, full_matrices=False)
    s[min(P, N, M) - 1] = 1e-12 * s[0]
    assert gram_svd(u * s @ vt, rank=min(P, N, M)) == "svd"


# ------------------------------------------------------------------ sample paths

def test_sample_paths_agree_within_standard_errors():
    """Exact-in-distribution draws: teacher, label noise, and the Langevin path stepped
    between the times by its exact Gaussian transition (drift by matrix exponential,
    covariance by Van Loan); the mean error within 4 standard errors at every time."""
    params = rf_params(7, 9, 5, alpha=0.8, sigma2=0.2, gamma=0.1, T=0.05,
                       teacher=np.linspace(2.0, 0.2, 9))
    A, F = draw(params, 3)
    lam, p = params.eigenvalues, params.powers
    Phi = A @ F.T
    K = Phi.T @ Phi + params.gamma * np.eye(params.N)
    times = np.array([0.1, 1.0, 5.0, 40.0])
    exact = rf_design_error(params, A, F, times).error

    rng = np.random.default_rng(2024)
    n = 4000
    wbar = rng.standard_normal((n, params.M)) * np.sqrt(p)
    y = wbar @ A.T + np.sqrt(params.sigma2) * rng.standard_normal((n, params.P))
    w = np.zeros((n, params.N))
    previous = 0.0
    for j, t in enumerate(times):
        step = t - previous
        previous = t
        cov = langevin_covariance(K, params.T, step)
        chol = np.linalg.cholesky(cov)
        w = w @ propagator(K, step).T + y @ mean_map(K, Phi, step).T \
            + rng.standard_normal((n, params.N)) @ chol.T
        residual = w @ F - wbar
        errors = (residual**2) @ lam
        sem = errors.std(ddof=1) / math.sqrt(n)
        assert abs(errors.mean() - exact[j]) < 4 * sem, (t, errors.mean(), exact[j], sem)


# ------------------------------------------------------------------ limits

def test_error_depends_on_the_features_only_through_their_gram_matrix():
    """Q, the label and the thermal variance are functions of ``F^T F`` (push-through
    identities; the null directions outside range(F) carry no weight): ``N = 200 M`` features
    give the error of the ``M`` square features ``chol(F^T F)^T``."""
    M, P = 5, 12
    for extra in ({}, dict(sigma2=0.1, gamma=0.05, T=0.02)):
        wide = rf_params(200 * M, M, P, alpha=1.0, **extra)
        square = rf_params(M, M, P, alpha=1.0, **extra)
        A, F = draw(wide, 8)
        root = np.linalg.cholesky(F.T @ F).T
        times = [0.0, 0.1, 1.0, 10.0, np.inf]
        a = rf_design_error(wide, A, F, times)
        b = rf_design_error(square, A, root, times)
        for part in ("bias", "label_variance", "thermal_variance"):
            np.testing.assert_allclose(getattr(a, part), getattr(b, part), rtol=1e-9,
                                       atol=1e-15)


def test_many_features_approach_the_mode_model_as_one_over_n():
    """For fixed data, ``E_F[error] - mode model (N = M, same A)`` is ``c / N + O(N^-2)``:
    ``F^T F = I + Delta`` with ``Delta`` of mean zero and covariance ``(1 + delta_ab) / N``,
    so the first-order term averages out and the second gives ``c / N``. One draw differs by
    ``O(N^-1/2)``, so the mean over draws is estimated with the control variate
    ``tr(G Delta)`` (``E[Delta] = 0`` exactly, so it is unbiased for any ``G``; ``G`` the
    finite-difference gradient at ``F^T F = I``). Only ``F^T F`` matters (previous test), so
    each draw is computed with the square features ``chol(F^T F)^T``."""
    M, P = 4, 10
    params = rf_params(M, M, P, alpha=1.0, sigma2=0.05, gamma=0.01, T=0.01)
    mode = Params(alpha=1.0, N=M, P=P, sigma2=0.05, gamma=0.01, T=0.01)
    A = sample_design(mode, np.random.default_rng(1))
    times = [1.0, 20.0]
    reference = design_error(mode, A, times).error

    def error(gram):
        return rf_design_error(params, A, np.linalg.cholesky(gram).T, times).error

    assert np.allclose(error(np.eye(M)), reference, rtol=1e-12)   # F = I is the mode model
    step = 1e-5
    G = np.zeros((M, M, len(times)))
    for a in range(M):
        for b in range(a, M):
            E = np.zeros((M, M))
            E[a, b] = E[b, a] = step
            slope = (error(np.eye(M) + E) - error(np.eye(M) - E)) / (2 * step)
            G[a, b] = G[b, a] = slope / (1.0 if a == b else 2.0)

    rng = np.random.default_rng(77)
    scaled = {}
    for N in (25 * M, 200 * M):
        samples = []
        for _ in range(1000):
            F = rng.standard_normal((N, M)) / np.sqrt(N)
            gram = F.T @ F
            control = np.einsum("abt,ab->t", G, gram - np.eye(M))
            samples.append(error(gram) - reference - control)
        samples = np.array(samples)
        mean, sem = samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
        scaled[N] = (N * mean, N * sem)
    (c1, s1), (c2, s2) = scaled[25 * M], scaled[200 * M]
    assert np.all(np.abs(c2) > 4 * s2)                       # a real 1/N term ...
    assert np.all(np.abs(c2) / (200 * M) < 0.01 * reference)  # 0.6% and 0.03% at N = 200 M
    # ... with the same coefficient at N = 100 and N = 800: the O(1/N^2) rest changes N * mean
    # by O(M / N) ~ 4% at N = 100; allowed: 4 combined standard errors plus 10%
    assert np.all(np.abs(c1 - c2) < 4 * np.hypot(s1, s2) + 0.1 * np.abs(c2))


def test_many_data_give_the_best_linear_predictor_of_the_features():
    """Ridgeless gradient flow at t = inf with P > N data is least squares on the features
    ``z = F a``, Gaussian with covariance ``F Lambda F^T``; the target's residual from its best
    linear predictor is independent of ``z``, with variance (isotropic teacher)
    ``E_inf = tr(Lambda) - tr(Lambda F^T (F Lambda F^T)^-1 F Lambda)``. So every design
    errs by at least ``E_inf``, and over designs (fixed ``F``) the error is exactly
    ``E_inf (1 + N / (P - N - 1))`` (Gaussian least squares). Checked within 4 standard errors
    over 40 designs, and the excess shrinks like ``N / P``."""
    N, M = 6, 30
    params = rf_params(N, M, 40, alpha=1.0)
    lam = params.eigenvalues
    F = sample_features(params, np.random.default_rng(9))
    G = F @ np.diag(lam) @ F.T
    best = float(lam.sum() - np.trace(np.diag(lam) @ F.T @ np.linalg.solve(G, F @ np.diag(lam))))
    rng = np.random.default_rng(10)
    excess = {}
    for P in (40, 160, 640):
        p = rf_params(N, M, P, alpha=1.0)
        errors = np.array([rf_design_error(p, sample_design(p, rng, columns=M), F, [np.inf])
                           .error[0] for _ in range(40)])
        assert np.all(errors >= best * (1 - 1e-10))
        relative = errors / best - 1.0
        expected = N / (P - N - 1)
        sem = relative.std(ddof=1) / np.sqrt(relative.size)
        assert abs(relative.mean() - expected) < 4 * sem, (P, relative.mean(), expected, sem)
        excess[P] = relative.mean()
    assert excess[40] > excess[160] > excess[640]
    assert excess[640] < 2.5 * N / 640


def test_initial_error_and_no_features_learn_nothing():
    params = rf_params(8, 12, 5, alpha=1.0, sigma2=0.3, teacher=np.linspace(0.1, 3.0, 12))
    A, F = draw(params, 4)
    signal = float(params.eigenvalues @ params.powers)
    assert rf_design_error(params, A, F, [0.0]).error[0] == pytest.approx(signal, rel=1e-13)
    zero = rf_design_error(params, A, np.zeros_like(F), [0.0, 3.0, np.inf])
    np.testing.assert_allclose(zero.bias, signal, rtol=1e-14)
    np.testing.assert_array_equal(zero.label_variance, 0.0)


# ------------------------------------------------------------------ simulate: seeds, averages

def test_simulate_is_reproducible_and_averages_the_documented_draws():
    params = rf_params(12, 20, 8, alpha=1.0, sigma2=0.1, gamma=0.05, T=0.02)
    times = [0.5, 5.0, np.inf]
    a = rf_simulate(params, times, designs=6, seed=3)
    b = rf_simulate(params, times, designs=6, seed=3)
    c = rf_simulate(params, times, designs=6, seed=4)
    for part in ("bias", "label_variance", "thermal_variance", "error_sem", "error_median"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.allclose(a.error, c.error)
    # design d: data and features from the two children of SeedSequence(seed).spawn(designs)[d]
    per_design = []
    for sequence in np.random.SeedSequence(3).spawn(6):
        data, features = sequence.spawn(2)
        A = np.random.default_rng(data).standard_normal((8, 20)) * np.sqrt(params.eigenvalues)
        F = np.random.default_rng(features).standard_normal((12, 20)) / np.sqrt(12)
        per_design.append(rf_design_error(params, A, F, times).error)
    per_design = np.array(per_design)
    np.testing.assert_allclose(a.error, per_design.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(a.error_sem, per_design.std(axis=0, ddof=1) / np.sqrt(6),
                               rtol=1e-10)
    np.testing.assert_allclose(a.error_median, np.median(per_design, axis=0), rtol=1e-12)
    # the data and the features are independent streams, and design d depends on (seed, d) only
    first = rf_simulate(params, times, designs=1, seed=3, progress=True)
    np.testing.assert_allclose(first.error, per_design[0], rtol=1e-12)
    seeds = rf_design_seeds(3, 2)
    assert seeds[0][0].spawn_key != seeds[0][1].spawn_key
    assert np.isnan(first.error_sem).all()


# ------------------------------------------------------------------ refusals

def test_refusals():
    params = rf_params(9, 7, 6, T=0.1)
    A, F = draw(params, 0)
    with pytest.raises(ValueError, match=r"^A must have shape \(P, M\) = \(6, 7\)"):
        rf_design_error(params, A[:, :5], F, [1.0])
    with pytest.raises(ValueError, match=r"^A must have shape"):
        rf_design_error(params, A.T, F, [1.0])
    with pytest.raises(ValueError, match=r"^F must have shape \(N, M\) = \(9, 7\)"):
        rf_design_error(params, A, F.T, [1.0])
    with pytest.raises(ValueError, match="^F must be an array of numbers"):
        rf_design_error(params, A, [["x"] * 7] * 9, [1.0])
    with pytest.raises(ValueError, match="^F must be finite"):
        rf_design_error(params, A, np.where(F > 0, np.nan, F), [1.0])
    with pytest.raises(ValueError, match="^A must be finite"):
        rf_design_error(params, A * np.inf, F, [1.0])
    with pytest.raises(ValueError, match="^t must be non-negative"):
        rf_design_error(params, A, F, [-1.0])
    # Langevin without weight decay: no equilibrium when min(N, M) >= P ...
    with pytest.raises(ValueError, match=r"^t = inf is not allowed with T = 0.1 > 0, gamma = 0"):
        rf_design_error(params, A, F, [1.0, np.inf])
    with pytest.raises(ValueError, match=r"min\(N, M\) = P = 6"):
        rf_design_error(rf_params(6, 9, 6, T=0.1), *draw(rf_params(6, 9, 6), 0), [np.inf])
    with pytest.raises(ValueError, match="^t = inf is not allowed"):
        rf_simulate(params, [np.inf], designs=2)
    # ... but with M < P the error equilibrates though the weights do not
    assert rf_has_equilibrium(rf_params(9, 3, 6, T=0.1))
    assert rf_has_equilibrium(rf_params(9, 7, 6, T=0.1, gamma=0.1))
    with pytest.raises(ValueError, match="^designs must be an integer >= 1"):
        rf_simulate(params, [1.0], designs=0)
    with pytest.raises(ValueError, match="^designs must"):
        rf_simulate(params, [1.0], designs=2.0)
    with pytest.raises(ValueError, match="continuous time only"):
        rf_design_error(Params(alpha=1.0, N=5, P=4, M=7, lr=0.01), *draw(rf_params(5, 7, 4), 0),
                        [1.0])
    with pytest.raises(ValueError, match="too large"):
        rf_simulate(Params(alpha=1.0, N=10, P=10**6, M=10**5), [1.0], designs=1)
