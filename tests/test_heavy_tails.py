"""Heavy tails over designs: where the mean over designs of the error is infinite.

Ridgeless (gamma = 0) at t = inf the noise is divided by the small eigenvalues of H: the
error is bias + s tr(Lambda H^+) with s = sigma2 + tail + T. For N < P, tr(Lambda H^-1) =
tr W^-1 with W = Phi^T Phi Wishart(P, I_N), mean N / (P - N - 1); for isotropic N > P the
mirror P / (N - P - 1). Its tail index is (|N - P| + 1) / 2, so the mean is infinite at
|N - P| <= 1 and the variance at |N - P| <= 3. Checked here against the inverse-Wishart
means, the per-design identities and the tail index measured on the simulator's designs.
"""

import warnings

import numpy as np
import pytest

import rfdmft as rf
from rfdmft.simulation import (HeavyTailWarning, design_error, design_seeds, heavy_tailed,
                               sample_design, simulate)


def isotropic(N, P, **fields):
    """All N eigenvalues one: the design is the Gaussian Phi itself."""
    return rf.Params.from_spectrum(np.ones(N), N=N, P=P, **fields)


def per_design(params, designs, seed=0, times=(np.inf,)):
    """The error of each design of ``simulate(params, times, designs, seed)``: (designs, times)."""
    out = np.empty((designs, len(times)))
    for d, s in enumerate(design_seeds(seed, designs)):
        A = sample_design(params, np.random.default_rng(s))
        out[d] = design_error(params, A, times).error
    return out


# ---- the condition --------------------------------------------------------------------------

@pytest.mark.parametrize("fields, heavy", [
    (dict(N=40, P=41, sigma2=0.1), True),                   # N = P - 1
    (dict(N=40, P=40, sigma2=0.1), True),                   # N = P
    (dict(N=41, P=40, sigma2=0.1), True),                   # N = P + 1
    (dict(N=40, P=42, sigma2=0.1), False),                  # finite mean N / (P - N - 1) = 40
    (dict(N=42, P=40, sigma2=0.1), False),
    (dict(N=40, P=41, sigma2=0.1, gamma=1e-3), False),      # weight decay bounds 1 / h
    (dict(N=40, P=41), False),                              # no noise: the error is the bias
    (dict(N=40, M=80, P=41), True),                         # the uncaptured tail is noise
    (dict(N=40, M=80, P=40), True),
    (dict(N=40, P=41, T=0.1), True),                        # thermal: T tr(Lambda H^-1)
])
def test_condition(fields, heavy):
    params = rf.Params(alpha=0.5, **fields)
    flags = heavy_tailed(params, [0.0, 1.0, 1e8, np.inf])
    assert flags.dtype == bool and flags.tolist() == [False, False, False, heavy]


@pytest.mark.parametrize("gap, second", [(0, True), (1, True), (2, True), (3, True), (4, False),
                                         (-3, True), (-4, False)])
def test_second_moment_condition(gap, second):
    params = rf.Params(alpha=0.5, N=40 + max(gap, 0), P=40 - min(gap, 0), sigma2=0.1)
    assert heavy_tailed(params, [np.inf], moment=2)[0] == second
    assert heavy_tailed(params, [np.inf])[0] == (abs(gap) <= 1)


def test_bad_input_is_refused():
    params = rf.Params(alpha=0.5, N=40, P=41, sigma2=0.1)
    for moment in (0, 1.5, True, "1"):
        with pytest.raises(ValueError, match="moment must be an integer >= 1"):
            heavy_tailed(params, [np.inf], moment=moment)
    with pytest.raises(ValueError, match="t must be non-negative"):
        heavy_tailed(params, [-1.0])
    with pytest.raises(ValueError, match="t = inf is not allowed"):   # no equilibrium at all
        heavy_tailed(rf.Params(alpha=0.5, N=40, P=40, T=0.1), [np.inf])


# ---- the derivation: per-design identities and the inverse-Wishart means ---------------------

@pytest.mark.parametrize("N, P", [(6, 9), (9, 9), (12, 7)])
def test_label_variance_is_the_inverse_wishart_trace(N, P):
    """Ridgeless t = inf, per design, with W = Phi^T Phi (N <= P) or Phi Phi^T (N > P) from the
    same Gaussian draw: sigma2 tr(Lambda H^+) = sigma2 tr W^-1 for N <= P whatever the
    spectrum and for N > P when isotropic, and within the factors (lambda_1 / lambda_N)^(+-1)
    of it for a power law with N > P."""
    for params in (isotropic(N, P, sigma2=0.3), rf.Params(alpha=0.5, N=N, P=P, sigma2=0.3)):
        A = sample_design(params, np.random.default_rng(4))
        Phi = np.random.default_rng(4).standard_normal((P, N))
        np.testing.assert_allclose(A, Phi * np.sqrt(params.eigenvalues[:N]), rtol=1e-15)
        W = Phi.T @ Phi if N <= P else Phi @ Phi.T
        wishart = 0.3 * np.trace(np.linalg.inv(W))
        curve = design_error(params, A, [np.inf])
        if N <= P or params.eigenvalues_given is not None:
            assert curve.label_variance[0] == pytest.approx(wishart, rel=1e-8)
        else:
            lam = params.eigenvalues[:N]
            ratio = curve.label_variance[0] / wishart
            assert lam[-1] / lam[0] <= ratio <= lam[0] / lam[-1]
            assert abs(ratio - 1) > 0.01                 # not the isotropic value
        if N <= P:
            assert curve.bias[0] < 1e-12 * wishart     # least squares fits the captured modes


