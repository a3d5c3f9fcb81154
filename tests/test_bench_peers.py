"""The benchmark's peers (published learning-curve solvers, re-implemented) and its timing
helpers: the peers must take the published algorithms' very steps and compute the library's
quantity; the timings must alternate, apply their thread settings and report what they saw."""

import numba
import numpy as np
import pytest
import scipy.optimize

from rfdmft import Params, bench, equilibrium, krr_learning_curve

PS = [3, 10, 60, 400, 2500, 9000]


def problem(N=3000, gamma=0.003, alpha=1.5, sigma2=0.05, M=4000):
    return Params(alpha=alpha, N=N, M=M, P=1, sigma2=sigma2, gamma=gamma)


# the published code, as written in the repositories (the functions the peers re-implement)

def kappa_fn(kappa, *args):                      # Pehlevan-Group/kernel-generalization
    (p, lamb, spectrum, degens) = args
    return kappa - lamb - kappa * np.sum(spectrum * degens / (p * spectrum + kappa))


def kappa_fn_derivative(kappa, *args):
    (p, lamb, spectrum, degens) = args
    return (1 - np.sum(spectrum * degens / (p * spectrum + kappa))
            + kappa * np.sum(spectrum * degens / (p * spectrum + kappa) ** 2))


def find_kappa(n, lambdas, ridge):               # james-simon/eigenlearning, numpy for jax
    def lrn_sum(kappa):
        return (lambdas / (lambdas + kappa)).sum()
    return scipy.optimize.bisect(lambda kap: lrn_sum(kap) + ridge / kap - n, 1e-15, 1e10)


@pytest.mark.parametrize("start", ["P lambda_1", "2 sum"])
def test_newton_peer_takes_scipy_root_scalars_steps(start):
    params = problem()
    lam = params.eigenvalues[: params.N]
    degens = np.ones(lam.size)
    kappas, converged = bench.kappa_newton_pehlevan(lam, PS, params.gamma, start)
    assert converged.all()
    for P, kappa in zip(PS, kappas):
        x0 = P * np.amax(lam) if start == "P lambda_1" else 2 * np.sum(lam) + 2 * params.gamma
        root = scipy.optimize.root_scalar(kappa_fn, x0=x0, args=(P, params.gamma, lam, degens),
                                          fprime=kappa_fn_derivative, method="newton").root
        assert kappa == root / P                 # the same iterates, bit for bit


def test_bisection_peer_takes_scipy_bisects_steps():
    params = problem()
    lam = params.eigenvalues[: params.N]
    kappas, converged = bench.kappa_bisect_eigenlearning(lam, PS, params.gamma)
    assert converged.all()
    for P, kappa in zip(PS, kappas):
        assert kappa == find_kappa(P, lam, params.gamma)


def test_peer_curves_compute_the_library_quantity():
    """Against the brentq reference (an independent root-find and the closed form): the
    Newton peers to round-off, bisection to its tolerance (2e-12 absolute in kappa)."""
    params = problem()
    reference = bench.krr_learning_curve_brentq(params, PS)
    for start in ("P lambda_1", "2 sum"):
        np.testing.assert_allclose(bench.krr_curve_pehlevan(params, PS, start), reference,
                                   rtol=1e-11)
    bisected = bench.krr_curve_eigenlearning(params, PS)
    np.testing.assert_allclose(bisected, reference, rtol=1e-4)
    assert np.max(np.abs(bisected / reference - 1)) > 1e-12     # ... and no better
    # a non-isotropic teacher and no noise: the teacher powers enter the bias
    other = params.replace(teacher=np.linspace(2.0, 0.5, params.M), sigma2=0.0)
    np.testing.assert_allclose(bench.krr_curve_pehlevan(other, PS), krr_learning_curve(other, PS),
                               rtol=1e-10)


def test_peer_kappa_checks_catch_a_wrong_root():
    params = problem()
    library = np.array([equilibrium(params.replace(P=P)).kappa for P in PS])
    for name, (curve, check) in bench.PEERS.items():
        values, kappas, converged = curve(params, PS, details=True)
        assert converged.all(), name
        np.testing.assert_array_equal(values, curve(params, PS))
        deviation, allowed = check(kappas, library)
        assert deviation <= allowed, name
        deviation, allowed = check(kappas, library * (1 + 1e-6))
        assert deviation > allowed, name


def test_alternated_times_each_call_in_alternating_order_with_its_threads():
    order, seen = [], []

    def call(name, settings_numba):
        def run():
            order.append(name)
            seen.append((name, numba.get_num_threads(), bench.thread_counts()["blas"]))
        return run

    before = numba.get_num_threads()
    timings = bench.alternated([call("a", None), (call("b", 1), {"numba": 1, "blas": 1})],
                               rounds=4)
    assert order == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]   # warm-up, rounds
    assert all(t.rounds == 4 and all(s >= 0 for s in t.seconds) for t in timings)
    assert {threads for name, threads, _ in seen if name == "b"} == {1}
    assert {tuple(blas) for name, _, blas in seen if name == "b"} == {(1,)}
    assert timings[1].threads == "numba 1, BLAS 1 threads"
    assert numba.get_num_threads() == before


def test_alternated_picks_rounds_from_the_budget():
    calls = []
    timings = bench.alternated([lambda: calls.append(1)], budget=0.0, min_rounds=3)
    assert timings[0].rounds == 3 and len(calls) == 4
    timings = bench.alternated([lambda: None], budget=10.0, max_rounds=6)
    assert timings[0].rounds == 6


def test_medians_spreads_and_ratios():
    a = bench.Timing((1.0, 3.0, 2.0, 100.0, 2.5))
    b = bench.Timing((0.5, 1.0, 1.0, 1.0, 1.0))
    assert a.median == 2.5 and a.quartiles == (2.0, 3.0)
    assert a.text() == "2.50 s [2.00-3.00]"
    ratio = a.over(b)
    assert ratio.value == 2.5 and ratio.rounds == (2.0, 3.0, 2.0, 100.0, 2.5)
    assert ratio.text() == "2.50x [2.00-3.00]"
    assert bench.Timing((0.0123, 0.0119, 0.0128)).text() == "12.3 ms [12.1-12.6]"


@pytest.mark.parametrize("chosen, other, missed", [
    ((2.0, 2.1, 1.9, 2.0, 2.2), (1.0, 1.0, 1.1, 0.9, 1.0), True),     # slower beyond the spread
    ((1.0, 1.0, 1.1, 0.9, 1.0), (2.0, 2.1, 1.9, 2.0, 2.2), False),    # faster
    ((1.0, 3.0, 1.0, 3.0, 1.0), (2.0, 2.0, 2.0, 2.0, 2.0), False),    # a tie within the spread
    ((1.05, 1.06, 1.05, 1.04, 1.05), (1.0, 1.0, 1.0, 1.0, 1.0), False),  # within 10%
])
def test_thread_policy_row_judges_the_chosen_setting(chosen, other, missed):
    lines = []
    report = bench._Report(lines.append)
    bench._policy_row(report, "policy", "a choice", ("chosen", bench.Timing(chosen, "t1")),
                      ("other", bench.Timing(other, "t2")))
    assert (report.missed == ["policy"]) is missed
    assert "[t1]" in lines[0] and "[t2]" in lines[0]
    assert ("SLOWER" in lines[0]) is missed
