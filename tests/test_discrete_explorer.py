"""The discrete-time explorer (rfdmft.widgets.discrete_explorer, draw_discrete) in both faces:
the ipywidgets box redrawn by Python, and the live page (rfdmft-explorer.js with
rfdmft-theory.js) in headless Chromium, on a page of its own (no book build)."""

import html
import json
import re
import statistics

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest

import rfdmft as rf
from rfdmft.discrete import gd_stability_edge, spectral_edge, theory_discrete
from rfdmft.laplace import theory_laplace
from rfdmft.model import DivergenceError
from rfdmft.plotting import PART_COLORS, PART_LABELS
from rfdmft.widgets import (BATCHES, ETAS, THEORY_LEVELS, THEORY_SIZES, discrete_explorer,
                            discrete_times, draw_discrete)

from conftest import ROOT

BASE = rf.Params(alpha=1.0, N=800, P=200, sigma2=0.01)


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


# ------------------------------------------------------------------------------------------
# Python: what is drawn
# ------------------------------------------------------------------------------------------

def test_discrete_times_run_from_one_step_to_1e5():
    t = discrete_times(0.0123)
    assert t.size == 61 and t[0] == 0.0123 and np.isclose(t[-1], 1e5, rtol=1e-14)
    assert np.allclose(np.diff(np.log(t)), np.log(1e5 / 0.0123) / 60)
    assert rf.model.steps(BASE.replace(lr=0.0123), t)[0] == 1            # the first is one step
    with pytest.raises(ValueError, match="lr must be"):
        discrete_times(0.0)


def test_draw_discrete_draws_the_theory_its_parts_and_gradient_flow(ax):
    lr = 0.5 * gd_stability_edge(BASE)
    params = BASE.replace(lr=lr, batch=8)
    curve = draw_discrete(ax, params)
    t = discrete_times(lr)
    want = theory_discrete(params, t)
    lines = lines_by_label(ax)
    assert list(lines) == [PART_LABELS[p] for p in ("bias", "label_variance", "sgd_variance",
                                                    "error")] + ["gradient flow\n(continuous time)"]
    for part in ("bias", "label_variance", "sgd_variance", "error"):
        line = lines[PART_LABELS[part]]
        keep = getattr(want, part) > 0
        assert np.allclose(line.get_xdata(), t[keep], rtol=1e-15)
        assert np.allclose(line.get_ydata(), getattr(want, part)[keep], rtol=1e-12)
        assert matplotlib.colors.same_color(line.get_color(), PART_COLORS[part])
    # the total is the sum of the parts, the SGD variance included
    assert np.allclose(curve.error, curve.bias + curve.label_variance + curve.sgd_variance,
                       rtol=1e-14)
    flow = lines["gradient flow\n(continuous time)"]
    assert np.allclose(flow.get_ydata(), theory_laplace(BASE, t).error, rtol=1e-12)
    assert flow.get_linewidth() < lines[PART_LABELS["error"]].get_linewidth()
    assert ax.get_legend().get_title().get_text() == f"lr = {lr:.3g}, batch $B = 8$"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert high / low <= 1.5**2 * 1e8 * (1 + 1e-12)             # at most 8 decades (+ margins)


def test_full_batch_has_no_sgd_part_and_a_small_rate_follows_gradient_flow(ax):
    """lr -> 0 is gradient flow: at eta = 0.01 (lr (h + gamma) <= 0.02) the discrete-time
    curve differs from gradient flow by O(lr a) once t >> lr; the library computes the two
    by different transforms (generating function, Laplace transform)."""
    params = BASE.replace(gamma=0.01, lr=0.01 * gd_stability_edge(BASE.replace(gamma=0.01)))
    curve = draw_discrete(ax, params)
    labels = list(lines_by_label(ax))
    assert PART_LABELS["sgd_variance"] not in labels and curve.sgd_variance is None
    assert ax.get_legend().get_title().get_text().endswith("full batch")
    flow = lines_by_label(ax)["gradient flow\n(continuous time)"].get_ydata()
    late = curve.times >= 100 * params.lr
    rel = np.abs(curve.error[late] / flow[late] - 1)
    assert rel.max() < 0.02 and rel[-1] < 1e-3


def test_draw_discrete_refuses_as_the_library_does(ax):
    with pytest.raises(ValueError, match="needs a learning rate lr > 0"):
        draw_discrete(ax, BASE)
    params = BASE.replace(lr=0.9 * gd_stability_edge(BASE), batch=1)
    with pytest.raises(DivergenceError) as err:
        draw_discrete(ax, params)
    assert "minibatch SGD diverges" in str(err.value)


# ------------------------------------------------------------------------------------------
# Python: the widget and its page configuration
# ------------------------------------------------------------------------------------------

def sliders_of(widget) -> dict:
    return {s.description: s for row in widget.children[:-2] for s in row.children}


def page_config(widget) -> dict:
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert page.startswith('<div class="rfdmft-explorer" data-kind="discrete"')
    return json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))


