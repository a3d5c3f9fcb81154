"""Open every built page of the book in headless Chromium and report what reads badly.

Used by tests/test_browser.py and runnable on its own::

    .venv/bin/python tests/pagecheck.py _build/html [--screenshots DIR] [--pages a,b]
                                        [--out findings.txt]

``--pages`` takes page names relative to the HTML folder without ``.html`` (for example
``chapters/dmft``); without it every built page is checked (``_static/`` and
``_sources/`` and redirect-only pages such as ``index.html`` left out). The exit status is
1 when there are findings.

Each page is loaded from ``file://`` and MathJax is given time to finish
(``MathJax.startup.promise``, then until the page stops changing: widgets render and
typeset their labels after "load"). A finding is ``(page, kind, detail)``; the kinds are

``tex-as-text``
    Visible text outside MathJax's output (code, ``<pre>``, cell inputs, scripts and styles
    left out) that still holds TeX: ``$...$``, ``\\(``/``\\[``, a TeX command such as
    ``\\lambda`` or ``\\frac``, ``^{``/``_{``, ``x^2``, or the remains of an escape sequence
    that ate a backslash (``2.5times10^5``, a tab followed by ``imes``, control characters).
``math-error``
    MathJax reported an error (``mjx-merror``, ``[data-mjx-error]``, "Math input error").
``math-unprocessed``
    A ``.math`` element of Sphinx that MathJax did not typeset, or MathJax not loaded.
``prose-as-maths``
    Inline maths whose TeX holds three words in a row outside ``\\text{}``: prose between
    two ``$`` signs that were paired wrongly (the other half shows up as ``tex-as-text``).
``math-clipped`` / ``wide-inline-maths``
    Inline maths wider than its box: cut off (the theme gives ``span.math`` overflow
    hidden), at either width; or, at 1280 px, scrolling in its box.
``wide-equation`` (1280 px)
    A display equation whose rendered SVG is wider than the article column
    (``article.bd-article``'s content box) or than its own box. The stylesheet lets such
    an equation scroll inside its box, but at desktop width that is still a finding: the
    equation should be broken (``aligned``, ``split``).
``wide-output`` / ``output-scrolls`` / ``output-clipped`` / ``output-wraps-table`` (1280 px)
    A cell output (``.cell_output`` and everything inside: ``pre``, tables, images,
    widgets) wider than the column, or scrolling horizontally / cut off inside its own box
    (``scrollWidth > clientWidth + 1``). Tables outside cell outputs are checked too. Plain
    text outputs wrap (lib/book_static/book.css); a printed table (4 or more lines, most of
    them aligned columns) that wraps is reported, as wrapping scrambles its columns.
``wide-image`` (1280 px)
    An image wider than the column.
``wide-element`` (1280 px)
    Anything else in the article that reaches past the column (inline code, a widget, a
    table of prose) and is not inside a box that scrolls within the column.
``broken-image``
    ``img.complete && naturalWidth === 0``.
``small-figure-text`` (1280 px)
    A figure image (in a cell output, a ``figure`` or a widget) shown at less than
    ``min_scale`` times its natural width, a proxy for its text reading below 9 pt; see
    :data:`MIN_SCALE`.
``network-request``
    A request for anything but a ``file:``, ``data:`` or ``blob:`` URL.
``console-error``
    An error on the console or an uncaught exception.
``phone-page-scroll`` (390 px)
    The page itself scrolls horizontally (``documentElement.scrollWidth > innerWidth + 1``);
    the elements sticking out are named. Wide equations and outputs may scroll inside
    their own box.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import NamedTuple

#: Viewports: a desktop (every check) and a phone (only "the page must not scroll sideways").
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

#: The book's figures: matplotlib PNGs at ``FIGURE_DPI`` = 100 pixels per inch, with the
#: text sizes of ``rfdmft.plotting.use_book_style`` (labels 11 pt, tick labels and legends
#: 10 pt, the smallest text in a figure; before that style the defaults were 100 dpi and
#: 10 pt). A glyph of ``s`` pt is ``s * DPI / 72`` image pixels tall; an image shown at ``r``
#: times its natural width (CSS px, 96 per inch, ``device_scale_factor`` 1) shows it at
#: ``s * DPI / 96 * r`` pt: the 10 pt text reads at 10.4 r pt.
FIGURE_DPI = 100
FIGURE_SMALLEST_PT = 10.0
#: Displayed width / natural width below which a figure's smallest text reads below 9 pt:
#: ``9 / (FIGURE_SMALLEST_PT * FIGURE_DPI / 96)`` = 0.864. A figure up to
#: ``rfdmft.plotting.FIGURE_WIDTH`` = 6.8 in (680 px) fits the 1280 px page's column
#: (688 px) at its natural size; one of 10 in is shown at 0.67, its ticks at 7 pt. (0.6,
#: the looser bound once proposed, would let 10 pt text shrink to 6.25 pt; pass
#: ``min_scale=0.6`` or ``--min-scale 0.6`` for it.)
MIN_SCALE = 9 / (FIGURE_SMALLEST_PT * FIGURE_DPI / 96)


class Finding(NamedTuple):
    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.kind}] {self.detail}"


# --- TeX left as text -------------------------------------------------------------------

_TEX_COMMANDS = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma "
    "Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega frac dfrac tfrac sqrt times cdot "
    "cdots ldots dots sum prod int oint partial nabla infty leq le geq ge neq ne approx sim "
    "simeq propto equiv to mapsto rightarrow leftarrow Rightarrow Leftrightarrow in notin "
    "subset subseteq cup cap mathrm mathbf mathbb mathcal mathsf mathit boldsymbol bm "
    "operatorname text textrm textbf left right big Big bigg langle rangle lVert rVert "
    "Vert vert mid log ln exp min max sup inf lim det tr hat bar tilde vec dot ddot "
    "overline underline quad qquad label ref eqref tag begin end displaystyle pm mp ell "
    "top intercal odot otimes oplus star circ ast"
).split()
#: (name, pattern) pairs tried on the text of each block of the page.
TEX_RULES = [
    ("dollar maths", re.compile(r"(?<![\w$\\])\$(?!\s)[^$\n]{1,300}?(?<![\s\\])\$(?![\w$])|\$\$")),
    ("\\( or \\[", re.compile(r"\\[(\[]|\\[)\]]")),
    ("TeX command", re.compile(r"\\(?:%s)(?![A-Za-z])|\\[A-Za-z]+(?=[{_^])" % "|".join(_TEX_COMMANDS))),
    ("^{ or _{", re.compile(r"[\^_]\{")),
    ("caret exponent", re.compile(r"(?<![\w^])(?:\d+(?:\.\d+)?|[A-Za-z)])\^-?[\w(]")),
    ("eaten \\times", re.compile(r"\dtimes|times\d|(?<![A-Za-z])imes(?![A-Za-z])")),
    ("eaten escape", re.compile(r"[\x07\x08\x0b\x0c]|(?<![A-Za-z])rac\{")),
]


def tex_as_text(text: str) -> list[tuple[str, str]]:
    """The TeX remnants in ``text``: (rules, snippet) per stretch of text, with context."""
    spans: list[tuple[int, int, str]] = []
    for name, pattern in TEX_RULES:
        spans += [(m.start(), m.end(), name) for m in pattern.finditer(text)]
    hits: list[tuple[str, str]] = []
    for start, end, name in sorted(spans):
        a, b = max(0, start - 40), min(len(text), end + 40)
        if hits and a <= hits[-1][2]:  # overlaps the previous snippet: extend it
            rules, a0, _ = hits[-1]
            hits[-1] = (rules if name in rules else rules + [name], a0, max(b, hits[-1][2]))
        else:
            hits.append(([name], a, b))
    out = []
    for rules, a, b in hits:
        snippet = text[a:b]
        snippet = repr(snippet)[1:-1] if re.search(r"[\x00-\x09\x0b-\x1f]", snippet) else " ".join(snippet.split())
        out.append((", ".join(rules), ("…" if a else "") + snippet + ("…" if b < len(text) else "")))
    return out


_MATH_WORDS = re.compile(r"\\(?:text\w*|mathrm|operatorname\*?|mbox|label|tag|hbox)\s*\{[^{}]*\}")
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}[,.;:]?\s+[A-Za-z]{2,}[,.;:]?\s+[A-Za-z]{2,}(?![A-Za-z])")


def prose_in_maths(tex: str) -> bool:
    """Whether inline TeX holds three words in a row outside \\text{}: prose typeset as maths."""
    return bool(_PROSE.search(_MATH_WORDS.sub(" ", tex)))


# --- JavaScript run in the page ---------------------------------------------------------

#: Resolves when MathJax has finished and the page has not changed for ``quiet`` ms.
JS_SETTLE = """
async ([quiet, limit]) => {
  const t0 = performance.now();
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  await new Promise((done) => {
    let last = performance.now();
    const obs = new MutationObserver(() => { last = performance.now(); });
    obs.observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
    const tick = () => {
      const now = performance.now();
      const pending = [...document.images].some((img) => !img.complete);
      if ((!pending && now - last >= quiet) || now - t0 > limit) { obs.disconnect(); done(); }
      else setTimeout(tick, 50);
    };
    tick();
  });
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}
"""

#: Everything measured at one width. Returns plain data; the rules are applied in Python.
JS_MEASURE = r"""
(full) => {
  const R = {};
  const round = (x) => Math.round(x * 10) / 10;
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = (el.getAttribute('class') || '').trim().split(/\s+/).filter(Boolean).slice(0, 3);
    if (cls.length) s += '.' + cls.join('.');
    return s;
  };
  // Where an element is: the section heading it is under (and the enclosing cell).
  const heads = [...document.querySelectorAll('article h1, article h2, article h3, article h4')];
  const cells = [...document.querySelectorAll('div.cell')];
  const where = (el) => {
    let head = null;
    for (const h of heads) {
      if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) head = h; else break;
    }
    let s = head ? '§ "' + head.textContent.replace(/[#¶]\s*$/, '').trim().slice(0, 60) + '"' : '';
    const cell = el.closest('div.cell');
    if (cell) s += (s ? ', ' : '') + 'cell ' + (cells.indexOf(cell) + 1) + ' of ' + cells.length;
    return s;
  };
  // TeX source of every typeset maths, from MathJax's own list of MathItems.
  const texOf = new Map();
  R.mathjax = !!(window.MathJax && MathJax.startup && MathJax.startup.document);
  if (R.mathjax) {
    try { for (const item of MathJax.startup.document.math) if (item.typesetRoot) texOf.set(item.typesetRoot, item.math); }
    catch (e) {}
  }
  // Inline maths: its TeX (for maths that is really prose) and whether it is cut off
  // (the theme gives span.math overflow: hidden and max-width: 100%).
  R.inline = [...document.querySelectorAll('mjx-container:not([display="true"])')].map((c) => {
    const svg = c.querySelector('svg'), box = c.closest('span.math') || c.parentElement;
    const w = svg ? svg.getBoundingClientRect().width : 0;
    return {tex: texOf.get(c) || '', width: Math.round(w), box: box ? box.clientWidth : 0,
            wide: !!(svg && box && getComputedStyle(box).overflowX !== 'visible' && w > box.clientWidth + 1),
            clipped: !!(svg && box && ['hidden', 'clip'].includes(getComputedStyle(box).overflowX) && w > box.clientWidth + 1),
            where: where(c)};
  });
  const firstLine = (el) => ((el.innerText || el.getAttribute('alt') || '').split('\n').find((l) => l.trim()) || '').trim().slice(0, 100);
  const labelOf = (c) => {
    const box = c.closest('.math');
    const eqno = box && box.querySelector('.eqno');
    return {
      id: box && box.id ? box.id : '',
      eqno: eqno ? eqno.textContent.replace(/#\s*$/, '').trim() : '',
    };
  };
  // The article column's content box.
  const col = document.querySelector('article.bd-article') || document.querySelector('#main-content') || document.body;
  const cs = getComputedStyle(col), cr = col.getBoundingClientRect();
  const left = cr.left + parseFloat(cs.paddingLeft) + parseFloat(cs.borderLeftWidth);
  const right = cr.right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth);
  R.column = {left: round(left), right: round(right), width: round(right - left)};
  R.viewport = window.innerWidth;
  R.scrollWidth = document.documentElement.scrollWidth;
  if (full) {

  // Text outside maths and code, grouped by its block.
  const SKIP = 'script,style,noscript,template,pre,code,kbd,samp,textarea,svg,math,' +
               'mjx-container,mjx-assistive-mml,.math,.cell_input,.highlight,.MathJax';
  const BLOCK = 'p,li,dt,dd,td,th,h1,h2,h3,h4,h5,h6,figcaption,caption,blockquote,label,' +
                'summary,button,a,div,section,article,nav,aside,header,footer,body';
  const groups = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.data.trim() || el.closest(SKIP)) continue;
    const block = el.closest(BLOCK);
    if (!groups.has(block)) groups.set(block, []);
    groups.get(block).push(n.data);
  }
  R.texts = [...groups].map(([block, parts]) => ({where: where(block), el: describe(block), text: parts.join('')}));

  // MathJax errors and unprocessed maths.
  R.mathErrors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map((e) => {
    const c = e.closest('mjx-container');
    return {error: e.getAttribute('data-mjx-error') || e.textContent.trim().slice(0, 100),
            tex: c && texOf.has(c) ? texOf.get(c) : '', where: where(e), ...(c ? labelOf(c) : {})};
  });
  const seen = new Set(R.mathErrors.map((e) => e.tex));
  for (const c of document.querySelectorAll('mjx-container')) {
    if (/Math input error/.test(c.textContent) && !seen.has(texOf.get(c) || ''))
      R.mathErrors.push({error: 'Math input error', tex: texOf.get(c) || '', where: where(c), ...labelOf(c)});
  }
  R.unprocessed = [...document.querySelectorAll('.math')].filter((m) => !m.querySelector('mjx-container'))
    .map((m) => ({where: where(m), id: m.id || '', text: m.textContent.trim().slice(0, 200)}));

  // Display equations.
  const displays = [...document.querySelectorAll('mjx-container[display="true"]')];
  R.equations = displays.map((c, i) => {
    const svg = c.querySelector(':scope > svg') || c.querySelector('svg');
    const w = svg ? svg.getBoundingClientRect().width : c.scrollWidth;
    return {index: i + 1, count: displays.length, width: round(w), box: c.clientWidth,
            tex: texOf.get(c) || '', where: where(c), ...labelOf(c)};
  });

  // Cell outputs (and tables anywhere in the article): too wide, scrolling, cut off.
  R.outputs = [];
  const reported = new Set();
  const outs = [...document.querySelectorAll('.cell_output')];
  const tables = [...document.querySelectorAll('article table')].filter((t) => !t.closest('.cell_output'));
  for (const root of [...outs, ...tables]) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg, mjx-container, .math')) continue;
      let skip = false;
      for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) if (reported.has(a)) { skip = true; break; }
      if (skip) continue;
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      const st = getComputedStyle(el);
      if (st.visibility === 'hidden') continue;
      const base = {el: describe(el), where: where(el), width: round(r.width), column: round(right - left),
                    text: firstLine(el)};
      if (r.right > right + 1 || r.left < left - 1) {
        R.outputs.push({kind: 'wide-output', ...base}); reported.add(el);
      } else if (el.scrollWidth > el.clientWidth + 1 && st.overflowX !== 'visible' && el.clientWidth > 0) {
        const kind = ['auto', 'scroll'].includes(st.overflowX) ? 'output-scrolls' : 'output-clipped';
        R.outputs.push({kind, ...base, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth}); reported.add(el);
      } else if (el.tagName === 'PRE' && st.whiteSpace.startsWith('pre-wrap')) {
        // Wrapped text is fine, a wrapped table is not: lines of aligned columns that wrap.
        const lines = el.textContent.replace(/\n+$/, '').split('\n');
        const columnar = lines.filter((l) => /\S {2,}\S.* {2,}\S/.test(l)).length;
        const lh = parseFloat(st.lineHeight) || 1.2 * parseFloat(st.fontSize);
        const inner = el.clientHeight - parseFloat(st.paddingTop) - parseFloat(st.paddingBottom);
        if (lines.length >= 4 && columnar >= Math.max(3, lines.length / 2) && inner > (lines.length + 0.5) * lh) {
          R.outputs.push({kind: 'output-wraps-table', ...base, lines: lines.length, shown: Math.round(inner / lh)}); reported.add(el);
        }
      }
    }
  }

  // Images: broken, wider than the column, shrunk.
  R.images = [...document.images].map((img) => {
    const r = img.getBoundingClientRect();
    return {src: img.currentSrc || img.src, alt: img.alt || '', complete: img.complete,
            naturalWidth: img.naturalWidth, width: round(r.width), left: round(r.left), right: round(r.right),
            inArticle: !!img.closest('article'),
            caption: ((img.closest('figure') || {}).querySelector ? (img.closest('figure').querySelector('.caption-number') || {}).textContent || '' : '').trim(),
            figure: !!img.closest('.cell_output, figure, .figure, .widget-image, .jupyter-widgets'),
            where: where(img)};
  });

  // Anything else reaching past the column, outside a box that scrolls within it.
  R.wide = [];
  const article = document.querySelector('article.bd-article');
  if (article) {
    for (const el of article.querySelectorAll('*')) {
      if (el.closest('svg, mjx-container, .math, .cell_output, table, img')) continue;
      const r = el.getBoundingClientRect();
      if (!r.width || (r.right <= right + 1 && r.left >= left - 1)) continue;
      let contained = false;
      for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') { const ar = a.getBoundingClientRect(); contained = ar.right <= right + 1 && ar.left >= left - 1; break; }
      }
      if (contained) continue;
      const p = el.parentElement;
      if (p && p !== article && (p.getBoundingClientRect().right > right + 1)) continue;
      R.wide.push({el: describe(el), where: where(el), width: round(r.width), right: round(r.right),
                   text: (el.innerText || '').trim().split('\n')[0].slice(0, 100)});
      if (R.wide.length >= 10) break;
    }
  }

  }
  // Phone: what sticks out of the viewport (outermost elements, not inside a scroll box).
  R.sticking = [];
  if (R.scrollWidth > R.viewport + 1) {
    const W = R.viewport;
    for (const el of document.body.querySelectorAll('*')) {
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
      const r = el.getBoundingClientRect();
      if (!r.width || r.right <= W + 1) continue;
      let contained = false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') { contained = a.getBoundingClientRect().right <= W + 1; break; }
      }
      if (contained) continue;
      const p = el.parentElement;
      if (p && p !== document.body && p.getBoundingClientRect().right > W + 1) continue;
      const c = el.closest('mjx-container');
      R.sticking.push({el: describe(el), where: where(el), right: round(r.right), width: round(r.width),
                       text: c ? (texOf.get(c) || '') : (el.innerText || el.getAttribute('alt') || '').trim().split('\n')[0].slice(0, 100)});
      if (R.sticking.length >= 10) break;
    }
  }
  return R;
}
"""


def _eq_name(eq: dict) -> str:
    name = f"display equation {eq['index']} of {eq['count']}"
    if eq.get("eqno"):
        name += f" {eq['eqno']}"
    if eq.get("id"):
        name += f" (#{eq['id']})"
    return name


def _at(item: dict) -> str:
    return f" [{item['where']}]" if item.get("where") else ""


def _tex(tex: str) -> str:
    tex = " ".join((tex or "").split())
    return f"\n      TeX: {tex[:600]}{'…' if len(tex) > 600 else ''}" if tex else ""


class PageChecker:
    """One browser context and one tab, reused for every page.

    ``browser`` is a launched Playwright browser; ``html`` the built book (``_build/html``).
    """

    def __init__(self, browser, html: Path | str, screenshots: Path | str | None = None,
                 min_scale: float = MIN_SCALE):
        self.html = Path(html).resolve()
        self.screenshots = Path(screenshots) if screenshots else None
        self.min_scale = min_scale
        self.context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
        # Every page is read as by a first-time reader: no theme mode etc. kept in storage.
        self.context.add_init_script("try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}")
        self.tab = self.context.new_page()
        self._requests: list[str] = []
        self._console: list[str] = []
        self.tab.on("request", self._on_request)
        self.tab.on("console", self._on_console)
        self.tab.on("pageerror", lambda err: self._console.append(f"uncaught: {err}"))

    def _on_request(self, request) -> None:
        if not request.url.startswith(("file:", "data:", "blob:")):
            self._requests.append(f"{request.resource_type} {request.url}")

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            where = msg.location.get("url", "") if msg.location else ""
            self._console.append(msg.text + (f" ({where})" if where else ""))

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> "PageChecker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _settle(self, quiet_ms: int = 250, limit_ms: int = 15000) -> None:
        self.tab.evaluate(JS_SETTLE, [quiet_ms, limit_ms])

    def _shot(self, page: str, width: int) -> None:
        if self.screenshots:
            self.screenshots.mkdir(parents=True, exist_ok=True)
            path = self.screenshots / f"{page.replace('/', '__')}-{width}.png"
            self.tab.screenshot(path=str(path), full_page=True)

    def check(self, page: str) -> list[Finding]:
        """Every finding on ``page`` (a name such as ``chapters/dmft``, without .html)."""
        file = self.html / f"{page}.html"
        if not file.is_file():
            return [Finding(page, "missing-page", f"{file} was not built")]
        self._requests.clear()
        self._console.clear()
        found: list[Finding] = []
        add = lambda kind, detail: found.append(Finding(page, kind, detail))  # noqa: E731

        self.tab.set_viewport_size(DESKTOP)
        self.tab.goto(file.as_uri(), wait_until="load")
        self._settle()
        m = self.tab.evaluate(JS_MEASURE, True)
        self._shot(page, DESKTOP["width"])

        for block in m["texts"]:
            for rule, snippet in tex_as_text(block["text"]):
                add("tex-as-text", f"{rule}: “{snippet}” in <{block['el']}>{_at(block)}")
        if not m["mathjax"] and (m["unprocessed"] or m["equations"]):
            add("math-unprocessed", "MathJax did not load")
        for e in m["mathErrors"]:
            label = f" {e.get('eqno', '')} (#{e['id']})" if e.get("id") else ""
            add("math-error", f"{e['error']}{label}{_at(e)}{_tex(e['tex'])}")
        for u in m["unprocessed"]:
            add("math-unprocessed", f"“{u['text'][:120]}”" + (f" (#{u['id']})" if u["id"] else "") + _at(u))
        for i in m["inline"]:
            if prose_in_maths(i["tex"]):
                add("prose-as-maths", f"inline maths that reads as prose (a $ pair gone wrong?){_at(i)}{_tex(i['tex'])}")
            if i["wide"]:
                what = "is cut off" if i["clipped"] else "scrolls"
                add("math-clipped" if i["clipped"] else "wide-inline-maths",
                    f"inline maths {i['width']} px wide {what} at {i['box']} px{_at(i)}{_tex(i['tex'])}")
        col = m["column"]
        for eq in m["equations"]:
            if eq["width"] > col["width"] + 1:
                add("wide-equation",
                    f"{_eq_name(eq)} is {eq['width']:.0f} px wide; the column is {col['width']:.0f} px"
                    f"{_at(eq)}{_tex(eq['tex'])}")
            elif eq["width"] > eq["box"] + 1:
                add("wide-equation",
                    f"{_eq_name(eq)} is {eq['width']:.0f} px wide and scrolls: its box beside the "
                    f"equation number is {eq['box']:.0f} px (column {col['width']:.0f} px){_at(eq)}{_tex(eq['tex'])}")
        for o in m["outputs"]:
            size = (f"scrolls {o['scrollWidth']} px in {o['clientWidth']} px" if "scrollWidth" in o
                    else f"(a table of {o['lines']} lines) wraps to {o['shown']} lines" if "lines" in o
                    else f"{o['width']:.0f} px wide; the column is {o['column']:.0f} px")
            text = f": “{o['text']}”" if o["text"] else ""
            add(o["kind"], f"<{o['el']}> {size}{_at(o)}{text}")
        for w in m["wide"]:
            text = f": “{w['text']}”" if w["text"] else ""
            add("wide-element", f"<{w['el']}> reaches {w['right'] - col['right']:.0f} px past the "
                                f"column{_at(w)}{text}")
        for img in m["images"]:
            src = ("an inline data: image" if img["src"].startswith("data:")
                   else "…/" + img["src"].rsplit("/", 1)[-1][:24] + ("…" if len(img["src"].rsplit("/", 1)[-1]) > 24 else ""))
            name = (f"{img['caption']} " if img["caption"] else "") + f"<img src={src}>{_at(img)}"
            if img["complete"] and img["naturalWidth"] == 0:
                add("broken-image", name)
                continue
            if img["inArticle"] and (img["right"] > col["right"] + 1 or img["left"] < col["left"] - 1):
                add("wide-image", f"{name} is {img['width']:.0f} px wide; the column is {col['width']:.0f} px")
            if img["figure"] and img["naturalWidth"] and img["width"]:
                scale = img["width"] / img["naturalWidth"]
                if scale < self.min_scale:
                    add("small-figure-text",
                        f"{name} shown at {scale:.2f} of its {img['naturalWidth']} px "
                        f"(< {self.min_scale:.2f}): its {FIGURE_SMALLEST_PT:.0f} pt text reads at "
                        f"{FIGURE_SMALLEST_PT * FIGURE_DPI / 96 * scale:.1f} pt; make it at most "
                        f"{img['width'] / FIGURE_DPI:.1f} in wide")

        self.tab.set_viewport_size(PHONE)
        self._settle(quiet_ms=150, limit_ms=5000)
        p = self.tab.evaluate(JS_MEASURE, False)
        self._shot(page, PHONE["width"])
        if p["scrollWidth"] > p["viewport"] + 1:
            parts = "; ".join(
                f"<{s['el']}> reaches {s['right']:.0f} px{_at(s)}" + (f": “{' '.join(s['text'].split())[:160]}”" if s["text"] else "")
                for s in p["sticking"])
            add("phone-page-scroll",
                f"at {p['viewport']} px the page is {p['scrollWidth']} px wide" + (f"; sticking out: {parts}" if parts else ""))

        for i in p["inline"]:
            if i["clipped"]:
                add("math-clipped", f"at {PHONE['width']} px, inline maths {i['width']} px wide is cut off "
                                    f"at {i['box']} px{_at(i)}{_tex(i['tex'])}")
        for req in dict.fromkeys(self._requests):
            add("network-request", req)
        for msg in dict.fromkeys(self._console):
            add("console-error", msg)
        return found


def format_findings(findings: list[Finding]) -> str:
    """The findings grouped per page, with counts per kind."""
    lines: list[str] = []
    pages = list(dict.fromkeys(f.page for f in findings))
    for page in pages:
        mine = [f for f in findings if f.page == page]
        kinds = {}
        for f in mine:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        lines.append(f"== {page}: {len(mine)} finding(s) ("
                     + ", ".join(f"{k} {n}" for k, n in kinds.items()) + ")")
        lines += [f"  - [{f.kind}] {f.detail}" for f in mine]
    return "\n".join(lines)


def built_pages(html: Path) -> list[str]:
    """Every HTML page of the build but assets, sources and redirect-only pages."""
    pages = []
    for file in sorted(html.rglob("*.html")):
        rel = file.relative_to(html)
        if rel.parts[0] in ("_static", "_sources", "_images"):
            continue
        if 'http-equiv="refresh"' in file.read_text(encoding="utf-8", errors="replace")[:2000].lower():
            continue
        pages.append(rel.with_suffix("").as_posix())
    return pages


def check_book(html: Path | str, pages: list[str] | None = None, screenshots=None,
               min_scale: float = MIN_SCALE, chromium: str = "/usr/bin/chromium") -> list[Finding]:
    """Launch Chromium, check ``pages`` (default: every built page) and return the findings."""
    from playwright.sync_api import sync_playwright

    html = Path(html)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            with PageChecker(browser, html, screenshots, min_scale) as checker:
                findings: list[Finding] = []
                for page in pages or built_pages(html):
                    findings += checker.check(page)
        finally:
            browser.close()
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, help="save full-page screenshots here")
    parser.add_argument("--pages", help="comma-separated page names, e.g. chapters/dmft")
    parser.add_argument("--out", type=Path, help="also write the findings to this file")
    parser.add_argument("--min-scale", type=float, default=MIN_SCALE,
                        help=f"smallest displayed/natural width of a figure (default "
                             f"{MIN_SCALE:.3f}: its smallest text at 9 pt)")
    args = parser.parse_args(argv)
    pages = [p.strip().removesuffix(".html") for p in args.pages.split(",")] if args.pages else None
    findings = check_book(args.html, pages, args.screenshots, args.min_scale)
    report = format_findings(findings) if findings else "no findings"
    checked = pages or built_pages(args.html)
    counts = "\n".join(f"{p}: {sum(f.page == p for f in findings)}" for p in checked)
    text = f"{report}\n\nfindings per page:\n{counts}\ntotal: {len(findings)}\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
