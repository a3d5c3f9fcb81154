"""Power-law fits with an honest uncertainty.

``fit_power_law`` fits ``y = prefactor * x**exponent`` by least squares on ``(log x, log y)``
inside a window of ``x`` and reports uncertainties of the exponent:

* ``stderr`` (statistical): the standard error of the least-squares slope. With ``sem`` given
  (standard errors of ``y``), the fit is weighted with ``sigma_i = sem_i / y_i``, the standard
  error of ``log y_i`` to first order, and ``stderr`` is the absolute one from the weights (not
  rescaled by the residuals). Without ``sem`` the scatter of the residuals sets it
  (``s**2 = RSS / (n - 2)``), which needs at least three points.
* ``systematic``: how much the local slope drifts across the window, the difference between
  the slopes fitted on the lower and on the upper half of the points in the window. It is zero
  for a true power law. If the corrections to the power law fall off fast enough across the
  window (like ``x**-theta``, ``theta >~ 0.7``, over a window of a decade or more) it also
  bounds the distance of the fitted exponent from the asymptotic one; slower corrections need
  larger systems (see ``finite_size`` below). On noisy data it also carries some noise, so it
  errs on the conservative side.

A third, optional part, ``finite_size``, is set by :meth:`PowerLawFit.with_finite_size`: the
largest change of the exponent when a size of the system (e.g. ``N``, ``P``, or the fitted
range when it is itself a size) is reduced, for fits whose asymptote needs larger systems. ``uncertainty`` combines all three in quadrature
and is the number to compare a prediction with. ``local_slope`` gives ``d log y / d log x``
pointwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["PowerLawFit", "fit_power_law", "local_slope"]


@dataclass(frozen=True)
class PowerLawFit:
    """Result of :func:`fit_power_law`: ``y ~ prefactor * x**exponent`` on ``window``.

    ``stderr`` is the statistical and ``systematic`` the drift-of-slope uncertainty of the
    exponent; ``points`` is the number of data points inside ``window = (lo, hi)``.
    """

    exponent: float
    stderr: float
    systematic: float
    prefactor: float
    window: tuple[float, float]
    points: int
    finite_size: float = 0.0

    @property
    def uncertainty(self) -> float:
        """Total uncertainty of the exponent: ``stderr``, ``systematic`` and ``finite_size``
        added in quadrature."""
        return math.sqrt(self.stderr**2 + self.systematic**2 + self.finite_size**2)

    def with_finite_size(self, *smaller: "PowerLawFit") -> "PowerLawFit":
        """A copy with ``finite_size`` the largest ``|exponent - s.exponent|`` over ``smaller``:
        the same fit on systems reduced in size, one fit per size reduced (reduce one size at a
        time: corrections from different sizes can cancel when reduced together). If the
        distance to the asymptote falls like ``size**-theta`` with ``theta >= 1/2``, dividing a
        size by 4 changes the exponent by at least the remaining distance."""
        if not smaller:
            raise ValueError("smaller must be at least one PowerLawFit, got none")
        return replace(self, finite_size=max(abs(self.exponent - s.exponent) for s in smaller))

    def __call__(self, x):
        """The fitted power law at ``x``."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def consistent_with(self, value: float, k: float = 1.0) -> bool:
        """Whether ``|exponent - value| <= k * uncertainty``."""
        return bool(abs(self.exponent - value) <= k * self.uncertainty)

    def __str__(self) -> str:
        return f"{self.exponent:.3f} ± {self.uncertainty:.3f}"


def _positive_finite(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be positive and finite, got {name}[{i}] = {arr[i]!r}")
    return arr


def _line(u, v, w):
    """Weighted least squares ``v = a + b u`` with weights ``w``; returns (b, a, var_b_unit).

    ``var_b_unit = 1 / sum(w (u - ubar)**2)`` is the slope variance for unit-variance weights.
    """
    sw = np.sum(w)
    ubar = np.sum(w * u) / sw
    vbar = np.sum(w * v) / sw
    sxx = np.sum(w * (u - ubar) ** 2)
    if not sxx > 0:
        raise ValueError("x must take at least two distinct values inside the window")
    b = np.sum(w * (u - ubar) * (v - vbar)) / sxx
    return float(b), float(vbar - b * ubar), float(1.0 / sxx)


def fit_power_law(x, y, window=None, sem=None) -> PowerLawFit:
    """Fit ``y ~ prefactor * x**exponent`` in log-log over ``window[0] <= x <= window[1]``.

    ``x``, ``y`` (and ``sem``, standard errors of ``y``, optional) are positive finite 1-D arrays
    of equal length; ``window=None`` uses all points. The window must hold at least three
    points. See the module docstring for the meaning of ``stderr`` and ``systematic``.
    """
    x = _positive_finite("x", x)
    y = _positive_finite("y", y)
    if y.shape != x.shape:
        raise ValueError(f"y must have the length of x ({x.size}), got {y.size}")
    if sem is not None:
        sem = _positive_finite("sem", sem)
        if sem.shape != x.shape:
            raise ValueError(f"sem must have the length of x ({x.size}), got {sem.size}")
    if window is None:
        lo, hi = float(x.min()), float(x.max())
    else:
        try:
            lo, hi = (float(v) for v in window)
        except (TypeError, ValueError):
            raise ValueError(f"window must be a pair (lo, hi) or None, got {window!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f"window must satisfy 0 < lo < hi (finite), got {window!r}")
    inside = (x >= lo) & (x <= hi)
    n = int(np.count_nonzero(inside))
    if n < 3:
        raise ValueError(f"window {(lo, hi)} holds {n} points of x, at least 3 are needed")
    order = np.argsort(x[inside], kind="stable")
    u = np.log(x[inside][order])
    v = np.log(y[inside][order])
    if sem is None:
        w = np.ones(n)
    else:
        w = (y[inside][order] / sem[inside][order]) ** 2   # 1 / sigma_log_y**2
    slope, intercept, var_unit = _line(u, v, w)
    if sem is None:
        rss = float(np.sum((v - intercept - slope * u) ** 2))
        stderr = math.sqrt(rss / (n - 2) * var_unit)
    else:
        stderr = math.sqrt(var_unit)
    half = (n + 1) // 2                          # overlapping halves when n is odd
    lower = slice(0, half)
    upper = slice(n - half, n)
    try:
        s_lo = _line(u[lower], v[lower], w[lower])[0]
        s_hi = _line(u[upper], v[upper], w[upper])[0]
        systematic = abs(s_hi - s_lo)
    except ValueError:                           # repeated x values in one half
        systematic = math.inf
    return PowerLawFit(exponent=slope, stderr=stderr, systematic=systematic,
                       prefactor=math.exp(intercept), window=(lo, hi), points=n)


def local_slope(x, y) -> np.ndarray:
    """``d log y / d log x`` by centred differences (second order on uneven grids, one-sided
    at the ends). ``x`` strictly increasing, ``x`` and ``y`` positive and finite, >= 3 points."""
    x = _positive_finite("x", x)
    y = _positive_finite("y", y)
    if y.shape != x.shape:
        raise ValueError(f"y must have the length of x ({x.size}), got {y.size}")
    if x.size < 3:
        raise ValueError(f"x must have at least 3 points, got {x.size}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    return np.gradient(np.log(y), np.log(x), edge_order=2)
