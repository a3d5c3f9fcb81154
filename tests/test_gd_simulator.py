"""Full-batch gradient descent in the exact simulator (model.md section 7) against brute force.

The brute force iterates the second moments of the linear map of one step on the state
``(w, wbar, eps)``, part by part (teacher, label noise, Langevin noise), in plain matrix
algebra: no eigendecomposition, no closed form.
"""

import itertools

import mpmath as mp
import numpy as np
import pytest

from rfdmft import Params, design_error, sample_design, simulate
from rfdmft.model import DivergenceError
from rfdmft.simulation import _factors, _unlearned, design_seeds


def step_maps(params, A):
    """The step ``s -> F s + noise`` for each part: (F, initial covariance, added covariance),
    with ``F`` acting on ``(w, driver)``: the captured teacher, the effective label noise, or
    nothing (Langevin)."""
    P, N = A.shape
    lr, gamma = params.lr, params.gamma
    H = A.T @ A
    M = np.eye(N) - lr * (H + gamma * np.eye(N))
    p = params.powers[:N]
    teacher = (np.block([[M, lr * H], [np.zeros((N, N)), np.eye(N)]]),
               np.diag(np.r_[np.zeros(N), p]), np.zeros((2 * N, 2 * N)))
    noise = (np.block([[M, lr * A.T], [np.zeros((P, N)), np.eye(P)]]),
             np.diag(np.r_[np.zeros(N), np.full(P, params.sigma2 + params.tail)]),
             np.zeros((N + P, N + P)))
    thermal = (M, np.zeros((N, N)), 2 * params.T * lr * np.eye(N))
    return teacher, noise, thermal


def iterate(F, S0, Q, n):
    """Second moments after ``n`` steps, step by step: ``S <- F S F^T + Q``."""
    S = S0.copy()
    for _ in range(int(n)):
        S = F @ S @ F.T + Q
    return S


def doubling(F, S0, Q, n):
    """The same after ``n`` steps (any size) by binary powering of the affine map."""
    Fn, Sn = np.eye(F.shape[0]), np.zeros_like(Q)        # n steps so far: Fn, noise Sn
    Fk, Sk = F.copy(), Q.copy()                          # 2^j steps
    n = int(n)
    while n:
        if n & 1:
            Sn, Fn = Fk @ Sn @ Fk.T + Sk, Fk @ Fn
        Sk, Fk = Fk @ Sk @ Fk.T + Sk, Fk @ Fk
        n >>= 1
    return Fn @ S0 @ Fn.T + Sn


def brute_force(params, A, n, method=iterate):
    """(bias, label_variance, thermal_variance) after ``n`` steps."""
    N = A.shape[1]
    lam = np.diag(params.eigenvalues[:N])
    (Ft, St, Qt), (Fe, Se, Qe), (Fh, Sh, Qh) = step_maps(params, A)
    S = method(Ft, St, Qt, n)
    D = np.c_[np.eye(N), -np.eye(N)]
    bias = np.trace(lam @ D @ S @ D.T) + params.tail
    label = np.trace(lam @ method(Fe, Se, Qe, n)[:N, :N])
    thermal = np.trace(lam @ method(Fh, Sh, Qh, n))
    return np.array([bias, label, thermal])


def parts(curve):
    return np.array([curve.bias, curve.label_variance, curve.thermal_variance])


SETTINGS = {
    "plain": dict(),
    "noisy": dict(M=40, sigma2=0.1, gamma=0.05, T=0.02),
    "teacher": dict(M=40, sigma2=0.1, gamma=0.05, T=0.02, teacher="profile"),
    "ridgeless": dict(M=40, sigma2=0.1, T=0.02, teacher="profile"),
}


def make(N, P, setting, seed=1, **extra):
    fields = dict(SETTINGS[setting])
    fields.update(extra)
    rng = np.random.default_rng(seed)
    if fields.get("teacher") == "profile":
        fields["teacher"] = rng.uniform(0.2, 2.0, fields.get("M", N))
    params = Params(alpha=1.0, N=N, P=P, **fields)
    return params, sample_design(params, rng)


def stable_lr(params, A, fraction):
    """``fraction`` of the stability edge ``2 / (h_max + gamma)`` of design ``A``."""
    h_max = np.linalg.eigvalsh(A.T @ A)[-1]
    return fraction * 2.0 / (h_max + params.gamma)


STEPS = np.array([0, 1, 2, 7, 50, 333])


