"""Interactive figures for the chapters (ipywidgets).

The explorer recomputes the error curve with the exact simulator (``simulate``) each time a
slider is released. It uses a few designs and at most ``N, P = 400`` so that this takes a
fraction of a second; its markers carry the standard error over those designs.

The theory explorer draws the DMFT prediction (``theory_laplace``, lines) instead; it is
fast enough for much larger models (``N, P`` up to 6400).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .model import ErrorCurve, Params
from .plotting import PART_COLORS, PART_LABELS, log_axes, plot_curve, plot_limit, plot_parts
from .simulation import simulate

__all__ = ["SIZES", "LEVELS", "THEORY_SIZES", "explorer_times", "draw_explorer", "explorer",
           "draw_theory", "theory_explorer"]

#: Values offered by the ``N`` and ``P`` sliders.
SIZES = (25, 50, 100, 200, 400)
#: Values offered by the ``N`` and ``P`` sliders of the theory explorer.
THEORY_SIZES = (50, 100, 200, 400, 800, 1600, 3200, 6400)
#: Values offered by the ``sigma2``, ``gamma`` and ``T`` sliders.
LEVELS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def explorer_times(points: int = 25, t_max: float = 1e4) -> np.ndarray:
    """Log-spaced times from ``0.01`` to ``t_max``."""
    return np.logspace(-2, np.log10(t_max), points)


def draw_explorer(ax, params: Params, designs: int = 4, seed: int = 0,
                  times=None) -> ErrorCurve:
    """Simulate ``params`` and draw its error parts on ``ax`` (log axes); returns the curve.

    Where an equilibrium exists, the long-time limit ``E_g(t = inf)`` is added as a dotted line.
    """
    t = explorer_times() if times is None else np.asarray(times, dtype=float)
    if params.has_equilibrium:
        t = np.append(t, np.inf)
    curve = simulate(params, t, designs=designs, seed=seed)
    plot_parts(ax, curve)                      # drops t = inf from the log axes
    if params.has_equilibrium:
        plot_limit(ax, curve.error[-1], color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return curve


def explorer(alpha: float = 1.0, N: int = 200, P: int = 100, sigma2: float = 0.01,
             gamma: float = 0.0, T: float = 0.0, designs: int = 4, seed: int = 0):
    """Sliders for ``alpha, N, P, sigma2, gamma, T`` above a live figure of ``E_g(t)``.

    Returns the widget; as the last expression of a cell it shows the figure for the
    default values, which is also what a static page shows.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def choice(name, symbol, options, value):
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        return widgets.SelectionSlider(options=options, value=value, description=symbol,
                                       continuous_update=False)

    if not 0.25 <= alpha <= 3.0:
        raise ValueError(f"alpha must be between 0.25 and 3, got {alpha!r}")
    controls = {
        "alpha": widgets.FloatSlider(value=alpha, min=0.25, max=3.0, step=0.25,
                                     description=r"\(\alpha\)", continuous_update=False),
        "N": choice("N", r"\(N\)", SIZES, N),
        "P": choice("P", r"\(P\)", SIZES, P),
        "sigma2": choice("sigma2", r"\(\sigma^2\)", LEVELS, sigma2),
        "gamma": choice("gamma", r"\(\gamma\)", LEVELS, gamma),
        "T": choice("T", r"\(T\)", LEVELS, T),
    }

    def update(alpha, N, P, sigma2, gamma, T):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        draw_explorer(ax, Params(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T),
                      designs=designs, seed=seed)
        fig.tight_layout()
        display(fig)
        plt.close(fig)

    output = widgets.interactive_output(update, controls)
    sliders = list(controls.values())
    return widgets.VBox([widgets.HBox([widgets.VBox(sliders[:3]), widgets.VBox(sliders[3:])]),
                         output])


# --------------------------------------------------------------------------------------------
# regime explorer (fast DMFT theory with chosen sliders, for the gradient-flow chapters)
# --------------------------------------------------------------------------------------------

__all__ += ["REGIME_LEVELS", "draw_regime_theory", "regime_explorer"]

