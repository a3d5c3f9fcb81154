"""Source and capacity: the predicted exponents against the DMFT theory at large sizes.

Teachers ``p_k ~ k**-beta`` on ``lambda_k ~ k**-(1+alpha)``. Every measured exponent comes from
the theory (``rfdmft.scaling.measure_exponent``: fits with a statistical, a drift and a
finite-size part) and is compared with ``predicted_exponents`` within its own uncertainty; a
perturbed formula must fail that comparison somewhere.
"""

import math

import numpy as np
import pytest

from rfdmft.model import Params, spectrum
from rfdmft.scaling import (SOURCE_LAWS, beta_from_source, early_stopping_errors,
                            measure_exponent, optimal_ridge_errors, power_law_teacher,
                            predicted_exponents, source_capacity)
from rfdmft.stopping import optimal_ridge, optimal_stopping

#: (alpha, beta): a hard target, a smooth one below the saturation, two beyond it
#: (``beta > 2 + alpha``), one of them on a flatter spectrum.
CASES = [(1.0, -0.5), (1.0, 2.0), (1.0, 6.0), (0.5, 4.0)]

#: Largest total uncertainty accepted per law: a comparison with a huge error bar proves nothing.
MAX_UNCERTAINTY = {"time": 0.005, "data": 0.05, "model": 0.05, "data_early_stopping": 0.015,
                   "data_optimal_ridge": 0.015, "stopping_time": 0.005}


@pytest.fixture(scope="module")
def measured():
    return {(a, b, law): measure_exponent(a, b, law) for a, b in CASES for law in SOURCE_LAWS}


def mismatches(measured, predict):
    """The (alpha, beta, law) whose measured exponent is not within one uncertainty of
    ``predict(alpha, beta)[law]``."""
    return [key for key, fit in measured.items()
            if not fit.consistent_with(-predict(key[0], key[1])[key[2]])]


def test_theory_agrees_with_the_predicted_exponents(measured):
    assert mismatches(measured, predicted_exponents) == []
    for (alpha, beta, law), fit in measured.items():
        assert fit.uncertainty < MAX_UNCERTAINTY[law], (alpha, beta, law, str(fit))
        assert fit.finite_size > 0                     # the reduced systems were measured


def test_saturation_is_resolved(measured):
    """Beyond beta = 2 + alpha the best ridge and early stopping differ by many error bars."""
    for alpha, beta in [(1.0, 6.0), (0.5, 4.0)]:
        es = measured[alpha, beta, "data_early_stopping"]
        ridge = measured[alpha, beta, "data_optimal_ridge"]
        gap = abs(es.exponent - ridge.exponent)
        assert gap > 5 * math.hypot(es.uncertainty, ridge.uncertainty)
        data = measured[alpha, beta, "data"]
        assert -data.exponent < 2 * (1 + alpha) + data.uncertainty    # capped at 2 (1 + alpha)
        assert -measured[alpha, beta, "model"].exponent > 2 * (1 + alpha) + 1   # the model is not


def _perturbed(key, formula):
    def predict(alpha, beta):
        e = dict(predicted_exponents(alpha, beta))
        e[key] = formula(alpha, beta, e)
        return e
    return predict


PERTURBATIONS = {
    "data without saturation": _perturbed("data", lambda a, b, e: a + b),
    "ridge without saturation":
        _perturbed("data_optimal_ridge", lambda a, b, e: (a + b) / (1 + a + b)),
    "early stopping saturating":
        _perturbed("data_early_stopping", lambda a, b, e: e["data_optimal_ridge"]),
    "time saturating like a fixed ridge": _perturbed("time", lambda a, b, e: min(e["time"], 2.0)),
    "model saturating": _perturbed("model", lambda a, b, e: e["data"]),
    "stopping time of the wrong sign":
        _perturbed("stopping_time", lambda a, b, e: -e["stopping_time"]),
    "time with 2 + alpha": _perturbed("time", lambda a, b, e: (a + b) / (2 + a)),
}


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_a_wrong_formula_fails(measured, name):
    assert mismatches(measured, PERTURBATIONS[name]) != []


@pytest.mark.parametrize("law", SOURCE_LAWS)
def test_a_shifted_formula_fails(measured, law):
    """Each formula moved by 0.03 disagrees with the theory for at least one case."""
    shifted = _perturbed(law, lambda a, b, e: e[law] + 0.03)
    assert mismatches(measured, shifted) != []


