"""Tests of rfdmft.data: the arc-cosine kernel against random ReLU features, the digits pool,
spectra and teacher powers, kernel gradient flow and random-feature readouts against brute force."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from rfdmft import data as D


def small_pool(n=30, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]
    return X, y - y.mean()


# ----------------------------------------------------------------------------- kernel

@pytest.mark.parametrize("sw2, sb2", [(2.0, 0.0), (1.0, 0.5)])
def test_arccos_kernel_is_the_mean_of_random_relu_features(sw2, sb2):
    X, _ = small_pool(n=6, d=4, seed=1)
    X[5] = -X[4]                                   # an obtuse angle too
    N = 400_000
    F = D.relu_features(X, N, seed=3, weight_variance=sw2, bias_variance=sb2) * np.sqrt(N)
    products = F[:, None, :] * F[None, :, :]       # per-feature samples of relu(u) relu(v)
    mc = products.mean(axis=2)
    sem = products.std(axis=2) / np.sqrt(N)
    K = D.arccos_kernel(X, weight_variance=sw2, bias_variance=sb2)
    assert np.all(np.abs(mc - K) < 5 * sem + 1e-12)
    d = X.shape[1]
    assert np.allclose(np.diag(K), (sw2 * np.sum(X**2, axis=1) / d + sb2) / 2, rtol=1e-12)


def test_arccos_kernel_closed_form_at_right_angle_and_cross_block():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    K = D.arccos_kernel(X)          # sw2 = 2, d = 2: s_x = 1
    # orthogonal: (sin(pi/2) + 0) / (2 pi); antiparallel: 0; parallel: 1/2
    assert K[0, 1] == pytest.approx(1 / (2 * np.pi), rel=1e-14)
    assert K[0, 2] == pytest.approx(0.0, abs=1e-15) and K[0, 0] == pytest.approx(0.5)
    assert np.allclose(D.arccos_kernel(X[:2], X), K[:2])


def test_arccos_kernel_rejects_bad_input():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="weight_variance"):
        D.arccos_kernel(X, weight_variance=-1.0)
    with pytest.raises(ValueError, match="not both be 0"):
        D.arccos_kernel(X, weight_variance=0.0, bias_variance=0.0)
    with pytest.raises(ValueError, match="dimension"):
        D.arccos_kernel(X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        D.arccos_kernel(np.ones(3))


# ----------------------------------------------------------------------------- pool

def test_digits_pool_is_standardised_and_labelled():
    from sklearn.datasets import load_digits
    raw = load_digits()
    for task, rule in (("parity", raw.target % 2 == 0), ("small", raw.target < 5)):
        pool = D.load_digits_pool(task)
        assert pool.X.shape == (1797, 64) and pool.n == 1797
        assert np.allclose(pool.X.mean(axis=0), 0, atol=1e-12)
        assert np.mean(np.sum(pool.X**2, axis=1)) / 64 == pytest.approx(1.0)
        assert abs(pool.y.mean()) < 1e-12 and np.mean(pool.y**2) == pytest.approx(1.0)
        assert np.unique(pool.y).size == 2 and np.all((pool.y > 0) == rule)
    with pytest.raises(ValueError, match="task"):
        D.load_digits_pool("odd")


# ----------------------------------------------------------------------------- spectrum and teacher

def test_spectrum_of_a_rank_deficient_kernel_and_the_dropped_power():
    rng = np.random.default_rng(2)
    n, r = 40, 7
    G = rng.standard_normal((n, r))
    K = G @ G.T                                    # rank 7
    lam, U = D.empirical_spectrum(K)
    assert lam.size == r and np.all(np.diff(lam) <= 0)
    assert np.allclose((U * lam) @ U.T, K / n, atol=1e-12)
    assert np.allclose(U.T @ U, np.eye(r), atol=1e-12)
    inside = G @ rng.standard_normal(r)
    p, dropped = D.teacher_powers(U, lam, inside)
    assert dropped < 1e-25 and np.sum(lam * p) == pytest.approx(np.mean(inside**2), rel=1e-12)
    outside = rng.standard_normal(n)
    outside -= G @ np.linalg.lstsq(G, outside, rcond=None)[0]   # orthogonal to the range
    p, dropped = D.teacher_powers(U, lam, outside + inside)
    assert dropped == pytest.approx(np.mean(outside**2), rel=1e-10)
    assert np.sum(lam * p) + dropped == pytest.approx(np.mean((outside + inside) ** 2), rel=1e-12)
    params = D.pool_params(lam, p, P=10, dropped=dropped, T=0.1)
    assert params.N == r and params.M == r + 1 and params.T == 0.1
    assert params.tail == pytest.approx(dropped, rel=1e-12)


def test_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        D.empirical_spectrum(np.ones((3, 4)))
    with pytest.raises(ValueError, match="symmetric"):
        D.empirical_spectrum(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="rtol"):
        D.empirical_spectrum(np.eye(3), rtol=2.0)
    lam, U = D.empirical_spectrum(np.eye(4))
    with pytest.raises(ValueError, match="one value per pool input"):
        D.teacher_powers(U, lam, np.ones(3))
    with pytest.raises(ValueError, match="N must be at most"):
        D.pool_params(lam, np.ones(4), P=2, N=5)


# ----------------------------------------------------------------------------- kernel gradient flow

def brute_force_flow(K, y, train, test_mask, t, gamma):
    """Weight-space gradient flow with the design of all n modes, by a matrix exponential."""
    n = y.size
    lam, U = np.linalg.eigh(K / n)
    lam = np.clip(lam, 0, None)
    Phi = np.sqrt(n) * U * np.sqrt(lam)            # rows: sqrt(lambda_k) phi_k(x_i)
    A = Phi[train]
    m = n + 1                                      # augmented linear system for the affine ODE
    L = np.zeros((m, m))
    L[:n, :n] = -(A.T @ A + gamma * np.eye(n))
    L[:n, n] = A.T @ y[train]
    w = expm(L * t)[:n, n]
    return np.mean((Phi[test_mask] @ w - y[test_mask]) ** 2)


@pytest.mark.parametrize("gamma, test", [(0.0, "heldout"), (0.05, "pool")])
def test_kernel_flow_matches_weight_space_brute_force(gamma, test):
    X, y = small_pool()
    K = D.arccos_kernel(X, bias_variance=0.3)
    train = np.array([0, 3, 4, 9, 11, 17, 20, 28])
    mask = np.ones(y.size, bool)
    if test == "heldout":
        mask[train] = False
    times = [0.0, 0.3, 2.0, 15.0]
    got = D.kernel_flow_error(K, y, train, times, gamma=gamma, test=test)
    want = [brute_force_flow(K, y, train, mask, t, gamma) for t in times]
    assert got[0] == pytest.approx(np.mean(y[mask] ** 2), rel=1e-12)
    assert np.allclose(got, want, rtol=1e-8, atol=1e-12)


def test_kernel_flow_with_repeated_inputs_and_long_times():
    X, y = small_pool()
    K = D.arccos_kernel(X)
    train = np.array([1, 2, 2, 5, 5, 5, 8])        # duplicates: K_XX singular
    unique = np.array([1, 2, 5, 8])
    t = [1.0, 1e3, np.inf]
    a = D.kernel_flow_error(K, y, train, t, test="pool")
    b = D.kernel_flow_error(K, y, unique, t, test="pool")
    assert np.all(np.isfinite(a))
    assert a[-1] == pytest.approx(b[-1], rel=1e-8)   # same interpolant at t = inf
    assert a[0] != pytest.approx(b[0], rel=1e-3)     # but repeated points are learned faster


def test_kernel_flow_curve_averages_and_validates():
    X, y = small_pool()
    K = D.arccos_kernel(X)
    curve = D.kernel_flow_curve(K, y, 6, [0.0, 1.0], subsets=5, seed=4)
    rng = np.random.default_rng(4)
    runs = [D.kernel_flow_error(K, y, rng.choice(y.size, 6, replace=False), [0.0, 1.0])
            for _ in range(5)]
    assert np.allclose(curve.error, np.mean(runs, axis=0), rtol=1e-12)
    assert np.allclose(curve.error_sem, np.std(runs, axis=0, ddof=1) / np.sqrt(5), rtol=1e-12)
    with pytest.raises(ValueError, match="train_idx"):
        D.kernel_flow_error(K, y, [0, 30], [1.0])
    with pytest.raises(ValueError, match="test must be"):
        D.kernel_flow_error(K, y, [0, 1], [1.0], test="validation")
    with pytest.raises(ValueError, match="K must be"):
        D.kernel_flow_error(K[:5], y, [0, 1], [1.0])
    with pytest.raises(ValueError, match="gamma"):
        D.kernel_flow_error(K, y, [0, 1], [1.0], gamma=-1.0)
    with pytest.raises(ValueError, match="P must be"):
        D.kernel_flow_curve(K, y, 30, [1.0])


# ----------------------------------------------------------------------------- random-feature readout

def moments_by_ode(FX, yX, gamma, T, t):
    """Mean and covariance of the readout weights by integrating their ODEs (no eigenbasis)."""
    N = FX.shape[1]
    M = FX.T @ FX + gamma * np.eye(N)
    b = FX.T @ yX

    def rhs(_, z):
        m, S = z[:N], z[N:].reshape(N, N)
        return np.concatenate([-M @ m + b, (-M @ S - S @ M + 2 * T * np.eye(N)).ravel()])

    sol = solve_ivp(rhs, (0, t), np.zeros(N + N * N), rtol=1e-11, atol=1e-13, method="DOP853")
    return sol.y[:N, -1], sol.y[N:, -1].reshape(N, N)


@pytest.mark.parametrize("N, gamma", [(4, 0.0), (12, 0.0), (12, 0.2)])
def test_readout_langevin_error_matches_moment_equations(N, gamma):
    X, y = small_pool(n=25, seed=5)
    F = D.relu_features(X, N, seed=6, bias_variance=0.2)
    train = np.arange(0, 25, 3)                     # 9 points: N = 12 has a null space
    mask = np.ones(25, bool)
    mask[train] = False
    T, t = 0.03, 1.7
    mean_error, thermal = D.readout_error(F, y, train, [t], gamma=gamma, T=T)
    m, S = moments_by_ode(F[train], y[train], gamma, T, t)
    Ft = F[mask]
    assert mean_error[0] == pytest.approx(np.mean((Ft @ m - y[mask]) ** 2), rel=1e-8)
    assert thermal[0] == pytest.approx(np.trace(Ft @ S @ Ft.T) / mask.sum(), rel=1e-8)


def test_readout_langevin_error_matches_euler_maruyama_paths():
    X, y = small_pool(n=20, seed=7)
    F = D.relu_features(X, 6, seed=8)
    train = np.array([0, 4, 7, 13])                 # N = 6 > P = 4: free diffusion in the null space
    T, t, dt, paths = 0.05, 1.0, 2e-3, 10_000
    rng = np.random.default_rng(9)
    FX, yX = F[train], y[train]
    a = np.zeros((paths, 6))
    for _ in range(int(round(t / dt))):
        grad = (a @ FX.T - yX) @ FX
        a += -grad * dt + np.sqrt(2 * T * dt) * rng.standard_normal(a.shape)
    test = np.setdiff1d(np.arange(20), train)
    errors = np.mean((a @ F[test].T - y[test]) ** 2, axis=1)
    mean_error, thermal = D.readout_error(F, y, train, [t], T=T)
    sem = errors.std() / np.sqrt(paths)
    euler_bias = dt * np.linalg.eigvalsh(FX.T @ FX).max() * thermal[0]   # O(dt) drift of the variance
    assert abs(errors.mean() - (mean_error[0] + thermal[0])) < 4 * sem + euler_bias
    assert thermal[0] > 10 * sem                    # the thermal part is resolved, not negligible


def test_readout_at_zero_temperature_is_kernel_flow_with_the_feature_kernel():
    X, y = small_pool(seed=10)
    F = D.relu_features(X, 50, seed=11)
    train = np.arange(0, 30, 2)
    times = [0.5, 5.0, 50.0]
    mean_error, thermal = D.readout_error(F, y, train, times, gamma=0.01)
    assert np.all(thermal == 0)
    assert np.allclose(mean_error, D.kernel_flow_error(F @ F.T, y, train, times, gamma=0.01),
                       rtol=1e-9)


def test_readout_curve_and_validation():
    X, y = small_pool()
    curve = D.readout_curve(X, y, N=8, P=10, times=[0.0, 1.0, 10.0], subsets=4, seed=1, T=0.01,
                            gamma=0.1)
    assert curve.error[0] == pytest.approx(curve.bias[0]) and curve.thermal_variance[0] == 0
    assert np.all(curve.thermal_variance[1:] > 0) and np.all(curve.error_sem > 0)
    again = D.readout_curve(X, y, N=8, P=10, times=[0.0, 1.0, 10.0], subsets=4, seed=1, T=0.01,
                            gamma=0.1)
    assert np.array_equal(curve.error, again.error)
    F = D.relu_features(X, 8)
    with pytest.raises(ValueError, match="t = inf"):
        D.readout_error(F, y, [0, 1], [np.inf], T=0.1)
    with pytest.raises(ValueError, match="T must be"):
        D.readout_error(F, y, [0, 1], [1.0], T=-0.1)
    with pytest.raises(ValueError, match="N must be"):
        D.relu_features(X, 0)
    with pytest.raises(ValueError, match="one value per row"):
        D.readout_error(F, y[:5], [0, 1], [1.0])


def test_feature_spectrum_is_the_spectrum_of_the_feature_kernel():
    X, y = small_pool(n=40, seed=12)
    for N in (15, 60):                              # below and above the pool size
        F = D.relu_features(X, N, seed=13, bias_variance=0.1)
        lam, U = D.feature_spectrum(F)
        lam_k, U_k = D.empirical_spectrum(F @ F.T)
        assert lam.size == lam_k.size == min(N, 40)
        assert np.allclose(lam, lam_k, rtol=1e-9)
        assert np.allclose((U * lam) @ U.T, F @ F.T / 40, atol=1e-12)
        p, dropped = D.teacher_powers(U, lam, y)
        p_k, dropped_k = D.teacher_powers(U_k, lam_k, y)
        assert np.allclose(lam * p, lam_k * p_k, atol=1e-12) and dropped == pytest.approx(dropped_k, abs=1e-12)
        assert (dropped > 1e-3) == (N < 40)


def test_kernel_flow_curve_with_several_test_sets_splits_the_pool_error():
    X, y = small_pool()
    K = D.arccos_kernel(X)
    P, n = 8, y.size
    curves = D.kernel_flow_curve(K, y, P, [0.5, 5.0, np.inf], subsets=3, seed=2,
                                 test=("pool", "heldout", "train"))
    single = D.kernel_flow_curve(K, y, P, [0.5, 5.0, np.inf], subsets=3, seed=2, test="heldout")
    assert np.array_equal(curves["heldout"].error, single.error)
    split = (P * curves["train"].error + (n - P) * curves["heldout"].error) / n
    assert np.allclose(curves["pool"].error, split, rtol=1e-12)
    assert curves["train"].error[-1] < 1e-20          # ridgeless interpolation at t = inf
    with pytest.raises(ValueError, match="test must"):
        D.kernel_flow_curve(K, y, P, [1.0], test=("pool", "test"))


def test_readout_curve_with_one_network_is_kernel_flow_with_its_kernel():
    X, y = small_pool(seed=14)
    times = [0.3, 3.0, 30.0]
    curve = D.readout_curve(X, y, N=20, P=9, times=times, subsets=3, seed=6, feature_seed=15,
                            test="pool")
    F = D.relu_features(X, 20, seed=15)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(6).spawn(3)]
    runs = []
    for rng in rngs:
        idx = rng.choice(y.size, size=9, replace=False)
        runs.append(D.kernel_flow_error(F @ F.T, y, idx, times, test="pool"))
    assert np.allclose(curve.error, np.mean(runs, axis=0), rtol=1e-9)
    with pytest.raises(ValueError, match="feature_seed"):
        D.readout_curve(X, y, N=20, P=9, times=times, feature_seed=-1)
