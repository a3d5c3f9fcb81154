"""Early stopping under Langevin noise: the closed forms of ``thermal_dominated_stopping``
against the numerically optimised mean-field theory (``optimal_stopping``), the exact optimality
condition behind them, and the simulator.

How the tolerances are set (measured, not assumed). At ``N = M = 4P`` the relative deviations
of the theory's ``t*`` and ``E*`` (``E*`` with the half-mode term, ``discrete=True``) from the
closed forms are ``c * n*/P``, ``n*`` the modes fitted at the optimum, and ``c`` tends, at every
temperature, to a constant as ``n*/P -> 0``: for ``alpha = 1`` to -1.11 (t*) and +0.83 (E*), for
``alpha = 2`` to -0.80 and about +1.06 (grids T = 1e-3 ... 1, P = 100 ... 409600). Successive
values of ``c`` (P x 4) approach the constant with steps that shrink by a factor of about 0.5
(alpha = 1) and 0.7-0.8 (alpha = 2, E*). The tests allow ``|deviation| <= K n*/P`` with ``K``
10% above the largest ``|c|`` on the grids below, and require the steps of ``c`` to shrink
(factor < 0.9 where they exceed 2e-3): a closed form off by a constant factor or a power of T or
P makes ``c`` grow like ``P / n*`` instead, and fails; the tests at the end perturb each exponent
(and prefactor) and require the checks to fail.
"""

import dataclasses
import functools
import math

import numpy as np
import pytest

import rfdmft as rf
from rfdmft.equilibrium import equilibrium
from rfdmft.laplace import response_time
from rfdmft.simulation import design_error, design_seeds, one_blas_thread, sample_design
from rfdmft.stopping import (noise_dominated_stopping, optimal_stopping, simulated_stopping,
                             thermal_dominated_stopping)

# |deviation| <= K * n*/P: K = 1.1 x the largest |c| measured on the grids of the tests
BOUNDS = {1.0: (1.22, 0.95), 2.0: (0.88, 1.17)}
GRIDS = {1.0: ((1e-3, 1e-2, 1e-1, 1.0), (1600, 6400, 25600, 102400)),
         2.0: ((1e-2, 1e-1, 1.0), (1600, 6400, 25600, 102400))}


@functools.lru_cache(maxsize=None)
def optimum(alpha, T, P, sigma2=0.0, gamma=0.0):
    """The theory's optimum at N = M = 4P (refined to 1e-8 in log t: ``c`` is resolved)."""
    params = rf.Params(alpha=alpha, N=4 * P, P=P, T=T, sigma2=sigma2, gamma=gamma)
    return optimal_stopping(params, t_range=(1e-3, 1e6), xatol=1e-8)


def deviations(alpha, Ts, Ps, sigma2=0.0, mutate=lambda law: law):
    """``(x, dt, dE)`` over the grid: ``x = n*/P`` and the relative deviations of the theory
    from the closed forms of ``mutate(thermal_dominated_stopping(alpha, M=4P))``."""
    x, dt, dE = (np.empty((len(Ts), len(Ps))) for _ in range(3))
    for i, T in enumerate(Ts):
        for j, P in enumerate(Ps):
            law = mutate(thermal_dominated_stopping(alpha, M=4 * P))
            res = optimum(alpha, T, P, sigma2)
            x[i, j] = thermal_dominated_stopping(alpha, M=4 * P).fitted_modes(T, P, sigma2) / P
            dt[i, j] = res.t_star / law.t_star(T, sigma2) - 1
            dE[i, j] = res.error / law.error(T, P, sigma2, discrete=True) - 1
    return x, dt, dE


def check_limit(alpha, mutate=lambda law: law):
    """The closed forms are the n*/P -> 0 limit of the theory (raises AssertionError if not)."""
    Ts, Ps = GRIDS[alpha]
    K_t, K_E = BOUNDS[alpha]
    x, dt, dE = deviations(alpha, Ts, Ps, mutate=mutate)
    assert np.all(np.abs(dt) <= K_t * x), np.round(dt / x, 3)
    assert np.all(np.abs(dE) <= K_E * x), np.round(dE / x, 3)
    for c in (dt / x, dE / x):                    # c converges: its steps shrink with n*/P
        steps = np.abs(np.diff(c, axis=1))
        big = steps[:, :-1] > 2e-3
        assert np.all(steps[:, 1:][big] < 0.9 * steps[:, :-1][big]), np.round(c, 4)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_closed_forms_are_the_limit_of_the_theory(alpha):
    check_limit(alpha)
    # at the largest P the deviations are small in absolute terms, too
    x, dt, dE = deviations(alpha, (1.0,), (102400,))
    assert abs(dt[0, 0]) < 0.002 and abs(dE[0, 0]) < 0.002


