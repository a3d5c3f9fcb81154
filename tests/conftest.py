"""Shared test helpers: matplotlib draws off-screen."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def ax():
    """A fresh axes, closed after the test."""
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def dotted_lines(ax):
    """The dotted lines of ``ax``: long-time limits in the book's figures."""
    return [line for line in ax.get_lines() if line.get_linestyle() == ":"]
