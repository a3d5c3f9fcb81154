"""The discrete-time theory (rfdmft.discrete) against independent computations.

* The generating-function algebra and both inversion routes, run on one design's exact spectral
  measures, against the per-design closed forms (gradient descent) and the per-design renewal
  recursion (homogenised SGD), step by step.
* The DMFT version against the exact simulator averaged over designs, the continuous theory as
  ``lr -> 0`` (with a difference linear in ``lr``), the Marchenko-Pastur edge and integrals, and the
  refusals beyond the stability edges.
"""

import math

import numpy as np
import pytest

import rfdmft.discrete as discrete
from rfdmft.discrete import (ExactMeasures, gd_stability_edge, sgd_stability, spectral_edge,
                             theory_discrete)
from rfdmft.laplace import theory_laplace
from rfdmft.model import DivergenceError, Params
from rfdmft.simulation import sample_design

STEPS = np.array([1, 2, 5, 17, 60, 199, 200, 350, 1000, 5000])


def _design_measures(rng, N, P, gamma, null=False):
    r = min(N, P)
    h = np.sort(rng.uniform(0.01, 1.0, r)) * 6.0
    c = rng.uniform(0.1, 1.0, r) / N
    nw = 0.05 if null else 0.0
    return h, c, nw, ExactMeasures(h, c, gamma, nullity=N - r, null_weight=nw)


def _gd_direct(h, c, nw, gamma, lr, sig_e, T, n, tail):
    """Per-design closed forms, summed directly (the null space: h = 0, weight nw)."""
    a = h + gamma
    u = 1.0 - lr * a
    B = np.sum(c * (gamma + h * u**n) ** 2 / a**2) + nw + tail
    V = sig_e * np.sum(c * h * (1 - u**n) ** 2 / a**2)
    Th = T * np.sum(c * 2 * (1 - u ** (2 * n)) / (a * (2 - lr * a)))
    if nw > 0:
        u0 = 1.0 - lr * gamma
        Th += T * nw * (2 * n * lr if gamma == 0 else 2 * (1 - u0 ** (2 * n)) / (gamma * (2 - lr * gamma)))
    return B, V, Th


GD_CASES = [  # N, P, gamma, lr, sigma2, T
    (6, 10, 0.0, 0.05, 0.1, 0.0),
    (6, 10, 0.1, 0.05, 0.1, 0.02),
    (10, 6, 0.0, 0.04, 0.1, 0.0),          # N > P: a null space
    (10, 6, 0.05, 0.3, 0.2, 0.01),         # stiff: lr a up to 1.55, u < 0
]


@pytest.mark.parametrize("N, P, gamma, lr, sigma2, T", GD_CASES)
def test_gd_algebra_on_one_design(N, P, gamma, lr, sigma2, T):
    """Every part at every step count, both routes (n < 200: vertical line; n >= 200: hairpins,
    with the stiff one), equals the closed form to 1e-10 of the initial error."""
    rng = np.random.default_rng(N + 10 * P + int(100 * lr))
    h, c, nw, meas = _design_measures(rng, N, P, gamma, null=N > P)
    params = Params(alpha=1.0, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T, lr=lr)
    curve = theory_discrete(params, STEPS * lr, measures=meas)
    scale = c.sum() + nw + params.tail + sigma2 + T
    for i, n in enumerate(STEPS):
        B, V, Th = _gd_direct(h, c, nw, gamma, lr, sigma2 + params.tail, T, n, params.tail)
        assert abs(curve.bias[i] - B) <= 1e-10 * scale, (n, curve.bias[i], B)
        assert abs(curve.label_variance[i] - V) <= 1e-10 * scale, (n, curve.label_variance[i], V)
        assert abs(curve.thermal_variance[i] - Th) <= 1e-10 * scale, (n, curve.thermal_variance[i], Th)


SGD_CASES = [  # N, P, B, gamma, lr, sigma2, T
    (6, 10, 2, 0.0, 0.05, 0.1, 0.0),
    (6, 10, 1, 0.1, 0.05, 0.1, 0.02),
    (10, 6, 3, 0.0, 0.04, 0.1, 0.0),
    (10, 6, 2, 0.05, 0.12, 0.2, 0.01),
]


