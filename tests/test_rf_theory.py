"""The random-feature theory (rfdmft.rf_theory) against the exact random-feature simulator and
its limits: the mode model as N -> inf, and the N <-> P duality at P -> inf."""

import math

import numpy as np
import pytest

from rfdmft.equilibrium import equilibrium
from rfdmft.laplace import theory_laplace
from rfdmft.model import Params
from rfdmft.random_features import rf_simulate
from rfdmft.rf_theory import rf_equilibrium, rf_theory

TIMES = np.array([0.1, 1.0, 10.0, 100.0, 1000.0, 1e5, math.inf])


def _with_N(params: Params, N: int) -> Params:
    """Random features may outnumber the kernel modes (N > M), which Params (built for the mode
    model, N <= M) refuses; the random-feature functions read N, M and P only."""
    object.__setattr__(params, "N", N)
    return params


@pytest.mark.parametrize("N, M, P, sigma2, gamma, T", [
    (200, 2000, 100, 0.0, 0.0, 0.0),      # N > P, no label noise: the unrepresented target is noise
    (100, 1000, 200, 0.05, 0.0, 0.0),     # N < P
    (200, 1000, 400, 0.02, 1e-3, 1e-3),   # weight decay and temperature
    (400, 1000, 100, 0.05, 0.0, 0.0),
])
def test_theory_against_simulator(N, M, P, sigma2, gamma, T):
    """Within 2 % of the exact simulator (20 designs) at N, P >= 100, from t = 0.1 to t = inf,
    and within 4 standard errors plus 1 % (finite size)."""
    params = Params(alpha=1.0, N=N, M=M, P=P, sigma2=sigma2, gamma=gamma, T=T)
    theory = rf_theory(params, TIMES)
    sim = rf_simulate(params, TIMES, designs=20, seed=1)
    gap = np.abs(theory.error - sim.error)
    assert np.all(gap <= 0.02 * sim.error), theory.error / sim.error - 1
    assert np.all(gap <= 4 * sim.error_sem + 0.01 * sim.error)
    if T > 0:
        assert np.all(theory.thermal_variance[1:] > 0)


def test_many_features_give_the_mode_model():
    """N -> inf: the random projection becomes the identity on the M modes."""
    params = _with_N(Params(alpha=1.0, N=400, M=400, P=100, sigma2=0.05, gamma=1e-3), 10**9)
    t = np.array([0.1, 1.0, 10.0, 100.0])
    rf = rf_theory(params, t)
    mode = theory_laplace(Params(alpha=1.0, N=400, P=100, sigma2=0.05, gamma=1e-3), t)
    assert np.allclose(rf.error, mode.error, rtol=1e-6)
    assert np.allclose(rf.label_variance, mode.label_variance, rtol=1e-5)


def test_duality_with_many_data():
    """P -> inf, ridgeless, no noise, t = inf: the error of N random features equals the error
    of ridgeless kernel regression on N data points (the N <-> P duality)."""
    for N in (50, 200):
        rf = rf_equilibrium(Params(alpha=1.0, N=N, M=2000, P=10**9))
        krr = equilibrium(Params(alpha=1.0, N=2000, P=N))
        assert sum(rf) == pytest.approx(krr.error, rel=1e-6)


def test_long_time_limit_is_where_the_curve_goes():
    params = Params(alpha=1.0, N=150, M=600, P=100, sigma2=0.05, gamma=0.01, T=0.001)
    curve = rf_theory(params, [1e5, math.inf])
    for part in ("bias", "label_variance", "thermal_variance"):
        x = getattr(curve, part)
        assert x[0] == pytest.approx(x[1], rel=1e-7), part


def test_refusals():
    with pytest.raises(ValueError, match="interpolation threshold"):
        rf_equilibrium(Params(alpha=1.0, N=100, M=400, P=100, sigma2=0.1))
    with pytest.raises(ValueError, match="diffuse"):
        rf_equilibrium(Params(alpha=1.0, N=200, M=400, P=100, T=0.01))
    with pytest.raises(ValueError, match="isotropic"):
        rf_theory(Params(alpha=1.0, N=10, M=20, P=10, teacher=np.linspace(2, 1, 20)), [1.0])
