"""The explorers on the built pages: live in headless Chromium, equal to the library, fast, offline.

Every page with an explorer is opened from file://; each slider is moved one step and the
figure must be redrawn with the numbers of ``theory_laplace`` (or ``posterior``) for the
slider values; the redraw latency is measured at N = 6400 with M = 10 N; the page loads nothing
from the network and is under 2 MB.
"""

import statistics

import numpy as np
import pytest

import rfdmft as rf
from rfdmft.discrete import theory_discrete
from rfdmft.equilibrium import posterior
from rfdmft.laplace import theory_laplace
from rfdmft.model import DivergenceError

RTOL, ATOL = 1e-6, 1e-12

#: Moves one slider of an explorer and resolves once the figure has been redrawn.
MOVE = """async ([index, name, step]) => {
  const root = document.querySelectorAll("div.rfdmft-explorer")[index];
  const input = root.querySelector(`input[data-param="${name}"]`);
  const before = root.rfdmftDraws;
  const svg = root.querySelector("svg.rfdmft-svg");
  const old = svg ? svg.outerHTML : "";
  const value = Number(input.value) + step;   // range inputs hold the index of the value
  input.value = String(value);
  const t0 = performance.now();
  input.dispatchEvent(new Event("input", {bubbles: true}));
  while (root.rfdmftDraws === before) await new Promise(r => requestAnimationFrame(r));
  const ms = performance.now() - t0;
  const now = root.querySelector("svg.rfdmft-svg");
  return {ms, value: Number(input.value), max: Number(input.max),
          changed: !!now && now.outerHTML !== old, last: root.rfdmftLast,
          status: root.querySelector(".rfdmft-status").textContent};
}"""


def explorer_pages(book_html):
    pages = sorted(p for p in book_html.rglob("*.html")
                   if 'class="rfdmft-explorer"' in p.read_text(encoding="utf-8"))
    assert pages, "no page has an explorer"
    return pages


def open_page(browser, path, remote: list):
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            remote.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_function("() => Array.from(document.querySelectorAll('div.rfdmft-explorer'))"
                           ".every(e => e.rfdmftDraws > 0)")
    return page


def check_last(last):
    """The numbers drawn equal the library's for the parameters drawn."""
    p = last["params"]
    atol = ATOL
    if last["kind"] == "rf":                  # the random-feature explorer
        from test_rf_explorer import check_rf_last

        check_rf_last(last)
        return
    if last["kind"] == "bayes":
        params = rf.Params(alpha=p["alpha"], N=p["N"], P=1, sigma2=p["sigma2"])
        states = [posterior(params.replace(P=P), p["prior_variance"], p["noise_variance"])
                  for P in last["P"]]
        want = dict(mean=[s.mean_error for s in states], sample=[s.sample_error for s in states],
                    variance=[s.posterior_variance for s in states])
    elif last["kind"] == "discrete":          # the learning rate and times the page used
        params = rf.Params(alpha=p["alpha"], N=p["N"], P=p["P"], sigma2=p["sigma2"],
                           gamma=p["gamma"], lr=p["lr"], batch=p["batch"])
        curve = theory_discrete(params, last["times"])
        assert (last["sgd_variance"] is None) == (curve.sgd_variance is None), p
        want = {part: getattr(curve, part) for part in ("error", "bias", "label_variance",
                                                        "thermal_variance", "sgd_variance")
                if getattr(curve, part) is not None}
        want["flow"] = theory_laplace(params.replace(lr=0.0, batch=None), last["times"]).error
        # theory_discrete's own round-off allowance (late SGD variance: tests/test_discrete_js.py)
        atol = 1e-9 * (float(params.eigenvalues.sum()) + params.sigma2 + 1.0)
    else:
        params = rf.Params(alpha=p["alpha"], N=p["N"], P=p["P"], M=p["M"], sigma2=p["sigma2"],
                           gamma=p["gamma"], T=p["T"])
        curve = theory_laplace(params, last["times"])
        want = {part: getattr(curve, part) for part in
                ("error", "bias", "label_variance", "thermal_variance")}
    for key, values in want.items():
        got, values = np.asarray(last[key], float), np.asarray(values, float)
        with np.errstate(invalid="ignore"):
            same = (got == values) | (np.abs(got - values) <= RTOL * np.abs(values) + atol)
        assert same.all(), (p, key, got[~same][:3], values[~same][:3])


