"""Minibatch SGD by Monte Carlo (rfdmft.sgd) against exact moments, the numpy loop and itself."""

import itertools
import math

import numpy as np
import pytest

from rfdmft import Params, design_error, sample_design, simulate
from rfdmft import sgd
from rfdmft.model import DivergenceError


def exact_sgd_error(params, A, B, step_counts):
    """The SGD error on the fixed design ``A``, averaged exactly over batch sequences, teacher,
    label noise and Langevin noise: the second moments of ``s = (w, wbar, eps)`` propagated
    through every step, averaged over all ``C(P, B)`` batches.

    One step with batch ``b``: ``w <- M_b w + K_b (A wbar + eps) + sqrt(2 T lr) xi`` with
    ``M_b = (1 - lr gamma) I - lr (P/B) A^T D_b A``, ``K_b = lr (P/B) A^T D_b`` and ``D_b``
    the diagonal projector on the batch; ``wbar ~ N(0, diag p)``, ``eps ~ N(0, sigma2 + tail)``.
    """
    P, N = A.shape
    lam = params.eigenvalues[:N]
    lr, gamma = params.lr, params.gamma
    size = 2 * N + P
    maps = []
    for batch in itertools.combinations(range(P), B):
        D = np.zeros((P, P))
        D[list(batch), list(batch)] = 1.0
        F = np.eye(size)
        K = lr * (P / B) * A.T @ D
        F[:N, :N] = (1 - lr * gamma) * np.eye(N) - K @ A
        F[:N, N:2 * N] = K @ A
        F[:N, 2 * N:] = K
        maps.append(F)
    Q = np.zeros((size, size))
    Q[:N, :N] = 2 * params.T * lr * np.eye(N)
    S = np.diag(np.r_[np.zeros(N), params.powers[:N],
                      np.full(P, params.sigma2 + params.tail)])
    difference = np.c_[np.eye(N), -np.eye(N), np.zeros((N, P))]
    out = {}
    for n in range(max(step_counts) + 1):
        out[n] = float(np.trace(np.diag(lam) @ difference @ S @ difference.T)) + params.tail
        S = sum(F @ S @ F.T for F in maps) / len(maps) + Q
    return np.array([out[n] for n in step_counts])


@pytest.mark.parametrize("N, P, B, T", [(3, 4, 1, 0.05), (3, 4, 2, 0.05), (4, 3, 1, 0.0),
                                        (4, 3, 2, 0.0)])
def test_the_monte_carlo_mean_is_the_exact_sgd_error(N, P, B, T):
    params = Params(alpha=1.0, N=N, P=P, M=5, sigma2=0.2, gamma=0.1, T=T, batch=B, lr=0.1)
    A = sample_design(params, np.random.default_rng(5))
    counts = [0, 1, 3, 10, 40, 150]
    times = np.array(counts) * params.lr
    exact = exact_sgd_error(params, A, B, counts)
    gd = design_error(params.replace(batch=None), A, times)
    runs = 20000
    result = sgd.design_sgd(params, A, times, runs=runs, seed=2)
    form = sgd._representation(P, N, B, T)
    assert form == ("dual" if T == 0 and N > P else "weights")
    # the gradient-descent parts are the exact ones of this design
    np.testing.assert_array_equal(result.gd.bias, gd.bias)
    np.testing.assert_array_equal(result.gd.thermal_variance, gd.thermal_variance)
    sem = result.deviation.std(axis=0, ddof=1) / math.sqrt(runs)
    z = np.abs(result.estimate - exact)[1:] / sem[1:]
    assert np.all(z < 4), (z, result.estimate, exact)
    assert result.estimate[0] == pytest.approx(exact[0], rel=1e-14)
    # the excess over gradient descent is real here (many standard errors from zero) ...
    excess = exact - gd.error
    assert np.all(excess[1:] > 5 * sem[1:])
    np.testing.assert_allclose(result.sgd_variance, excess, atol=4 * sem.max())
    # ... and the plain average of the runs' errors agrees too (with a larger error bar)
    sem_raw = result.error.std(axis=0, ddof=1) / math.sqrt(runs)
    assert np.all(np.abs(result.error.mean(axis=0) - exact) < 4 * sem_raw + 1e-15)


