"""Parameter validation, the spectrum and the result container."""

import math

import numpy as np
import pytest

from rfdmft import ErrorCurve, Params, spectrum, validate_times


@pytest.mark.parametrize("changes, name", [
    (dict(alpha=0), "alpha"), (dict(alpha=-1), "alpha"), (dict(alpha=math.inf), "alpha"),
    (dict(alpha=math.nan), "alpha"), (dict(alpha="1"), "alpha"), (dict(alpha=True), "alpha"),
    (dict(N=0), "N"), (dict(N=2.5), "N"), (dict(N=3.0), "N"), (dict(N=True), "N"),
    (dict(P=0), "P"), (dict(P=-3), "P"), (dict(P="10"), "P"),
    (dict(M=5), "M"), (dict(M=0), "M"), (dict(M=20.5), "M"),
    (dict(sigma2=-0.1), "sigma2"), (dict(sigma2=math.inf), "sigma2"), (dict(sigma2=math.nan), "sigma2"),
    (dict(gamma=-1e-9), "gamma"), (dict(gamma=math.inf), "gamma"),
    (dict(T=-1), "T"), (dict(T=math.nan), "T"), (dict(T=None), "T"),
    (dict(teacher=np.ones(9)), "teacher"), (dict(teacher=-np.ones(10)), "teacher"),
    (dict(teacher=np.full(10, np.nan)), "teacher"),
])
def test_bad_parameters_name_themselves(changes, name):
    fields = dict(alpha=1.0, N=10, P=5) | changes
    with pytest.raises(ValueError) as caught:
        Params(**fields)
    message = str(caught.value)
    assert message.startswith(name + " must"), message
    assert "got" in message                     # the offending value is shown


def test_defaults_and_types():
    p = Params(alpha=1, N=np.int64(10), P=5)
    assert (p.M, p.sigma2, p.gamma, p.T) == (10, 0.0, 0.0, 0.0)
    assert isinstance(p.N, int) and isinstance(p.alpha, float)
    assert p.isotropic and p.tail == 0.0
    assert p.replace(N=20).M == 20               # M follows N when it was N
    assert p.replace(M=30).replace(N=20).M == 30


def test_spectrum_is_a_normalised_power_law():
    for alpha in (0.3, 1.0, 2.5):
        lam = spectrum(alpha, 1000)
        assert lam.sum() == pytest.approx(1.0, abs=1e-14)
        assert np.all(np.diff(lam) < 0)
        # ratio of two eigenvalues is fixed by the exponent alone
        assert lam[9] / lam[99] == pytest.approx(10.0 ** (1 + alpha), rel=1e-12)


def test_tail_is_the_uncaptured_power():
    p = Params(alpha=1, N=10, M=40, P=5)
    lam = spectrum(1, 40)
    assert p.tail == pytest.approx(lam[10:].sum(), rel=1e-14)
    powers = np.linspace(0.5, 2, 40)
    q = Params(alpha=1, N=10, M=40, P=5, teacher=powers)
    assert q.tail == pytest.approx((lam * powers)[10:].sum(), rel=1e-14)
    assert not q.isotropic


def test_times_validation():
    assert np.array_equal(validate_times([0, 1.5, np.inf]), [0, 1.5, np.inf])
    for bad in ([-1], [np.nan], [], ["x"], [[0, -2]]):
        with pytest.raises(ValueError, match="^t "):
            validate_times(bad)


def test_langevin_without_decay_has_no_equilibrium_only_when_n_at_least_p():
    for N, P in ((10, 10), (20, 10)):
        p = Params(alpha=1, N=N, P=P, T=0.1)
        assert not p.has_equilibrium
        with pytest.raises(ValueError, match="t = inf is not allowed"):
            validate_times([1, np.inf], p)
        validate_times([1, 1e6], p)              # finite times are fine
    for changes in (dict(N=5, P=10), dict(N=20, P=10, gamma=0.1), dict(N=20, P=10, T=0)):
        p = Params(alpha=1, **(dict(T=0.1) | changes))
        assert p.has_equilibrium
        assert np.isinf(validate_times([np.inf], p)).all()


def test_error_curve_json_form():
    curve = ErrorCurve(times=np.array([0.0, np.inf]), bias=np.array([1.0, 0.2]),
                       label_variance=np.array([0.0, 0.1]), thermal_variance=np.array([0.0, 0.05]),
                       error_sem=np.array([0.01, np.nan]))
    d = curve.to_dict()
    assert d["times"] == [0.0, "inf"]
    assert d["error"] == pytest.approx([1.0, 0.35])
    assert d["error_sem"] == [0.01, None]


def test_given_spectrum_replaces_the_power_law_everywhere():
    lam = spectrum(1.5, 300)
    given = Params.from_spectrum(lam, N=200, P=80, sigma2=0.1)
    power = Params(alpha=1.5, N=200, M=300, P=80, sigma2=0.1)
    assert given.M == 300 and given.alpha is None
    np.testing.assert_array_equal(given.eigenvalues, power.eigenvalues)
    assert given.tail == power.tail
    assert given.replace(N=100).M == 300
    times = [0.0, 1.0, 100.0, np.inf]
    from rfdmft import simulate, theory_laplace
    np.testing.assert_allclose(theory_laplace(given, times).error, theory_laplace(power, times).error,
                               rtol=1e-13)
    np.testing.assert_allclose(simulate(given, times, designs=2).error,
                               simulate(power, times, designs=2).error, rtol=1e-13)


@pytest.mark.parametrize("eigenvalues, message", [
    ([], "eigenvalues must be"), ([1.0, 0.0], "eigenvalues must be"), ([0.5, 1.0], "non-increasing"),
    ([1.0, np.nan], "eigenvalues must be")])
def test_given_spectrum_is_validated(eigenvalues, message):
    with pytest.raises(ValueError, match=message):
        Params.from_spectrum(eigenvalues, N=1, P=1)


def test_given_spectrum_fixes_M_and_still_needs_a_valid_alpha_without_it():
    with pytest.raises(ValueError, match="M must equal the number of eigenvalues"):
        Params.from_spectrum([1.0, 0.5], N=1, P=1, M=3)
    with pytest.raises(ValueError, match="alpha"):
        Params(alpha=None, N=1, P=1)
