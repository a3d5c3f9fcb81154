"""Scaling exponents and the compute-optimal frontier of the theory."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from rfdmft.equilibrium import equilibrium
from rfdmft.fitting import fit_power_law
from rfdmft.laplace import theory_laplace
from rfdmft.model import Params
from rfdmft.scaling import (budget_error, compute_budget, compute_optimal_frontier,
                            predicted_exponents)


def test_isotropic_exponents():
    for alpha in (0.5, 1.0, 2.0):
        e = predicted_exponents(alpha)
        assert e["time"] == pytest.approx(alpha / (1 + alpha), abs=1e-15)
        assert e["data"] == e["model"] == alpha
        assert e["frontier_data"] == pytest.approx(1 / (2 + alpha), abs=1e-15)
        assert e["frontier_error"] == pytest.approx(alpha / (2 + alpha), abs=1e-15)


def test_frontier_exponents_minimise_the_two_term_error():
    """Brute force: minimise (C/P)^-s + P^-d over a fine grid of P at two large budgets."""
    for alpha, beta in [(1.0, 0.0), (0.5, 0.7), (1.0, 5.0)]:
        e = predicted_exponents(alpha, beta)
        s, d = e["time"], e["data"]
        P = np.logspace(0, 40, 400001)
        best = []
        for C in (1e30, 1e40):
            E = (C / P) ** -s + P**-d
            i = np.argmin(E)
            best.append((P[i], E[i]))
        (P1, E1), (P2, E2) = best
        assert math.log(P2 / P1) / math.log(1e10) == pytest.approx(e["frontier_data"], abs=1e-4)
        assert -math.log(E2 / E1) / math.log(1e10) == pytest.approx(e["frontier_error"], abs=1e-4)


def test_teacher_exponents_and_saturation():
    e = predicted_exponents(1.0, beta=1.0)
    assert (e["time"], e["data"], e["model"]) == (1.0, 2.0, 2.0)
    assert predicted_exponents(1.0, beta=10.0)["data"] == 4.0     # 2 (1 + alpha)


def test_model_size_law_of_the_theory():
    """P = 8 N, M >> N: the equilibrium error is the tail times P/(P - N), ~ N^-alpha."""
    for alpha in (1.0, 2.0):
        Ns = np.array([25, 50, 100, 200, 400])
        E = np.array([equilibrium(Params(alpha=alpha, N=int(n), P=int(8 * n), M=10**6)).error
                      for n in Ns])
        fit = fit_power_law(Ns, E)
        assert fit.consistent_with(-predicted_exponents(alpha)["model"])
        assert fit.uncertainty < 0.02


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 1.0)])
def test_time_law_of_the_theory(alpha, beta):
    """The Laplace theory's early-time slope in P t, with a non-isotropic teacher too."""
    N, P = 20000, 2000
    k = np.arange(1, N + 1, dtype=float)
    params = Params(alpha=alpha, N=N, P=P, teacher=k**-beta)
    small = Params(alpha=alpha, N=N // 4, P=P // 4, teacher=k[: N // 4] ** -beta)
    t = np.logspace(np.log10(20 / P), np.log10(600 / P), 9)
    fit = fit_power_law(P * t, theory_laplace(params, t).error)
    small = fit_power_law(P * t, theory_laplace(small, t).error)
    fit = fit.with_finite_size(small)
    assert fit.consistent_with(-predicted_exponents(alpha, beta)["time"])
    assert fit.uncertainty < 0.03


def test_bad_exponent_input():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        predicted_exponents(0.0)
    with pytest.raises(ValueError, match="beta must be > -alpha"):
        predicted_exponents(1.0, beta=-1.5)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        predicted_exponents(float("nan"))


def test_budget():
    assert compute_budget(10, 0.5) == 50.0
    params = Params(alpha=1.0, N=2000, P=10)
    E = budget_error(params, 100, [1e4, 1e6])
    ref = theory_laplace(params.replace(P=100), [1.0, 100.0]).error
    np.testing.assert_allclose(E, ref, rtol=1e-12)
    with pytest.raises(ValueError, match="budget must be positive"):
        budget_error(params, 100, [0.0])


@pytest.fixture(scope="module")
def frontier():
    params = Params(alpha=1.0, N=8000, P=10)
    Ps = np.unique(np.round(np.logspace(np.log10(8), np.log10(800), 15)).astype(int))
    return params, compute_optimal_frontier(params, np.logspace(2, 6.5, 10), Ps)


def test_frontier_against_bounded_minimisation(frontier):
    """The grid-plus-parabola optimum agrees with a bounded minimisation of the theory."""
    params, fr = frontier
    for j in (2, 7):
        C = fr.budgets[j]
        res = minimize_scalar(lambda x: budget_error(params, int(round(math.exp(x))), C)[0],
                              bounds=(math.log(fr.P[j] / 2.5), math.log(fr.P[j] * 2.5)),
                              method="bounded", options={"xatol": 1e-3})
        assert math.exp(res.x) == pytest.approx(fr.P[j], rel=0.05)
        assert res.fun == pytest.approx(fr.error[j], rel=3e-3)
        # and no point of the grid on this budget line is lower than the frontier (beyond the
        # parabola's interpolation error)
        assert fr.grid_error[:, j].min() >= fr.error[j] * (1 - 3e-3)
    np.testing.assert_allclose(fr.t, fr.budgets / fr.P**2)


def test_frontier_exponents(frontier):
    _, fr = frontier
    e = predicted_exponents(1.0)
    fit_P = fit_power_law(fr.budgets, fr.P, window=(1e3, 1e7))
    fit_E = fit_power_law(fr.budgets, fr.error, window=(1e3, 1e7))
    assert abs(fit_P.exponent - e["frontier_data"]) < max(fit_P.uncertainty, 0.01) + 0.01
    assert abs(-fit_E.exponent - e["frontier_error"]) < max(fit_E.uncertainty, 0.01) + 0.01
    assert np.all(np.diff(fr.P) > 0) and np.all(np.diff(fr.error) < 0)


def test_frontier_refuses_an_optimum_at_the_edge():
    params = Params(alpha=1.0, N=2000, P=10)
    with pytest.raises(ValueError, match="edge of Ps"):
        compute_optimal_frontier(params, [1e8], [8, 16, 32])
    with pytest.raises(ValueError, match="Ps must be"):
        compute_optimal_frontier(params, [1e3], [8, 16])
    with pytest.raises(ValueError, match="budgets must be"):
        compute_optimal_frontier(params, [-1.0], [8, 16, 32])
