"""Every page of the book, read in headless Chromium (tests/pagecheck.py does the reading).

At 1280 px: no TeX left as text, no MathJax error, no display equation, cell output or
image wider than the article column, no output scrolling sideways, no broken image, no
figure shrunk so far that its labels are unreadable. At 390 px: the page does not scroll
sideways. At any width: no request leaves the machine and nothing is logged as an error.

The book is built once per session by the ``book_html`` fixture. To check a build that
already exists instead (e.g. while editing a chapter)::

    BOOK_HTML=_build/html .venv/bin/python -m pytest tests/test_browser.py

and ``BOOK_SCREENSHOTS=/tmp/shots`` saves a full-page screenshot per page and width.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pagecheck import PageChecker, format_findings
from test_book_build import toc_pages


@pytest.fixture(scope="module")
def checker(request, browser):
    """One browser context and tab for all pages of the book."""
    given = os.environ.get("BOOK_HTML")
    html = Path(given) if given else request.getfixturevalue("book_html")
    with PageChecker(browser, html, screenshots=os.environ.get("BOOK_SCREENSHOTS")) as c:
        yield c


@pytest.mark.parametrize("page", toc_pages())
def test_page_reads_well_in_the_browser(checker, page):
    findings = checker.check(page)
    if findings:
        pytest.fail(
            f"{len(findings)} problem(s) on {page}.html in Chromium "
            "(tests/pagecheck.py says what each kind means):\n" + format_findings(findings),
            pytrace=False,
        )
