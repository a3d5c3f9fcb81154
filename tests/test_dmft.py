"""Time-domain DMFT: against the exact simulator in every regime, against closed-form limits,
and the grid error estimate.

Reference values come from the exact finite-size simulator (design-averaged, with its standard
error), from independent closed forms (kernel ridge regression at t -> inf, the initial error),
and from the response function (E_g(t) = R(2t) for isotropic gradient flow), never from
this solver's own output.
"""

import numpy as np
import pytest
from scipy.optimize import brentq

from rfdmft import dmft
from rfdmft.equilibrium import equilibrium
from rfdmft.model import Params
from rfdmft.simulation import simulate

TIMES = np.array([0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0])
K = np.arange(1, 801)

REGIMES = {
    "gradient flow": Params(alpha=1.0, N=800, P=200),
    "weight decay + label noise": Params(alpha=1.0, N=800, P=200, sigma2=0.2, gamma=0.02),
    "Langevin": Params(alpha=1.0, N=500, P=200, sigma2=0.05, gamma=0.01, T=0.002),
    "M > N": Params(alpha=1.0, N=500, M=2000, P=200, sigma2=0.05),
    "non-isotropic teacher": Params(alpha=1.0, N=800, P=200, sigma2=0.05,
                                    teacher=K**-0.5 / np.mean(K**-0.5)),
}


@pytest.mark.parametrize("name", list(REGIMES))
def test_agrees_with_exact_simulator(name):
    params = REGIMES[name]
    theory = dmft.theory_time_domain(params, TIMES)
    assert theory.error_sem is None
    sim = simulate(params, TIMES, designs=60, seed=7)
    # the simulation must be precise enough for a 1% comparison to mean something
    assert np.all(sim.error_sem / sim.error < 0.004)
    rel = theory.error / sim.error - 1.0
    assert np.all(np.abs(rel) < 0.01), rel
    np.testing.assert_allclose(theory.error,
                               theory.bias + theory.label_variance + theory.thermal_variance)
    # each part that matters (more than 10% of the total) agrees within 2%
    for part in ("bias", "label_variance", "thermal_variance"):
        ours, exact = getattr(theory, part), getattr(sim, part)
        big = exact > 0.1 * sim.error
        assert np.all(np.abs(ours[big] / exact[big] - 1.0) < 0.02), (part, ours / exact - 1)
        if not np.any(exact > 0):
            assert np.all(ours == 0)


def test_initial_error_is_teacher_power():
    k = np.arange(1, 301)
    params = Params(alpha=0.7, N=100, M=300, P=50, sigma2=0.3, gamma=0.1, T=0.01,
                    teacher=1.0 + np.cos(k))
    curve = dmft.theory_time_domain(params, [0.0, 1.0])
    lam = params.eigenvalues
    assert curve.error[0] == pytest.approx(float(lam @ params.powers), rel=1e-12)
    assert curve.label_variance[0] == 0.0 and curve.thermal_variance[0] == 0.0
    iso = dmft.theory_time_domain(Params(alpha=1.0, N=200, P=50), [0.0])
    assert iso.error[0] == pytest.approx(1.0, rel=1e-12)


def test_gradient_flow_error_is_response_at_twice_the_time():
    # isotropic teacher, no noise: E_g(t) = R(2t) with R(t) = sum_k lambda_k G_k(t); the bias
    # comes from the two-time solve, R from the one-time response on a finer grid
    params = Params(alpha=1.0, N=600, P=150)
    t = np.array([0.05, 0.5, 5.0, 50.0, 500.0])
    curve = dmft.theory_time_domain(params, t)
    lam = params.eigenvalues
    grid = dmft.time_grid(params.P * lam[0], 2.1 * t.max(), resolution=4.0)
    _, _, _, Rv = dmft.responses(params, grid)
    R2t = np.interp(np.log(2 * t), np.log(grid[1:]), Rv[1:])
    np.testing.assert_allclose(curve.bias, R2t, rtol=1e-3)
    assert np.all(np.diff(curve.error) < 0)