@pytest.mark.parametrize("field, factor", [
    ("time_exponent", 1.01), ("time_exponent", 0.99),
    ("error_exponent", 1.02), ("error_exponent", 0.98),
    ("time_constant", 1.01), ("error_prefactor", 1.01),
])
@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_a_perturbed_closed_form_fails(alpha, field, factor):
    # exponents off by 0.01 (alpha = 1: 1/2 -> 0.51, 0.49; -1 -> -1.01, -0.99), prefactors by 1%
    def mutate(law):
        return dataclasses.replace(law, **{field: getattr(law, field) * factor})

    with pytest.raises(AssertionError):
        check_limit(alpha, mutate)


def test_without_the_half_mode_term_the_error_deviations_do_not_collapse():
    # alpha = 2, few fitted modes: E* - (T + sigma2)/(2P) is what the theory approaches
    law = thermal_dominated_stopping(2.0, M=4 * 25600)
    res = optimum(2.0, 1.0, 25600)
    x = law.fitted_modes(1.0, 25600) / 25600
    assert abs(res.error / law.error(1.0, 25600, discrete=True) - 1) < BOUNDS[2.0][1] * x
    assert abs(res.error / law.error(1.0, 25600) - 1) > 5 * x


def test_exact_optimality_condition_local_exponent_of_r():
    # gamma = sigma2 = 0: 2 T t* = -dln r/dln tau at tau = 2 t*, and the bias is r(2 t*)
    base = rf.Params(alpha=1.0, N=800, P=200)
    for T in (0.003, 0.3, 3.0):
        res = optimal_stopping(base.replace(T=T), t_range=(1e-4, 1e6), xatol=1e-8)
        r = response_time(base, 2 * res.t_star * np.exp([-1e-4, 0.0, 1e-4]))
        slope = -(math.log(r[2]) - math.log(r[0])) / 2e-4
        assert abs(2 * T * res.t_star - slope) < 2e-6
        assert res.bias == pytest.approx(r[1], rel=1e-9)


def test_rate_of_the_error_with_label_noise():
    # (1/2) dE/dt = r'(2t) + T r(2t) + sigma2 [r(t) - r(2t)] vanishes at the theory's optimum
    params = rf.Params(alpha=1.0, N=800, P=200, T=0.01, sigma2=0.1)
    res = optimal_stopping(params, t_range=(1e-2, 1e3), xatol=1e-8)
    t, e = res.t_star, 1e-4
    r = response_time(params, [t, 2 * t * (1 - e), 2 * t, 2 * t * (1 + e)])
    dr = (r[3] - r[1]) / (4 * t * e)
    rate = dr + params.T * r[2] + params.sigma2 * (r[0] - r[2])
    assert abs(rate) < 1e-6 * abs(dr)
    # away from the optimum the formula is the theory's derivative of E_g
    for s in (0.5 * t, 2 * t):
        c = rf.theory_laplace(params, s * np.array([1 - e, 1 + e]))
        dE = np.diff(c.error)[0] / (2 * s * e)
        r = response_time(params, [s, 2 * s * (1 - e), 2 * s, 2 * s * (1 + e)])
        half = (r[3] - r[1]) / (4 * s * e) + params.T * r[2] + params.sigma2 * (r[0] - r[2])
        assert dE / 2 == pytest.approx(half, rel=1e-5)


def test_label_noise_counts_as_a_temperature():
    P = 102400
    K_t, K_E = BOUNDS[1.0]
    for alpha in (0.5, 1.0, 2.0):                # T = 0: exactly the label-noise law
        th, nd = thermal_dominated_stopping(alpha), noise_dominated_stopping(alpha)
        assert th.t_star(0.0, 0.3) == pytest.approx(nd.t_star(0.3), rel=1e-13)
        assert th.error(0.0, 500, 0.3) == pytest.approx(nd.error(0.3, 500), rel=1e-13)
    for T, s2 in ((0.05, 0.1), (0.01, 0.1), (0.0, 0.1)):
        x, dt, dE = deviations(1.0, (T,), (P,), sigma2=s2)
        assert abs(dt[0, 0]) <= K_t * x[0, 0] and abs(dE[0, 0]) <= K_E * x[0, 0]

    def heavier(law):                             # label noise weighted 5% too much
        return dataclasses.replace(law, noise_weight=1.05 * law.noise_weight)

    with pytest.raises(AssertionError):
        for T, s2 in ((0.05, 0.1), (0.0, 0.1)):
            x, dt, dE = deviations(1.0, (T,), (P,), sigma2=s2, mutate=heavier)
            assert abs(dt[0, 0]) <= K_t * x[0, 0] and abs(dE[0, 0]) <= K_E * x[0, 0]


