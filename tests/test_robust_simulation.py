"""The simulators at the edges: steep spectra, extreme times, memory refused in advance."""

import tracemalloc

import mpmath as mp
import numpy as np
import pytest

import rfdmft.model
from rfdmft import Params, design_error, sample_design, simulate, simulate_paths
from rfdmft.simulation import check_size, exact_memory, paths_memory

TIMES = [0.0, 1e-310, 1e-8, 1.0, 1e6, 1e300, np.inf]


def mp_parts(params, A, times, dps=120):
    """Bias, label and thermal parts of one design in ``dps``-digit arithmetic, from the float
    entries of ``A``: eigen-decomposition of ``A^T A`` (or of ``A A^T`` when ``N > P``, the range
    directions mapped back by ``A^T``), bias from ``tr(Lambda (I - M) P (I - M))``."""
    mp.mp.dps = dps
    P, N = A.shape
    Am = mp.matrix(A.tolist())
    if N <= P:
        h, V = mp.eigsy(Am.T * Am)
        h = [h[i] for i in range(N)]
    else:
        hk, U = mp.eigsy(Am * Am.T)
        h = [hk[i] for i in range(P)]
        V = mp.matrix(N, P)
        for i in range(P):
            col = Am.T * U[:, i] / mp.sqrt(h[i])
            for k in range(N):
                V[k, i] = col[k]
    r = len(h)
    lam = [mp.mpf(x) for x in params.eigenvalues[:N]]
    p = [mp.mpf(x) for x in params.powers[:N]]
    tail, gamma, T = mp.mpf(params.tail), mp.mpf(params.gamma), mp.mpf(params.T)
    s = mp.mpf(params.sigma2) + tail
    c = [mp.fsum(lam[k] * V[k, i] ** 2 for k in range(N)) for i in range(r)]
    null = mp.fsum(lam) - mp.fsum(c)
    rows = []
    for t in times:
        t = mp.inf if np.isinf(t) else mp.mpf(t)

        def g(a):
            return t if a == 0 else (1 / a if t == mp.inf else -mp.expm1(-a * t) / a)

        def q(a):
            return 2 * t if a == 0 else (1 / a if t == mp.inf else -mp.expm1(-2 * a * t) / a)

        m = [h[i] * g(h[i] + gamma) for i in range(r)]
        bias = tail
        for k in range(N):
            for j in range(N):
                mkj = mp.fsum(V[k, i] * m[i] * V[j, i] for i in range(r)) - (1 if k == j else 0)
                bias += lam[k] * mkj ** 2 * p[j]
        label = s * mp.fsum(c[i] * h[i] * g(h[i] + gamma) ** 2 for i in range(r))
        thermal = mp.mpf(0)
        if T > 0:
            thermal = T * (mp.fsum(c[i] * q(h[i] + gamma) for i in range(r))
                           + (null * q(gamma) if N > P else 0))
        rows.append([float(bias), float(label), float(thermal)])
    return np.array(rows)


def parts(curve):
    return np.stack([curve.bias, curve.label_variance, curve.thermal_variance], axis=1)


STEEP = [
    Params(alpha=12, N=30, P=20, sigma2=0.1),
    Params(alpha=12, N=20, P=30, sigma2=0.1),
    Params(alpha=12, N=30, P=20, sigma2=0.1, gamma=1e-9, T=0.01),
    Params(alpha=12, N=20, P=30, sigma2=0.1, T=0.01),
    Params(alpha=12, N=60, P=40, sigma2=0.1, gamma=1e-9, T=0.01),
    Params(alpha=20, N=30, P=20, M=35, gamma=1e-6, teacher=np.linspace(2.0, 0.1, 35)),
    Params(alpha=20, N=20, P=30, sigma2=0.1, teacher=np.linspace(0.1, 2.0, 20)),
]


@pytest.mark.parametrize("params", STEEP)
def test_steep_spectra_match_high_precision_arithmetic(params):
    # 120-digit arithmetic on the same designs: every part to 1e-9 relative (1e-30 absolute:
    # bias at t = inf is exactly zero for N <= P, a rounding-level number in both)
    times = [t for t in TIMES if params.has_equilibrium or np.isfinite(t)]
    for seed in range(2):
        A = sample_design(params, np.random.default_rng(seed))
        reference = mp_parts(params, A, times)
        np.testing.assert_allclose(parts(design_error(params, A, times)), reference,
                                   rtol=1e-9, atol=1e-30)


def test_steep_label_variance_against_an_identity_at_scale():
    # N <= P, gamma = 0, t = inf: label = sigma2 tr(H^-1) = sigma2 tr((Phi^T Phi)^-1): the spectrum
    # cancels, so the well-conditioned Gaussian Phi gives the answer in double precision
    params = Params(alpha=12, N=400, P=600, sigma2=0.1)
    A = sample_design(params, np.random.default_rng(5))
    phi = A / np.sqrt(params.eigenvalues)
    expected = 0.1 * np.trace(np.linalg.inv(phi.T @ phi))
    assert design_error(params, A, [np.inf]).label_variance[0] == pytest.approx(expected,
                                                                                rel=1e-9)


