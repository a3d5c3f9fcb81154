"""Shared test helpers: matplotlib draws off-screen; the book is built once per session and
read in headless Chromium; the session runs on one numba and one BLAS thread."""

import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numba  # noqa: E402
import numpy  # noqa: E402, F401  (loads numpy's OpenBLAS before the limit below)
import pytest  # noqa: E402
import scipy.linalg  # noqa: E402, F401  (loads scipy's OpenBLAS before the limit below)
from threadpoolctl import threadpool_limits  # noqa: E402

#: Threads of the test session, numba's and BLAS's: one each. Measured on the 2-core machine
#: under the load of other work (load average 2.3-3.2), four alternated runs of the fast unit
#: tests (test_model, test_simulation, test_laplace, test_paths, test_data, test_equilibrium,
#: test_stopping; wall seconds): default threads (2 and 2) 24-59 s, median 34 s; one BLAS
#: thread 20-25 s, median 21 s; one of each 18-27 s, median 21 s. tests/test_threads.py raises
#: both to two where it checks that the threaded paths give the same numbers.
SESSION_THREADS = 1
numba.set_num_threads(SESSION_THREADS)
_BLAS_LIMIT = threadpool_limits(SESSION_THREADS, user_api="blas")   # kept for the session
import rfdmft.simulation  # noqa: E402

rfdmft.simulation.MAX_THREADS = SESSION_THREADS   # the library's load-aware policy stays at one

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
#: The book's only build: every chapter executed afresh, any warning fails it.
BUILD = [str(JUPYTER_BOOK), "build", "--all", "-W", "--keep-going", str(ROOT)]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def ax():
    """A fresh axes, closed after the test."""
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def dotted_lines(ax):
    """The dotted lines of ``ax``: long-time limits in the book's figures."""
    return [line for line in ax.get_lines() if line.get_linestyle() == ":"]


@pytest.fixture(scope="session")
def book_html() -> Path:
    """Build the book as CI does (once per session) and return ``_build/html``."""
    result = subprocess.run(BUILD, cwd=ROOT, capture_output=True, text=True)
    log = (result.stdout + result.stderr)[-20000:]
    assert result.returncode == 0, f"`{' '.join(BUILD)}` failed:\n{log}"
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) driven by Playwright; no network but local files."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium is needed for the browser tests: {CHROMIUM}"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
