"""The exact simulator against brute force, and its basic facts."""

import numpy as np
import pytest
from scipy.linalg import expm, solve_continuous_lyapunov

from rfdmft import Params, design_error, sample_design, simulate
from rfdmft.simulation import design_seeds


def brute_force(params, A, t):
    """Second moments of the linear SDE by Van Loan's matrix exponential, part by part.

    State ``x = (w, wbar, xi)``: ``dw = [-(H + gamma) w + A^T A wbar + A^T xi] dt + sqrt(2T) dB``,
    ``wbar`` and ``xi`` constant with covariances ``diag(p)`` and ``(sigma2 + tail) I``.
    """
    P, N = A.shape
    lam, p = params.eigenvalues[:N], params.powers[:N]
    n = 2 * N + P
    F = np.zeros((n, n))
    F[:N, :N] = -(A.T @ A + params.gamma * np.eye(N))
    F[:N, N:2 * N] = A.T @ A
    F[:N, 2 * N:] = A.T
    Q = np.zeros((n, n))
    Q[:N, :N] = 2 * params.T * np.eye(N)
    teacher = np.zeros((n, n))
    teacher[N:2 * N, N:2 * N] = np.diag(p)
    noise = np.zeros((n, n))
    noise[2 * N:, 2 * N:] = (params.sigma2 + params.tail) * np.eye(P)

    # Van Loan's block exponential on a short step (it cancels catastrophically for long ones),
    # then doubling: D(2s) = e^{F s} D(s) e^{F^T s} + D(s) for D(s) = int_0^s e^{F u} Q e^{F^T u} du
    doublings = max(0, int(np.ceil(np.log2(max(np.abs(F).sum(axis=1).max() * t, 1e-300) / 0.25))))
    step = t / 2**doublings
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n], block[:n, n:], block[n:, n:] = -F, Q, F.T
    E = expm(block * step)
    propagator = E[n:, n:].T                      # e^{F step}
    diffusion = propagator @ E[:n, n:]
    for _ in range(doublings):
        diffusion = propagator @ diffusion @ propagator.T + diffusion
        propagator = propagator @ propagator

    S = np.hstack([np.eye(N), -np.eye(N), np.zeros((N, P))])   # w - wbar

    def error(sigma):
        return np.trace(np.diag(lam) @ S @ sigma @ S.T)

    bias = error(propagator @ teacher @ propagator.T) + params.tail
    label = error(propagator @ noise @ propagator.T)
    thermal = error(diffusion)
    return np.array([bias, label, thermal])


def equilibrium_brute_force(params, A):
    """``t = inf`` by linear algebra: ``w = K^+ A^T y``, thermal covariance from a Lyapunov equation."""
    P, N = A.shape
    lam, p = params.eigenvalues[:N], params.powers[:N]
    H = A.T @ A
    K = H + params.gamma * np.eye(N)
    Kinv = np.linalg.pinv(K)
    learned = Kinv @ H - np.eye(N)
    bias = np.trace(np.diag(lam) @ learned @ np.diag(p) @ learned.T) + params.tail
    label = (params.sigma2 + params.tail) * np.trace(np.diag(lam) @ Kinv @ H @ Kinv)
    thermal = 0.0
    if params.T > 0:
        cov = solve_continuous_lyapunov(-K, -2 * params.T * np.eye(N))
        thermal = np.trace(np.diag(lam) @ cov)
    return np.array([bias, label, thermal])


CASES = [
    Params(alpha=1.0, N=6, P=4),                                          # gradient flow, N > P
    Params(alpha=0.7, N=5, P=8, sigma2=0.3),                              # label noise, N < P
    Params(alpha=1.5, N=6, P=4, M=11, sigma2=0.1, gamma=0.2, T=0.05),    # everything, M > N
    Params(alpha=1.0, N=7, P=7, gamma=0.3, T=0.2),                        # Langevin, N = P
    Params(alpha=2.0, N=8, P=3, M=9, gamma=0.05, T=0.1,
           teacher=np.linspace(2.0, 0.1, 9)),                             # non-isotropic teacher
    Params(alpha=1.0, N=6, P=4, T=0.3),                                   # free diffusion, N > P
]


