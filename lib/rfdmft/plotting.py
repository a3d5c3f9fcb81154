"""Figure helpers shared by the chapters.

Conventions: simulations are markers with error bars (one standard error over designs),
theory is a line; an infinite time (the long-time limit) is a dotted horizontal line;
axes are logarithmic for power laws, labelled in lowercase with the book's symbols, and
figures carry no titles (captions live in the book). Each training regime has one colour,
and each part of the error has one colour, the same in every figure of the book.

Legibility: the book's article column is about 690 CSS pixels wide and figures are PNGs at
``FIGURE_DPI``, so a figure at most ``FIGURE_WIDTH`` inches wide is shown at its natural size
and its text at the point sizes of :func:`use_book_style` (at least 9 pt). Wider figures
are shrunk by the page and their text with them.
"""

from __future__ import annotations

import numpy as np

from .model import ErrorCurve, Params

__all__ = ["FIGURE_WIDTH", "FIGURE_DPI", "use_book_style", "REGIMES", "REGIME_COLORS", "PART_COLORS", "PART_LABELS", "regime", "log_axes",
           "finite_positive", "plot_curve", "plot_limit", "plot_parts"]

#: The four training regimes, in the order the book introduces them.
REGIMES = ("gradient flow", "weight decay", "Langevin", "Bayesian")

#: One colour per regime (colour-blind-safe, Okabe-Ito).
REGIME_COLORS = {
    "gradient flow": "#0072B2",
    "weight decay": "#009E73",
    "Langevin": "#D55E00",
    "Bayesian": "#CC79A7",
}

#: Largest figure width (inches) shown unshrunk in the article column, at ``FIGURE_DPI``.
FIGURE_WIDTH = 6.8
#: Resolution of the book's figures (pixels per inch; one pixel per CSS pixel).
FIGURE_DPI = 100

#: Colours and legend labels of the parts of the error (Okabe-Ito; distinct from each other).
#: ``sgd_variance`` is the error minibatch noise adds to gradient descent (discrete time).
PART_COLORS = {"error": "black", "bias": "#0072B2", "label_variance": "#E69F00",
               "thermal_variance": "#CC79A7", "sgd_variance": "#009E73"}
PART_LABELS = {"error": "total $E_g$", "bias": "bias", "label_variance": "label-noise variance",
               "thermal_variance": "thermal variance", "sgd_variance": "SGD variance"}


def use_book_style() -> None:
    """Set matplotlib's defaults for the book: figures ``FIGURE_WIDTH`` x 4 inches at
    ``FIGURE_DPI``, text 11 pt (ticks and legends 10 pt), no text smaller than 9 pt."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (FIGURE_WIDTH, 4.0), "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI, "font.size": 11, "axes.labelsize": 11,
        "axes.titlesize": 11, "xtick.labelsize": 10, "ytick.labelsize": 10,
        "legend.fontsize": 10, "legend.title_fontsize": 10, "figure.constrained_layout.use": True,
    })


def regime(params: Params) -> str:
    """The regime a parameter setting belongs to, from ``gamma`` and ``T``.

    ``gamma = T = 0``: gradient flow; ``T = 0 < gamma``: weight decay (kernel ridge
    regression at ``t = inf``); ``T > 0 = gamma``: Langevin; ``T, gamma > 0``: Langevin with
    weight decay, which relaxes to the Bayesian posterior ("Bayesian").
    """
    if params.T == 0:
        return "gradient flow" if params.gamma == 0 else "weight decay"
    return "Langevin" if params.gamma == 0 else "Bayesian"


def log_axes(ax, xlabel: str = "time $t$", ylabel: str = "generalisation error $E_g$"):
    """Logarithmic x and y axes with lowercase labels; returns ``ax``."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def finite_positive(x, y) -> np.ndarray:
    """Mask of the points that can be drawn on log axes: finite ``x > 0`` and ``y > 0``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return np.isfinite(x) & (x > 0) & np.isfinite(y) & (y > 0)


def plot_limit(ax, value: float, color=None, label=None):
    """The long-time limit ``E_g(t = inf)`` as a dotted horizontal line."""
    return ax.axhline(value, color=color, linestyle=":", linewidth=1.2, label=label)


def plot_curve(ax, curve: ErrorCurve, part: str = "error", kind: str = "simulation",
               color=None, label=None, marker: str = "o", limit: bool = True):
    """Draw one part of an ``ErrorCurve`` against time.

    ``kind="simulation"``: markers with error bars (``error_sem``, total error only);
    ``kind="theory"``: a line. Points at ``t = 0``, ``t = inf`` or with a non-positive value
    are left out of the log axes; with ``limit`` a value at ``t = inf`` is drawn as a dotted line.
    """
    if kind not in ("simulation", "theory"):
        raise ValueError(f"kind must be 'simulation' or 'theory', got {kind!r}")
    t = np.asarray(curve.times, dtype=float)
    y = np.asarray(getattr(curve, part), dtype=float)
    keep = finite_positive(t, y)
    if kind == "theory":
        (artist,) = ax.plot(t[keep], y[keep], color=color, label=label)
    else:
        sem = curve.error_sem if part == "error" else None
        yerr = None if sem is None or not np.all(np.isfinite(sem[keep])) else sem[keep]
        artist = ax.errorbar(t[keep], y[keep], yerr=yerr, fmt=marker, color=color, label=label,
                             markersize=4, capsize=2, elinewidth=1, linestyle="none")
    color = artist.get_color() if kind == "theory" else artist[0].get_color()
    at_inf = np.isinf(t) & np.isfinite(y)
    if limit and at_inf.any():
        plot_limit(ax, float(y[at_inf][0]), color=color)
    return artist


def plot_parts(ax, curve: ErrorCurve, parts=("bias", "label_variance", "thermal_variance"),
               total: bool = True):
    """The parts of the error as thin lines through markers, the total as markers with error bars.

    Parts that are zero at every time (e.g. the thermal variance at ``T = 0``) are not drawn.
    """
    markers = {"bias": "s", "label_variance": "^", "thermal_variance": "v"}
    for part in parts:
        t = np.asarray(curve.times, dtype=float)
        y = np.asarray(getattr(curve, part), dtype=float)
        keep = finite_positive(t, y)
        if not keep.any():
            continue
        ax.plot(t[keep], y[keep], marker=markers.get(part, "o"), markersize=3, linewidth=0.8,
                color=PART_COLORS[part], label=PART_LABELS[part])
    if total:
        plot_curve(ax, curve, color=PART_COLORS["error"], label=PART_LABELS["error"],
                   limit=False)
    return ax