def test_discrete_explorer_builds_with_its_sliders_and_page_config():
    widget = discrete_explorer()
    sliders = sliders_of(widget)
    assert [s.value for s in sliders.values()] == [0.5, 0, 0.01, 200]
    batch = sliders[r"\(B\)"]
    assert tuple(v for _, v in batch.options) == BATCHES
    assert batch.options[batch.index][0] == "full"            # shown as "full", not 0
    eta = sliders[r"\(\mathrm{lr}/\mathrm{lr}_{\max}\)"]
    assert tuple(v for _, v in eta.options) == ETAS and eta.options[eta.index][0] == "0.5"
    status = widget.children[-1].value
    assert status.startswith("discrete-time DMFT theory (theory_discrete), computed by Python")
    config = page_config(widget)
    assert config["kind"] == "discrete" and config["controls"] == ["eta", "batch", "sigma2", "P"]
    assert config["values"] == dict(alpha=1.0, N=800, P=200, sigma2=0.01, gamma=0.0, eta=0.5,
                                    batch=0)
    assert config["options"]["eta"] == list(ETAS) and config["options"]["batch"] == list(BATCHES)
    assert config["options"]["P"] == list(THEORY_SIZES)
    assert config["options"]["sigma2"] == list(THEORY_LEVELS)
    assert config["points"] == 61 and config["t_max"] == 1e5
    assert config["colors"] == PART_COLORS and config["labels"]["sgd_variance"] == "SGD variance"
    # the SGD colour is its own (the page and the figures tell the parts apart by colour)
    colours = [matplotlib.colors.to_hex(c) for c in PART_COLORS.values()]
    assert len(set(colours)) == len(colours)
    plt.close("all")


def test_discrete_explorer_checks_its_arguments():
    with pytest.raises(ValueError, match="controls"):
        discrete_explorer(controls=("T",))
    with pytest.raises(ValueError, match="eta must be one of"):
        discrete_explorer(eta=0.6)
    with pytest.raises(ValueError, match="eta .* between 0 and 1"):
        discrete_explorer(eta=1.2, controls=("P",))               # fixed values are checked too
    with pytest.raises(ValueError, match="batch must be one of"):
        discrete_explorer(batch=3)
    with pytest.raises(ValueError, match="batch must be 0 .* from 1 to P = 200"):
        discrete_explorer(batch=300, controls=("P",))
    with pytest.raises(ValueError, match="P must be one of"):
        discrete_explorer(P=300)
    with pytest.raises(ValueError, match="gamma must be"):
        discrete_explorer(gamma=-1.0, controls=("P",))
    widget = discrete_explorer(alpha=1.5, N=400, gamma=0.01, eta=0.9, batch=16,
                               controls=("alpha", "N", "P", "sigma2", "gamma", "eta", "batch"))
    assert len(sliders_of(widget)) == 7
    plt.close("all")


def test_the_status_gives_the_library_reason_where_the_theory_refuses():
    widget = discrete_explorer()
    sliders = sliders_of(widget)
    status = widget.children[-1]
    sliders[r"\(\mathrm{lr}/\mathrm{lr}_{\max}\)"].value = 0.7   # gradient descent: drawn
    assert ", computed by Python in" in status.value
    with pytest.raises(DivergenceError) as err:
        sliders[r"\(B\)"].value = 2                  # B = 2 at 0.7 of the edge: SGD diverges
    lr = 0.7 * gd_stability_edge(BASE)
    with pytest.raises(DivergenceError) as lib:      # the library's words, not the widget's
        theory_discrete(BASE.replace(lr=lr, batch=2), [lr])
    assert str(err.value) == str(lib.value) and "\n" not in str(lib.value)
    assert status.value == ("discrete-time DMFT theory (theory_discrete): not drawn: "
                            + html.escape(str(lib.value)))
    sliders[r"\(B\)"].value = 64                     # back to a stable batch: drawn again
    assert status.value.startswith("discrete-time DMFT theory (theory_discrete), computed")
    widget = discrete_explorer(controls=("batch", "P"), batch=64)
    with pytest.raises(ValueError) as err:
        sliders_of(widget)[r"\(P\)"].value = 50      # batch 64 > P = 50
    assert "batch must be an integer from 1 to P = 50, got 64" in widget.children[-1].value
    plt.close("all")


# ------------------------------------------------------------------------------------------
# The page: live in headless Chromium, equal to the library
# ------------------------------------------------------------------------------------------

def on_the_sgd_mode_edge(p: dict) -> bool:
    """Whether the top modes are exactly marginal, ``(1 - lr a)^2 + lr^2 kappa_B h^2 = 1`` to
    rounding (``rfdmft.discrete.sgd_mode_stable``). With ``B = 1`` (``kappa_B = 1``),
    ``gamma = 0`` and ``lr = 0.5`` of the edge this holds exactly, and which of the library's
    two SGD refusals is given (unstable top modes, or a feedback gain >= 1) is decided by the
    last bit of the edge, which the two faces compute by different sums."""
    params = rf.Params(alpha=p["alpha"], N=p["N"], P=p["P"], sigma2=p["sigma2"],
                       gamma=p["gamma"], lr=p["lr"], batch=p["batch"])
    P, B, lr, h = params.P, params.batch_size, params.lr, spectral_edge(params)
    kappa = (P - B) / (B * (P - 1))
    return abs((1 - lr * (h + params.gamma))**2 + lr**2 * kappa * h * h - 1) < 1e-12


