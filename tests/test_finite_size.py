"""Finite-size corrections (rfdmft.finite_size) against exact identities, Monte Carlo over
Wishart draws and the exact simulator (means within 4 standard errors; where the mean-field
theory is tested to fail, it is more than 4 standard errors off, so each test can fail)."""

import math

import numpy as np
import pytest

import rfdmft as rf
from rfdmft.finite_size import (MAX_CORRECTION, corrected_response, inverse_wishart_trace,
                                null_weight_one, ridgeless_limit, theory_finite_size)
from rfdmft.laplace import theory_laplace
from rfdmft.simulation import design_seeds, one_blas_thread

Z = 4.0        # standard errors allowed


def _wishart_traces(N, P, draws, seed, complex_entries=False):
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for i in range(draws):
        X = rng.standard_normal((P, N))
        if complex_entries:
            X = (X + 1j * rng.standard_normal((P, N))) / np.sqrt(2)
        out[i] = np.sum(1.0 / np.linalg.eigvalsh(X.conj().T @ X))
    return out


def test_inverse_wishart_one_dimension_is_inverse_chi_square():
    # N = 1: W = chi2_P, E 1/W = 1/(P-2), Var 1/W = 2/((P-2)^2 (P-4))
    for P in (5, 9, 30):
        mean, var = inverse_wishart_trace(1, P)
        assert math.isclose(mean, 1 / (P - 2), rel_tol=1e-14)
        assert math.isclose(var, 2 / ((P - 2) ** 2 * (P - 4)), rel_tol=1e-14)


def test_inverse_wishart_moments_monte_carlo():
    with one_blas_thread():
        for N, P, seed in ((4, 16, 1), (8, 20, 2)):
            mean, var = inverse_wishart_trace(N, P)
            x = _wishart_traces(N, P, 20000, seed)
            se = x.std(ddof=1) / np.sqrt(x.size)
            assert abs(x.mean() - mean) < Z * se
            # the variance and the standard error of its estimate (needs the 4th moment: P-N > 7)
            c = x - x.mean()
            se_var = np.sqrt((np.mean(c**4) - c.var() ** 2) / x.size)
            assert abs(c.var() - var) < Z * se_var
            # the mean-field value N / (P - N) is excluded by the same data
            assert abs(x.mean() - N / (P - N)) > Z * se


def test_inverse_wishart_infinite_moments_and_bad_input():
    assert inverse_wishart_trace(5, 6)[0] == math.inf          # P = N + 1: mean infinite
    assert math.isfinite(inverse_wishart_trace(5, 7)[0])
    assert inverse_wishart_trace(5, 8)[1] == math.inf          # P = N + 3: variance infinite
    assert math.isfinite(inverse_wishart_trace(5, 9)[1])
    with pytest.raises(ValueError, match="P must be >= N"):
        inverse_wishart_trace(5, 4)
    with pytest.raises(ValueError, match="N must be an integer"):
        inverse_wishart_trace(0, 4)


def test_complex_designs_have_no_correction():
    # the Q H Q term is the real ensemble's own: complex Wishart gives E tr W^-1 = N/(P - N)
    with one_blas_thread():
        N, P = 6, 14
        x = _wishart_traces(N, P, 20000, 3, complex_entries=True)
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert abs(x.mean() - N / (P - N)) < Z * se
    assert abs(x.mean() - N / (P - N - 1)) > Z * se


def test_weighted_trace_is_spectrum_free():
    # tr(Lambda H^-1) = tr W^-1 for one design, any spectrum
    p = rf.Params(alpha=1.5, N=12, P=30)
    rng = np.random.default_rng(4)
    A = rf.sample_design(p, rng)
    Phi = A / np.sqrt(p.eigenvalues[: p.N])
    lhs = np.trace(np.diag(p.eigenvalues[: p.N]) @ np.linalg.inv(A.T @ A))
    rhs = np.trace(np.linalg.inv(Phi.T @ Phi))
    assert math.isclose(lhs, rhs, rel_tol=1e-10)


