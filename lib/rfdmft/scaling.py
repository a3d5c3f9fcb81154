r"""Scaling laws: the predicted exponents and the compute-optimal frontier.

Exponents are decay exponents: ``E_g ~ x**-exponent``. For ``lambda_k ~ k**-(1+alpha)`` and
teacher mode powers ``p_k ~ k**-beta`` (``beta = 0``: the isotropic teacher), gradient flow
without noise has

* time (``1 << P t``, before the data bottleneck): ``E_g ~ (P t)**-((alpha+beta)/(1+alpha))``;
* data (``t = inf``, ridgeless, ``N >> P``): ``E_g ~ P**-min(alpha+beta, 2(1+alpha))``;
* model size (``P >> N``, target beyond ``N``): ``E_g ~ N**-(alpha+beta)``.

Compute budget (loss summed over the data): full-batch gradient descent is stable for step
sizes up to ``~ 1 / (P lambda_1)``, so reaching time ``t`` takes ``~ P t`` steps of cost
``~ P N`` each; at fixed model size ``N`` the budget is ``C = P**2 t`` (constants dropped).
With ``E ~ (P t)**-s + P**-d`` on the line ``t = C / P**2`` the best number of data is
``P* ~ C**(s / (s + d))`` and the least error ``E* ~ C**-(s d / (s + d))``; isotropic
teacher: ``P* ~ C**(1/(2+alpha))``, ``E* ~ C**-(alpha/(2+alpha))``.
:func:`compute_optimal_frontier` finds the frontier from the DMFT theory itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .laplace import theory_laplace
from .model import Params

__all__ = ["predicted_exponents", "compute_budget", "budget_error", "Frontier",
           "compute_optimal_frontier"]


def predicted_exponents(alpha: float, beta: float = 0.0) -> dict:
    """Decay exponents of gradient flow for ``lambda_k ~ k**-(1+alpha)``, teacher ``p_k ~ k**-beta``.

    Keys: ``time`` (in ``P t``), ``data`` (in ``P``), ``model`` (in ``N``), and the frontier
    ``frontier_data`` (growth exponent of ``P*`` in ``C``) and ``frontier_error`` (decay exponent
    of ``E*`` in ``C``). Needs ``alpha > 0`` and ``alpha + beta > 0`` (a summable target).
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if alpha + beta <= 0:
        raise ValueError(f"beta must be > -alpha = {-alpha} (target power must be summable), "
                         f"got {beta}")
    s = (alpha + beta) / (1 + alpha)
    d = min(alpha + beta, 2 * (1 + alpha))
    return {"time": s, "data": d, "model": alpha + beta,
            "frontier_data": s / (s + d), "frontier_error": s * d / (s + d)}


def compute_budget(P, t):
    """Compute ``C = P**2 t`` of full-batch gradient descent to time ``t`` (fixed ``N``)."""
    return np.asarray(P, dtype=float) ** 2 * np.asarray(t, dtype=float)


def budget_error(params: Params, P: int, budget) -> np.ndarray:
    """Theory error ``E_g(P, t = C / P**2)`` for the budgets ``C`` (``params`` with ``P`` replaced)."""
    budget = np.asarray(budget, dtype=float).reshape(-1)
    if not np.all(np.isfinite(budget) & (budget > 0)):
        raise ValueError(f"budget must be positive and finite, got {budget!r}")
    return theory_laplace(params.replace(P=int(P)), budget / float(P) ** 2).error


@dataclass(frozen=True)
class Frontier:
    """Compute-optimal frontier: for each budget ``C`` the optimal ``P`` (and ``t = C / P**2``)
    and the least error; ``grid_P`` and ``grid_error`` (``len(grid_P) x len(budgets)``) are the
    theory errors along each budget line from which it was found."""

    budgets: np.ndarray
    P: np.ndarray
    t: np.ndarray
    error: np.ndarray
    grid_P: np.ndarray
    grid_error: np.ndarray


def compute_optimal_frontier(params: Params, budgets, Ps) -> Frontier:
    """Least theory error at each compute budget ``C = P**2 t``, minimised over ``P``.

    For every ``P`` in ``Ps`` (integers, increasing, >= 3 values) the error on the budget line
    ``t = C / P**2`` comes from :func:`rfdmft.laplace.theory_laplace` with ``params`` (``P``
    replaced; ``N`` fixed, choose it large enough not to limit the error). The grid minimum
    is refined by the parabola through it and its two neighbours in ``(log P, log E)``. A
    minimum at either end of ``Ps`` raises ``ValueError`` (widen ``Ps``).
    """
    budgets = np.asarray(budgets, dtype=float).reshape(-1)
    if budgets.size == 0 or not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise ValueError(f"budgets must be positive finite numbers, got {budgets!r}")
    Ps = np.asarray(Ps).reshape(-1)
    if Ps.size < 3 or not np.issubdtype(Ps.dtype, np.integer) or Ps.min() < 1 \
            or np.any(np.diff(Ps) <= 0):
        raise ValueError(f"Ps must be at least 3 increasing integers >= 1, got {Ps!r}")
    grid = np.array([budget_error(params, int(P), budgets) for P in Ps])
    u, v = np.log(Ps.astype(float)), np.log(grid)
    P_opt = np.empty(budgets.size)
    E_opt = np.empty(budgets.size)
    for j in range(budgets.size):
        i = int(np.argmin(v[:, j]))
        if i == 0 or i == Ps.size - 1:
            raise ValueError(f"budgets: the optimum for C = {budgets[j]:.3g} lies at the edge of "
                             f"Ps (P = {Ps[i]}); widen Ps or narrow the budgets")
        a, b, c = np.polyfit(u[i - 1:i + 2], v[i - 1:i + 2, j], 2)
        x = -b / (2 * a) if a > 0 else u[i]
        x = min(max(x, u[i - 1]), u[i + 1])
        P_opt[j] = math.exp(x)
        E_opt[j] = math.exp(min(a * x * x + b * x + c, v[i, j]))
    return Frontier(budgets=budgets, P=P_opt, t=budgets / P_opt**2, error=E_opt,
                    grid_P=Ps.copy(), grid_error=grid)