@pytest.mark.parametrize("T, s2", [(0.1, 0.0), (0.05, 0.1)])
def test_weak_weight_decay_to_first_order(T, s2):
    # slopes of ln t*, ln E* in gamma t* from gamma t* = u and 3u; the quadratic term removed
    # (Richardson). Measured: within 0.6 n*/P of the closed form, and the gap halves when
    # n*/P halves; allowed: 1.0 n*/P (0.5% here).
    P = 102400
    ref = optimum(1.0, T, P, s2)
    slopes = []
    for f in (0.01, 0.03):
        g = f * (T + s2)
        res = optimum(1.0, T, P, s2, g)
        u = g * ref.t_star
        slopes.append((math.log(res.t_star / ref.t_star) / u, math.log(res.error / ref.error) / u))
    measured = np.array([(3 * a - b) / 2 for a, b in zip(*slopes)])
    law = thermal_dominated_stopping(1.0, M=4 * P)
    x = law.fitted_modes(T, P, s2) / P
    pred = np.array(law.decay_coefficients(T, s2))
    assert pred[0] > 0 > pred[1]                  # later and lower
    assert np.all(np.abs(measured / pred - 1) <= 1.0 * x)
    assert np.any(np.abs(measured / (1.05 * pred) - 1) > 1.0 * x)
    # the first-order closed forms themselves
    g = 0.01 * (T + s2)
    assert law.t_star(T, s2, g) == pytest.approx(
        law.t_star(T, s2) * (1 + pred[0] * g * law.t_star(T, s2)), rel=1e-14)


def test_no_optimum_above_the_largest_temperature():
    # exact: -r'/r is largest at tau = 0, where it is P sum lambda^2 / sum lambda
    base = rf.Params(alpha=1.0, N=800, P=200)
    lam = rf.spectrum(1.0, 800)
    T_max = 200 * float(np.sum(lam**2) / np.sum(lam))
    below = optimal_stopping(base.replace(T=0.98 * T_max), t_range=(1e-7, 10))
    assert 0 < below.t_star < 1e-3
    with pytest.raises(RuntimeError, match="lower end"):
        optimal_stopping(base.replace(T=1.02 * T_max), t_range=(1e-7, 10))


def test_cold_limit_is_the_ridgeless_error():
    base = rf.Params(alpha=1.0, N=800, P=200)
    floor = equilibrium(base).error
    law = thermal_dominated_stopping(1.0, M=800)
    assert law.crossover_temperature(200) == pytest.approx(law.C * 0.5 / 200, rel=1e-14)
    t = []
    for T in (1e-6, 1e-7, 1e-8):
        res = optimal_stopping(base.replace(T=T), t_range=(1e-3, 1e9))
        assert 2 * T * res.t_star < 3e-3 and 0 < res.error / floor - 1 < 4e-3
        t.append(res.t_star)
    steps = np.diff(t)                            # logarithmic growth, not 1/T
    assert 0.8 < steps[1] / steps[0] < 1.25 and t[2] < 3 * t[0]


def test_simulator_finds_the_theory_optimum_and_its_bias_fraction():
    params = rf.Params(alpha=1.0, N=800, P=200, T=0.1)
    th = optimal_stopping(params, t_range=(1e-3, 1e3))
    st = simulated_stopping(params, np.geomspace(th.t_star / 3.2, th.t_star * 3.2, 41),
                            designs=30, seed=2, resamples=200)
    assert abs(math.log(st.t_star / th.t_star)) < 3 * st.log_sem
    at = st.curve.times[st.index:st.index + 1]
    with one_blas_thread(params.P * params.N):
        per = np.array([[c.bias[0], c.error[0]] for c in (
            design_error(params, sample_design(params, np.random.default_rng(s)), at)
            for s in design_seeds(2, 30))])
    B, E = per[:, 0], per[:, 1]
    f = B.mean() / E.mean()
    se = np.std(B - f * E, ddof=1) / math.sqrt(E.size) / E.mean()
    curve = rf.theory_laplace(params, at)
    assert abs(f - curve.bias[0] / curve.error[0]) < 3 * se


@pytest.mark.parametrize("call, name", [
    (lambda: thermal_dominated_stopping(0.0), "alpha"),
    (lambda: thermal_dominated_stopping(True), "alpha"),
    (lambda: thermal_dominated_stopping(1.0, M=0), "M"),
    (lambda: thermal_dominated_stopping(1.0).t_star(-0.1), "T"),
    (lambda: thermal_dominated_stopping(1.0).t_star(0.1, sigma2=math.nan), "sigma2"),
    (lambda: thermal_dominated_stopping(1.0).t_star(0.0, 0.0), "both 0"),
    (lambda: thermal_dominated_stopping(1.0).error(0.1, 0), "P"),
    (lambda: thermal_dominated_stopping(1.0).error(0.1, 100, gamma=-1.0), "gamma"),
    (lambda: thermal_dominated_stopping(1.0).crossover_temperature(math.inf), "P"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