def test_ridgeless_limit_against_simulator():
    # label noise, tail (M > N) and temperature; t = inf, gamma = 0, N < P
    p = rf.Params(alpha=1.0, N=20, M=40, P=45, sigma2=0.1, T=0.05)
    exact = ridgeless_limit(p)
    assert exact.bias == pytest.approx(p.tail, rel=1e-14)
    assert exact.m == pytest.approx(20 / 24, rel=1e-14)
    with one_blas_thread():
        errors = np.array([rf.design_error(p, rf.sample_design(p, np.random.default_rng(s)),
                                           [np.inf]).error[0] for s in design_seeds(5, 3000)])
    se = errors.std(ddof=1) / np.sqrt(errors.size)
    assert abs(errors.mean() - exact.error) < Z * se
    assert abs(errors.mean() - theory_laplace(p, [np.inf]).error[0]) > Z * se
    # spread over designs (finite fourth moment: P - N = 25 > 7)
    c = errors - errors.mean()
    se_var = np.sqrt((np.mean(c**4) - c.var() ** 2) / errors.size)
    assert abs(c.var() - exact.error_std**2) < Z * se_var


def test_ridgeless_limit_refuses():
    with pytest.raises(ValueError, match="gamma must be 0"):
        ridgeless_limit(rf.Params(alpha=1.0, N=5, P=20, gamma=0.1))
    with pytest.raises(ValueError, match="N must be < P"):
        ridgeless_limit(rf.Params(alpha=1.0, N=20, P=20))
    heavy = ridgeless_limit(rf.Params(alpha=1.0, N=19, P=20, sigma2=0.1))
    assert heavy.label_variance == math.inf and heavy.error_std == math.inf


def test_null_weight_one_flat_spectrum_is_exact():
    # equal eigenvalues c: the null weight is c for every design
    lam = np.full(9, 1 / 9)
    p = rf.Params.from_spectrum(lam, N=9, P=8)
    assert null_weight_one(p) == pytest.approx(1 / 9, rel=1e-10)


def test_null_weight_one_against_simulator():
    p = rf.Params(alpha=1.0, N=11, P=10)
    exact = null_weight_one(p)
    sim = rf.simulate(p, [np.inf], designs=8000, seed=6)      # noise-free: the plateau
    assert abs(sim.error[0] - exact) < Z * sim.error_sem[0]
    assert abs(sim.error[0] - rf.equilibrium(p).bias) > Z * sim.error_sem[0]   # mean field
    with pytest.raises(ValueError, match="N must be P \\+ 1"):
        null_weight_one(rf.Params(alpha=1.0, N=12, P=10))


def test_corrected_response_exact_at_zero():
    for alpha, N, P in ((0.5, 30, 40), (2.0, 10, 100)):
        p = rf.Params(alpha=alpha, N=N, P=P)
        R, Rt = corrected_response(p, [0.0])
        assert R[0].real == pytest.approx(N / (P - N), rel=1e-12)
        assert Rt[0].real == pytest.approx(N / (P - N - 1), rel=1e-12)


def test_corrected_response_monte_carlo():
    # E tr(Lambda (H + s)^-1) over designs at real and complex z
    p = rf.Params(alpha=1.0, N=20, P=40, gamma=0.01)
    z = np.array([0.0, 0.05j, 0.3 + 0.3j])
    R, Rt = corrected_response(p, z)
    lam = p.eigenvalues[: p.N]
    vals = []
    with one_blas_thread():
        for s in design_seeds(7, 6000):
            A = rf.sample_design(p, np.random.default_rng(s))
            h, U = np.linalg.eigh(A.T @ A)
            c = (U**2).T @ lam
            vals.append((c[None, :] / (h[None, :] + p.gamma + z[:, None])).sum(axis=1))
    vals = np.array(vals)
    for part in (np.real, np.imag):
        m = part(vals).mean(axis=0)
        se = part(vals).std(axis=0, ddof=1) / np.sqrt(len(vals))
        relevant = se > 0
        assert np.all(np.abs(part(Rt) - m)[relevant] < Z * se[relevant])
        assert np.any(np.abs(part(R) - m)[relevant] > Z * se[relevant])


