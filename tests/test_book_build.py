"""Build the book as CI does and check that the pages read offline.

The build command is the book's only build: it executes every chapter (``--all`` with
``execute_notebooks: force``), and ``-W`` turns any warning -- a failing cell, stderr in a
cell output, a broken reference -- into a failure. It writes the normal ``_build/html``.

The built pages must load every script, stylesheet and font from the book itself
(MathJax and the widget manager are served by lib/book_assets.py); links to other sites
(``<a href>``) are fine.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

from conftest import ROOT

# A URL that leaves the machine: http(s)://host, ftp://host or protocol-relative //host.
REMOTE = r"(?:(?:https?|ftp):)?//[^\s\"')]+"
IS_REMOTE = re.compile(rf"^\s*{REMOTE}", re.IGNORECASE)
# In CSS: url(...) and @import "..." that point off the machine (fonts, stylesheets).
CSS_REMOTE = re.compile(rf"(?:url\(\s*['\"]?|@import\s+['\"])({REMOTE})", re.IGNORECASE)
# In inline JavaScript: a remote address of a script, stylesheet or font.
JS_REMOTE = re.compile(
    rf"['\"]({REMOTE}\.(?:m?js|css|woff2?|ttf|otf|eot)(?:\?[^'\"]*)?)['\"]", re.IGNORECASE
)
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}


class ResourceFinder(HTMLParser):
    """Collect what a page loads: src attributes, <link href>, inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []  # human-readable descriptions of remote loads
        self.scripts: list[str] = []  # every <script src>
        self.has_widget_state = False
        self._inline: str | None = None  # "js" or "css" while inside an inline block

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if attr.get("src"):
            if tag == "script":
                self.scripts.append(attr["src"])
            if IS_REMOTE.match(attr["src"]):
                self.remote.append(f"<{tag} src={attr['src']!r}>")
        if tag == "link" and IS_REMOTE.match(attr.get("href", "")):
            self.remote.append(f"<link rel={attr.get('rel')!r} href={attr['href']!r}>")
        for url in CSS_REMOTE.findall(attr.get("style", "")):
            self.remote.append(f"<{tag} style=...{url!r}>")
        if tag == "script" and not attr.get("src"):
            kind = attr.get("type", "").lower()
            self.has_widget_state |= kind == "application/vnd.jupyter.widget-state+json"
            self._inline = "js" if kind in JS_TYPES else None
        elif tag == "style":
            self._inline = "css"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._inline = None

    def handle_data(self, data: str) -> None:
        pattern = {"js": JS_REMOTE, "css": CSS_REMOTE}.get(self._inline or "")
        for url in pattern.findall(data) if pattern else []:
            self.remote.append(f"inline {self._inline} loads {url!r}")


def toc_pages() -> list[str]:
    """The root and every file listed in _toc.yml, without suffix."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(str(node[key]) for key in ("root", "file") if key in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return [re.sub(r"\.(md|ipynb|rst)$", "", page) for page in found]


def test_book_builds_without_warnings_and_reads_offline(book_html):
    HTML = book_html
    assert (HTML / "index.html").is_file()
    missing = [p for p in toc_pages() if not (HTML / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"

    problems: list[str] = []
    for page in sorted(HTML.rglob("*.html")):
        finder = ResourceFinder()
        text = page.read_text(encoding="utf-8")
        finder.feed(text)
        name = page.relative_to(HTML)
        problems += [f"{name}: {item}" for item in finder.remote]
        if 'class="math' in text and not any("_static/mathjax/" in s for s in finder.scripts):
            problems.append(f"{name}: has maths but does not load the book's own MathJax")
        if finder.has_widget_state and not any(
            "_static/jupyter-widgets/" in s for s in finder.scripts
        ):
            problems.append(f"{name}: has widgets but does not load the book's widget manager")
    for sheet in sorted((HTML / "_static").rglob("*.css")):
        urls = CSS_REMOTE.findall(sheet.read_text(encoding="utf-8", errors="replace"))
        problems += [f"{sheet.relative_to(HTML)}: loads {url!r}" for url in urls]
    assert not problems, "the built book loads remote resources:\n" + "\n".join(problems)