def test_source_and_capacity_mapping():
    for alpha in (0.5, 1.0, 2.0):
        for beta in (-0.4, 0.0, 1.0, 3.0):
            sc = source_capacity(alpha, beta)
            a, r = sc.capacity, sc.source
            # the target's power lambda_k p_k ~ k^-(1 + alpha + beta) = k^-(1 + 2 a r)
            assert 1 + 2 * a * r == pytest.approx(1 + alpha + beta, abs=1e-14)
            assert beta_from_source(alpha, r) == pytest.approx(beta, abs=1e-14)
            assert sc.hard == (r < (a - 1) / (2 * a) - 1e-15)
            assert sc.in_rkhs == (r > 0.5 + 1e-15)
            assert sc.saturated == (r >= 1)
    # the thresholds by brute force on the partial sums: the RKHS norm sum p_k, and
    # K = sum p_k / lambda_k, which is finite exactly beyond the saturation
    k = np.arange(1, 10**6 + 1, dtype=float)
    lam = spectrum(1.0, k.size)

    def grows(terms):
        return terms.sum() / terms[: k.size // 100].sum() > 1.5
    assert grows(k**-0.5) and not grows(k**-1.5)                # beta = 0.5 | 1.5, threshold 1
    assert grows(k**-2.5 / lam) and not grows(k**-3.5 / lam)    # threshold 2 + alpha = 3
    # hard: the target's power decays more slowly than the eigenvalues
    assert source_capacity(1.0, -0.5).hard and not source_capacity(1.0, 0.0).hard


def test_power_law_teacher():
    for alpha, beta, M in [(1.0, -0.5, 1000), (0.5, 3.0, 5000)]:
        p = power_law_teacher(alpha, beta, M)
        assert p.shape == (M,) and float(spectrum(alpha, M) @ p) == pytest.approx(1, abs=1e-13)
        assert p[9] / p[0] == pytest.approx(10.0**-beta, rel=1e-12)
    assert np.array_equal(power_law_teacher(1.0, 0.0, 7), np.ones(7))
    assert Params(alpha=1.0, N=7, P=3, teacher=power_law_teacher(1.0, 0.0, 7)).isotropic
    with pytest.raises(ValueError, match="M must be an integer >= 1"):
        power_law_teacher(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="beta must be > -alpha"):
        power_law_teacher(1.0, -1.0, 10)


def test_the_optima_agree_with_the_stopping_module():
    """The grid-and-parabola optima against the bounded minimisations of rfdmft.stopping."""
    N = 4000
    p = Params(alpha=1.0, N=N, P=10, sigma2=1.0, teacher=power_law_teacher(1.0, 2.0, N))
    Ps = np.array([300, 1200])
    es = early_stopping_errors(p, Ps, 1.0)
    rd = optimal_ridge_errors(p, Ps, 1.0)
    for j, P in enumerate(Ps):
        ref = optimal_stopping(p.replace(P=int(P)), t_range=(1e-3, 1e2))
        assert es.x[j] == pytest.approx(ref.t_star, rel=0.01)
        assert es.error[j] == pytest.approx(ref.error, rel=1e-5)
        ridge = optimal_ridge(p.replace(P=int(P)), gamma_range=(1e-3, 1e4))
        assert rd.x[j] == pytest.approx(ridge.gamma, rel=0.02)
        assert rd.error[j] == pytest.approx(ridge.error, rel=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="law must be one of"):
        measure_exponent(1.0, 1.0, "speed")
    with pytest.raises(ValueError, match="needs P up to"):
        measure_exponent(1.0, 12.0, "data_early_stopping")
    with pytest.raises(ValueError, match="r must be a finite number > 0"):
        beta_from_source(1.0, 0.0)
    p = Params(alpha=1.0, N=200, P=10)
    with pytest.raises(RuntimeError, match="no interior minimum"):
        early_stopping_errors(p, np.array([100]), 1.0)              # no label noise
    with pytest.raises(RuntimeError, match="no interior minimum"):
        optimal_ridge_errors(p, np.array([100]), 1.0)
    with pytest.raises(ValueError, match="Ps must be integers >= 1"):
        early_stopping_errors(p.replace(sigma2=1.0), np.array([0.5]), 1.0)
    with pytest.raises(ValueError, match="t0 must be a finite time > 0"):
        early_stopping_errors(p.replace(sigma2=1.0), np.array([100]), -1.0)
