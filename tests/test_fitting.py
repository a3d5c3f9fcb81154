"""Power-law fits: exact recovery, calibrated statistical errors, systematic drift, input checks."""

import math

import numpy as np
import pytest
from scipy import stats

from rfdmft.fitting import PowerLawFit, fit_power_law, local_slope


def test_exact_power_law_is_recovered():
    x = np.logspace(0, 4, 30)
    for b, a in [(-0.5, 3.0), (-2.0, 0.1), (1.25, 7.0)]:
        fit = fit_power_law(x, a * x**b)
        assert fit.exponent == pytest.approx(b, abs=1e-12)
        assert fit.prefactor == pytest.approx(a, rel=1e-10)
        assert fit.systematic < 1e-12
        assert fit.stderr < 1e-12
        assert fit.points == 30
        assert fit.window == (x[0], x[-1])
        np.testing.assert_allclose(fit(x), a * x**b, rtol=1e-10)


def test_window_selects_points_and_ignores_the_rest():
    x = np.logspace(-2, 3, 51)
    y = np.where(x < 1, 5.0, x**-0.75)        # a power law only for x >= 1
    fit = fit_power_law(x, y, window=(1.0, 1e3))
    assert fit.points == int(np.count_nonzero((x >= 1) & (x <= 1e3)))
    assert fit.exponent == pytest.approx(-0.75, abs=1e-12)
    assert fit.window == (1.0, 1e3)
    full = fit_power_law(x, y)                # the whole range is not a power law
    assert full.systematic > 0.1


def test_unordered_input_gives_the_same_fit():
    rng = np.random.default_rng(0)
    x = np.logspace(0, 2, 20)
    y = x**-1.5 * np.exp(0.05 * rng.standard_normal(x.size))
    perm = rng.permutation(x.size)
    a, b = fit_power_law(x, y), fit_power_law(x[perm], y[perm])
    assert a.exponent == pytest.approx(b.exponent, abs=1e-12)
    assert a.systematic == pytest.approx(b.systematic, abs=1e-12)


def _coverage(fits, truth):
    return np.mean([abs(f.exponent - truth) <= f.stderr for f in fits])


def test_weighted_stderr_is_calibrated():
    """With known sem, |exponent - truth| <= stderr in ~68.3% of 400 repetitions."""
    rng = np.random.default_rng(1)
    x = np.logspace(0, 3, 15)
    rel = 0.02 + 0.1 * np.linspace(0, 1, x.size)          # heteroscedastic sem/y
    truth, reps = -0.6, 400
    fits = []
    for _ in range(reps):
        y = 2.0 * x**truth * np.exp(rel * rng.standard_normal(x.size))
        fits.append(fit_power_law(x, y, sem=rel * y))
    p = 2 * stats.norm.cdf(1) - 1
    tol = 3 * math.sqrt(p * (1 - p) / reps)
    assert abs(_coverage(fits, truth) - p) < tol
    # the weights matter: the stderr is the one of the weighted, not the plain fit
    w = (1 / rel) ** 2
    u = np.log(x)
    expected = 1 / math.sqrt(np.sum(w * (u - np.sum(w * u) / np.sum(w)) ** 2))
    assert fits[0].stderr == pytest.approx(expected, rel=1e-12)


def test_residual_stderr_is_calibrated():
    """Without sem the slope error follows Student's t with n - 2 degrees of freedom."""
    rng = np.random.default_rng(2)
    x = np.logspace(0, 2, 8)
    truth, reps = 0.8, 400
    fits = [fit_power_law(x, x**truth * np.exp(0.1 * rng.standard_normal(x.size)))
            for _ in range(reps)]
    p = 2 * stats.t.cdf(1, df=x.size - 2) - 1
    tol = 3 * math.sqrt(p * (1 - p) / reps)
    assert abs(_coverage(fits, truth) - p) < tol


