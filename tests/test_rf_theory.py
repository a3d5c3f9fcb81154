"""The random-feature theory (rfdmft.rf_theory) against the exact random-feature simulator and
its limits: the mode model as N -> inf, and the N <-> P duality at P -> inf."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from rfdmft.equilibrium import equilibrium
from rfdmft.laplace import theory_laplace
from rfdmft.model import Params
from rfdmft.random_features import rf_simulate
from rfdmft.rf_theory import rf_bias_split, rf_equilibrium, rf_theory

TIMES = np.array([0.1, 1.0, 10.0, 100.0, 1000.0, 1e5, math.inf])


@pytest.mark.parametrize("N, M, P, sigma2, gamma, T", [
    (200, 2000, 100, 0.0, 0.0, 0.0),      # N > P, no label noise: the unrepresented target is noise
    (100, 1000, 200, 0.05, 0.0, 0.0),     # N < P
    (200, 1000, 400, 0.02, 1e-3, 1e-3),   # weight decay and temperature
    (400, 1000, 100, 0.05, 0.0, 0.0),
])
def test_theory_against_simulator(N, M, P, sigma2, gamma, T):
    """Within 2 % of the exact simulator (20 designs) at N, P >= 100, from t = 0.1 to t = inf,
    and within 4 standard errors plus 1 % (finite size)."""
    params = Params(alpha=1.0, N=N, M=M, P=P, sigma2=sigma2, gamma=gamma, T=T, features="random")
    theory = rf_theory(params, TIMES)
    sim = rf_simulate(params, TIMES, designs=20, seed=1)
    gap = np.abs(theory.error - sim.error)
    assert np.all(gap <= 0.02 * sim.error), theory.error / sim.error - 1
    assert np.all(gap <= 4 * sim.error_sem + 0.01 * sim.error)
    for part in ("bias", "label_variance", "thermal_variance"):   # the same split as the simulator
        part_gap = np.abs(getattr(theory, part) - getattr(sim, part))
        assert np.all(part_gap <= 0.02 * sim.error), (part, part_gap / sim.error)
    if T > 0:
        assert np.all(theory.thermal_variance[1:] > 0)


def test_many_features_give_the_mode_model():
    """N -> inf: the random projection becomes the identity on the M modes."""
    params = Params(alpha=1.0, N=10**9, M=400, P=100, sigma2=0.05, gamma=1e-3, features="random")
    t = np.array([0.1, 1.0, 10.0, 100.0])
    rf = rf_theory(params, t)
    mode = theory_laplace(Params(alpha=1.0, N=400, P=100, sigma2=0.05, gamma=1e-3), t)
    assert np.allclose(rf.error, mode.error, rtol=1e-6)
    assert np.allclose(rf.label_variance, mode.label_variance, rtol=1e-5)


def test_duality_with_many_data():
    """P -> inf, ridgeless, no noise, t = inf: the error of N random features equals the error
    of ridgeless kernel regression on N data points (the N <-> P duality)."""
    for N in (50, 200):
        rf = rf_equilibrium(Params(alpha=1.0, N=N, M=2000, P=10**9, features="random"))
        krr = equilibrium(Params(alpha=1.0, N=2000, P=N))
        assert sum(rf) == pytest.approx(krr.error, rel=1e-6)


def test_long_time_limit_is_where_the_curve_goes():
    params = Params(alpha=1.0, N=150, M=600, P=100, sigma2=0.05, gamma=0.01, T=0.001,
                    features="random")
    curve = rf_theory(params, [1e5, math.inf])
    for part in ("bias", "label_variance", "thermal_variance"):
        x = getattr(curve, part)
        assert x[0] == pytest.approx(x[1], rel=1e-7), part


@pytest.mark.parametrize("N, P", [(120, 100), (200, 100), (100, 120)])
def test_late_times_meet_the_limit_without_losing_digits(N, P):
    """Without ridge and away from the threshold every mode relaxes at a rate at least the left
    edge of the spectrum, so from t = 1e7 on the curve is its t = inf value to double precision.
    Near z = 0, P - d (N > P) or 1 - d/N (N < P) is tiny; taken as a difference it lost
    eps / |z| (1e-5 at t = 1e8, a wrong sign at 1e12). With weight decay the curve past
    gamma t = 40 is the limit itself."""
    params = Params(alpha=1.0, N=N, M=1000, P=P, sigma2=0.02, features="random")
    late = np.array([1e7, 1e8, 1e9, 1e10])
    curve = rf_theory(params, np.r_[late, math.inf])
    for part in ("error", "bias", "label_variance"):
        x = getattr(curve, part)
        np.testing.assert_allclose(x[:-1], x[-1], rtol=1e-8, err_msg=part)
    ridge = params.replace(gamma=1e-3)
    curve = rf_theory(ridge, [4e4 + 1, 1e12, math.inf])
    assert np.all(curve.error == curve.error[-1])


def test_general_teacher_against_simulator():
    """Teacher mode powers p_k on all M modes (a structured target, p_k ~ k^-0.5). (Nearer the
    threshold, N = 200, P = 150, the ridgeless t = inf error is 2.0-2.3 % above the theory at
    this size and 0.4 % at twice the size: the first finite-size correction,
    rfdmft.finite_size.rf_equilibrium_finite_size, accounts for it: tests/test_rf_finite_size.py.)"""
    M = 1000
    teacher = np.arange(1, M + 1, dtype=float) ** -0.5
    teacher *= M / teacher.sum()
    params = Params(alpha=1.0, N=200, M=M, P=100, sigma2=0.02, teacher=teacher, features="random")
    t = np.array([0.1, 1.0, 10.0, 100.0, math.inf])
    theory = rf_theory(params, t)
    sim = rf_simulate(params, t, designs=20, seed=2)
    gap = np.abs(theory.error - sim.error)
    assert np.all(gap <= 0.02 * sim.error), theory.error / sim.error - 1
    assert np.all(gap <= 4 * sim.error_sem + 0.01 * sim.error)


def test_bias_split_at_the_ridgeless_limit():
    """The bias splits into the signal not yet learned, delta and the variance of fitting
    delta. Ridgeless with N < P at t = inf, least squares on the features learns the signal
    exactly and fits delta like label noise: (0, delta, delta N / (P - N)), with
    delta = kappa0 sum_k lambda_k / (lambda_k + kappa0) at sum_k lambda_k / (lambda_k + kappa0)
    = N (found here by bracketing); at t = 0 all of the target is signal or delta."""
    N, M, P = 100, 1000, 300
    params = Params(alpha=1.0, N=N, M=M, P=P, sigma2=0.05, features="random")
    lam = params.eigenvalues
    k0 = brentq(lambda k: np.sum(lam / (lam + k)) - N, 1e-12, 1.0, xtol=1e-16, rtol=1e-14)
    delta = k0 * np.sum(lam / (lam + k0))
    split = rf_bias_split(params, [0.0, 1.0, math.inf])
    theory = rf_theory(params, [0.0, 1.0, math.inf])
    total = split["signal"] + split["unrepresented"] + split["fitting"]
    np.testing.assert_allclose(total, theory.bias, rtol=1e-13)
    np.testing.assert_allclose(split["unrepresented"], delta, rtol=1e-9)
    assert split["signal"][-1] == pytest.approx(0.0, abs=1e-12)
    assert split["fitting"][-1] == pytest.approx(delta * N / (P - N), rel=1e-9)
    assert theory.label_variance[-1] == pytest.approx(0.05 * N / (P - N), rel=1e-9)
    assert split["fitting"][0] == 0 and theory.bias[0] == pytest.approx(lam.sum(), rel=1e-12)
    assert 0 < split["fitting"][1] < split["fitting"][2]


def test_params_dispatch_and_refusals():
    import rfdmft

    params = Params(alpha=1.0, N=300, M=200, P=100, sigma2=0.05, features="random")   # N > M
    t = np.array([1.0, 10.0])
    assert np.array_equal(rfdmft.theory_laplace(params, t).error, rf_theory(params, t).error)
    assert np.array_equal(rfdmft.simulate(params, t, 3).error, rf_simulate(params, t, 3).error)
    with pytest.raises(ValueError, match="mode model"):
        rfdmft.theory_time_domain(params, t)
    with pytest.raises(ValueError, match="features must be"):
        Params(alpha=1.0, N=10, P=10, features="relu")
    with pytest.raises(ValueError, match="M must be"):
        Params(alpha=1.0, N=10, M=5, P=10)
    with pytest.raises(ValueError, match="interpolation threshold"):
        rf_equilibrium(Params(alpha=1.0, N=100, M=400, P=100, sigma2=0.1, features="random"))
    with pytest.raises(ValueError, match="t = inf"):
        rf_theory(Params(alpha=1.0, N=200, M=400, P=100, T=0.01, features="random"), [math.inf])


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "rfdmft", *args], capture_output=True, text=True,
                          timeout=300)


def test_command_line_features_random():
    import json

    model = ["--alpha", "1", "--N", "300", "--M", "200", "--P", "100", "--sigma2", "0.05",
             "--features", "random"]
    out = _cli("theory", *model, "--times", "1,10,inf", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = rf_theory(Params(alpha=1.0, N=300, M=200, P=100, sigma2=0.05, features="random"),
                     [1.0, 10.0, math.inf])
    assert np.allclose(got["error"], want.error, rtol=1e-12)
    out = _cli("simulate", *model, "--times", "1,10", "--designs", "3", "--json")
    assert out.returncode == 0, out.stderr
    sim = rf_simulate(Params(alpha=1.0, N=300, M=200, P=100, sigma2=0.05, features="random"),
                      [1.0, 10.0], designs=3)
    assert np.allclose(json.loads(out.stdout)["error"], sim.error, rtol=1e-12)
    for extra in (["theory", "--method", "time-domain"], ["theory", "--lr", "0.01"],
                  ["simulate", "--method", "sde"]):
        out = _cli(extra[0], *model, *extra[1:], "--times", "1")
        assert out.returncode == 2 and "--features random" in out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
    out = _cli("theory", "--alpha", "1", "--N", "100", "--M", "400", "--P", "100", "--sigma2",
               "0.1", "--features", "random", "--times", "inf")
    assert out.returncode == 2 and "threshold" in out.stderr and out.stdout == ""
