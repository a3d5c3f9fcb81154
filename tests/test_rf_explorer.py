"""The random-feature explorer (rfdmft.widgets.rf_explorer, draw_rf) in both faces: the
ipywidgets box redrawn by Python, and the live page (rfdmft-explorer.js with rfdmft-theory.js,
kind "rf") in headless Chromium, on a page of its own (no book build)."""

import html
import json
import re
import statistics

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest

import rfdmft as rf
from rfdmft.laplace import theory_laplace
from rfdmft.plotting import PART_COLORS, PART_LABELS
from rfdmft.rf_theory import rf_equilibrium, rf_theory
from rfdmft.widgets import THEORY_LEVELS, THEORY_SIZES, draw_rf, explorer_times, rf_explorer

from conftest import ROOT, dotted_lines

RTOL, ATOL = 1e-6, 1e-12
BASE = rf.Params(alpha=1.0, N=200, M=2000, P=100, sigma2=0.01, features="random")
MODES = "mode model\n(first {} of the M modes)"


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


# ------------------------------------------------------------------------------------------
# Python: what is drawn
# ------------------------------------------------------------------------------------------

def test_draw_rf_draws_the_theory_the_mode_model_and_the_limit(ax):
    curve, note = draw_rf(ax, BASE)
    t = explorer_times(61, 1e5)
    want = rf_theory(BASE, t)
    lines = lines_by_label(ax)
    assert note is None
    assert [k for k in lines if not k.startswith("$E_g(t")] == \
        [PART_LABELS[p] for p in ("bias", "label_variance", "error")] + [MODES.format(200)]
    for part in ("bias", "label_variance", "error"):
        line = lines[PART_LABELS[part]]
        assert np.allclose(line.get_xdata(), t, rtol=1e-15)
        assert np.allclose(line.get_ydata(), getattr(want, part), rtol=1e-12)
        assert matplotlib.colors.same_color(line.get_color(), PART_COLORS[part])
    # the total is the sum of the parts; the bias holds the unrepresented target delta: at
    # t = 0 it is the whole signal, and it never falls below delta = kappa0 d(kappa0) > 0
    assert np.allclose(curve.error, curve.bias + curve.label_variance + curve.thermal_variance,
                       rtol=1e-14)
    lam = BASE.eigenvalues
    lo, hi = 0.0, 1.0                      # d(kappa0) = N by bisection, all M modes
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (lam / (lam + mid)).sum() > BASE.N else (lo, mid)
    delta = lo * (lam / (lam + lo)).sum()
    assert delta > 1e-3 and np.all(curve.bias >= delta * (1 - 1e-9))
    # the mode model: the first N of the same M modes, a thin grey line
    grey = lines[MODES.format(200)]
    mode = theory_laplace(rf.Params(alpha=1.0, N=200, M=2000, P=100, sigma2=0.01), t)
    assert np.allclose(grey.get_ydata(), mode.error, rtol=1e-12)
    assert grey.get_linewidth() < lines[PART_LABELS["error"]].get_linewidth()
    # t = inf: the library's equilibrium, dotted
    (limit,) = dotted_lines(ax)
    assert np.allclose(limit.get_ydata(), sum(rf_equilibrium(BASE)), rtol=1e-14)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "N = 200" in ax.get_legend().get_title().get_text()


def test_at_the_threshold_there_is_no_limit_and_the_note_says_why(ax):
    params = BASE.replace(P=200, sigma2=0.0)            # min(N, M) = P, no weight decay
    curve, note = draw_rf(ax, params)
    with pytest.raises(ValueError) as err:
        rf_equilibrium(params)
    assert note == "No t = \u221e line: " + str(err.value)
    assert "interpolation threshold" in note and dotted_lines(ax) == []
    assert np.all(np.isfinite(curve.error))
    # no label noise: the variance of fitting delta is in the bias (the simulator's split)
    lines = lines_by_label(ax)
    assert PART_LABELS["label_variance"] not in lines and np.all(curve.label_variance == 0)
    assert np.allclose(lines[PART_LABELS["bias"]].get_ydata(), curve.error, rtol=1e-15)