@pytest.mark.parametrize("N, P, B, gamma, lr, sigma2, T", SGD_CASES)
def test_sgd_recursion_on_one_design(N, P, B, gamma, lr, sigma2, T):
    """The generating-function solution equals the step-by-step recursion of the second
    moments on one design: each direction gets ``lr^2 kappa_B h_i (2 L + C_ii)`` per step
    (``C_ii`` its residual energy: gradient descent's mean and thermal parts plus ``h_i v_i``),
    ``L = L_0 + h.v / 2``."""
    rng = np.random.default_rng(7 * N + P + B)
    h, c, nw, meas = _design_measures(rng, N, P, gamma, null=N > P)
    params = Params(alpha=1.0, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T, lr=lr, batch=B)
    sig_e = sigma2 + params.tail
    kappa = (P - B) / (B * (P - 1))
    a = h + gamma
    u = 1 - lr * a
    r = h.size
    v = np.zeros(r)
    extra = []
    for n in range(STEPS.max() + 1):
        f = (gamma + h * u**n) / a
        C0 = f**2 * (h + sig_e) + T * h * 2 * (1 - u ** (2 * n)) / (a * (2 - lr * a))
        L = 0.5 * (np.sum(C0) + (P - r) * sig_e) + 0.5 * h @ v
        extra.append(c @ v)
        v = u**2 * v + lr**2 * kappa * h * (2 * L + C0 + h * v)
    extra = np.array(extra)
    curve = theory_discrete(params, STEPS * lr, measures=meas)
    assert np.all(np.isfinite(extra))
    assert np.allclose(curve.sgd_variance, extra[STEPS], rtol=1e-9, atol=1e-11 * (c.sum() + sig_e))
    # the other parts are gradient descent's
    gd = theory_discrete(params.replace(batch=None), STEPS * lr, measures=meas)
    assert np.array_equal(curve.bias, gd.bias)
    assert np.allclose(curve.error, gd.error + curve.sgd_variance, rtol=1e-15)


def test_routes_agree_in_the_dmft():
    """The vertical line and the hairpins are different contours for the same integral."""
    params = Params(alpha=1.0, N=400, P=100, sigma2=0.05, gamma=1e-3, T=1e-3)
    params = params.replace(lr=1.2 / spectral_edge(params), batch=4)      # stiff
    t = np.array([250, 400, 900]) * params.lr
    hair = theory_discrete(params, t)
    old = discrete.SMALL_STEPS
    try:
        discrete.SMALL_STEPS = 10**4
        line = theory_discrete(params, t)
    finally:
        discrete.SMALL_STEPS = old
    for part in ("bias", "label_variance", "thermal_variance", "sgd_variance"):
        assert np.allclose(getattr(hair, part), getattr(line, part), rtol=1e-8, atol=1e-12), part


def test_small_learning_rate_recovers_gradient_flow():
    """lr -> 0: the continuous theory, with a difference linear in lr."""
    base = Params(alpha=1.0, N=800, P=200, sigma2=0.05, gamma=1e-3, T=1e-4)
    t = np.array([0.1, 1.0, 10.0, 100.0, 1000.0])
    flow = theory_laplace(base, t).error
    d1 = theory_discrete(base.replace(lr=1e-4), t).error - flow
    d2 = theory_discrete(base.replace(lr=1e-5), t).error - flow
    assert np.all(np.abs(d2) <= 1e-4 * flow)
    ratio = d1 / d2
    assert np.all(np.abs(ratio - 10) < 0.5), ratio


def test_theory_against_designs():
    """Gradient descent at several stable steps (one stiff) against the exact average over 40
    designs: within 3 % and 4 standard errors, from t = 0.1 to 1e3."""
    base = Params(alpha=1.0, N=800, P=200, sigma2=0.05)
    t = np.array([0.1, 1.0, 10.0, 100.0, 1000.0])
    lam = base.eigenvalues[: base.N]
    for frac in (0.3, 0.9, 1.5):
        p = base.replace(lr=frac / spectral_edge(base))
        theory = theory_discrete(p, t).error
        runs = []
        for d in range(40):
            A = sample_design(base, np.random.default_rng(1000 + d))
            _, S, Vt = np.linalg.svd(A, full_matrices=False)
            c = (Vt**2) @ lam
            meas = ExactMeasures(S**2, c, 0.0, nullity=base.N - base.P,
                                 null_weight=lam.sum() - c.sum())
            runs.append(theory_discrete(p, t, measures=meas).error)
        runs = np.array(runs)
        mean, sem = runs.mean(0), runs.std(0, ddof=1) / math.sqrt(len(runs))
        assert np.all(np.abs(theory - mean) <= 0.03 * mean), (frac, theory / mean - 1)
        assert np.all(np.abs(theory - mean) <= 4 * sem + 0.005 * mean), (frac, (theory - mean) / sem)


