"""The compressed mode sums (rfdmft.quadrature) against the full sums they replace."""

import math

import numpy as np
import pytest

from rfdmft.equilibrium import equilibrium, krr_learning_curve
from rfdmft.laplace import theory_laplace
from rfdmft.model import Params, spectrum
from rfdmft.quadrature import BAND, NODES, compress, full_sums, mode_rule, size_bound


def exact_sum(values) -> complex:
    """Correctly rounded sum (math.fsum on real and imaginary parts)."""
    values = np.asarray(values)
    return complex(math.fsum(values.real), math.fsum(np.imag(values)))


def test_one_band_is_exact_for_chebyshev_polynomials_with_any_weights():
    rng = np.random.default_rng(1)
    lam = np.sort(np.exp(-rng.uniform(0, 0.9 * BAND, 500)))[::-1]      # a single band
    c = rng.uniform(0, 3, lam.size)
    rule = compress(lam, c)
    assert rule.size == NODES and rule.exact == 0
    y, yn = np.log(lam), np.log(rule.lam)
    mid, half = (y[0] + y[-1]) / 2, (y[0] - y[-1]) / 2
    for r in range(NODES):
        T = np.cos(r * np.arccos(np.clip((y - mid) / half, -1, 1)))
        Tn = np.cos(r * np.arccos(np.clip((yn - mid) / half, -1, 1)))
        assert abs(rule.weight @ Tn - math.fsum(T)) <= 1e-12 * lam.size
        assert abs(rule.power @ Tn - math.fsum(c * T)) <= 1e-12 * c.sum()


def test_leading_modes_are_kept_and_counts_are_exact():
    lam = spectrum(1.0, 10**5)
    rule = compress(lam)
    assert np.array_equal(rule.lam[: rule.exact], lam[: rule.exact])
    assert np.all(rule.weight[: rule.exact] == 1.0)
    assert 0 < rule.exact < 100
    assert abs(rule.weight.sum() - lam.size) <= 1e-12 * lam.size
    assert abs(rule.weight @ rule.lam - math.fsum(lam)) <= 1e-14
    small = compress(lam[:NODES])                                    # nothing to compress
    assert np.array_equal(small.lam, lam[:NODES]) and np.all(small.weight == 1.0)


@pytest.mark.parametrize("alpha, N", [(0.05, 10**6), (0.5, 10**5), (1.0, 10**6), (3.0, 10**5),
                                      (12.0, 10**4), (50.0, 1000)])
def test_resolvents_at_the_contours_worst_angle(alpha, N):
    """Single and double poles at angle pi/2 - phi = 0.677 from the positive axis (the Laplace
    contour's asymptote), anywhere along the spectrum; and the teacher-weighted sums."""
    lam = spectrum(alpha, N)
    p = np.random.default_rng(2).uniform(0.1, 2.0, N)
    rule = compress(lam, p)
    assert rule.size <= size_bound(lam[0], lam[-1], N)
    worst = 0.0
    for x0 in np.geomspace(lam[-1] / 10, 10 * lam[0], 12):
        pole = x0 * np.exp(1j * (np.pi - 0.677))
        for power in (1, 2):
            for c, cw in ((1.0, rule.weight), (p, rule.power)):
                f = lam / (lam - pole) ** power
                exact = np.sum(c * f)                 # pairwise: ~1e-16 relative
                approx = cw @ (rule.lam / (rule.lam - pole) ** power)
                error = abs(approx - exact) / np.sum(np.abs(c * f))
                assert math.isfinite(error)
                worst = max(worst, error)
    assert worst <= 1e-12, worst


def test_decaying_exponentials_and_static_ratios():
    lam = spectrum(1.0, 10**6)
    rule = compress(lam)
    # up to c = 10 / lambda_N; beyond, every term is below e^-10 of its start and the error,
    # small against the band's largest term on the Bernstein ellipse, is no longer relative
    for c in np.geomspace(1.0, 10 / lam[-1], 15):
        exact = np.sum(lam * np.exp(-c * lam))          # pairwise: ~1e-16 relative
        assert abs(rule.weight @ (rule.lam * np.exp(-c * rule.lam)) - exact) <= 1e-12 * exact
    for kappa in np.geomspace(1e-14, 1.0, 15):
        exact = np.sum(lam / (lam + kappa))
        assert abs(rule.weight @ (rule.lam / (rule.lam + kappa)) - exact) <= 1e-13 * exact