def test_corrected_response_refuses_at_the_hard_edge():
    p = rf.Params(alpha=0.5, N=100, P=100)
    with pytest.raises(RuntimeError, match="not valid"):
        corrected_response(p, [1e-6 + 0j])
    with pytest.raises(ValueError):
        corrected_response(p, [0.0])


def test_theory_finite_size_against_simulator():
    # away from the threshold, every regime at once, t from 0.1 to inf
    p = rf.Params(alpha=1.0, N=30, M=40, P=60, sigma2=0.1, gamma=1e-3, T=0.05)
    t = np.array([0.1, 1.0, 10.0, 100.0, 1e3, np.inf])
    corrected = theory_finite_size(p, t)
    sim = rf.simulate(p, t, designs=3000, seed=8)
    z_corr = (corrected.error - sim.error) / sim.error_sem
    z_mf = (theory_laplace(p, t).error - sim.error) / sim.error_sem
    assert np.all(np.abs(z_corr) < Z), z_corr
    assert np.max(np.abs(z_mf)) > Z, z_mf


def test_theory_finite_size_above_the_threshold():
    # N > P: the null space of H; gradient flow with label noise, plateau at late times
    p = rf.Params(alpha=1.0, N=80, P=40, sigma2=0.1)
    t = np.array([1.0, 100.0, 1e4, 1e8])
    corrected = theory_finite_size(p, t)
    sim = rf.simulate(p, t, designs=3000, seed=10)
    assert np.all(np.abs(corrected.error - sim.error) < Z * sim.error_sem)
    assert np.max(np.abs(theory_laplace(p, t).error - sim.error) / sim.error_sem) > Z


def test_theory_finite_size_at_the_threshold():
    # N = P with weak weight decay: the mean-field theory is 8-9% low at late times; the first
    # correction removes all but the second order, about the square of the correction (~1%)
    p = rf.Params(alpha=0.5, N=40, P=40, T=0.1, gamma=1e-3)
    t = np.array([10.0, 1e3, np.inf])
    corrected = theory_finite_size(p, t).error
    mean_field = theory_laplace(p, t).error
    sim = rf.simulate(p, t, designs=3000, seed=9)
    se = sim.error_sem / sim.error
    first = corrected / mean_field - 1
    residual = np.abs(sim.error / corrected - 1)
    assert np.all(residual < 2 * first**2 + Z * se), (residual, first)
    assert np.all(residual < 0.25 * first)
    assert np.all(np.abs(sim.error / mean_field - 1)[1:] > Z * se[1:])


def test_theory_finite_size_ridgeless_limit_is_exact_and_continuous():
    p = rf.Params(alpha=1.0, N=30, P=60, sigma2=0.1, T=0.02)
    late = theory_finite_size(p, [1e8, np.inf])
    exact = ridgeless_limit(p)
    assert late.error[1] == pytest.approx(exact.error, rel=1e-12)
    assert late.error[0] == pytest.approx(late.error[1], rel=1e-6)
    # with weight decay the contour and the static branch meet as well
    q = p.replace(gamma=0.01)
    a, b = theory_finite_size(q, [2e4, np.inf]).error
    assert a == pytest.approx(b, rel=1e-6)


def test_theory_finite_size_refuses():
    with pytest.raises(RuntimeError, match="not valid"):
        theory_finite_size(rf.Params(alpha=0.5, N=100, P=100, T=0.1), [1e6])
    with pytest.raises(ValueError, match="isotropic"):
        theory_finite_size(rf.Params(alpha=1.0, N=10, P=20, teacher=np.linspace(1, 2, 10)), [1.0])
    with pytest.raises(ValueError, match="N >= P"):
        theory_finite_size(rf.Params(alpha=1.0, N=30, P=20), [np.inf])
    assert 0 < MAX_CORRECTION < 1
