"""Equilibrium (t = inf) theory: KRR learning curve, posterior, against the exact simulator."""

import math

import numpy as np
import pytest

from rfdmft.equilibrium import (equilibrium, equilibrium_curve, krr_learning_curve, posterior,
                                renormalised_ridge)
from rfdmft.model import Params
from rfdmft.simulation import simulate

TOL = 0.01
MAX_SEM = 0.0035


def _against_simulator(params, designs=40, seed=2):
    eq = equilibrium(params)
    sim = simulate(params, [math.inf], designs=designs, seed=seed)
    assert sim.error_sem[0] <= MAX_SEM * sim.error[0]
    assert eq.error == pytest.approx(sim.error[0], rel=TOL)
    for name in ("bias", "label_variance", "thermal_variance"):
        value, truth = getattr(eq, name), getattr(sim, name)[0]
        if truth > 0.05 * sim.error[0]:
            assert value == pytest.approx(truth, rel=TOL), name
        else:
            assert abs(value - truth) < TOL * sim.error[0], name
    return eq, sim


def test_kappa_solves_its_equation():
    lam = Params(alpha=1.0, N=1000, P=10).eigenvalues
    for P, gamma in [(100, 0.0), (100, 1e-3), (100, 10.0), (2000, 0.0), (2000, 0.1)]:
        kappa = renormalised_ridge(lam, P, gamma)
        rhs = gamma / P + kappa / P * np.sum(lam / (lam + kappa))
        assert kappa == pytest.approx(rhs, rel=1e-12)
        if P >= lam.size and gamma == 0:
            assert kappa == 0.0
    # continuity of the ridgeless limit
    assert renormalised_ridge(lam, 100, 1e-12) == pytest.approx(renormalised_ridge(lam, 100, 0.0),
                                                                rel=1e-6)


@pytest.mark.parametrize("params", [
    Params(alpha=1.0, N=800, P=200),                                   # ridgeless N > P plateau
    Params(alpha=1.0, N=200, P=800, M=400, sigma2=0.1),                # N < P
    Params(alpha=1.0, N=800, P=200, M=1600, sigma2=0.1, gamma=0.05),   # KRR
    Params(alpha=1.5, N=600, P=300, sigma2=0.2, gamma=0.1, T=0.05),    # posterior, mismatched
], ids=["ridgeless", "N<P", "krr", "posterior"])
def test_matches_simulator(params):
    _against_simulator(params)


def test_general_teacher_matches_simulator():
    k = np.arange(1, 1201)
    powers = 3.0 * k**-0.5 * (1 + 0.5 * np.cos(k))          # a non-isotropic teacher profile
    params = Params(alpha=1.0, N=600, P=200, M=1200, sigma2=0.05, gamma=0.02, teacher=powers)
    _against_simulator(params)


def test_bayes_optimal_identity():
    for alpha, N, P, s2 in [(1.0, 500, 200, 0.1), (2.0, 300, 1000, 0.01), (0.5, 2000, 100, 1.0)]:
        params = Params(alpha=alpha, N=N, P=P, sigma2=s2, gamma=s2, T=s2)
        eq = equilibrium(params)
        assert eq.mean_error == pytest.approx(eq.posterior_variance, rel=1e-12)
        assert eq.sample_error == pytest.approx(2 * eq.mean_error, rel=1e-12)
        # and through the posterior interface: prior variance 1 (the teacher), noise sigma2
        assert posterior(params.replace(gamma=0.0, T=0.0), 1.0, s2).error == pytest.approx(eq.error)
    # the exact simulator at the Bayes point: one sample's error is twice the mean's
    params = Params(alpha=1.0, N=400, P=200, sigma2=0.1, gamma=0.1, T=0.1)
    sim = simulate(params, [math.inf], designs=40, seed=4)
    mean = sim.bias[0] + sim.label_variance[0]
    assert sim.error[0] == pytest.approx(2 * mean, rel=TOL)


def test_krr_error_minimal_at_ridge_equal_noise():
    for alpha, N, P, s2 in [(1.0, 500, 200, 0.1), (2.0, 400, 100, 0.02)]:
        base = Params(alpha=alpha, N=N, P=P, sigma2=s2)
        ridges = s2 * np.exp(np.linspace(-2, 2, 41))
        errors = [equilibrium(base.replace(gamma=g)).mean_error for g in ridges]
        assert int(np.argmin(errors)) == 20
        at = equilibrium(base.replace(gamma=s2)).mean_error
        for f in (0.99, 1.01):
            assert equilibrium(base.replace(gamma=s2 * f)).mean_error > at


def test_ridgeless_scaling_with_data():
    # E_g ~ P^-alpha for N >> P. Least-squares slope over P = 100..1600 with N = 2e5: the local
    # slope approaches -alpha as O(1/P) (0.7% off at P = 100 for alpha = 1) and finite N shifts it
    # by < 0.5% (doubling N changes E_g by < 0.4% here): tolerance 2% of alpha.
    Ps = np.array([100, 200, 400, 800, 1600])
    for alpha in (1.0, 2.0):
        E = krr_learning_curve(Params(alpha=alpha, N=200_000, P=10), Ps)
        slope = np.polyfit(np.log(Ps), np.log(E), 1)[0]
        assert slope == pytest.approx(-alpha, rel=0.02)


def test_model_bottleneck_scaling():
    # P >> N, ridgeless, noise free: only the uncaptured tail remains, E_g ~ N^-alpha
    Ns = np.array([50, 100, 200, 400])
    E = [equilibrium(Params(alpha=1.0, N=int(n), M=100_000, P=10_000)).error for n in Ns]
    slope = np.polyfit(np.log(Ns), np.log(E), 1)[0]
    assert slope == pytest.approx(-1.0, rel=0.02)


def test_limits_and_refusals():
    # ridgeless N < P, noise-free: captured modes learned exactly
    assert equilibrium(Params(alpha=1.0, N=100, P=400)).error == 0.0
    # interpolation threshold: the label-noise variance diverges
    assert math.isinf(equilibrium(Params(alpha=1.0, N=200, P=200, sigma2=0.1)).label_variance)
    with pytest.raises(ValueError, match="t = inf"):
        equilibrium(Params(alpha=1.0, N=300, P=200, T=0.1))
    with pytest.raises(ValueError, match="prior_variance"):
        posterior(Params(alpha=1.0, N=30, P=20), 0.0, 0.1)
    curve = equilibrium_curve(Params(alpha=1.0, N=300, P=200, gamma=0.1, T=0.1, sigma2=0.1))
    assert curve.times.tolist() == [math.inf] and curve.error[0] > 0
