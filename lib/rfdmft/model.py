"""The model: parameters, the power-law spectrum, the teacher, and the result container.

Conventions (shared by the simulator, the theory, the command line and the book):

* kernel eigenmodes ``k = 1..M`` carry the target; the model uses the first ``N <= M``;
* ``lambda_k = k**-(1 + alpha) / sum_{j<=M} j**-(1 + alpha)``, so the ``M`` eigenvalues sum to one
  (or any given non-increasing positive spectrum, e.g. a kernel's measured on data);
* the teacher has mode powers ``p_k = E[wbar_k**2]`` (``p_k = 1``: the isotropic teacher,
  a draw from the prior);
* labels ``y = ybar(x) + eps`` with ``eps ~ N(0, sigma2)``;
* loss summed over the ``P`` data, ``dw = -grad[L + gamma |w|^2 / 2] dt + sqrt(2 T) dB``, ``w(0) = 0``;
* ``E_g(t) = sum_{k<=N} lambda_k (w_k - wbar_k)**2 + sum_{k>N} lambda_k wbar_k**2``.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Params", "ErrorCurve", "spectrum", "validate_times"]


def _integer(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


@functools.lru_cache(maxsize=64)
def spectrum(alpha: float, M: int) -> np.ndarray:
    """Kernel eigenvalues ``lambda_k``, ``k = 1..M``, proportional to ``k**-(1+alpha)``, summing to one
    (read-only; cached, since every solver asks for it)."""
    k = np.arange(1, M + 1, dtype=float)
    lam = k ** -(1.0 + alpha)
    lam /= lam.sum()
    lam.setflags(write=False)
    return lam


@dataclass(frozen=True)
class Params:
    """One setting of the model, validated at construction.

    ``alpha`` spectral exponent (> 0); ``N`` modes the model uses; ``M`` modes of the target
    (default ``N``, must be >= ``N``); ``P`` training points; ``sigma2`` label-noise variance;
    ``gamma`` weight decay; ``T`` Langevin temperature; ``teacher`` the ``M`` mode powers
    ``E[wbar_k^2]`` (default: all ones, the isotropic teacher).

    ``eigenvalues`` replaces the power law by any ``M`` positive, non-increasing kernel
    eigenvalues (``M`` then defaults to their number, and ``alpha`` may be ``None``); see
    :meth:`from_spectrum`.
    """

    alpha: float | None
    N: int
    P: int
    M: int | None = None
    sigma2: float = 0.0
    gamma: float = 0.0
    T: float = 0.0
    teacher: np.ndarray | None = field(default=None, repr=False, compare=False)
    eigenvalues_given: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_spectrum(cls, eigenvalues, N: int, P: int, teacher=None, **fields) -> "Params":
        """Parameters for a given spectrum (``M = len(eigenvalues)``), e.g. a kernel's on data."""
        return cls(alpha=fields.pop("alpha", None), N=N, P=P, teacher=teacher,
                   eigenvalues_given=eigenvalues, **fields)

    def __post_init__(self):
        set_ = object.__setattr__
        given = self.eigenvalues_given
        if given is not None:
            lam = np.array(given, dtype=float).reshape(-1)
            if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0) \
                    or np.any(np.diff(lam) > 0):
                raise ValueError("eigenvalues must be finite, positive and non-increasing, got "
                                 f"{lam.size} values from {lam.min() if lam.size else None!r} "
                                 f"to {lam.max() if lam.size else None!r}")
            lam.setflags(write=False)
            set_(self, "eigenvalues_given", lam)
            if self.M is None:
                set_(self, "M", lam.size)
            elif self.M != lam.size:
                raise ValueError(f"M must equal the number of eigenvalues ({lam.size}) when they are "
                                 f"given, got {self.M!r}")
        if self.alpha is None and given is not None:
            pass                                   # alpha only names the power law
        elif isinstance(self.alpha, bool) or not isinstance(self.alpha, numbers.Real) \
                or not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ValueError(f"alpha must be a finite number > 0, got {self.alpha!r}")
        else:
            set_(self, "alpha", float(self.alpha))
        set_(self, "N", _integer("N", self.N))
        set_(self, "P", _integer("P", self.P))
        M = self.N if self.M is None else _integer("M", self.M)
        if M < self.N:
            raise ValueError(f"M must be an integer >= N = {self.N}, got {M}")
        set_(self, "M", M)
        for name in ("sigma2", "gamma", "T"):
            set_(self, name, _nonnegative(name, getattr(self, name)))
        if self.teacher is not None:
            powers = np.array(self.teacher, dtype=float).reshape(-1)
            if powers.shape != (M,) or not np.all(np.isfinite(powers)) or np.any(powers < 0):
                raise ValueError(
                    f"teacher must be {M} finite non-negative mode powers (one per target mode), "
                    f"got an array of shape {np.shape(self.teacher)}"
                    + ("" if powers.shape != (M,) else " with negative or non-finite entries"))
            powers.setflags(write=False)
            set_(self, "teacher", powers)

    @property
    def isotropic(self) -> bool:
        """True when every mode power is one (the target is a draw from the prior)."""
        return self.teacher is None or bool(np.all(self.teacher == 1.0))

    @property
    def eigenvalues(self) -> np.ndarray:
        """All ``M`` eigenvalues ``lambda_k``: the power law, or the given spectrum."""
        if self.eigenvalues_given is not None:
            return self.eigenvalues_given
        return spectrum(self.alpha, self.M)

    @property
    def powers(self) -> np.ndarray:
        """Teacher mode powers ``E[wbar_k^2]``, length ``M``."""
        return np.ones(self.M) if self.teacher is None else self.teacher

    @property
    def tail(self) -> float:
        """Uncaptured target power ``sum_{k>N} lambda_k E[wbar_k^2]``: acts on the labels like noise."""
        return float(np.dot(self.eigenvalues[self.N:], self.powers[self.N:]))

    @property
    def has_equilibrium(self) -> bool:
        """Whether ``t = inf`` exists: not for Langevin without weight decay when ``N >= P``."""
        return not (self.T > 0 and self.gamma == 0 and self.N >= self.P)

    def replace(self, **changes) -> "Params":
        """A copy with some fields changed (validated again)."""
        fields = dict(alpha=self.alpha, N=self.N, P=self.P, M=self.M, sigma2=self.sigma2,
                      gamma=self.gamma, T=self.T, teacher=self.teacher,
                      eigenvalues_given=self.eigenvalues_given)
        if "N" in changes and "M" not in changes and self.M == self.N:
            fields["M"] = None  # M follows N when it was N
        fields.update(changes)
        return Params(**fields)