def test_more_features_than_modes_compare_with_all_M_modes(ax):
    params = BASE.replace(N=3200, M=400, P=800, gamma=0.001, T=0.001)
    curve, note = draw_rf(ax, params)
    lines = lines_by_label(ax)
    assert note is None and PART_LABELS["thermal_variance"] in lines
    mode = theory_laplace(params.replace(N=400, features="modes"), curve.times)
    assert np.allclose(lines[MODES.format(400)].get_ydata(), mode.error, rtol=1e-12)
    # N > M: every mode is represented, nothing is lost (delta = 0), and t = 0 is the signal
    assert np.allclose(dotted_lines(ax)[0].get_ydata(), sum(rf_equilibrium(params)))


# ------------------------------------------------------------------------------------------
# Python: the widget and its page configuration
# ------------------------------------------------------------------------------------------

def sliders_of(widget) -> dict:
    return {s.description: s for row in widget.children[:-2] for s in row.children}


def page_config(widget) -> dict:
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert page.startswith('<div class="rfdmft-explorer" data-kind="rf"')
    return json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))


def test_rf_explorer_builds_with_its_sliders_and_page_config():
    widget = rf_explorer()
    sliders = sliders_of(widget)
    assert list(sliders) == [r"\(N\)", r"\(P\)", r"\(\sigma^2\)", r"\(\gamma\)"]
    assert [s.value for s in sliders.values()] == [200, 100, 0.0, 0.0]
    assert tuple(v for _, v in sliders[r"\(N\)"].options) == THEORY_SIZES
    assert tuple(v for _, v in sliders[r"\(\gamma\)"].options) == THEORY_LEVELS
    status = widget.children[-1].value
    assert status.startswith("random-feature DMFT theory (rf_theory), computed by Python in ")
    config = page_config(widget)
    assert config["kind"] == "rf" and config["controls"] == ["N", "P", "sigma2", "gamma"]
    assert config["values"] == dict(alpha=1.0, N=200, M=2000, P=100, sigma2=0.0, gamma=0.0,
                                    T=0.0)
    assert config["options"]["N"] == list(THEORY_SIZES)
    assert config["options"]["sigma2"] == list(THEORY_LEVELS)
    assert np.allclose(config["times"], explorer_times(61, 1e5), rtol=1e-15)
    assert config["colors"] == PART_COLORS
    plt.close("all")


def test_rf_explorer_checks_its_arguments():
    with pytest.raises(ValueError, match="controls"):
        rf_explorer(controls=("M",))
    with pytest.raises(ValueError, match="controls"):
        rf_explorer(controls=())
    with pytest.raises(ValueError, match="N must be one of"):
        rf_explorer(N=300)
    with pytest.raises(ValueError, match="M must be an integer >= 1"):
        rf_explorer(M=0)
    with pytest.raises(ValueError, match="gamma must be"):
        rf_explorer(gamma=-1.0, controls=("P",))             # fixed values are checked too
    widget = rf_explorer(N=800, M=400, P=200, T=0.001, gamma=0.001,
                         controls=("alpha", "N", "P", "sigma2", "gamma", "T"))
    assert len(sliders_of(widget)) == 6
    assert page_config(widget)["values"]["M"] == 400
    plt.close("all")


def test_the_status_says_why_there_is_no_limit_line():
    widget = rf_explorer()
    status = widget.children[-1]
    sliders_of(widget)[r"\(P\)"].value = 200                # min(N, M) = P = 200, gamma = 0
    with pytest.raises(ValueError) as err:
        rf_equilibrium(BASE.replace(P=200, sigma2=0.0))
    assert status.value.startswith("random-feature DMFT theory (rf_theory), computed by Python")
    assert status.value.endswith(". " + html.escape("No t = \u221e line: " + str(err.value)))
    sliders_of(widget)[r"\(\gamma\)"].value = 0.001          # weight decay: the limit is back
    assert "No t = " not in status.value
    plt.close("all")


# ------------------------------------------------------------------------------------------
# The page: live in headless Chromium, equal to the library
# ------------------------------------------------------------------------------------------