def test_every_slider_redraws_the_library_numbers(book_html, browser):
    for path in explorer_pages(book_html):
        remote = []
        page = open_page(browser, path, remote)
        count = page.evaluate("document.querySelectorAll('div.rfdmft-explorer').length")
        for index in range(count):
            names = page.evaluate(
                "(i) => Array.from(document.querySelectorAll('div.rfdmft-explorer')[i]"
                ".querySelectorAll('input[data-param]'), e => e.dataset.param)", index)
            assert names, f"{path.name}: explorer {index} has no sliders"
            for name in names:
                value, top = page.evaluate(
                    "([i, n]) => { const e = document.querySelectorAll('div.rfdmft-explorer')[i]"
                    ".querySelector(`input[data-param=\"${n}\"]`); return [+e.value, +e.max]; }",
                    [index, name])
                step = 1 if value < top else -1
                for move in (step, -step):
                    out = page.evaluate(MOVE, [index, name, move])
                    last = out["last"]
                    if "refused" in last:
                        with pytest.raises((ValueError, DivergenceError)) as err:
                            check_last(dict(last, kind=last.get("kind", "theory"),
                                            times=last.get("times") or [1.0, np.inf]))
                        assert str(err.value) in out["status"]
                        continue
                    assert out["changed"], f"{path.name}: {name} did not change the figure"
                    assert "computed in your browser" in out["status"]
                    check_last(last)
        assert remote == [], f"{path.name} asked for {remote}"
        page.close()


def test_redraw_latency_at_N_6400_with_M_10N(book_html, browser):
    """Median time from a slider change to the redrawn figure, at the largest N offered."""
    for path in explorer_pages(book_html):
        page = open_page(browser, path, [])
        index = page.evaluate(
            "() => Array.from(document.querySelectorAll('div.rfdmft-explorer'))"
            ".findIndex(e => e.dataset.kind === 'theory' && e.querySelector('input[data-param=N]')"
            " && e.querySelector('input[data-param=M]') && e.querySelector('input[data-param=P]')"
            " && +e.querySelector('input[data-param=N]').max >= 7)")
        if index < 0:
            page.close()
            continue
        for name in ("N", "M", "P"):                  # largest N, M = 10 N, P = N
            top = page.evaluate(f"document.querySelectorAll('div.rfdmft-explorer')[{index}]"
                                f".querySelector('input[data-param={name}]').max")
            cur = page.evaluate(f"document.querySelectorAll('div.rfdmft-explorer')[{index}]"
                                f".querySelector('input[data-param={name}]').value")
            if int(top) != int(cur):
                page.evaluate(MOVE, [index, name, int(top) - int(cur)])
        times, compute = [], []
        for k in range(12):
            out = page.evaluate(MOVE, [index, "alpha", 1 if k % 2 == 0 else -1])
            assert out["last"]["params"]["N"] >= 6400 and out["last"]["params"]["M"] >= 64000
            times.append(out["ms"])
            compute.append(out["last"]["computeMs"])
        check_last(out["last"])
        median = statistics.median(times)
        theory = statistics.median(compute)
        print(f"{path.name}: median redraw {median:.1f} ms (theory {theory:.1f} ms) over "
              f"{len(times)} changes at N = {out['last']['params']['N']}")
        assert median < 100
        page.close()
        return
    pytest.fail("no explorer offers N, M and P")


def test_pages_with_explorers_are_small_and_offline(book_html, browser):
    for path in explorer_pages(book_html):
        assert path.stat().st_size < 2_000_000, f"{path.name}: {path.stat().st_size} bytes"
        remote = []
        page = open_page(browser, path, remote)
        assert remote == [], f"{path.name} asked for {remote}"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280
        page.set_viewport_size({"width": 390, "height": 800})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path.name
        sizes = page.evaluate("() => Array.from(document.querySelectorAll("
                              "'.rfdmft-explorer text, .rfdmft-explorer tspan,"
                              " .rfdmft-explorer label, .rfdmft-legend li, .rfdmft-status'),"
                              " e => parseFloat(getComputedStyle(e).fontSize))")
        assert sizes and min(sizes) >= 11, f"{path.name}: text of {min(sizes)} px"
        page.close()
