"""Interactive figures for the chapters (ipywidgets).

The explorer recomputes the error curve with the exact simulator (``simulate``) each time a
slider is released. It uses a few designs and at most ``N, P = 400`` so that this takes a
fraction of a second; its markers carry the standard error over those designs.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .model import ErrorCurve, Params
from .plotting import PART_COLORS, log_axes, plot_limit, plot_parts
from .simulation import simulate

__all__ = ["SIZES", "LEVELS", "explorer_times", "draw_explorer", "explorer"]

#: Values offered by the ``N`` and ``P`` sliders.
SIZES = (25, 50, 100, 200, 400)
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