def test_rule_size_grows_with_the_log_of_the_range_not_with_N():
    sizes = [compress(spectrum(1.0, N)).size for N in (10**4, 10**5, 10**6, 10**7)]
    assert sizes[-1] < 700
    steps = np.diff(sizes)                    # each decade of N adds (1 + alpha) ln 10 in log lambda
    per_decade = 2 * math.log(10) / BAND * NODES
    assert np.all(steps <= 1.1 * per_decade), (sizes, per_decade)


def test_mode_rule_is_shared_across_P_noise_and_regime():
    base = Params(alpha=1.0, N=5000, P=100)
    assert mode_rule(base) is mode_rule(base.replace(P=700, sigma2=0.3, gamma=1e-3, T=0.1))
    assert mode_rule(base) is not mode_rule(base.replace(N=4000))
    with full_sums():
        rule = mode_rule(base)
        assert rule.size == base.N and np.array_equal(rule.lam, base.eigenvalues[: base.N])


def relative_difference(a, b, scale):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), scale)))


CASES = [
    Params(alpha=1.0, N=20000, P=1000, sigma2=0.1),
    Params(alpha=0.05, N=20000, P=300, sigma2=0.1, gamma=1e-3, T=0.01),
    Params(alpha=3.0, N=5000, P=5000, sigma2=0.1),                          # N = P
    Params(alpha=1.0, N=2000, P=4000, sigma2=0.1, T=0.1),                   # N < P, Langevin
    Params(alpha=0.5, N=20000, P=2000, gamma=1e-2, sigma2=0.5, T=0.05),
    Params(alpha=1.0, N=4000, P=1000, M=8000, sigma2=0.1,
           teacher=np.arange(1, 8001) ** -0.5),                             # non-isotropic
    Params.from_spectrum(np.sort(np.random.default_rng(3).pareto(1.5, 6000) + 1e-3)[::-1],
                         N=6000, P=500, sigma2=0.2),                        # irregular spectrum
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: f"a{p.alpha}-N{p.N}-P{p.P}")
def test_laplace_theory_equals_the_full_sums(params):
    times = np.logspace(-2, 7, 60 if params.isotropic else 12)
    compressed = theory_laplace(params, times)
    assert mode_rule(params).size < params.N / 5
    with full_sums():
        full = theory_laplace(params, times)
    # 1e-9 relative, plus an absolute 1e-15 of the initial error for parts that decay to zero
    # (far below the inversion's own absolute accuracy, about 1e-11 of it: rfdmft.laplace)
    for part in ("bias", "label_variance", "thermal_variance", "error"):
        a, b = getattr(compressed, part), getattr(full, part)
        excess = np.abs(a - b) - (1e-9 * np.abs(b) + 1e-15 * full.error[0])
        assert np.all(excess <= 0), (part, times[np.argmax(excess)], np.max(excess))


@pytest.mark.parametrize("params", CASES, ids=lambda p: f"a{p.alpha}-N{p.N}-P{p.P}")
def test_static_theory_equals_the_full_sums(params):
    Ps = np.unique(np.geomspace(1, 3 * params.N, 25).astype(int))
    if not params.has_equilibrium:
        params = params.replace(gamma=1e-3)
    compressed_eq = equilibrium(params)
    compressed_curve = krr_learning_curve(params.replace(gamma=max(params.gamma, 1e-6)), Ps)
    with full_sums():
        full_eq = equilibrium(params)
        full_curve = krr_learning_curve(params.replace(gamma=max(params.gamma, 1e-6)), Ps)
    for name in ("kappa", "rho", "R0", "bias", "label_variance", "thermal_variance"):
        a, b = getattr(compressed_eq, name), getattr(full_eq, name)
        assert a == b or abs(a - b) <= 1e-9 * abs(b), (name, a, b)
    assert relative_difference(compressed_curve, full_curve, 0.0) <= 1e-9


def test_equal_eigenvalues_make_one_exact_node():
    """A band of equal eigenvalues (a flat spectrum) has zero width in log lambda: one node
    carrying the count (was a division by zero)."""
    lam = np.r_[np.full(300, 0.5), np.full(200, 0.25)]
    powers = np.linspace(2.0, 1.0, 500)
    rule = compress(lam, powers)
    f = lambda x: 1.0 / (0.3 + x)
    assert rule.weight @ f(rule.lam) == pytest.approx(np.sum(f(lam)), rel=1e-14)
    assert rule.power @ f(rule.lam) == pytest.approx(powers @ f(lam), rel=1e-14)
    assert rule.lam.size <= 70