def _kernel_ridge(params):
    """Large-P kernel ridge regression (ridge gamma): bias, label variance, thermal variance."""
    lam = params.eigenvalues[: params.N]
    p = params.powers[: params.N]
    P, gamma = params.P, params.gamma
    kappa = brentq(lambda x: x - gamma - x * np.sum(lam / (x + lam * P)), gamma, 10.0 + gamma)
    eff = np.sum(lam**2 * P / (kappa + lam * P) ** 2)
    bias = params.tail + kappa**2 * np.sum(lam * p / (kappa + lam * P) ** 2) / (1 - eff)
    label = (params.sigma2 + params.tail) * eff / (1 - eff)
    thermal = params.T * kappa / gamma * np.sum(lam / (kappa + lam * P))
    return bias, label, thermal


def test_long_time_limit_is_kernel_ridge_regression():
    k = np.arange(1, 1201)
    params = Params(alpha=1.2, N=400, M=1200, P=100, sigma2=0.1, gamma=0.05, T=0.01,
                    teacher=k**-0.3 / np.mean(k**-0.3))
    curve = dmft.theory_time_domain(params, [2000.0])
    bias, label, thermal = _kernel_ridge(params)
    assert curve.bias[0] == pytest.approx(bias, rel=1e-3)
    assert curve.label_variance[0] == pytest.approx(label, rel=1e-3)
    assert curve.thermal_variance[0] == pytest.approx(thermal, rel=1e-3)


def test_grid_error_estimate_shrinks_under_refinement():
    params = Params(alpha=1.0, N=300, P=100, sigma2=0.1, gamma=0.01, T=0.001,
                    teacher=np.linspace(2.0, 0.5, 300))
    t = np.array([0.1, 1.0, 10.0, 100.0])
    sols = [dmft.solve_time_domain(params, t, resolution=r, grid_tol=None)
            for r in (0.5, 1.0, 2.0)]
    est = [s.error_estimate for s in sols]
    assert np.all(est[1] < est[0] / 2.5) and np.all(est[2] < est[1] / 2.5)
    # the estimate bounds the actual change of the (extrapolated) answer
    change = np.abs(sols[0].curve.error - sols[2].curve.error)
    assert np.all(change <= est[0] + 1e-12)
    assert np.all(est[1] / sols[1].curve.error < 5e-3)  # default resolution: well below 1%
    assert sols[1].grid_points[0] > sols[0].grid_points[0]


def test_refuses_untrusted_results_and_takes_infinite_time_from_equilibrium():
    params = Params(alpha=1.0, N=50, P=20, sigma2=0.1)
    with pytest.raises(ValueError, match="finite times"):
        dmft.solve_time_domain(params, [1.0, np.inf])
    curve = dmft.theory_time_domain(params, [1.0, np.inf])
    limit = equilibrium(params)
    assert curve.bias[1] == limit.bias and curve.label_variance[1] == limit.label_variance
    with pytest.raises(ValueError, match="t = inf is not allowed"):
        dmft.theory_time_domain(Params(alpha=1.0, N=50, P=20, T=0.1), [np.inf])
    with pytest.raises(ValueError):
        dmft.theory_time_domain(params, [-1.0])
    # unreachable tolerances are reported, not papered over
    with pytest.raises(RuntimeError, match="tolerance"):
        dmft.theory_time_domain(params, [1.0], tol=1e-30)
    with pytest.raises(RuntimeError, match="grid error estimate"):
        dmft.theory_time_domain(params, [1.0, 100.0], grid_tol=1e-12, max_resolution=2.0)


@pytest.mark.parametrize("n, r, block", [(7, 2, 3), (40, 3, 16), (53, 4, 8), (33, 2, 1), (50, 3, 64)])
def test_blocked_two_time_march_is_the_exact_solution(n, r, block):
    # C = F + sum_m L_m C L_m^T with lower-triangular L_m, solved densely through the Kronecker
    # form (I - sum_m L_m (x) L_m) vec C = vec F; the blocked march reorders the row-by-row
    # recursion and must give the same solution to round-off for every block size
    rng = np.random.default_rng(n + r + block)
    ops = np.tril(rng.normal(size=(r, n, n))) * 0.3 / np.sqrt(n)
    X = rng.normal(size=(n, n))
    F = X + X.T
    dense = np.linalg.solve(np.eye(n * n) - sum(np.kron(o, o) for o in ops), F.ravel())
    C = dmft._march_two_time(ops, F, block)
    np.testing.assert_allclose(C, dense.reshape(n, n), rtol=0, atol=1e-12 * np.abs(dense).max())
    np.testing.assert_array_equal(C, C.T)