@pytest.mark.parametrize("make, N, P, value", [
    (isotropic, 10, 16, 0.5 * 10 / 5),                      # sigma2 N / (P - N - 1)
    (lambda N, P, **f: rf.Params(alpha=0.5, N=N, P=P, **f), 10, 16, 0.5 * 10 / 5),
    (isotropic, 16, 10, 0.5 * 10 / 5),                      # sigma2 P / (N - P - 1)
])
def test_mean_over_designs_is_the_inverse_wishart_mean(make, N, P, value):
    """|N - P| = 6: finite mean and variance, so the simulator's mean lies within a few
    standard errors of the exact design average. The bias is the same for every design here
    (0 for N < P, the null weight N - P when isotropic with N > P), so the standard error of
    the total is that of the label-noise variance."""
    params = make(N, P, sigma2=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeavyTailWarning)
        curve = simulate(params, [np.inf], designs=3000, seed=1)
    assert curve.bias[0] == pytest.approx(max(N - P, 0), abs=1e-9)
    z = (curve.label_variance[0] - value) / curve.error_sem[0]
    assert abs(z) < 4, (curve.label_variance[0], value, curve.error_sem[0])
    assert curve.error_sem[0] < 0.02 * value                 # the comparison is sharp


# ---- the tail index, measured on the simulator's designs --------------------------------------

def hill(values, k):
    """Hill's estimator of the tail index from the ``k`` largest of positive ``values``
    (Hill 1975); asymptotic standard deviation ``index / sqrt(k)``."""
    x = np.sort(values)[::-1]
    return 1.0 / np.mean(np.log(x[:k] / x[k]))


@pytest.mark.parametrize("make, N, P", [
    (isotropic, 8, 8),
    (isotropic, 8, 9),
    (lambda N, P, **f: rf.Params(alpha=0.5, N=N, P=P, **f), 9, 8),
    (lambda N, P, **f: rf.Params(alpha=0.5, N=N, P=P, **f), 8, 10),
    (isotropic, 11, 8),
])
def test_tail_index_decides_which_moments_exist(make, N, P):
    """The errors of 10^4 designs have tail index (|N - P| + 1) / 2 (Hill, 100 largest): the
    mean exists iff it exceeds 1, the variance iff it exceeds 2, as heavy_tailed says."""
    params = make(N, P, sigma2=1.0)
    errors = per_design(params, 10_000, seed=2)[:, 0]
    index = (abs(N - P) + 1) / 2
    k = 100
    measured = hill(errors, k)
    assert abs(measured - index) < 4 * index / np.sqrt(k), (measured, index)
    assert heavy_tailed(params, [np.inf])[0] == (index <= 1)
    assert heavy_tailed(params, [np.inf], moment=2)[0] == (index <= 2)


def test_at_the_threshold_the_mean_runs_away_and_the_median_settles():
    """N = P (tail index 1/2): the mean over 4000 designs is carried by a few designs and far
    above the median; the median of the first 400 designs lies inside the order-statistic
    interval (4 standard deviations) of the 4000, and vice versa. For 4000 Pareto draws of
    index 1/2, max / sum exceeds 0.12 and mean / median 140 with probability 0.999; with a
    finite variance (|N - P| >= 4) both are O(1/n) and O(1)."""
    params = isotropic(8, 8, sigma2=1.0)
    errors = per_design(params, 4000, seed=3)[:, 0]
    assert errors.max() > 0.1 * errors.sum()
    assert errors.mean() > 50 * np.median(errors)
    for small, large in ((errors[:400], errors), (errors, errors[:400])):
        x = np.sort(small)
        n = x.size
        lo, hi = x[int(n / 2 - 2 * np.sqrt(n))], x[int(n / 2 + 2 * np.sqrt(n))]
        assert lo <= np.median(large) <= hi


# ---- simulate: the median, the warning -----------------------------------------------------

def test_simulate_returns_the_median_over_designs():
    params = rf.Params(alpha=0.5, N=20, M=30, P=12, sigma2=0.1, gamma=0.01, T=0.01)
    times = [0.0, 1.0, 50.0, np.inf]
    curve = simulate(params, times, designs=7, seed=5)
    each = per_design(params, 7, seed=5, times=times)
    np.testing.assert_allclose(curve.error_median, np.median(each, axis=0), rtol=1e-12)
    np.testing.assert_allclose(curve.error, each.mean(axis=0), rtol=1e-12)
    assert curve.to_dict()["error_median"] == pytest.approx(np.median(each, axis=0), rel=1e-12)


def test_simulate_warns_where_the_mean_is_infinite():
    params = rf.Params(alpha=0.5, N=20, P=21, sigma2=0.1)
    with pytest.warns(HeavyTailWarning, match=r"mean over designs is infinite.*\|N - P\| = 1"
                                              r".*sigma2 = 0\.1.*error_median") as record:
        curve = simulate(params, [1.0, np.inf], designs=5)
    assert issubclass(record[0].category, RuntimeWarning) and record[0].filename == __file__
    assert np.all(np.isfinite(curve.error_median)) and curve.error_sem is not None
    with warnings.catch_warnings():                 # finite times, or weight decay: no warning
        warnings.simplefilter("error")
        simulate(params, [1.0, 1e6], designs=3)
        simulate(params.replace(gamma=1e-3), [1.0, np.inf], designs=3)
        simulate(params.replace(P=23), [1.0, np.inf], designs=3)
        simulate(params.replace(sigma2=0.0), [1.0, np.inf], designs=3)