def test_curved_function_has_a_large_systematic():
    x = np.logspace(-1, 1, 25)
    fit = fit_power_law(x, 1 / (1 + x))                   # slope -0.09 ... -0.91
    slopes = local_slope(x, 1 / (1 + x))
    assert fit.systematic > 0.3
    assert fit.systematic > 5 * fit.stderr          # the drift dominates the scatter
    assert slopes[0] > fit.exponent > slopes[-1]
    assert not fit.consistent_with(-1.0)
    # the drift between the half-window slopes cannot exceed the range of the local slopes
    assert fit.systematic < slopes[0] - slopes[-1]
    y2 = x**-1 * np.log(10 + x)                          # nearly straight: small, nonzero drift
    fit2, slopes2 = fit_power_law(x, y2), local_slope(x, y2)
    assert 0.01 < fit2.systematic < slopes2[-1] - slopes2[0] < 0.2


def test_three_points_is_the_minimum_and_odd_halves_overlap():
    x = np.array([1.0, 2.0, 4.0])
    y = np.array([1.0, 0.5, 0.5])
    fit = fit_power_law(x, y)
    assert fit.points == 3
    # halves [1, 2] (slope -1) and [2, 4] (slope 0)
    assert fit.systematic == pytest.approx(1.0, abs=1e-12)
    assert fit.exponent == pytest.approx(-0.5, abs=1e-12)


def test_str_and_uncertainty():
    fit = PowerLawFit(exponent=-0.5021, stderr=0.003, systematic=0.004, prefactor=1.0,
                      window=(1.0, 10.0), points=5)
    assert fit.uncertainty == pytest.approx(0.005)
    assert str(fit) == "-0.502 ± 0.005"
    assert fit.consistent_with(-0.5)
    assert not fit.consistent_with(-0.51)
    assert fit.consistent_with(-0.51, k=2.0)


def test_finite_size_part():
    x = np.logspace(0, 2, 10)
    big = fit_power_law(x, 2 * x**-0.5)
    small = fit_power_law(x, x**-0.47)
    both = big.with_finite_size(fit_power_law(x, x**-0.51), small)   # the largest change
    assert both.finite_size == pytest.approx(0.03, abs=1e-12)
    assert both.uncertainty == pytest.approx(0.03, abs=1e-10)
    assert both.exponent == big.exponent and big.finite_size == 0.0
    fit = PowerLawFit(exponent=-1.0, stderr=0.003, systematic=0.004, prefactor=1.0,
                      window=(1.0, 10.0), points=5, finite_size=0.012)
    assert fit.uncertainty == pytest.approx(0.013)
    with pytest.raises(ValueError, match="at least one"):
        fit.with_finite_size()


def test_local_slope():
    x = np.logspace(0, 2, 401)
    np.testing.assert_allclose(local_slope(x, 3 * x**-0.7), -0.7, atol=1e-12)
    y = x**2 + x
    exact = (2 * x**2 + x) / (x**2 + x)
    np.testing.assert_allclose(local_slope(x, y), exact, atol=1e-4)


@pytest.mark.parametrize("args, kwargs, match", [
    (([1, 2, 3], [1, 2]), {}, "y must have the length"),
    (([1, 2, -3], [1, 2, 3]), {}, "x must be positive"),
    (([1, 2, 3], [1, 0, 3]), {}, "y must be positive"),
    (([1, 2, np.nan], [1, 2, 3]), {}, "x must be positive"),
    (([1, 2, 3], [1, 2, np.inf]), {}, "y must be positive"),
    (([1, 2], [1, 2]), {}, "at least 3"),
    (([1, 2, 3, 4], [1, 2, 3, 4]), {"window": (1.5, 3.5)}, "at least 3"),
    (([1, 2, 3], [1, 2, 3]), {"window": (3, 1)}, "window must satisfy"),
    (([1, 2, 3], [1, 2, 3]), {"window": 2.0}, "window must be a pair"),
    (([1, 2, 3], [1, 2, 3]), {"sem": [1, 1]}, "sem must have the length"),
    (([1, 2, 3], [1, 2, 3]), {"sem": [1, 0, 1]}, "sem must be positive"),
    (([2, 2, 2], [1, 2, 3]), {}, "two distinct"),
    (([[1, 2, 3]], [[1, 2, 3]]), {}, "one-dimensional"),
])
def test_bad_input_raises(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(*args, **kwargs)


def test_local_slope_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        local_slope([1, 3, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3"):
        local_slope([1, 2], [1, 2])