def test_convolution_operators_are_exact_for_cubics_and_fourth_order():
    """The operators integrate int_0^t psi(t - s) C(s) ds with C piecewise cubic in s and psi
    interpolated cubically at the lag, 3-point Gauss on each piece: exact (to round-off) for a
    cubic C and a quadratic psi (a degree-5 integrand; reference: the antiderivative), and
    fourth order for smooth ones (e^{-tau} against cos s: each halving of the step gains about
    16, where piecewise-linear C would gain 4)."""
    grid = dmft.time_grid(3.0, 40.0, 1.0)            # a uniform start, then geometric
    psi = np.vstack([1 + grid - 0.3 * grid**2, np.ones(grid.size)])
    ops = dmft._operators(grid, psi)
    C = 2 - grid + 0.5 * grid**2 - 0.01 * grid**3
    t = grid
    # int_0^t (1 + (t - s) - 0.3 (t - s)^2) (2 - s + s^2 / 2 - s^3 / 100) ds, expanded
    poly_t = np.polynomial.Polynomial
    exact = []
    for ti in t:
        kernel = poly_t([1 + ti - 0.3 * ti**2, -1 + 0.6 * ti, -0.3])     # in s
        integrand = (kernel * poly_t([2, -1, 0.5, -0.01])).integ()
        exact.append(integrand(ti) - integrand(0.0))
    exact = np.array(exact)
    approx = ops[:, :, 0] @ C
    assert np.max(np.abs(approx[3:] - exact[3:])) < 1e-13 * np.abs(exact).max()
    np.testing.assert_allclose(ops[:, :, 1] @ np.ones(grid.size), grid, rtol=0, atol=1e-13)
    errors = []
    for resolution in (2, 4, 8):
        g = dmft.time_grid(3.0, 40.0, resolution)
        o = dmft._operators(g, np.exp(-g)[None, :])
        reference = (np.cos(g) + np.sin(g) - np.exp(-g)) / 2     # int_0^t e^{-(t-s)} cos s ds
        errors.append(np.max(np.abs(o[:, :, 0] @ np.cos(g) - reference)))
    assert errors[1] / errors[2] > 12 and errors[0] / errors[1] > 6, errors


@pytest.mark.parametrize("n, r, block", [(37, 5, 16), (50, 4, 7)])
def test_blocked_two_time_march_with_signed_kernels(n, r, block):
    # a quadrature rule over the modes may have a few negative weights: the compression then
    # gives C = F + sum_m s_m L_m C L_m^T with signs s_m; against the dense Kronecker solve
    rng = np.random.default_rng(n * r)
    ops = np.tril(rng.normal(size=(r, n, n))) * 0.3 / np.sqrt(n)
    signs = np.where(np.arange(r) % 2 == 0, 1.0, -1.0)
    X = rng.normal(size=(n, n))
    F = X + X.T
    dense = np.linalg.solve(np.eye(n * n) - sum(s * np.kron(o, o) for s, o in zip(signs, ops)),
                            F.ravel()).reshape(n, n)
    C = dmft._march_two_time(ops, F, block, signs=signs)
    np.testing.assert_allclose(C, dense, rtol=0, atol=1e-12 * np.abs(dense).max())
    # the probe estimate of the residual sees a wrong entry anywhere in C
    Lr = dmft._Operators(np.ascontiguousarray(ops.transpose(1, 2, 0)), signs)
    assert Lr.probe([C], [F])[0] < 1e-12 * np.abs(F).max()
    bad = C.copy()
    bad[n // 3, n // 5] += 1e-6
    bad[n // 5, n // 3] += 1e-6
    assert Lr.probe([bad], [F])[0] > 1e-7


def test_signed_compression_reproduces_the_mode_sum():
    # sum_k c_k Gh_k(x) Gh_k(y) with a few negative c_k, as sum_m s_m psi_m(x) psi_m(y)
    grid = dmft.time_grid(10.0, 50.0)
    lam = np.logspace(0, -3, 60)
    Gh = np.exp(-np.outer(lam * 10, grid)) * (1 + 0.1 * np.cos(np.outer(lam, grid)))
    c = lam**2 * (1.0 - 1.6 * (np.arange(60) % 7 == 3))
    psi, signs, _ = dmft._compress(grid, Gh, c, 1e-8)
    exact = (Gh * c[:, None]).T @ Gh
    approx = (psi * signs[:, None]).T @ psi
    assert np.any(signs < 0)
    np.testing.assert_allclose(approx, exact, rtol=0, atol=1e-12 * np.abs(exact).max())