@pytest.mark.parametrize("N, P", [(12, 8), (8, 12)])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("fraction", [0.15, 0.75])
def test_every_part_matches_the_iterated_moments(N, P, setting, fraction):
    params, A = make(N, P, setting)
    params = params.replace(lr=stable_lr(params, A, fraction))
    h = np.linalg.eigvalsh(A.T @ A)
    if fraction == 0.75:                       # lr (h + gamma) up to 1.5: stiff directions, u < 0
        assert np.any(1.0 - params.lr * (h + params.gamma) < 0)
    times = np.r_[STEPS * params.lr, 7.5 * params.lr]         # 7.5 steps: 7 taken
    curve = parts(design_error(params, A, times))
    expected = np.array([brute_force(params, A, n) for n in np.r_[STEPS, 7]]).T
    np.testing.assert_allclose(curve, expected, rtol=1e-10, atol=1e-15)
    if params.T > 0:
        assert np.all(curve[2, 1:] > 0)
    if params.sigma2 > 0:
        assert np.all(curve[1, 1:] > 0)


@pytest.mark.parametrize("N, P", [(12, 8), (8, 12)])
@pytest.mark.parametrize("factor", ["svd", "accurate", "gram"])
def test_every_factorisation_route_gives_the_same_gradient_descent(N, P, factor):
    params, A = make(N, P, "teacher")
    params = params.replace(lr=stable_lr(params, A, 0.7))
    times = STEPS[1:] * params.lr
    expected = np.array([brute_force(params, A, n) for n in STEPS[1:]]).T
    np.testing.assert_allclose(parts(design_error(params, A, times, factor=factor)), expected,
                               rtol=1e-10, atol=1e-15)


def test_the_brute_force_doubling_agrees_with_plain_iteration():
    params, A = make(12, 8, "noisy")
    params = params.replace(lr=stable_lr(params, A, 0.7))
    for n in (1, 6, 333):
        np.testing.assert_allclose(brute_force(params, A, n, doubling), brute_force(params, A, n),
                                   rtol=1e-11)


@pytest.mark.parametrize("N, P, setting", [(8, 12, "noisy"), (8, 12, "teacher"),
                                           (12, 8, "noisy"), (12, 8, "teacher"),
                                           (8, 12, "ridgeless")])
def test_infinite_time_is_the_fixed_point_of_the_moments(N, P, setting):
    params, A = make(N, P, setting)
    params = params.replace(lr=stable_lr(params, A, 0.7))
    curve = parts(design_error(params, A, [np.inf, 4000 * params.lr]))
    expected = brute_force(params, A, 2**62, doubling)       # far beyond every relaxation
    np.testing.assert_allclose(curve[:, 0], expected, rtol=1e-9)
    # bias and label variance at t = inf are those of gradient flow (the same fixed point);
    # the discrete thermal factor 2 / (a (2 - lr a)) exceeds the continuous 1 / a
    flow = parts(design_error(params.replace(lr=0.0), A, [np.inf]))[:, 0]
    np.testing.assert_allclose(curve[:2, 0], flow[:2], rtol=1e-12)
    if params.T > 0:
        assert curve[2, 0] > flow[2] * (1 + 1e-3)


@pytest.mark.parametrize("N, P", [(12, 8), (8, 12), (30, 30)])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_a_vanishing_learning_rate_is_gradient_flow(N, P, setting):
    params, A = make(N, P, setting)
    times = [0.0, 0.0371, 0.52, 3.3, 41.0]
    if params.has_equilibrium:
        times.append(np.inf)
    flow = parts(design_error(params, A, times))
    small = parts(design_error(params.replace(lr=1e-7), A, times))
    np.testing.assert_allclose(small, flow, rtol=2e-6, atol=1e-14)
    # and not by accident: a finite learning rate differs at the same times
    coarse = parts(design_error(params.replace(lr=stable_lr(params, A, 0.5)), A, times[1:3]))
    assert np.max(np.abs(coarse - flow[:, 1:3]) / flow[:, 1:3].sum(axis=0)) > 1e-3


@pytest.mark.parametrize("N, P, setting", [(12, 8, "noisy"), (8, 12, "teacher"),
                                           (8, 12, "plain")])
def test_the_stability_edge(N, P, setting):
    params, A = make(N, P, setting)
    edge = stable_lr(params, A, 1.0)
    below = params.replace(lr=edge * (1 - 1e-7))          # u = -1 + 2e-7 in the stiffest direction
    steps = [1, 2, 201, 1000]
    curve = parts(design_error(below, A, np.array(steps) * below.lr))
    expected = np.array([brute_force(below, A, n) for n in steps]).T
    np.testing.assert_allclose(curve, expected, rtol=1e-9, atol=1e-15)
    for lr in (edge * (1 + 1e-7), 3 * edge):
        above = params.replace(lr=lr)
        with pytest.raises(DivergenceError) as caught:
            design_error(above, A, [0.0, above.lr])
        message = str(caught.value)
        assert message.startswith("gradient descent diverges")
        for needle in ("lr = ", "h_max + gamma = ", "2 / (h_max + gamma) = "):
            assert needle in message, message
        assert "\n" not in message
        h_max = np.linalg.eigvalsh(A.T @ A)[-1]
        stated = float(message.split("2 / (h_max + gamma) = ")[1].split()[0])
        assert stated == pytest.approx(2 / (h_max + params.gamma), rel=1e-5)


