"""The course edition (``BOOK_EDITION=course``) leaves out every solution and keeps the rest.

Built on a one-page book with the project's own configuration and extensions, so the test
needs no chapter execution."""

import os
import shutil
import subprocess

import pytest

from conftest import JUPYTER_BOOK, ROOT

PAGE = """\
# Editions

Some text before the exercise.

:::{exercise} A gated exercise ★
:label: ex-gated

Compute $1 + 1$.
:::

:::{solution-start} ex-gated
:class: dropdown
:::

GATED-SOLUTION-TEXT: the answer is $2$.

:::{solution-end}
:::

:::{exercise} A plain exercise ★★
:label: ex-plain

Compute $2 + 2$.
:::

:::{solution} ex-plain
:class: dropdown
PLAIN-SOLUTION-TEXT: the answer is $4$.
:::

Text after the exercises.
"""


def build(tmp_path, edition):
    book = tmp_path / edition
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copy(ROOT / "references.bib", book / "references.bib")
    os.symlink(ROOT / "lib", book / "lib")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (book / "index.md").write_text(PAGE)
    env = {**os.environ, "BOOK_EDITION": edition}
    result = subprocess.run([str(JUPYTER_BOOK), "build", "-W", "--keep-going", str(book)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return (book / "_build" / "html" / "index.html").read_text()


@pytest.mark.parametrize("edition", ["full", "course"])
def test_editions_keep_exercises_and_differ_in_solutions(tmp_path, edition):
    html = build(tmp_path, edition)
    assert "A gated exercise" in html and "A plain exercise" in html
    assert "Text after the exercises." in html
    shown = edition == "full"
    assert ("GATED-SOLUTION-TEXT" in html) is shown
    assert ("PLAIN-SOLUTION-TEXT" in html) is shown
    assert ("course edition" in html) is (not shown)


def test_an_unknown_edition_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="BOOK_EDITION must be 'full' or 'course'"):
        build(tmp_path, "draft")