def write_page(tmp_path, widgets) -> "Path":
    static = ROOT / "lib" / "book_static"
    body = "\n".join(w.page.html() for w in widgets)
    page = tmp_path / "discrete.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<script defer src='{(static / 'rfdmft-explorer.js').as_uri()}'></script>"
        f"<script defer src='{(static / 'rfdmft-theory.js').as_uri()}'></script>"
        f"</head><body>{body}</body></html>", encoding="utf-8")
    return page


def test_the_page_redraws_the_library_numbers_for_every_slider(tmp_path, browser):
    from test_explorers_browser import MOVE, check_last, open_page

    widgets = [discrete_explorer(),                 # batch 1 at eta 0.5: SGD's exact edge
               discrete_explorer(sigma2=0.1, batch=8),  # the chapter's
               discrete_explorer(alpha=1.5, N=400, P=400, gamma=0.01, eta=0.9, batch=16,
                                 controls=("alpha", "N", "P", "sigma2", "gamma", "eta",
                                           "batch"))]
    plt.close("all")
    remote = []
    page = open_page(browser, write_page(tmp_path, widgets), remote)
    refused = marginal = 0
    for index in range(len(widgets)):
        first = page.evaluate("(i) => document.querySelectorAll('div.rfdmft-explorer')[i]"
                              ".rfdmftLast", index)
        check_last(first)
        names = page.evaluate(
            "(i) => Array.from(document.querySelectorAll('div.rfdmft-explorer')[i]"
            ".querySelectorAll('input[data-param]'), e => e.dataset.param)", index)
        assert set(names) == set(widgets[index].page.config["controls"])
        for name in names:
            for move in (1, -1) if name != "eta" else (1, 1, -1, -1):
                out = page.evaluate(MOVE, [index, name, move])
                last = out["last"]
                p = last["params"]
                # the learning rate is eta times the library's edge for the sliders' values
                base = rf.Params(alpha=p["alpha"], N=p["N"], P=p["P"], sigma2=p["sigma2"],
                                 gamma=p["gamma"])
                assert p["lr"] == pytest.approx(p["eta"] * gd_stability_edge(base), rel=1e-12)
                if "refused" in last:
                    refused += 1
                    with pytest.raises((ValueError, DivergenceError)) as err:
                        check_last(dict(last, kind="discrete"))
                    if out["status"] != "Not drawn: " + str(err.value):
                        # both refuse SGD on its exact edge, for either of its two reasons
                        assert isinstance(err.value, DivergenceError), out["status"]
                        assert last["name"] == "DivergenceError" and on_the_sgd_mode_edge(p)
                        marginal += 1
                    continue
                assert out["changed"], f"{name} did not change the figure"
                assert out["status"].startswith("Discrete-time DMFT theory computed in your "
                                                "browser in ")
                assert np.allclose(last["times"], discrete_times(p["lr"]), rtol=1e-13)
                check_last(last)
    assert refused >= 1 and marginal <= 1            # batch 1 at half the edge: refused
    assert remote == []
    page.close()


def test_the_page_redraws_quickly_at_N_P_800_with_batch_8(tmp_path, browser):
    from test_explorers_browser import MOVE, check_last, open_page

    widget = discrete_explorer(N=800, P=800, batch=8)
    plt.close("all")
    page = open_page(browser, write_page(tmp_path, [widget]), [])
    times, compute = [], []
    for k in range(12):                              # eta 0.5 <-> 0.7
        out = page.evaluate(MOVE, [0, "eta", 1 if k % 2 == 0 else -1])
        assert out["last"]["params"]["batch"] == 8 and out["last"]["params"]["P"] == 800
        times.append(out["ms"])
        compute.append(out["last"]["computeMs"])
    check_last(out["last"])
    print(f"discrete explorer, N = P = 800, batch 8: median redraw {statistics.median(times):.1f}"
          f" ms (theory {statistics.median(compute):.1f} ms)")
    assert statistics.median(times) < 150
    page.close()


def test_the_explorers_wait_for_a_theory_script_that_arrives_late(tmp_path, browser):
    """Both scripts are deferred, the explorer first: when rfdmft-theory.js arrives late the
    explorer script runs while the theory is missing, and must wait for it (it used to show
    "did not load" and never draw: about one load in four on a plain page)."""
    import time

    page = browser.new_page()

    def late(route):
        if route.request.url.endswith("rfdmft-theory.js"):
            time.sleep(0.5)
        route.continue_()

    page.route("**/*", late)
    page.goto(write_page(tmp_path, [discrete_explorer(batch=8)]).as_uri())
    plt.close("all")
    page.wait_for_function("() => document.querySelector('div.rfdmft-explorer').rfdmftDraws > 0",
                           timeout=10_000)
    status = page.evaluate("document.querySelector('.rfdmft-status').textContent")
    assert status.startswith("Discrete-time DMFT theory computed in your browser")
    page.close()