def test_simulate_averages_the_gradient_descent_designs_and_stops_at_divergence():
    params = Params(alpha=1.0, N=30, P=20, M=40, sigma2=0.05, gamma=0.02, T=0.01, lr=0.05)
    times = [0.0, 0.3, 2.0, np.inf]
    curve = simulate(params, times, designs=5, seed=4)
    designs = [design_error(params, sample_design(params, np.random.default_rng(s)), times)
               for s in design_seeds(4, 5)]
    np.testing.assert_allclose(curve.bias, np.mean([c.bias for c in designs], axis=0), rtol=1e-13)
    np.testing.assert_allclose(curve.thermal_variance,
                               np.mean([c.thermal_variance for c in designs], axis=0), rtol=1e-13)
    assert curve.sgd_variance is None and curve.error[0] == pytest.approx(1.0, rel=1e-12)
    flow = simulate(params.replace(lr=0.0), times, designs=5, seed=4)
    assert not np.allclose(curve.error[1:3], flow.error[1:3], rtol=1e-3)
    with pytest.raises(DivergenceError, match="gradient descent diverges"):
        simulate(params.replace(lr=10.0), times, designs=5, seed=4)


def exact_factors(a, n, lr):
    """``(1 - u^n)/a``, ``2 (1 - u^{2n}) / (a (2 - lr a))`` and ``u^n`` with 60 digits."""
    with mp.workdps(60):
        a, lr = mp.mpf(a), mp.mpf(lr)
        u = 1 - lr * a
        if n == np.inf:
            un, u2n = mp.mpf(0), mp.mpf(0)
        else:
            un, u2n = u ** int(n), u ** (2 * int(n))
        if a == 0:
            return float(int(n) * lr), float(2 * int(n) * lr), 1.0
        return float((1 - un) / a), float(2 * (1 - u2n) / (a * (2 - lr * a))), float(un)


@pytest.mark.parametrize("lr", [2.0**-10, 0.5, 4.0])
def test_the_factors_have_no_cancellation(lr):
    """Tiny ``lr a`` (where ``1 - u^n`` cancels), ``u`` near 0, negative ``u`` near -1, many
    steps, ``a = 0`` and ``t = inf``, against 60-digit arithmetic. (``lr`` a power of two, so
    that ``lr a`` is exact: near ``lr a = 2`` the factors are ill-conditioned in ``lr a``
    itself, ``d log(2 - lr a) / d log(lr a) = lr a / (2 - lr a)``.)"""
    a = np.array([0.0, 1e-14, 3e-9, 1e-4, 0.5, 1.0, 1.3, 1.99999, 1.999999999]) / lr
    n = np.array([0, 1, 2, 3, 17, 10**6, 10**12 + 1, np.inf])
    g, q = _factors(a, n * lr, lr, n)
    gamma = 0.0
    e = _unlearned(a - gamma, gamma, n * lr, lr, n)
    for (j, nj), (i, ai) in itertools.product(enumerate(n), enumerate(a)):
        if nj == np.inf and ai == 0:
            continue
        g_exact, q_exact, un = exact_factors(ai, nj, lr)
        assert g[j, i] == pytest.approx(g_exact, rel=1e-12, abs=1e-300), (nj, ai)
        assert q[j, i] == pytest.approx(q_exact, rel=1e-12, abs=1e-300), (nj, ai)
        if ai > 0:
            assert e[j, i] == pytest.approx(un, rel=1e-9, abs=1e-15), (nj, ai)


def test_exactly_at_the_edge_gradient_descent_does_not_converge_and_is_refused():
    """A design with exact eigenvalues: ``H = diag(4, 1, 0.25)``; ``lr = 0.5`` puts the stiffest
    direction at ``u = -1`` (it oscillates forever, and the thermal variance grows): refused;
    one ulp below is accepted."""
    params = Params(alpha=1.0, N=3, P=4, sigma2=0.1, T=0.01)
    A = np.zeros((4, 3))
    A[0, 0], A[1, 1], A[2, 2] = 2.0, 1.0, 0.5
    with pytest.raises(DivergenceError, match="gradient descent diverges"):
        design_error(params.replace(lr=0.5), A, [1.0])
    below = params.replace(lr=np.nextafter(0.5, 0))
    steps = [1, 2, 3, 40]
    np.testing.assert_allclose(parts(design_error(below, A, np.array(steps) * below.lr)),
                               np.array([brute_force(below, A, n) for n in steps]).T,
                               rtol=1e-9, atol=1e-15)
