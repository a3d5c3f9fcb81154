"""Interactive figures for the chapters (ipywidgets in Jupyter, live HTML on the book's pages).

The explorer recomputes the error curve with the exact simulator (``simulate``) each time a
slider is released. It uses a few designs and at most ``N, P = 400`` so that this takes a
fraction of a second; its markers carry the standard error over those designs.

The theory explorer draws the DMFT prediction (``theory_laplace``, lines) instead; it is
fast enough for much larger models (``N, P`` up to 6400). The Bayesian explorer draws
learning curves of the posterior from the equilibrium theory. The discrete-time explorer draws
gradient descent with a finite learning rate and minibatch SGD (``theory_discrete``), the
learning rate given as a fraction of the stability edge of gradient descent, with gradient
flow for comparison. The random-feature explorer draws the theory of ``N`` random features of
``M`` kernel modes (``rf_theory``), with the mode model for comparison.

Two faces. Every explorer returns an :class:`Explorer`, an ipywidgets ``VBox`` (sliders, the
figure redrawn by Python, a status line saying what is drawn). In JupyterLab or Notebook it
is that widget. Its display bundle also carries a ``text/html`` placeholder (``<div
class="rfdmft-explorer" data-config=...>``), which the built book shows instead of the widget
(``nb_mime_priority_overrides`` in ``_config.yml``): there ``lib/book_static/rfdmft-explorer.js``
builds the sliders and redraws the figure in the reader's browser with
``lib/book_static/rfdmft-theory.js``, a JavaScript port of ``theory_laplace`` (power-law
spectrum, isotropic teacher), ``equilibrium``, ``posterior``, ``theory_discrete`` and
``rf_theory``/``rf_equilibrium``. On the
page every explorer, including the simulator-based :func:`explorer`, therefore draws the DMFT
theory, and says so;
the page also offers an ``M`` slider (target modes, as multiples of ``N``) wherever ``N`` is
live.
"""

from __future__ import annotations

import functools
import html
import json
import re
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from .model import ErrorCurve, Params
from .plotting import PART_COLORS, PART_LABELS, log_axes, plot_curve, plot_limit, plot_parts
from .simulation import HeavyTailWarning, heavy_tailed, simulate

__all__ = ["SIZES", "LEVELS", "THEORY_SIZES", "THEORY_LEVELS", "BAYES_VARIANCES",
           "M_FACTORS", "ETAS", "BATCHES", "Explorer", "explorer_times", "draw_explorer",
           "explorer", "draw_theory", "theory_explorer", "draw_posterior_curves",
           "bayes_explorer", "discrete_times", "draw_discrete", "discrete_explorer", "draw_rf",
           "rf_explorer"]

