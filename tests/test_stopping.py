"""Early stopping: theory minimiser, simulated minimum, best ridge and the noise-dominated limit."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

import rfdmft as rf
from rfdmft.laplace import theory_laplace
from rfdmft.simulation import design_seeds
from rfdmft.stopping import (noise_dominated_stopping, optimal_ridge, optimal_stopping,
                             simulated_stopping, stopping_curve_minimum)

NOISY = rf.Params(alpha=1.0, N=300, P=100, sigma2=0.1)


def test_optimal_stopping_matches_a_dense_grid_of_the_theory():
    best = optimal_stopping(NOISY)
    grid = np.geomspace(best.t_star / 3, best.t_star * 3, 1201)   # spacing 0.18% in t
    E = theory_laplace(NOISY, grid).error
    i = int(np.argmin(E))
    assert 0 < i < grid.size - 1
    assert abs(math.log(best.t_star / grid[i])) <= math.log(grid[1] / grid[0])
    assert best.error <= E[i] * (1 + 1e-10)
    assert best.error == pytest.approx(best.bias + best.label_variance + best.thermal_variance)
    assert best.bracket[0] < best.t_star < best.bracket[1]


def test_optimal_stopping_is_a_local_minimum_and_balances_the_parts():
    best = optimal_stopping(NOISY)
    near = theory_laplace(NOISY, best.t_star * np.array([0.99, 1.01])).error
    assert np.all(best.error < near)
    # at the optimum the fall of the bias equals the rise of the label-noise variance
    c = theory_laplace(NOISY, best.t_star * np.array([1 - 1e-4, 1 + 1e-4]))
    dB, dV = np.diff(c.bias)[0], np.diff(c.label_variance)[0]
    assert dB < 0 < dV and abs(dB + dV) < 1e-3 * abs(dB)


def test_temperature_moves_the_optimum_earlier_and_up():
    cold = optimal_stopping(NOISY)
    hot = optimal_stopping(NOISY.replace(T=0.01))
    assert hot.t_star < cold.t_star and hot.error > cold.error and hot.thermal_variance > 0


def test_single_direction_closed_form_from_the_simulator():
    # N = M = P = 1: one direction with h = A^2 and c = 1; E(t) = e^{-2ht} + (s2/h)(1 - e^{-ht})^2,
    # minimal at t* = ln(1 + h/s2) / h with E* = s2 / (h + s2), the best-ridge value.
    params = rf.Params(alpha=1.0, N=1, P=1, sigma2=0.3)
    seed = 11
    A = rf.sample_design(params, np.random.default_rng(design_seeds(seed, 2)[0]))
    h = float(A[0, 0] ** 2)
    t_exact = math.log(1 + h / params.sigma2) / h
    times = np.geomspace(t_exact / 4, t_exact * 4, 201)
    # the simulator's first design is this one: its per-design curve is the closed form
    E = np.exp(-2 * h * times) + params.sigma2 / h * np.expm1(-h * times) ** 2
    assert np.allclose(rf.design_error(params, A, times).error, E, rtol=1e-12)
    same = stopping_curve_minimum(times, np.array([E, E]), resamples=10)
    assert same.t_star == pytest.approx(t_exact, rel=2e-4)       # parabola on a 1.4% grid
    assert same.error == pytest.approx(params.sigma2 / (h + params.sigma2), rel=1e-4)
    assert same.t_low == same.t_high == pytest.approx(same.t_star)  # identical designs: no spread


def test_simulated_minimum_uses_the_simulator_designs_and_agrees_with_theory():
    times = np.geomspace(2.0, 20.0, 25)
    sim = simulated_stopping(NOISY, times, designs=20, seed=3, resamples=200)
    ref = rf.simulate(NOISY, times, designs=20, seed=3)
    assert np.allclose(sim.curve.error, ref.error, rtol=1e-12)
    assert np.allclose(sim.curve.error_sem, ref.error_sem, rtol=1e-10)
    assert sim.t_low <= sim.t_star <= sim.t_high
    th = optimal_stopping(NOISY)
    # finite-size differences at N = 300, P = 100 are a few per cent; the minimum is flat
    assert abs(math.log(sim.t_star / th.t_star)) < 0.1
    assert abs(sim.error / th.error - 1) < 0.03


def test_noise_free_and_large_ridge_have_no_interior_minimum():
    with pytest.raises(RuntimeError, match="no (interior )?minimum"):
        optimal_stopping(NOISY.replace(sigma2=0.0))
    with pytest.raises(RuntimeError, match="no (interior )?minimum"):
        optimal_stopping(NOISY.replace(gamma=2 * NOISY.sigma2))
    with pytest.raises(RuntimeError, match="upper end"):
        optimal_stopping(NOISY, t_range=(1e-3, 1.0))
    with pytest.raises(RuntimeError, match="lower end"):
        optimal_stopping(NOISY, t_range=(100.0, 1e4))
    flat = np.ones((3, 5))
    with pytest.raises(RuntimeError, match="simulated"):
        stopping_curve_minimum(np.arange(1.0, 6.0), flat)


@pytest.mark.parametrize("kwargs, name", [
    (dict(t_range=(1.0, 0.5)), "t_range"),
    (dict(t_range=(0.0, 10.0)), "t_range"),
    (dict(t_range=(1.0, math.inf)), "t_range"),
    (dict(t_range=5.0), "t_range"),
    (dict(points_per_decade=1), "points_per_decade"),
    (dict(xatol=0.0), "xatol"),
])
def test_optimal_stopping_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        optimal_stopping(NOISY, **kwargs)


def test_bad_input_elsewhere():
    with pytest.raises(ValueError, match="params"):
        optimal_stopping({"alpha": 1.0})
    with pytest.raises(ValueError, match="designs"):
        simulated_stopping(NOISY, [1.0, 2.0, 3.0], designs=1)
    with pytest.raises(ValueError, match="times"):
        simulated_stopping(NOISY, [1.0, 3.0, 2.0])
    with pytest.raises(ValueError, match="samples"):
        stopping_curve_minimum([1.0, 2.0, 3.0], np.ones((2, 4)))
    with pytest.raises(ValueError, match="gamma_range"):
        optimal_ridge(NOISY, gamma_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="alpha"):
        noise_dominated_stopping(0.0)


def test_optimal_ridge_is_the_noise_variance():
    # Bayes-optimal ridge for the isotropic teacher with M = N (an independent fact)
    for s2 in (0.01, 0.3):
        best = optimal_ridge(NOISY.replace(sigma2=s2))
        assert best.gamma == pytest.approx(s2, rel=1e-5)
    with pytest.raises(RuntimeError, match="lower end"):
        optimal_ridge(NOISY.replace(sigma2=0.0))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_noise_dominated_limit_against_quadrature(alpha):
    b = 1 / (1 + alpha)
    lim = noise_dominated_stopping(alpha)

    def E(s):
        # x^(-b) [e^{-2xs} + (1 - e^{-xs})^2 / x]: the x^(-b) singularity at 0 as a weight
        def body(x):
            return math.exp(-2 * x * s) + (math.expm1(-x * s) ** 2 / x if x > 0 else 0.0)

        near = quad(body, 0, 1, weight="alg", wvar=(-b, 0), epsabs=0, epsrel=1e-12)[0]
        far = quad(lambda x: x ** -b * body(x), 1, math.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
        return near + far

    res = minimize_scalar(lambda u: E(math.exp(u)), bounds=(-4, 4), method="bounded",
                          options={"xatol": 1e-9})
    ridge = quad(lambda x: x ** (-b) / (1 + x), 0, math.inf, limit=200)[0]
    assert lim.s_star == pytest.approx(math.exp(res.x), rel=1e-6)
    assert lim.ratio == pytest.approx(res.fun / ridge, rel=1e-8)
    if alpha == 1.0:     # (1 + sqrt 2) / 4 and 2 sqrt((2 sqrt 2 - 2) / pi), sqrt(6) / 2
        assert lim.s_star == pytest.approx((1 + math.sqrt(2)) / 4, rel=1e-14)
        assert lim.ratio == pytest.approx(2 * math.sqrt((2 * math.sqrt(2) - 2) / math.pi), rel=1e-12)
        assert lim.ridge_prefactor == pytest.approx(math.sqrt(6) / 2, rel=1e-12)


def test_theory_approaches_the_noise_dominated_limit():
    lim = noise_dominated_stopping(1.0)
    gaps = []
    for P in (200, 1600):
        params = rf.Params(alpha=1.0, N=10 * P, P=P, sigma2=0.1)
        best = optimal_stopping(params)
        ridge = optimal_ridge(params)
        gaps.append((abs(best.t_star / lim.t_star(0.1) - 1),
                     abs(best.error / ridge.error / lim.ratio - 1),
                     abs(ridge.error / lim.ridge_error(0.1, P) - 1)))
    gaps = np.array(gaps)
    assert np.all(gaps[1] < gaps[0])                 # closer at more data
    assert gaps[1, 0] < 0.003 and gaps[1, 1] < 0.002 and gaps[1, 2] < 0.05