def test_a_monte_carlo_of_full_batch_descent_has_no_sgd_variance():
    """Forced B = P at T = 0: every run is gradient descent (the batch order only permutes a
    sum), so the deviation from the exact GD weights is round-off."""
    params = Params(alpha=1.0, N=40, P=15, M=60, sigma2=0.1, gamma=0.02, lr=0.05)
    times = [0.0, 0.05, 1.0, 7.3]
    for N in (40, 10):                                  # dual form, weight form
        p = params.replace(N=N, M=60)
        A = sample_design(p, np.random.default_rng(1))
        result = sgd.design_sgd(p, A, times, runs=3, seed=3, batch=p.P)
        assert np.all(np.abs(result.sgd_variance) < 1e-24), result.sgd_variance
        curve = sgd.simulate_sgd(p, times, designs=4, seed=5, batch=p.P)
        assert np.all(np.abs(curve.sgd_variance) < 1e-24)
        exact = simulate(p, times, designs=4, seed=5)            # the same designs
        np.testing.assert_allclose(curve.bias, exact.bias, rtol=1e-13)
        np.testing.assert_allclose(curve.label_variance, exact.label_variance, rtol=1e-13)
        np.testing.assert_allclose(curve.error, exact.error, rtol=1e-12)
        np.testing.assert_allclose(curve.error_sem, exact.error_sem, rtol=1e-6)


def test_full_batch_with_langevin_noise_has_no_sgd_variance_on_average():
    """Forced B = P with T > 0: the deviation from the GD weights is the Langevin part alone,
    whose mean is the exact GD thermal variance (checks the kick sqrt(2 T lr) of the kernel)."""
    params = Params(alpha=1.0, N=6, P=9, sigma2=0.1, gamma=0.05, T=0.3, lr=0.1)
    A = sample_design(params, np.random.default_rng(2))
    times = [0.1, 0.5, 3.0]
    runs = 4000
    result = sgd.design_sgd(params, A, times, runs=runs, seed=1, batch=params.P)
    sem = result.deviation.std(axis=0, ddof=1) / math.sqrt(runs)
    assert np.all(np.abs(result.sgd_variance) < 4 * sem), (result.sgd_variance, sem)
    assert np.all(result.gd.thermal_variance > 20 * sem)


def test_batch_equal_to_p_is_gradient_descent():
    params = Params(alpha=1.0, N=30, P=12, sigma2=0.1, lr=0.05, batch=12)
    assert params.batch is None and params.batch_size == 12
    curve = simulate(params, [0.0, 1.0, np.inf], designs=3)
    assert curve.sgd_variance is None
    assert "sgd_variance" not in curve.to_dict()


@pytest.mark.parametrize("N, P, T, form", [(40, 15, 0.0, "dual"), (40, 15, 0.0, "weights"),
                                           (40, 15, 0.02, "weights"), (10, 25, 0.0, "weights"),
                                           (10, 25, 0.02, "auto")])
def test_numba_and_the_numpy_loop_take_the_same_steps(N, P, T, form):
    params = Params(alpha=1.0, N=N, P=P, gamma=0.03, T=T, lr=0.04, batch=3)
    rng = np.random.default_rng(0)
    A = sample_design(params, rng)
    y = rng.standard_normal(P)
    counts = np.array([0, 7, 1, 500, 37, 500])
    fast = sgd.sgd_weights(params, A, y, counts, seed=11, representation=form)
    batches, xi = sgd.sgd_sequence(params, 500, seed=11)
    assert batches.shape == (500, 3) and (xi is None) == (T == 0)
    assert all(len(set(row)) == 3 for row in batches) and batches.min() >= 0 and batches.max() < P
    slow = sgd.sgd_numpy(params, A, y, counts, batches, xi)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12 * np.abs(slow).max())
    assert np.abs(slow[3]).max() > 0.1
    # not merely the same distribution: another seed takes other steps
    other = sgd.sgd_weights(params, A, y, counts, seed=12, representation=form)
    assert np.abs(other - slow).max() > 1e-3


def test_the_batches_are_uniform_subsets():
    """Every point equally often, every pair of points equally often (without replacement)."""
    params = Params(alpha=1.0, N=5, P=6, lr=0.1, batch=2)
    batches, _ = sgd.sgd_sequence(params, 60000, seed=3)
    counts = np.bincount(batches.ravel(), minlength=6)
    expected = 60000 * 2 / 6
    assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected))
    pairs = np.bincount(np.sort(batches, axis=1) @ np.array([6, 1]), minlength=36)
    pairs = pairs[[6 * i + j for i, j in itertools.combinations(range(6), 2)]]
    assert np.all(np.abs(pairs - 4000) < 5 * math.sqrt(4000))