def check_rf_last(last):
    """The numbers the page drew (kind "rf") equal the library's for the parameters drawn: the
    random-feature curve and parts, the mode model, and t = inf or the library's refusal."""
    p = last["params"]
    params = rf.Params(alpha=p["alpha"], N=p["N"], M=p["M"], P=p["P"], sigma2=p["sigma2"],
                       gamma=p["gamma"], T=p["T"], features="random")
    curve = rf_theory(params, last["times"])
    want = {part: getattr(curve, part) for part in ("error", "bias", "label_variance",
                                                    "thermal_variance")}
    want["modes"] = theory_laplace(params.replace(N=min(params.N, params.M), features="modes"),
                                   last["times"]).error
    try:
        want["limit"] = rf_equilibrium(params)
        assert last["limitRefused"] is None
    except ValueError as err:
        assert last["limit"] is None and last["limitRefused"] == f"No t = \u221e line: {err}"
    for key, values in want.items():
        got, values = np.asarray(last[key], float), np.asarray(values, float)
        same = np.abs(got - values) <= RTOL * np.abs(values) + ATOL
        assert same.all(), (p, key, got[~same][:3], values[~same][:3])


def write_page(tmp_path, widgets):
    static = ROOT / "lib" / "book_static"
    body = "\n".join(w.page.html() for w in widgets)
    page = tmp_path / "rf.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<script defer src='{(static / 'rfdmft-explorer.js').as_uri()}'></script>"
        f"<script defer src='{(static / 'rfdmft-theory.js').as_uri()}'></script>"
        f"</head><body>{body}</body></html>", encoding="utf-8")
    return page


def test_the_page_redraws_the_library_numbers(tmp_path, browser):
    from test_explorers_browser import MOVE, open_page

    widgets = [rf_explorer(),
               rf_explorer(alpha=1.5, N=800, M=400, P=200, sigma2=0.01, gamma=0.001, T=0.001,
                           controls=("alpha", "N", "P", "T"))]
    plt.close("all")
    remote = []
    page = open_page(browser, write_page(tmp_path, widgets), remote)
    first = page.evaluate("() => document.querySelector('div.rfdmft-explorer').rfdmftLast")
    assert first["kind"] == "rf" and first["params"]["M"] == 2000
    check_rf_last(first)
    moves = [(0, "N", 1), (0, "P", 1), (0, "sigma2", 3), (1, "alpha", 1), (1, "N", 2),
             (1, "T", -1)]
    for index, name, step in moves:
        out = page.evaluate(MOVE, [index, name, step])
        assert out["changed"], f"{name} did not change the figure"
        assert out["status"].startswith("Random-feature DMFT theory computed in your browser in ")
        check_rf_last(out["last"])
    # explorer 0 is now at N = 400, P = 200: back to P = 400 = N < M, the threshold
    out = page.evaluate(MOVE, [0, "P", 1])
    assert out["last"]["params"]["P"] == out["last"]["params"]["N"] == 400
    assert out["status"].endswith(". " + out["last"]["limitRefused"])
    assert "interpolation threshold" in out["status"]
    assert page.evaluate("() => document.querySelectorAll('.rfdmft-limit').length") == 1
    check_rf_last(out["last"])
    assert remote == []
    page.close()


def test_the_page_redraws_quickly_at_N_M_6400(tmp_path, browser):
    from test_explorers_browser import MOVE, open_page

    widget = rf_explorer(N=6400, M=6400, P=1600, sigma2=0.01)
    plt.close("all")
    page = open_page(browser, write_page(tmp_path, [widget]), [])
    times, compute = [], []
    for k in range(10):                              # P 1600 <-> 3200
        out = page.evaluate(MOVE, [0, "P", 1 if k % 2 == 0 else -1])
        assert out["last"]["params"]["N"] == 6400 and out["last"]["params"]["M"] == 6400
        times.append(out["ms"])
        compute.append(out["last"]["computeMs"])
    check_rf_last(out["last"])
    print(f"rf explorer, N = M = 6400: median redraw {statistics.median(times):.1f} ms "
          f"(theory {statistics.median(compute):.1f} ms)")
    assert statistics.median(times) < 300
    page.close()