@pytest.mark.parametrize("params", CASES)
def test_exact_simulator_matches_brute_force(params):
    A = sample_design(params, np.random.default_rng(7))
    times = [0.0, 0.03, 0.4, 2.0, 15.0]
    curve = design_error(params, A, times)
    ours = np.stack([curve.bias, curve.label_variance, curve.thermal_variance], axis=1)
    for j, t in enumerate(times):
        reference = brute_force(params, A, t)
        np.testing.assert_allclose(ours[j], reference, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("params", [p for p in CASES if p.has_equilibrium])
def test_long_time_limit_matches_linear_algebra(params):
    A = sample_design(params, np.random.default_rng(3))
    curve = design_error(params, A, [np.inf])
    ours = np.array([curve.bias[0], curve.label_variance[0], curve.thermal_variance[0]])
    np.testing.assert_allclose(ours, equilibrium_brute_force(params, A), rtol=1e-9, atol=1e-13)


def test_initial_error_is_the_teacher_power():
    for params in CASES:
        curve = simulate(params, [0.0], designs=3)
        expected = float(params.eigenvalues @ params.powers)
        assert curve.error[0] == pytest.approx(expected, rel=1e-12)
    assert simulate(Params(alpha=1.3, N=50, P=20, M=80), [0.0], designs=2).error[0] \
        == pytest.approx(1.0, rel=1e-12)


def test_gradient_flow_decreases_to_ridgeless_plateau():
    params = Params(alpha=1.0, N=60, P=20)
    times = np.concatenate([[0.0], np.logspace(-2, 5, 40), [np.inf]])
    curve = simulate(params, times, designs=10)
    assert np.all(np.diff(curve.error) <= 1e-15)
    # for N > P the plateau is the weight of the null space of H, designed independently here
    plateaus = []
    for seed in design_seeds(0, 10):
        A = sample_design(params, np.random.default_rng(seed))
        projector = np.eye(params.N) - np.linalg.pinv(A) @ A
        plateaus.append(np.trace(np.diag(params.eigenvalues) @ projector))
    assert curve.error[-1] == pytest.approx(np.mean(plateaus), rel=1e-10)


def test_seed_reproducibility_and_standard_error():
    params = Params(alpha=1.0, N=30, P=15, sigma2=0.1, T=0.05, gamma=0.1)
    a = simulate(params, [1.0, np.inf], designs=8, seed=4)
    b = simulate(params, [1.0, np.inf], designs=8, seed=4)
    c = simulate(params, [1.0, np.inf], designs=8, seed=5)
    np.testing.assert_array_equal(a.error, b.error)
    assert not np.allclose(a.error, c.error)
    assert np.all(a.error_sem > 0)
    # the standard error is that of the per-design errors
    per_design = [design_error(params, sample_design(params, np.random.default_rng(s)),
                               [1.0, np.inf]).error for s in design_seeds(4, 8)]
    np.testing.assert_allclose(a.error, np.mean(per_design, axis=0), rtol=1e-12)
    np.testing.assert_allclose(a.error_sem, np.std(per_design, axis=0, ddof=1) / np.sqrt(8),
                               rtol=1e-10)


def test_bad_arguments():
    params = Params(alpha=1, N=5, P=3)
    with pytest.raises(ValueError, match="^designs must"):
        simulate(params, [1.0], designs=0)
    with pytest.raises(ValueError, match="^A must have shape"):
        design_error(params, np.zeros((3, 4)), [1.0])
    with pytest.raises(ValueError, match="too large"):
        simulate(Params(alpha=1, N=10**5, P=10**5), [1.0])