#: Values offered by the ``N`` and ``P`` sliders.
SIZES = (25, 50, 100, 200, 400)
#: Values offered by the ``N`` and ``P`` sliders of the theory explorer.
THEORY_SIZES = (50, 100, 200, 400, 800, 1600, 3200, 6400)
#: Values offered by the ``sigma2``, ``gamma`` and ``T`` sliders.
LEVELS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Values offered by the ``sigma2``, ``gamma`` and ``T`` sliders of the theory explorer.
THEORY_LEVELS = (0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Values offered by the prior-variance and noise-variance sliders of the Bayesian explorer.
BAYES_VARIANCES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Target modes ``M`` offered on the book's pages, as multiples of ``N`` (page only).
M_FACTORS = (1, 2, 4, 10)
#: Learning rates offered by the discrete-time explorer, as fractions of the stability edge
#: of gradient descent ``2 / (gamma + h_max)`` (:func:`rfdmft.discrete.gd_stability_edge`).
ETAS = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
#: Minibatch sizes offered by the discrete-time explorer (0: full batch, gradient descent).
BATCHES = (0, 1, 2, 4, 8, 16, 32, 64)

_SYMBOLS = {"alpha": r"\(\alpha\)", "N": r"\(N\)", "P": r"\(P\)", "sigma2": r"\(\sigma^2\)",
            "gamma": r"\(\gamma\)", "T": r"\(T\)", "prior_variance": "prior var.",
            "noise_variance": "noise var.", "eta": r"\(\mathrm{lr}/\mathrm{lr}_{\max}\)",
            "batch": r"\(B\)"}
#: How a slider shows some values (others: as they are).
_NAMES = {"batch": {0: "full"}}


def explorer_times(points: int = 25, t_max: float = 1e4) -> np.ndarray:
    """Log-spaced times from ``0.01`` to ``t_max``."""
    return np.logspace(-2, np.log10(t_max), points)


def draw_explorer(ax, params: Params, designs: int = 4, seed: int = 0,
                  times=None) -> ErrorCurve:
    """Simulate ``params`` and draw its error parts on ``ax`` (log axes); returns the curve.

    Where an equilibrium exists, the long-time limit ``E_g(t = inf)`` is added as a dotted line:
    the mean over designs, or their median where the mean is infinite (:func:`heavy_tailed`).
    """
    t = explorer_times() if times is None else np.asarray(times, dtype=float)
    if params.has_equilibrium:
        t = np.append(t, np.inf)
    with warnings.catch_warnings():           # heavy tails are handled below, not warned about
        warnings.simplefilter("ignore", HeavyTailWarning)
        curve = simulate(params, t, designs=designs, seed=seed)
    plot_parts(ax, curve)                      # drops t = inf from the log axes
    if params.has_equilibrium:
        if heavy_tailed(params, [np.inf])[0]:
            plot_limit(ax, curve.error_median[-1], color=PART_COLORS["error"],
                       label=r"$E_g(t=\infty)$, median" "\n" "(the mean is infinite)")
        else:
            plot_limit(ax, curve.error[-1], color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return curve


def _sliders(values: dict, options: dict) -> dict:
    """One slider per entry of ``values``: ``alpha`` on [0.25, 3] in steps of 0.25, every other
    parameter choosing from ``options[name]``. Refuses defaults the sliders cannot show."""
    import ipywidgets as widgets

    sliders = {}
    for name, value in values.items():
        if name == "alpha":
            if not 0.25 <= value <= 3.0:
                raise ValueError(f"alpha must be between 0.25 and 3, got {value!r}")
            sliders[name] = widgets.FloatSlider(value=value, min=0.25, max=3.0, step=0.25,
                                                description=_SYMBOLS[name],
                                                continuous_update=False)
        else:
            if value not in options[name]:
                raise ValueError(f"{name} must be one of {options[name]}, got {value!r}")
            names = _NAMES.get(name, {})
            sliders[name] = widgets.SelectionSlider(
                options=[(names.get(v, str(v)), v) for v in options[name]], value=value,
                description=_SYMBOLS[name], continuous_update=False)
    return sliders


def _clear_data(ax) -> None:
    """Remove what a ``draw`` function added to ``ax`` but keep the axes and their ticks:
    building tick objects anew is most of the cost of a redraw."""
    for container in list(ax.containers):
        container.remove()
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set_prop_cycle(None)
    ax.relim()


class _Page:
    """What the book's page needs to rebuild an explorer in the browser (``data-config``)."""

    def __init__(self, kind: str, source: str, values: dict, controls, options: dict, **extra):
        self.config = dict(kind=kind, notebook_source=source, values=values,
                           controls=list(controls), options={k: list(v) for k, v in
                                                             options.items()},
                           alpha=dict(min=0.25, max=3.0, step=0.25),
                           colors=dict(PART_COLORS),
                           labels={k: re.sub(r"\$E_g\$", "E<sub>g</sub>", v)
                                   for k, v in PART_LABELS.items()},
                           **extra)

    def html(self) -> str:
        config = json.dumps(self.config, separators=(",", ":"), allow_nan=False)
        return ('<div class="rfdmft-explorer" data-kind="{}" data-config="{}">'
                '<noscript><p class="rfdmft-noscript">This interactive figure is drawn by '
                'JavaScript in your browser; with JavaScript off it cannot be shown. Run the '
                'chapter as a notebook to use it.</p></noscript></div>'
                ).format(html.escape(self.config["kind"]), html.escape(config, quote=True))


class Explorer:
    """Mixin: the display bundle of an explorer is its widget view plus, as ``text/html``,
    the placeholder the book's pages turn into live sliders (see the module docstring)."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/html"] = self.page.html()
        return bundle


@functools.lru_cache(maxsize=1)
def _explorer_box_class():
    import ipywidgets as widgets

    class ExplorerBox(Explorer, widgets.VBox):
        """Sliders, the figure and a status line; shows as live HTML on the book's pages."""

    return ExplorerBox


def _explorer_box(children, page):
    box = _explorer_box_class()(children)
    box.page = page
    return box


def _live_figure(sliders: dict, draw, page: _Page):
    """Sliders (rows of three) above a figure redrawn by ``draw(ax, **values)`` on release,
    and a status line saying what is drawn (``page.config["notebook_source"]``).

    One figure (fixed margins, room on the right for a legend) is kept and only its data are
    replaced; each redraw is rendered once to PNG.
    """
    import io

    import ipywidgets as widgets
    from IPython.display import Image, display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)              # one renderer for every redraw: it caches the typeset text
    ax = fig.add_axes((0.09, 0.14, 0.56, 0.82))
    source = page.config["notebook_source"]
    status = widgets.HTML(value=f"{source}: computing")

    def update(**values):
        start = time.perf_counter()
        _clear_data(ax)
        try:
            drawn = draw(ax, **values)
        except (ValueError, RuntimeError) as err:
            status.value = f"{source}: not drawn: {html.escape(str(err))}"
            raise
        ax.autoscale_view()
        png = io.BytesIO()
        fig.savefig(png, format="png")
        display(Image(data=png.getvalue(), format="png"))
        status.value = f"{source}, computed by Python in {time.perf_counter() - start:.2f} s"
        if isinstance(drawn, str):                 # a note from the drawing (draw_rf's)
            status.value += f". {html.escape(drawn)}"

    output = widgets.interactive_output(update, sliders)
    items = list(sliders.values())
    rows = [widgets.HBox(items[i:i + 3]) for i in range(0, len(items), 3)]
    return _explorer_box([*rows, output, status], page)


def explorer(alpha: float = 1.0, N: int = 200, P: int = 100, sigma2: float = 0.01,
             gamma: float = 0.0, T: float = 0.0, designs: int = 4, seed: int = 0):
    """Sliders for ``alpha, N, P, sigma2, gamma, T`` above a live figure of the simulated
    ``E_g(t)`` (:func:`draw_explorer`).

    Returns an :class:`Explorer` widget; as the last expression of a cell it shows the
    figure for the default values. On the book's pages the same cell shows live sliders
    that redraw the DMFT theory in the browser (not the simulator), with an ``M`` slider;
    the status line says which is drawn.
    """
    values = dict(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T)
    options = dict(N=SIZES, P=SIZES, sigma2=LEVELS, gamma=LEVELS, T=LEVELS)
    sliders = _sliders(values, options)
    page = _Page("theory", f"exact simulator, {designs} designs", dict(values, M=N),
                 [*values, "M"], dict(options, M=M_FACTORS),
                 times=explorer_times(61, 1e5).tolist(), compare_gamma=False)
    return _live_figure(sliders,
                        lambda ax, **v: draw_explorer(ax, Params(**v), designs=designs, seed=seed),
                        page)


def draw_theory(ax, params: Params, times=None, compare_gamma: bool = False) -> ErrorCurve:
    """Draw the DMFT error and its parts for ``params`` as lines on ``ax`` (log axes).

    Uses :func:`rfdmft.laplace.theory_laplace` at ``times`` (default: 61 from 0.01 to 1e5);
    where an equilibrium exists, the long-time limit ``E_g(t = inf)`` is a dotted line. With
    ``compare_gamma`` and ``gamma > 0``, gradient flow without weight decay is added as a thin
    grey line. Returns the curve.
    """
    from .laplace import theory_laplace

    t = explorer_times(61, 1e5) if times is None else np.asarray(times, dtype=float)
    if params.has_equilibrium:
        t = np.append(t, np.inf)
    curve = theory_laplace(params, t)
    for part in ("bias", "label_variance", "thermal_variance"):
        y = getattr(curve, part)
        if np.any(y[np.isfinite(t)] > 0):
            plot_curve(ax, curve, part, kind="theory", color=PART_COLORS[part],
                       label=PART_LABELS[part], limit=False)
    plot_curve(ax, curve, kind="theory", color=PART_COLORS["error"], label=PART_LABELS["error"],
               limit=False)
    if compare_gamma and params.gamma > 0:
        finite = t[np.isfinite(t)]
        plain = theory_laplace(params.replace(gamma=0.0), finite)
        ax.plot(finite, plain.error, color="0.6", linewidth=1, label=r"$E_g$ at $\gamma = 0$")
    if params.has_equilibrium:
        plot_limit(ax, curve.error[-1], color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return curve


def theory_explorer(alpha: float = 1.0, N: int = 800, P: int = 200, sigma2: float = 0.01,
                    gamma: float = 0.0, T: float = 0.0,
                    controls=("alpha", "N", "P", "sigma2", "gamma", "T"),
                    compare_gamma: bool = False):
    """Sliders for the parameters named in ``controls`` above a live figure of the DMFT
    ``E_g(t)`` (:func:`draw_theory`); the other parameters keep their given values.

    Like :func:`explorer`, but the curves are the Laplace-domain theory (lines), which takes
    a fraction of a second even for ``N, P = 6400``. Returns an :class:`Explorer` widget;
    as the last expression of a cell it shows the figure for the default values, and on the
    book's pages live sliders (the same theory, computed in the browser; an ``M`` slider
    joins when ``N`` is among the controls).
    """
    values = dict(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T)
    if not controls or any(name not in values for name in controls):
        raise ValueError(f"controls must be a non-empty subset of {tuple(values)}, got {controls!r}")
    options = dict(N=THEORY_SIZES, P=THEORY_SIZES, sigma2=THEORY_LEVELS, gamma=THEORY_LEVELS,
                   T=THEORY_LEVELS)
    Params(**values)                                    # fixed values are checked here too
    fixed = {name: value for name, value in values.items() if name not in controls}
    sliders = _sliders({name: values[name] for name in controls}, options)
    page = _Page("theory", "DMFT theory (theory_laplace)", dict(values, M=N),
                 [*controls, *(["M"] if "N" in controls else [])], dict(options, M=M_FACTORS),
                 times=explorer_times(61, 1e5).tolist(), compare_gamma=bool(compare_gamma))
    return _live_figure(sliders, lambda ax, **v: draw_theory(ax, Params(**fixed, **v),
                                                             compare_gamma=compare_gamma),
                        page)


def draw_posterior_curves(ax, params: Params, prior_variance: float, noise_variance: float,
                          Ps=None) -> dict:
    """Learning curves ``E(P)`` of the GP posterior with the given prior and noise variances.

    Data come from ``params`` (its ``alpha, N, M, sigma2`` and teacher; its ``P, gamma, T``
    are ignored). Draws the error of the posterior mean, of one posterior sample and the
    posterior variance (lines), and the Bayes-optimal posterior mean (prior variance 1, noise
    variance ``sigma2``) as a dotted grey line when ``sigma2 > 0``. Returns the arrays drawn
    (keys ``P``, ``mean``, ``sample``, ``variance``, ``optimal``; ``optimal`` is ``None``
    without label noise).
    """
    from .equilibrium import posterior

    Ps = np.unique(np.logspace(1, 4, 31).astype(int)) if Ps is None else np.asarray(Ps)
    states = [posterior(params.replace(P=int(P)), prior_variance, noise_variance) for P in Ps]
    out = dict(P=Ps, mean=np.array([s.mean_error for s in states]),
               sample=np.array([s.sample_error for s in states]),
               variance=np.array([s.posterior_variance for s in states]), optimal=None)
    ax.plot(Ps, out["mean"], color=PART_COLORS["bias"], label="posterior mean")
    ax.plot(Ps, out["sample"], color=PART_COLORS["error"], label="one posterior sample")
    ax.plot(Ps, out["variance"], color=PART_COLORS["thermal_variance"], linestyle="--",
            label="posterior variance")
    if params.sigma2 > 0:
        out["optimal"] = np.array([posterior(params.replace(P=int(P)), 1.0, params.sigma2)
                                   .mean_error for P in Ps])
        ax.plot(Ps, out["optimal"], color="0.5", linestyle=":",
                label="Bayes-optimal posterior mean")
    log_axes(ax, xlabel="training points $P$", ylabel="error")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return out


def bayes_explorer(alpha: float = 1.0, N: int = 800, sigma2: float = 0.01,
                   prior_variance: float = 1.0, noise_variance: float = 0.01):
    """Sliders for ``alpha, N, sigma2`` and the posterior's prior and noise variances above
    the learning curves of :func:`draw_posterior_curves` (equilibrium theory, fast).

    Returns an :class:`Explorer` widget; on the book's pages the same sliders are live and
    the curves are computed in the browser."""
    values = dict(alpha=alpha, N=N, sigma2=sigma2, prior_variance=prior_variance,
                  noise_variance=noise_variance)
    options = dict(N=THEORY_SIZES, sigma2=BAYES_VARIANCES, prior_variance=BAYES_VARIANCES,
                   noise_variance=BAYES_VARIANCES)

    def draw(ax, alpha, N, sigma2, prior_variance, noise_variance):
        draw_posterior_curves(ax, Params(alpha=alpha, N=N, P=1, sigma2=sigma2),
                              prior_variance, noise_variance)

    sliders = _sliders(values, options)
    Ps = np.unique(np.logspace(1, 4, 31).astype(int))          # as draw_posterior_curves
    page = _Page("bayes", "equilibrium theory (posterior)", values, list(values), options,
                 Ps=[int(P) for P in Ps])
    return _live_figure(sliders, draw, page)


def discrete_times(lr: float, points: int = 61, t_max: float = 1e5) -> np.ndarray:
    """Log-spaced times from one step (``t = lr``) to ``t_max``:
    ``lr * 10**(k L / (points - 1))``, ``L = log10(t_max / lr)``, ``k = 0..points-1`` (the
    page computes the same grid in the browser)."""
    if not (isinstance(lr, (int, float, np.floating)) and 0 < lr < t_max):
        raise ValueError(f"lr must be a number between 0 and t_max = {t_max:g}, got {lr!r}")
    return lr * np.logspace(0, np.log10(t_max / lr), points)


def draw_discrete(ax, params: Params, times=None) -> ErrorCurve:
    """Draw the discrete-time error of ``params`` (gradient descent, or minibatch SGD when
    ``params.batch`` is set, at learning rate ``params.lr``) and its parts as lines on ``ax``.

    Uses :func:`rfdmft.discrete.theory_discrete` at ``times`` (default
    :func:`discrete_times`: 61 from one step to 1e5): the bias, the label-noise variance, the
    thermal variance (``T > 0``) and, for minibatch SGD, the SGD variance (the error the
    minibatch noise adds), each where it is not zero, and the total. Gradient flow
    (continuous time, :func:`rfdmft.laplace.theory_laplace`, the other parameters the same) is
    a thin grey line; the legend's title gives the learning rate and batch; the y axis spans at
    most 8 decades below the largest value drawn. Raises what the
    theory raises: :class:`~rfdmft.model.DivergenceError` beyond the stability edges. Returns
    the curve.
    """
    from .discrete import theory_discrete
    from .laplace import theory_laplace

    if times is None:       # without a learning rate the theory refuses (its message)
        times = discrete_times(params.lr) if params.discrete else [1.0]
    curve = theory_discrete(params, times)
    finite = np.isfinite(curve.times)
    for part in ("bias", "label_variance", "thermal_variance", "sgd_variance"):
        y = getattr(curve, part)
        if y is not None and np.any(y[finite] > 0):
            plot_curve(ax, curve, part, kind="theory", color=PART_COLORS[part],
                       label=PART_LABELS[part], limit=False)
    plot_curve(ax, curve, kind="theory", color=PART_COLORS["error"], label=PART_LABELS["error"],
               limit=False)
    flow = theory_laplace(params.replace(lr=0.0, batch=None), curve.times[finite])
    ax.plot(curve.times[finite], flow.error, color="0.6", linewidth=1,
            label="gradient flow\n(continuous time)")
    # y: around the data, but no more than 8 decades below the largest value (the SGD variance
    # vanishes exponentially once the training loss does), as on the book's pages
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    if drawn.size:
        top = float(drawn.max())
        ax.set_ylim(max(float(drawn.min()), 1e-8 * top) / 1.5, 1.5 * top)
    log_axes(ax, xlabel=r"time $t = \mathrm{lr} \times \mathrm{steps}$")
    batch = "full batch" if params.batch is None else f"batch $B = {params.batch}$"
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small",
              title=f"lr = {params.lr:.3g}, {batch}", title_fontsize="small")
    return curve


def discrete_explorer(alpha: float = 1.0, N: int = 800, P: int = 200, sigma2: float = 0.01,
                      gamma: float = 0.0, eta: float = 0.5, batch: int = 0,
                      controls=("eta", "batch", "sigma2", "P")):
    """Sliders for the parameters named in ``controls`` above a live figure of discrete-time
    training (:func:`draw_discrete`): gradient descent with a finite learning rate
    (``batch = 0``) or minibatch SGD with batches of ``batch`` points, and gradient flow for
    comparison; the other parameters keep their given values.

    ``eta`` is the learning rate as a fraction of the theory's stability edge of gradient
    descent, ``lr = eta * 2 / (gamma + h_max)`` (:func:`rfdmft.discrete.gd_stability_edge`,
    recomputed as the sliders move); the sliders offer ``ETAS`` and ``BATCHES``, and ``N, P,
    sigma2, gamma`` as :func:`theory_explorer` does (``T = 0``, ``M = N``). Where the theory
    refuses (minibatch SGD beyond its stability edge, a batch larger than ``P``) the status
    line gives the library's reason instead of a figure.

    Returns an :class:`Explorer` widget; as the last expression of a cell it shows the figure
    for the default values, and on the book's pages live sliders (the same theory, computed
    in the browser by ``rfdmft-theory.js``).
    """
    from .discrete import gd_stability_edge

    values = dict(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, eta=eta, batch=batch)
    if not controls or any(name not in values for name in controls):
        raise ValueError(f"controls must be a non-empty subset of {tuple(values)}, "
                         f"got {controls!r}")
    options = dict(N=THEORY_SIZES, P=THEORY_SIZES, sigma2=THEORY_LEVELS, gamma=THEORY_LEVELS,
                   eta=ETAS, batch=BATCHES)
    # fixed values are checked too (those of the sliders against their options below)
    Params(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 < eta < 1:
        raise ValueError("eta (the learning rate as a fraction of the stability edge of "
                         f"gradient descent) must be a number between 0 and 1, got {eta!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 0 <= batch <= P:
        raise ValueError(f"batch must be 0 (full batch) or an integer from 1 to P = {P}, "
                         f"got {batch!r}")
    fixed = {name: value for name, value in values.items() if name not in controls}
    sliders = _sliders({name: values[name] for name in controls}, options)
    page = _Page("discrete", "discrete-time DMFT theory (theory_discrete)", values, controls,
                 options, points=61, t_max=1e5)

    def draw(ax, alpha, N, P, sigma2, gamma, eta, batch):
        base = Params(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma)
        lr = eta * gd_stability_edge(base)
        draw_discrete(ax, base.replace(lr=lr, batch=None if batch == 0 else batch))

    return _live_figure(sliders, lambda ax, **v: draw(ax, **fixed, **v), page)


def draw_rf(ax, params: Params, times=None):
    """Draw the random-feature theory of ``params`` (``N`` random features of ``M`` kernel
    modes, :func:`rfdmft.rf_theory.rf_theory`) as lines on ``ax`` (log axes).

    The bias (the part ``delta`` of the target the features cannot represent and the variance
    of fitting it included), the label-noise variance and the thermal variance (each where it
    is not zero) and the total, at ``times`` (default: 61 from 0.01 to 1e5); the mode model with the same ``M, P`` and the
    first ``min(N, M)`` modes as features (:func:`rfdmft.laplace.theory_laplace`, ``features =
    "modes"``) as a thin grey line; the long-time limit (:func:`rfdmft.rf_theory.rf_equilibrium`)
    as a dotted line where the library gives it. Returns ``(curve, note)``: the finite-time curve
    and ``None``, or, where ``rf_equilibrium`` refuses (the interpolation threshold ``min(N, M) =
    P`` without weight decay; ``T > 0``, ``gamma = 0``, ``min(N, M) >= P``), ``"No t = inf
    line: "`` and its reason. Raises what ``rf_theory`` raises.
    """
    from .laplace import theory_laplace
    from .rf_theory import rf_equilibrium, rf_theory

    if params.features != "random":
        params = params.replace(features="random")
    t = explorer_times(61, 1e5) if times is None else np.asarray(times, dtype=float)
    curve = rf_theory(params, t)
    try:
        limit, note = sum(rf_equilibrium(params)), None
    except ValueError as err:
        limit, note = None, f"No t = \u221e line: {err}"
    for part in ("bias", "label_variance", "thermal_variance"):
        if np.any(getattr(curve, part) > 0):
            plot_curve(ax, curve, part, kind="theory", color=PART_COLORS[part],
                       label=PART_LABELS[part], limit=False)
    plot_curve(ax, curve, kind="theory", color=PART_COLORS["error"], label=PART_LABELS["error"],
               limit=False)
    n = min(params.N, params.M)
    modes = theory_laplace(params.replace(N=n, features="modes"), t)
    ax.plot(t, modes.error, color="0.6", linewidth=1,
            label=f"mode model\n(first {n} of the M modes)")
    if limit is not None:
        plot_limit(ax, limit, color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small",
              title=f"$N = {params.N}$ random features\nof $M = {params.M}$ modes",
              title_fontsize="small")
    return curve, note


def rf_explorer(alpha: float = 1.0, N: int = 200, M: int = 2000, P: int = 100,
                sigma2: float = 0.0, gamma: float = 0.0, T: float = 0.0,
                controls=("N", "P", "sigma2", "gamma")):
    """Sliders for the parameters named in ``controls`` above a live figure of the
    random-feature model (:func:`draw_rf`): ``N`` random features of ``M`` kernel modes (``M``
    fixed; ``N`` may exceed it), the mode model for comparison, ``t = inf`` where it exists; the
    other parameters keep their given values.

    ``controls`` is a non-empty subset of ``("alpha", "N", "P", "sigma2", "gamma", "T")``; the
    sliders offer ``THEORY_SIZES`` for ``N, P`` and ``THEORY_LEVELS`` for ``sigma2, gamma, T``
    (``alpha`` on [0.25, 3]). Where ``rf_equilibrium`` refuses (``min(N, M) = P`` without weight
    decay: the interpolation threshold) the figure has no ``t = inf`` line and the status line
    says why. Returns an :class:`Explorer` widget; as the last expression of a cell it shows
    the figure for the default values, and on the book's pages live sliders (the same theory,
    computed in the browser by ``rfdmft-theory.js``).
    """
    values = dict(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T)
    if not controls or any(name not in values for name in controls):
        raise ValueError(f"controls must be a non-empty subset of {tuple(values)}, "
                         f"got {controls!r}")
    options = dict(N=THEORY_SIZES, P=THEORY_SIZES, sigma2=THEORY_LEVELS, gamma=THEORY_LEVELS,
                   T=THEORY_LEVELS)
    Params(**values, M=M, features="random")            # fixed values are checked here too
    fixed = {name: value for name, value in values.items() if name not in controls}
    sliders = _sliders({name: values[name] for name in controls}, options)
    page = _Page("rf", "random-feature DMFT theory (rf_theory)", dict(values, M=M), controls,
                 options, times=explorer_times(61, 1e5).tolist())

    def draw(ax, **v):
        return draw_rf(ax, Params(**fixed, **v, M=M, features="random"))[1]

    return _live_figure(sliders, draw, page)