#: Values offered by the ``sigma2`` and ``gamma`` sliders of :func:`regime_explorer`
#: (its ``N`` and ``P`` sliders offer ``THEORY_SIZES``).
REGIME_LEVELS = (0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def draw_regime_theory(ax, params: Params, times=None, compare_gamma: bool = False) -> ErrorCurve:
    """Draw the DMFT theory (``theory_laplace``) of ``params``: its parts and the total as lines.

    The long-time limit, where it exists and is finite, is a dotted line. With
    ``compare_gamma`` and ``params.gamma > 0``, gradient flow without weight decay
    (``gamma = 0``) is added as a thin grey line for comparison. Returns the curve drawn.
    """
    from .laplace import theory_laplace
    from .plotting import PART_LABELS

    t = explorer_times(61, 1e5) if times is None else np.asarray(times, dtype=float)
    curve = theory_laplace(params, np.append(t, np.inf) if params.has_equilibrium else t)
    finite = np.isfinite(curve.times)
    for part in ("bias", "label_variance", "thermal_variance"):
        y = getattr(curve, part)[finite]
        if np.any(y > 0):
            ax.plot(curve.times[finite], y, color=PART_COLORS[part], linewidth=1,
                    label=PART_LABELS[part])
    ax.plot(curve.times[finite], curve.error[finite], color=PART_COLORS["error"], linewidth=2,
            label=PART_LABELS["error"])
    if compare_gamma and params.gamma > 0:
        plain = theory_laplace(params.replace(gamma=0.0), t)
        ax.plot(t, plain.error, color="0.6", linewidth=1, label=r"$E_g$ at $\gamma = 0$")
    if not finite.all() and np.isfinite(curve.error[-1]) and curve.error[-1] > 0:
        plot_limit(ax, curve.error[-1], color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return curve


def regime_explorer(alpha: float = 1.0, N: int = 800, P: int = 200, sigma2: float = 0.0,
                    gamma: float = 0.0, controls=("alpha", "N", "P", "sigma2"),
                    compare_gamma: bool = False):
    """Sliders for the parameters named in ``controls`` above a live figure of the DMFT theory.

    Unlike :func:`theory_explorer` (all six parameters), it shows only the sliders that matter
    in a chapter and can add gradient flow without weight decay for comparison.
    ``controls`` is a subset of ``("alpha", "N", "P", "sigma2", "gamma")``; the others stay at
    their given values (``T = 0``: gradient flow, with weight decay if ``gamma > 0``). Uses
    :func:`draw_regime_theory`; as the last expression of a cell it shows the default figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    allowed = ("alpha", "N", "P", "sigma2", "gamma")
    unknown = [name for name in controls if name not in allowed]
    if unknown or not controls:
        raise ValueError(f"controls must be a non-empty subset of {allowed}, got {controls!r}")
    if not 0.25 <= alpha <= 3.0:
        raise ValueError(f"alpha must be between 0.25 and 3, got {alpha!r}")
    values = dict(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma)
    options = dict(N=THEORY_SIZES, P=THEORY_SIZES, sigma2=REGIME_LEVELS, gamma=REGIME_LEVELS)
    symbols = dict(alpha=r"\(\alpha\)", N=r"\(N\)", P=r"\(P\)", sigma2=r"\(\sigma^2\)",
                   gamma=r"\(\gamma\)")
    sliders = {}
    for name in controls:
        if name == "alpha":
            sliders[name] = widgets.FloatSlider(value=alpha, min=0.25, max=3.0, step=0.25,
                                                description=symbols[name],
                                                continuous_update=False)
        else:
            if values[name] not in options[name]:
                raise ValueError(f"{name} must be one of {options[name]}, got {values[name]!r}")
            sliders[name] = widgets.SelectionSlider(options=options[name], value=values[name],
                                                    description=symbols[name],
                                                    continuous_update=False)

    def update(**changed):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        draw_regime_theory(ax, Params(**{**values, **changed}), compare_gamma=compare_gamma)
        fig.tight_layout()
        display(fig)
        plt.close(fig)

    output = widgets.interactive_output(update, sliders)
    return widgets.VBox([widgets.HBox(list(sliders.values())[:3]),
                         widgets.HBox(list(sliders.values())[3:]), output])


# --------------------------------------------------------------------------------------------
# Bayesian and Langevin explorers (equilibrium and DMFT theory, for the regime chapters)
# --------------------------------------------------------------------------------------------

__all__ += ["BAYES_VARIANCES", "LANGEVIN_LEVELS", "draw_posterior_curves", "bayes_explorer",
            "langevin_explorer"]

#: Values offered by the prior-variance and noise-variance sliders of the Bayesian explorer.
BAYES_VARIANCES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Values offered by the ``sigma2``, ``gamma`` and ``T`` sliders of the Langevin explorer.
LANGEVIN_LEVELS = (0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


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
    the learning curves of :func:`draw_posterior_curves` (equilibrium theory, fast)."""
    import ipywidgets as widgets
    from IPython.display import display

    if not 0.25 <= alpha <= 3.0:
        raise ValueError(f"alpha must be between 0.25 and 3, got {alpha!r}")
    choices = dict(N=(THEORY_SIZES, N), sigma2=(BAYES_VARIANCES, sigma2),
                   prior_variance=(BAYES_VARIANCES, prior_variance),
                   noise_variance=(BAYES_VARIANCES, noise_variance))
    symbols = dict(N=r"\(N\)", sigma2=r"\(\sigma^2\)", prior_variance="prior var.",
                   noise_variance="noise var.")
    sliders = {"alpha": widgets.FloatSlider(value=alpha, min=0.25, max=3.0, step=0.25,
                                            description=r"\(\alpha\)", continuous_update=False)}
    for name, (options, value) in choices.items():
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        sliders[name] = widgets.SelectionSlider(options=options, value=value,
                                                description=symbols[name],
                                                continuous_update=False)

    def update(alpha, N, sigma2, prior_variance, noise_variance):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        draw_posterior_curves(ax, Params(alpha=alpha, N=N, P=1, sigma2=sigma2),
                              prior_variance, noise_variance)
        fig.tight_layout()
        display(fig)
        plt.close(fig)

    output = widgets.interactive_output(update, sliders)
    items = list(sliders.values())
    return widgets.VBox([widgets.HBox(items[:3]), widgets.HBox(items[3:]), output])


def langevin_explorer(alpha: float = 1.0, N: int = 800, P: int = 200, sigma2: float = 0.01,
                      gamma: float = 0.01, T: float = 0.01):
    """Sliders for ``alpha, N, P, sigma2, gamma, T`` above the DMFT theory of Langevin
    training (:func:`draw_theory`, which accepts any ``T``): the parts of ``E_g(t)`` and,
    where an equilibrium exists, its long-time limit."""
    import ipywidgets as widgets
    from IPython.display import display

    if not 0.25 <= alpha <= 3.0:
        raise ValueError(f"alpha must be between 0.25 and 3, got {alpha!r}")
    choices = dict(N=(THEORY_SIZES, N), P=(THEORY_SIZES, P), sigma2=(LANGEVIN_LEVELS, sigma2),
                   gamma=(LANGEVIN_LEVELS, gamma), T=(LANGEVIN_LEVELS, T))
    sliders = {"alpha": widgets.FloatSlider(value=alpha, min=0.25, max=3.0, step=0.25,
                                            description=r"\(\alpha\)", continuous_update=False)}
    for name, (options, value) in choices.items():
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        symbol = {"sigma2": r"\(\sigma^2\)", "gamma": r"\(\gamma\)"}.get(name, rf"\({name}\)")
        sliders[name] = widgets.SelectionSlider(options=options, value=value,
                                                description=symbol, continuous_update=False)

    def update(**values):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        draw_theory(ax, Params(**values))
        fig.tight_layout()
        display(fig)
        plt.close(fig)

    output = widgets.interactive_output(update, sliders)
    items = list(sliders.values())
    return widgets.VBox([widgets.HBox(items[:3]), widgets.HBox(items[3:]), output])


def draw_theory(ax, params: Params, times=None) -> ErrorCurve:
    """Draw the DMFT error and its parts for ``params`` as lines on ``ax`` (log axes).

    Uses :func:`rfdmft.laplace.theory_laplace`; where an equilibrium exists, the long-time
    limit ``E_g(t = inf)`` is added as a dotted line. Returns the curve.
    """
    from .laplace import theory_laplace

    t = explorer_times(points=61) if times is None else np.asarray(times, dtype=float)
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
    if params.has_equilibrium:
        plot_limit(ax, curve.error[-1], color=PART_COLORS["error"], label=r"$E_g(t=\infty)$")
    log_axes(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return curve


def theory_explorer(alpha: float = 1.0, N: int = 800, P: int = 200, sigma2: float = 0.01,
                    gamma: float = 0.0, T: float = 0.0):
    """Sliders for ``alpha, N, P, sigma2, gamma, T`` above a live figure of the DMFT ``E_g(t)``.

    Like :func:`explorer`, but the curves are the Laplace-domain theory (lines), which takes
    a fraction of a second even for ``N, P = 6400``. Returns the widget; as the last
    expression of a cell it shows the figure for the default values.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def choice(name, symbol, options, value):
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        return widgets.SelectionSlider(options=options, value=value, description=symbol,
                                       continuous_update=False)

    if not 0.25 <= alpha <= 3.0:
        raise ValueError(f"alpha must be between 0.25 and 3, got {alpha!r}")
    controls = {
        "alpha": widgets.FloatSlider(value=alpha, min=0.25, max=3.0, step=0.25,
                                     description=r"\(\alpha\)", continuous_update=False),
        "N": choice("N", r"\(N\)", THEORY_SIZES, N),
        "P": choice("P", r"\(P\)", THEORY_SIZES, P),
        "sigma2": choice("sigma2", r"\(\sigma^2\)", LEVELS, sigma2),
        "gamma": choice("gamma", r"\(\gamma\)", LEVELS, gamma),
        "T": choice("T", r"\(T\)", LEVELS, T),
    }

    def update(alpha, N, P, sigma2, gamma, T):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        draw_theory(ax, Params(alpha=alpha, N=N, P=P, sigma2=sigma2, gamma=gamma, T=T))
        fig.tight_layout()
        display(fig)
        plt.close(fig)

    output = widgets.interactive_output(update, controls)
    sliders = list(controls.values())
    return widgets.VBox([widgets.HBox([widgets.VBox(sliders[:3]), widgets.VBox(sliders[3:])]),
                         output])
