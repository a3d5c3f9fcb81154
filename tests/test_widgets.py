"""Tests of the interactive figures (rfdmft.widgets): what they draw and what they refuse."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import rfdmft as rf
from conftest import dotted_lines
from rfdmft.equilibrium import equilibrium
from rfdmft.laplace import theory_laplace
from rfdmft.widgets import (bayes_explorer, draw_explorer, draw_posterior_curves, draw_theory,
                            explorer, theory_explorer)


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


@pytest.mark.parametrize("build, N, P", [(explorer, 25, 25), (theory_explorer, 50, 100)])
def test_explorers_have_one_slider_per_parameter_and_check_defaults(build, N, P):
    widget = build(N=N, P=P)
    sliders = [s for row in widget.children[:2] for s in row.children]
    assert [s.value for s in sliders] == [1.0, N, P, 0.01, 0.0, 0.0]
    plt.close("all")
    with pytest.raises(ValueError, match="N must be one of"):
        build(N=30)


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
    assert len(widget.children) == 4                 # two rows of sliders, figure, status line
    status = widget.children[-1].value
    assert status.startswith("equilibrium theory (posterior), computed by Python")
    widget = theory_explorer(gamma=0.01, T=0.01)
    assert len(widget.children) == 4
    assert widget.children[-1].value.startswith("DMFT theory (theory_laplace), computed by Python")
    with pytest.raises(ValueError, match="N must be one of"):
        bayes_explorer(N=1000)
    with pytest.raises(ValueError, match="T must be one of"):
        theory_explorer(T=0.5)
    with pytest.raises(ValueError, match="alpha"):
        theory_explorer(alpha=5.0)


def placeholder_config(widget) -> dict:
    """The ``data-config`` of the live HTML placeholder in the widget's display bundle."""
    import html
    import json
    import re

    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle     # Jupyter: the widget
    page = bundle["text/html"]                                        # the book: live HTML
    assert page.startswith('<div class="rfdmft-explorer"') and "<noscript>" in page
    return json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))


def test_explorers_say_what_they_draw_in_each_face():
    from rfdmft.plotting import PART_COLORS
    from rfdmft.widgets import M_FACTORS, THEORY_SIZES, explorer_times

    import ipywidgets

    from rfdmft.widgets import Explorer

    widget = explorer(N=25, P=25, designs=2)
    assert isinstance(widget, Explorer) and isinstance(widget, ipywidgets.VBox)
    assert widget.children[-1].value.startswith("exact simulator, 2 designs, computed by Python")
    config = placeholder_config(widget)
    assert config["kind"] == "theory" and config["notebook_source"] == "exact simulator, 2 designs"
    assert config["controls"] == ["alpha", "N", "P", "sigma2", "gamma", "T", "M"]
    assert config["values"] == dict(alpha=1.0, N=25, P=25, sigma2=0.01, gamma=0.0, T=0.0, M=25)
    assert config["colors"] == PART_COLORS and config["options"]["M"] == list(M_FACTORS)
    assert np.allclose(config["times"], explorer_times(61, 1e5))

    config = placeholder_config(theory_explorer(controls=("alpha", "P"), sigma2=0.1))
    assert config["controls"] == ["alpha", "P"]                   # no N slider: no M slider
    assert config["values"]["sigma2"] == 0.1 and config["options"]["N"] == list(THEORY_SIZES)
    config = placeholder_config(bayes_explorer())
    assert config["kind"] == "bayes" and config["Ps"][0] == 10 and config["Ps"][-1] == 10_000
    plt.close("all")


def test_explorer_draws_the_median_where_the_mean_over_designs_is_infinite(recwarn):
    import matplotlib.pyplot as plt
    from rfdmft.widgets import draw_explorer

    params = rf.Params(alpha=1.0, N=25, P=25, sigma2=0.01)       # ridgeless threshold
    fig, ax = plt.subplots()
    curve = draw_explorer(ax, params)
    limit = [line for line in ax.lines if "median" in line.get_label()]
    assert len(limit) == 1 and np.allclose(limit[0].get_ydata(), curve.error_median[-1])
    assert not [w for w in recwarn if "mean over designs is infinite" in str(w.message)]
    plt.close(fig)
    fig, ax = plt.subplots()
    draw_explorer(ax, params.replace(P=50))                      # finite mean: the mean
    assert not [line for line in ax.lines if "median" in line.get_label()]
    plt.close(fig)
