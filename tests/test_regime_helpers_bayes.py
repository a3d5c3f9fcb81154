"""Tests of the Bayesian and Langevin helpers of rfdmft.widgets."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rfdmft as rf  # noqa: E402
from rfdmft.equilibrium import equilibrium  # noqa: E402
from rfdmft.widgets import bayes_explorer, draw_posterior_curves, theory_explorer  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_posterior_curves_match_equilibrium(ax):
    params = rf.Params(alpha=1.0, N=100, P=1, sigma2=0.05)
    out = draw_posterior_curves(ax, params, prior_variance=2.0, noise_variance=0.1, Ps=[10, 50])
    for i, P in enumerate((10, 50)):
        eq = equilibrium(params.replace(P=P, gamma=0.05, T=0.1))
        assert np.isclose(out["mean"][i], eq.mean_error, rtol=1e-12)
        assert np.isclose(out["sample"][i], eq.error, rtol=1e-12)
        assert np.isclose(out["variance"][i], eq.thermal_variance, rtol=1e-12)
        assert out["optimal"][i] <= out["mean"][i]
    assert len(ax.get_lines()) == 4 and ax.get_xscale() == "log"


def test_posterior_curves_matched_point_doubles(ax):
    params = rf.Params(alpha=1.5, N=80, P=1, sigma2=0.02)
    out = draw_posterior_curves(ax, params, 1.0, 0.02, Ps=[20, 40, 160])
    assert np.allclose(out["sample"], 2 * out["mean"], rtol=1e-12)
    assert np.allclose(out["optimal"], out["mean"], rtol=1e-12)


def test_posterior_curves_without_noise_have_no_optimal_line(ax):
    out = draw_posterior_curves(ax, rf.Params(alpha=1.0, N=50, P=1), 1.0, 0.01, Ps=[10, 20])
    assert out["optimal"] is None and len(ax.get_lines()) == 3


def test_explorers_build_and_validate():
    widget = bayes_explorer()
    assert len(widget.children) == 3
    widget = theory_explorer(gamma=0.01, T=0.01)
    assert len(widget.children) == 3
    with pytest.raises(ValueError, match="N must be one of"):
        bayes_explorer(N=1000)
    with pytest.raises(ValueError, match="T must be one of"):
        theory_explorer(T=0.5)
    with pytest.raises(ValueError, match="alpha"):
        theory_explorer(alpha=5.0)
