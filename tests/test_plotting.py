"""Tests of the figure helpers (rfdmft.plotting) and the explorer widget (rfdmft.widgets)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rfdmft as rf  # noqa: E402
from rfdmft.model import ErrorCurve  # noqa: E402
from rfdmft.plotting import (REGIME_COLORS, REGIMES, finite_positive, plot_curve,  # noqa: E402
                             plot_parts, regime)
from rfdmft.widgets import (draw_explorer, draw_theory, explorer,  # noqa: E402
                             theory_explorer)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def dotted_lines(ax):
    return [line for line in ax.get_lines() if line.get_linestyle() == ":"]


def test_regime_of_each_setting():
    base = rf.Params(alpha=1.0, N=10, P=5)
    assert regime(base) == "gradient flow"
    assert regime(base.replace(gamma=0.1)) == "weight decay"
    assert regime(base.replace(T=0.1)) == "Langevin"
    assert regime(base.replace(gamma=0.1, T=0.1)) == "Bayesian"
    assert set(REGIME_COLORS) == set(REGIMES)


def test_finite_positive_mask():
    mask = finite_positive([0.0, 1.0, 2.0, np.inf, 3.0], [1.0, 1.0, 0.0, 1.0, np.nan])
    assert mask.tolist() == [False, True, False, False, False]


def test_plot_curve_simulation_skips_unplottable_points_and_draws_limit(ax):
    curve = ErrorCurve(times=np.array([0.0, 1.0, 10.0, np.inf]),
                       bias=np.array([1.0, 0.5, 0.2, 0.1]), label_variance=np.zeros(4),
                       thermal_variance=np.zeros(4), error_sem=np.full(4, 0.01))
    container = plot_curve(ax, curve, color="red")
    x, y = container[0].get_data()
    assert np.allclose(x, [1.0, 10.0]) and np.allclose(y, [0.5, 0.2])
    (limit,) = dotted_lines(ax)
    assert np.allclose(limit.get_ydata(), 0.1)
    assert matplotlib.colors.same_color(limit.get_color(), "red")


def test_plot_curve_theory_is_a_line_without_limit_when_asked(ax):
    curve = ErrorCurve(times=np.array([1.0, 2.0, np.inf]), bias=np.array([0.3, 0.2, 0.1]),
                       label_variance=np.zeros(3), thermal_variance=np.zeros(3))
    line = plot_curve(ax, curve, kind="theory", limit=False)
    assert line.get_linestyle() == "-" and np.allclose(line.get_ydata(), [0.3, 0.2])
    assert dotted_lines(ax) == []
    with pytest.raises(ValueError, match="kind"):
        plot_curve(ax, curve, kind="markers")


def test_plot_parts_leaves_out_a_part_that_is_zero(ax):
    curve = rf.simulate(rf.Params(alpha=1.0, N=20, P=10, sigma2=0.1), [0.1, 1.0], designs=2)
    plot_parts(ax, curve)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["bias", "label-noise variance", "total $E_g$"]


def test_draw_explorer_adds_the_limit_only_with_an_equilibrium(ax):
    params = rf.Params(alpha=1.0, N=20, P=10, gamma=0.1, T=0.1)
    curve = draw_explorer(ax, params, designs=2, times=[0.1, 1.0])
    assert curve.times.tolist() == [0.1, 1.0, np.inf]
    (limit,) = dotted_lines(ax)
    assert np.allclose(limit.get_ydata(), curve.error[-1])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"

    ax.clear()
    curve = draw_explorer(ax, params.replace(gamma=0.0), designs=2, times=[0.1, 1.0])
    assert np.isfinite(curve.times).all() and dotted_lines(ax) == []


def test_explorer_has_one_slider_per_parameter_and_checks_defaults():
    widget = explorer(N=25, P=25)
    sliders = [s for row in widget.children[:2] for s in row.children]
    assert [s.value for s in sliders] == [1.0, 25, 25, 0.01, 0.0, 0.0]
    plt.close("all")
    with pytest.raises(ValueError, match="N must be one of"):
        explorer(N=30)


def test_draw_theory_draws_lines_and_the_limit_only_with_an_equilibrium(ax):
    params = rf.Params(alpha=1.0, N=40, P=20, sigma2=0.01, gamma=0.1, T=0.1)
    curve = draw_theory(ax, params, times=[0.1, 1.0, 10.0])
    assert curve.times.tolist() == [0.1, 1.0, 10.0, np.inf] and curve.error_sem is None
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 4                        # three parts and the total, as lines
    (limit,) = dotted_lines(ax)
    assert np.allclose(limit.get_ydata(), curve.error[-1])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"

    ax.clear()
    curve = draw_theory(ax, params.replace(gamma=0.0, sigma2=0.0, N=40, P=20), times=[0.1, 1.0])
    assert np.isfinite(curve.times).all() and dotted_lines(ax) == []
    assert len(ax.get_lines()) == 3               # no label-noise variance: bias, thermal, total


def test_theory_explorer_has_one_slider_per_parameter_and_checks_defaults():
    widget = theory_explorer(N=50, P=100)
    sliders = [s for row in widget.children[:2] for s in row.children]
    assert [s.value for s in sliders] == [1.0, 50, 100, 0.01, 0.0, 0.0]
    plt.close("all")
    with pytest.raises(ValueError, match="N must be one of"):
        theory_explorer(N=30)