def test_runs_are_reproducible_from_the_seed_and_independent_of_the_slices(monkeypatch):
    params = Params(alpha=1.0, N=30, P=12, M=40, sigma2=0.1, gamma=0.02, T=0.01, lr=0.05,
                    batch=4)
    times = [0.0, 0.4, 3.0]
    first = sgd.simulate_sgd(params, times, designs=3, seed=9)
    again = simulate(params, times, designs=3, seed=9)            # dispatches to simulate_sgd
    for key in ("bias", "label_variance", "thermal_variance", "sgd_variance", "error_sem"):
        np.testing.assert_array_equal(getattr(first, key), getattr(again, key))
    monkeypatch.setattr(sgd, "SLICE_WORK", 1)                     # one step per slice
    sliced = sgd.simulate_sgd(params, times, designs=3, seed=9)
    np.testing.assert_array_equal(first.sgd_variance, sliced.sgd_variance)
    other = sgd.simulate_sgd(params, times, designs=3, seed=10)
    assert not np.allclose(first.sgd_variance[1:], other.sgd_variance[1:])
    # the gradient-descent parts are those of the exact simulator on the same designs
    exact = simulate(params.replace(batch=None), times, designs=3, seed=9)
    np.testing.assert_allclose(first.bias, exact.bias, rtol=1e-13)
    np.testing.assert_allclose(first.thermal_variance, exact.thermal_variance, rtol=1e-13)
    np.testing.assert_allclose(first.error, first.bias + first.label_variance
                               + first.thermal_variance + first.sgd_variance, rtol=1e-14)


def test_the_exact_gradient_descent_weights():
    """``gd_weights`` (closed form) against the numpy loop with every point in every batch."""
    for N, P in ((20, 9), (6, 14)):
        params = Params(alpha=1.0, N=N, P=P, gamma=0.02, lr=0.08)
        rng = np.random.default_rng(4)
        A = sample_design(params, rng)
        y = rng.standard_normal(P)
        counts = np.array([0, 1, 5, 300])
        full = np.tile(np.arange(P), (300, 1))
        np.testing.assert_allclose(sgd.gd_weights(params, A, y, counts),
                                   sgd.sgd_numpy(params, A, y, counts, full), rtol=0,
                                   atol=1e-12)


def test_sgd_diverges_where_gradient_descent_is_stable():
    params = Params(alpha=1.0, N=40, P=20, sigma2=0.1, lr=1.0, batch=1)     # lr set below
    A = sample_design(params, np.random.default_rng(0))
    h_max = np.linalg.eigvalsh(A.T @ A)[-1]
    lr = 1.5 / h_max                                  # GD is stable, single-sample steps are not
    gd = design_error(params.replace(lr=lr, batch=None), A, [100 * lr])
    assert np.isfinite(gd.error).all()
    with pytest.raises(DivergenceError) as caught:
        sgd.design_sgd(params.replace(lr=lr), A, [2000 * lr], runs=1, seed=0)
    message = str(caught.value)
    assert message.startswith("minibatch SGD diverged at step ")
    assert f"lr = {lr:g}, B = 1" in message and "\n" not in message
    step = int(message.split("at step ")[1].split()[0])
    assert 1 <= step < 2000
    with pytest.raises(DivergenceError, match="minibatch SGD diverge"):
        simulate(params.replace(lr=lr), [2000 * lr], designs=2)
    # beyond the gradient-descent edge, the mean itself diverges
    with pytest.raises(DivergenceError, match="gradient descent diverges"):
        simulate(params.replace(lr=3 / h_max), [10 / h_max], designs=2)


def test_what_the_monte_carlo_refuses():
    params = Params(alpha=1.0, N=400, P=200, lr=0.01, batch=8)
    with pytest.raises(ValueError, match=r"^t = inf cannot be simulated with minibatch SGD"):
        sgd.simulate_sgd(params, [1.0, np.inf], designs=2)
    with pytest.raises(ValueError, match=r"^t = 1e\+06 with lr = 0.01 \(100000000 steps\), B = 8, "
                                         r"N = 400, P = 200 and 20 designs is too much work"):
        simulate(params, [1.0, 1e6], designs=20)
    with pytest.raises(ValueError, match="what fits: t <= "):
        sgd.check_sgd(params, [1e6], 20)
    assert sgd.sgd_work(params, [1.0], 2) == pytest.approx(100 * 9 * 200 * 2)   # dual form
    sgd.check_sgd(params, [1.0, 10.0], 20)                      # fits
    with pytest.raises(ValueError, match="lr must be > 0"):
        sgd.simulate_sgd(Params(alpha=1.0, N=10, P=5), [1.0], batch=2)
    with pytest.raises(ValueError, match="batch must be an integer from 1 to P = 200"):
        sgd.simulate_sgd(params, [1.0], batch=201)