def test_edge_is_marchenko_pastur():
    """A flat spectrum: H / lambda is Wishart, its edge (sqrt(P) + sqrt(N))^2."""
    for N, P in ((100, 400), (400, 100), (200, 200)):
        lam = np.full(N, 1.0 / N)
        params = Params.from_spectrum(lam, N=N, P=P)
        edge = spectral_edge(params)
        assert edge == pytest.approx((math.sqrt(P) + math.sqrt(N)) ** 2 / N, rel=1e-8)
        assert gd_stability_edge(params.replace(gamma=0.5)) == pytest.approx(2 / (0.5 + edge))


def test_sgd_gain_is_marchenko_pastur():
    """Gain lr kappa_B int dnu h / (2 - lr (1 + kappa_B) h) (gamma = 0) against a quadrature of
    the Marchenko-Pastur density."""
    from scipy.integrate import quad

    N, P, B = 100, 400, 4
    lam = 1.0 / N
    c = N / P
    lo, hi = lam * P * (1 - math.sqrt(c)) ** 2, lam * P * (1 + math.sqrt(c)) ** 2
    params = Params.from_spectrum(np.full(N, lam), N=N, P=P)
    lr = 0.5 / hi
    density = lambda x: N * math.sqrt((hi - x) * (x - lo)) / (2 * math.pi * lam * P * c * x)
    mass = quad(density, lo, hi)[0]
    assert mass == pytest.approx(N, rel=1e-8)
    kappa = (P - B) / (B * (P - 1))
    integral = quad(lambda x: density(x) * x / (2 - lr * (1 + kappa) * x), lo, hi, epsabs=0,
                    epsrel=1e-12)[0]
    gain = sgd_stability(params.replace(lr=lr, batch=B))
    assert gain == pytest.approx(lr * kappa * integral, rel=1e-7)


def test_refusals():
    base = Params(alpha=1.0, N=200, P=100, sigma2=0.01)
    edge = gd_stability_edge(base)
    with pytest.raises(DivergenceError, match="gradient descent diverges"):
        theory_discrete(base.replace(lr=1.001 * edge), [1.0])
    theory_discrete(base.replace(lr=0.99 * edge), [1.0])
    unstable = base.replace(lr=0.9 * edge, batch=1)
    assert sgd_stability(unstable) > 1
    with pytest.raises(DivergenceError, match="minibatch SGD diverges"):
        theory_discrete(unstable, [1.0])
    with pytest.raises(ValueError, match="t = inf"):
        theory_discrete(base.replace(lr=0.1 * edge, batch=50), [math.inf])
    with pytest.raises(ValueError, match="lr > 0"):
        theory_discrete(base, [1.0])
    with pytest.raises(ValueError, match="isotropic"):
        theory_discrete(base.replace(lr=0.1 * edge, teacher=np.linspace(2, 1, 200)), [1.0])


def test_long_time_limit():
    """t = inf (bias, label as in continuous time; the discrete thermal factor 2/(a(2 - lr a)))
    is where the finite-time curve goes."""
    base = Params(alpha=1.0, N=300, P=100, sigma2=0.05, gamma=0.01, T=0.01)
    p = base.replace(lr=1.3 / (base.gamma + spectral_edge(base)))
    curve = theory_discrete(p, [1e5, math.inf])
    for part in ("bias", "label_variance", "thermal_variance"):
        x = getattr(curve, part)
        assert x[0] == pytest.approx(x[1], rel=1e-8), part
    assert curve.thermal_variance[1] > theory_laplace(base, [math.inf]).thermal_variance[0]