def test_null_weight_is_accurate_when_tiny():
    # N > P, gamma = 0, T = 0, t = inf: the bias is tr(Lambda (I - A^+ A)), here below 1e-15 of the
    # total; 120-digit arithmetic on the same design
    params = Params(alpha=12, N=40, P=25)
    A = sample_design(params, np.random.default_rng(2))
    reference = mp_parts(params, A, [np.inf])[0, 0]
    assert 0 < reference < 1e-15
    assert design_error(params, A, [np.inf]).bias[0] == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("alpha", [200.0, 1000.0])
def test_extreme_exponents_give_finite_parts(alpha):
    # eigenvalues underflow to zero: those modes are exact null directions, never NaN
    for N, P in ((50, 30), (30, 50)):
        params = Params(alpha=alpha, N=N, P=P, sigma2=0.1, gamma=0.1, T=0.01)
        curve = simulate(params, TIMES, designs=2)
        values = parts(curve)
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
        np.testing.assert_allclose(values[-2], values[-1], rtol=1e-12)
        np.testing.assert_allclose(curve.error[0], 1.0, rtol=1e-12)


@pytest.mark.parametrize("params", [
    Params(alpha=1.0, N=40, P=25, sigma2=0.2, gamma=0.05, T=0.1),
    Params(alpha=0.05, N=25, P=40, sigma2=10.0),
    Params(alpha=50.0, N=25, P=40, sigma2=0.1, T=0.01),
    Params(alpha=1.0, N=40, P=25, M=60, sigma2=0.1),
    Params(alpha=1.0, N=40, P=25, T=0.1),           # free diffusion: no t = inf
])
def test_times_from_zero_to_1e300(params):
    times = [t for t in TIMES if params.has_equilibrium or np.isfinite(t)]
    curve = simulate(params, times, designs=2)
    values = parts(curve)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert curve.error[0] == pytest.approx(float(params.eigenvalues @ params.powers), rel=1e-12)
    # a tiny time changes the error by O(t): t = 1e-310 and 1e-8 stay at the initial value
    np.testing.assert_allclose(curve.error[1], curve.error[0], rtol=1e-12)
    if params.has_equilibrium:
        np.testing.assert_allclose(values[-2], values[-1], rtol=1e-12, atol=1e-300)
    else:                                   # thermal variance grows like 2 T (null weight) t
        assert curve.thermal_variance[-1] > 1e290


def test_memory_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(rfdmft.model, "available_memory", lambda: 10**9)
    with pytest.raises(ValueError, match=r"^P x N = 1000 x 100000 \(exact.*too large for this "
                                         r"machine.*GB"):
        simulate(Params(alpha=1, N=100_000, P=1000), [1.0], designs=1)
    # the sample paths build an N x N matrix however small P M is
    with pytest.raises(ValueError, match=r"^P x M = 10 x 50000 .*N x N.*too large"):
        simulate_paths(Params(alpha=1, N=50_000, P=10), [1.0], designs=1)
    with pytest.raises(ValueError, match="too large for this machine"):
        check_size(Params(alpha=1, N=50_000, P=10), 50_000, method="sde")
    check_size(Params(alpha=1, N=2000, P=1000))        # fits: no error


def test_memory_estimates_bound_the_measured_peaks():
    cases = [(Params(alpha=1, N=1200, P=400, sigma2=0.1, T=0.1, gamma=0.1), False),
             (Params(alpha=1, N=400, P=1200, teacher=np.linspace(2, 0.1, 400)), False),
             (Params(alpha=12, N=900, P=300, sigma2=0.1, teacher=np.linspace(2, 0.1, 900)), True),
             (Params(alpha=12, N=300, P=900, sigma2=0.1), True)]
    tracemalloc.start()
    try:
        for params, accurate in cases:
            simulate(params, [1.0, np.inf], designs=1)          # warm caches
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            simulate(params, [1.0, np.inf], designs=1)
            measured = tracemalloc.get_traced_memory()[1] - base
            estimate = exact_memory(params, 2, accurate=accurate)
            assert measured <= estimate <= 4 * measured, (params, measured, estimate)
        params = Params(alpha=1, N=300, P=100, M=300, sigma2=0.1, T=0.1, gamma=0.1)
        simulate_paths(params, [1.0, 2.0], designs=1)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        simulate_paths(params, [1.0, 2.0], designs=1)
        measured = tracemalloc.get_traced_memory()[1] - base
        assert measured <= paths_memory(params, 2) <= 6 * measured
    finally:
        tracemalloc.stop()