def validate_times(times, params: Params | None = None) -> np.ndarray:
    """Times as a float array: non-negative, ``inf`` allowed (the long-time limit).

    With ``params`` given, ``inf`` is refused where no equilibrium exists (``T > 0``,
    ``gamma = 0``, ``N >= P``: the weights diffuse freely in the null space of ``H``).
    """
    try:
        t = np.array(times, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"t must be non-negative numbers (inf allowed), got {times!r}") from None
    if t.size == 0:
        raise ValueError("t must contain at least one time, got none")
    bad = t[~(t >= 0)]
    if bad.size:
        raise ValueError(f"t must be non-negative numbers (inf allowed), got {bad[0]}")
    if params is not None and np.isinf(t).any() and not params.has_equilibrium:
        raise ValueError(
            f"t = inf is not allowed with T = {params.T:g} > 0, gamma = 0 and N = {params.N} >= P = "
            f"{params.P}: the weights diffuse in the null space of H and the thermal variance grows "
            "without bound; use gamma > 0, N < P, or finite times")
    return t


@dataclass(frozen=True)
class ErrorCurve:
    """Generalisation error and its parts at ``times``.

    ``error = bias + label_variance + thermal_variance``; ``bias`` includes the uncaptured tail.
    ``error_sem`` is the standard error over designs (simulations only, else ``None``).
    """

    times: np.ndarray
    bias: np.ndarray
    label_variance: np.ndarray
    thermal_variance: np.ndarray
    error_sem: np.ndarray | None = None

    @property
    def error(self) -> np.ndarray:
        return self.bias + self.label_variance + self.thermal_variance

    def to_dict(self) -> dict:
        """JSON-ready dictionary; an infinite time is written as the string ``"inf"``."""
        out = {"times": [("inf" if math.isinf(x) else float(x)) for x in self.times]}
        for key in ("error", "bias", "label_variance", "thermal_variance", "error_sem"):
            value = getattr(self, key)
            if value is not None:
                out[key] = [float(x) if math.isfinite(x) else None for x in value]
        return out
