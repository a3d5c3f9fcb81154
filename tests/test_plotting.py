"""Tests of the figure helpers (rfdmft.plotting)."""

import matplotlib.colors
import numpy as np
import pytest

import rfdmft as rf
from conftest import dotted_lines
from rfdmft.model import ErrorCurve
from rfdmft.plotting import (REGIME_COLORS, REGIMES, finite_positive, plot_curve, plot_parts,
                             regime)


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
