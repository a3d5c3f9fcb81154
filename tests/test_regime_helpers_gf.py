"""Tests of the theory figure and explorer as the regime chapters use them (rfdmft.widgets)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rfdmft as rf  # noqa: E402
from rfdmft.laplace import theory_laplace  # noqa: E402
from rfdmft.widgets import draw_theory, theory_explorer  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_draw_theory_draws_the_theory_and_its_limit(ax):
    params = rf.Params(alpha=1.0, N=100, P=50, sigma2=0.1)
    curve = draw_theory(ax, params, times=[0.1, 1.0, 10.0])
    expected = theory_laplace(params, [0.1, 1.0, 10.0, np.inf])
    assert np.allclose(curve.error, expected.error)
    total = [line for line in ax.get_lines() if line.get_label() == "total $E_g$"]
    assert len(total) == 1 and np.allclose(total[0].get_ydata(), expected.error[:3])
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and np.isclose(dotted[0].get_ydata()[0], expected.error[-1])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_draw_theory_compares_with_gradient_flow_only_with_weight_decay(ax):
    params = rf.Params(alpha=1.0, N=100, P=50, sigma2=0.1, gamma=0.1)
    draw_theory(ax, params, times=[0.1, 1.0], compare_gamma=True)
    grey = [line for line in ax.get_lines() if line.get_label().endswith(r"$\gamma = 0$")]
    assert len(grey) == 1
    plain = theory_laplace(params.replace(gamma=0.0), [0.1, 1.0]).error
    assert np.allclose(grey[0].get_ydata(), plain)
    fig, ax2 = plt.subplots()
    draw_theory(ax2, params.replace(gamma=0.0), times=[0.1, 1.0], compare_gamma=True)
    assert not [line for line in ax2.get_lines() if "gamma" in line.get_label()]
    plt.close(fig)


def test_draw_theory_without_equilibrium_has_no_limit(ax):
    params = rf.Params(alpha=1.0, N=100, P=50, T=0.01)        # Langevin, N >= P
    draw_theory(ax, params, times=[0.1, 1.0])
    assert not [line for line in ax.get_lines() if line.get_linestyle() == ":"]


def test_theory_explorer_has_the_requested_sliders_and_checks_values():
    widget = theory_explorer(controls=("alpha", "P", "sigma2", "gamma"), sigma2=0.1, gamma=0.1)
    sliders = [child for box in widget.children[:2] for child in box.children]
    assert [s.description for s in sliders] == [r"\(\alpha\)", r"\(P\)", r"\(\sigma^2\)",
                                                r"\(\gamma\)"]
    plt.close("all")
    with pytest.raises(ValueError, match="controls"):
        theory_explorer(controls=("M",))
    with pytest.raises(ValueError, match="T must be"):
        theory_explorer(T=-1.0, controls=("alpha",))          # fixed values are checked too
    with pytest.raises(ValueError, match="P must be one of"):
        theory_explorer(P=300)
    with pytest.raises(ValueError, match="alpha"):
        theory_explorer(alpha=5.0)
