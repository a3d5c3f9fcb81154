"""The simulator's cheap Gram route against the thin SVD and the Jacobi SVD, and its fallbacks.

Speed is shown by ``bench`` (and :func:`rfdmft.simulation.time_design`); these tests pin the
correctness of every route and that each design takes the route its accuracy test allows.
"""

import numpy as np
import pytest

from rfdmft import Params, design_error, sample_design, simulate
from rfdmft.simulation import _spectral, time_design
from test_robust_simulation import mp_parts
from test_simulation import CASES, brute_force, equilibrium_brute_force


def parts(curve):
    return np.stack([curve.bias, curve.label_variance, curve.thermal_variance], axis=1)


@pytest.mark.parametrize("params", CASES)
def test_gram_route_matches_brute_force(params):
    # every regime (N > P, N < P, N = P, M > N, general teacher, free diffusion), Gram forced
    A = sample_design(params, np.random.default_rng(7))
    times = [0.0, 0.03, 0.4, 2.0, 15.0]
    ours = parts(design_error(params, A, times, factor="gram"))
    for j, t in enumerate(times):
        np.testing.assert_allclose(ours[j], brute_force(params, A, t), rtol=1e-10, atol=1e-13)
    if params.has_equilibrium:
        ours = parts(design_error(params, A, [np.inf], factor="gram"))[0]
        np.testing.assert_allclose(ours, equilibrium_brute_force(params, A), rtol=1e-9,
                                   atol=1e-13)


WELL = [
    Params(alpha=1.0, N=800, P=200, sigma2=0.1, gamma=1e-3, T=0.01),
    Params(alpha=1.0, N=200, P=800, sigma2=0.1, T=0.01),
    Params(alpha=1.0, N=1200, P=400),
    Params(alpha=2.0, N=300, P=200, sigma2=0.1),
    Params(alpha=1.0, N=400, P=395, sigma2=0.1),                     # near N = P, N > P
    Params(alpha=1.0, N=300, P=120, M=500, sigma2=0.1, teacher=np.linspace(2.0, 0.1, 500)),
    Params(alpha=1.0, N=120, P=300, sigma2=0.1, gamma=0.01, T=0.05,
           teacher=np.linspace(0.1, 2.0, 120)),
]


@pytest.mark.parametrize("params", WELL)
def test_auto_takes_the_gram_route_and_matches_both_svds(params):
    # against the thin SVD and LAPACK's Jacobi SVD (high relative accuracy) on the same design
    A = sample_design(params, np.random.default_rng(1))
    assert _spectral(params, A)[3] == "gram"
    times = [0.0, 0.1, 1.0, 100.0, 1e4, 1e8] + ([np.inf] if params.has_equilibrium else [])
    auto = parts(design_error(params, A, times))
    for factor in ("svd", "accurate"):
        np.testing.assert_allclose(auto, parts(design_error(params, A, times, factor=factor)),
                                   rtol=1e-9, atol=1e-30)


def test_the_gram_route_needs_its_fallback():
    # steep spectra: the Gram matrix squares the condition number and loses the small h; the
    # forced Gram route is far off 120-digit arithmetic, the automatic choice is not
    params = Params(alpha=12, N=60, P=40, sigma2=0.1, gamma=1e-9, T=0.01)
    A = sample_design(params, np.random.default_rng(0))
    times = [1.0, 1e6, np.inf]
    reference = mp_parts(params, A, times)
    with np.errstate(all="ignore"):
        try:
            forced = parts(design_error(params, A, times, factor="gram"))
            forced_error = np.nanmax(np.abs(forced / reference - 1))
        except FloatingPointError:
            forced_error = np.inf
    assert not forced_error < 1e-8          # fails the 1e-9 the automatic choice meets
    assert _spectral(params, A)[3] == "accurate"
    np.testing.assert_allclose(parts(design_error(params, A, times)), reference, rtol=1e-9)


@pytest.mark.parametrize("shape", [(300, 300), (1, 50), (50, 1)])
def test_square_and_degenerate_designs(shape):
    # N = P: the smallest h is ~ 1 / N^2 of the largest (Marchenko-Pastur edge at zero)
    N, P = shape
    params = Params(alpha=1.0, N=N, P=P, sigma2=0.1, gamma=1e-3, T=0.01)
    A = sample_design(params, np.random.default_rng(2))
    times = [0.0, 1.0, 1e4, np.inf]
    route = _spectral(params, A)[3]
    assert route in ("gram", "svd")
    np.testing.assert_allclose(parts(design_error(params, A, times)),
                               parts(design_error(params, A, times, factor="accurate")),
                               rtol=1e-9, atol=1e-30)


def test_zero_design_and_bad_factor():
    params = Params(alpha=1.0, N=6, P=4, sigma2=0.1)
    curve = design_error(params, np.zeros((4, 6)), [0.0, 1.0])
    np.testing.assert_allclose(curve.error, float(params.eigenvalues @ params.powers) + 0.0)
    with pytest.raises(ValueError, match="^factor must be one of"):
        design_error(params, np.zeros((4, 6)), [1.0], factor="qr")


def test_simulate_unchanged_by_the_route_choice():
    params = Params(alpha=1.0, N=200, P=80, sigma2=0.1, T=0.01, gamma=0.01)
    times = [0.5, 50.0, np.inf]
    a = simulate(params, times, designs=3, seed=3)
    from rfdmft.simulation import design_seeds
    per = [parts(design_error(params, sample_design(params, np.random.default_rng(s)), times,
                              factor="accurate")) for s in design_seeds(3, 3)]
    np.testing.assert_allclose(parts(a), np.mean(per, axis=0), rtol=1e-10)


def test_time_design_reports_every_route():
    timing = time_design(Params(alpha=1.0, N=80, P=20), times=5, repeats=3, threads=1)
    assert set(timing) >= {"design", "svd", "ratio", "route", "threads"}
    assert timing["route"] == "gram" and timing["design"] > 0 and timing["svd"] > 0
