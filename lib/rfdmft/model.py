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

__all__ = ["Params", "ErrorCurve", "DivergenceError", "steps", "spectrum", "validate_times", "validate_z", "available_memory",
           "check_memory", "theory_memory", "time_domain_memory", "check_theory_size"]


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
    return float(value) + 0.0                     # -0.0 -> 0.0 (one value, one cache key)


def _vector(name: str, value, what: str) -> np.ndarray:
    """A 1-D float array (a copy); anything else is refused, not flattened."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of {what}, got {value!r}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {what}, got an array of shape "
                         f"{array.shape}")
    return array + 0.0                            # -0.0 -> 0.0


@functools.lru_cache(maxsize=64)
def spectrum(alpha: float, M: int) -> np.ndarray:
    """Kernel eigenvalues ``lambda_k``, ``k = 1..M``, proportional to ``k**-(1+alpha)``, summing to one
    (read-only; cached, since every solver asks for it)."""
    lam = np.empty(M)
    total = 0.0
    for start in range(0, M, _SPECTRUM_CHUNK):    # slices: Ctrl-C is seen between them
        part = lam[start:start + _SPECTRUM_CHUNK]
        np.power(np.arange(start + 1, start + 1 + part.size, dtype=float), -(1.0 + alpha),
                 out=part)
        total += part.sum()
    for start in range(0, M, _SPECTRUM_CHUNK):
        lam[start:start + _SPECTRUM_CHUNK] /= total
    lam.setflags(write=False)
    return lam


_SPECTRUM_CHUNK = 4_000_000


@dataclass(frozen=True, eq=False)
class Params:
    """One setting of the model, validated at construction.

    ``alpha`` spectral exponent (> 0); ``N`` modes the model uses; ``M`` modes of the target
    (default ``N``, must be >= ``N``); ``P`` training points; ``sigma2`` label-noise variance;
    ``gamma`` weight decay; ``T`` Langevin temperature; ``teacher`` the ``M`` mode powers
    ``E[wbar_k^2]`` (default: all ones, the isotropic teacher).

    ``lr`` the learning rate of discrete-time training (0: continuous time) and ``batch`` its
    minibatch size (``None``: full batch, ``B = P``; needs ``lr > 0``); times stay in units of
    ``t = lr * steps`` (model.md section 7). A ``batch`` equal to ``P`` is stored as ``None``.

    ``features`` is ``"modes"`` (the mode model: the first ``N`` kernel modes are the features) or
    ``"random"`` (the random-feature model of model.md section 6: ``N`` random projections of all
    ``M`` modes; then ``N`` may exceed ``M``).

    ``eigenvalues`` replaces the power law by any ``M`` positive, non-increasing kernel
    eigenvalues (``M`` then defaults to their number, and ``alpha`` may be ``None``); see
    :meth:`from_spectrum`.

    Arrays are stored read-only (also after ``copy``, ``deepcopy`` and pickling, which rebuild
    and re-validate the object); ``-0.0`` is stored as ``0.0``. Equality and hash use every
    field, arrays by their contents (``None`` and an array are different values, as in the
    sweep cache key).
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
    lr: float = 0.0
    batch: int | None = None
    features: str = "modes"

    @classmethod
    def from_spectrum(cls, eigenvalues, N: int, P: int, teacher=None, **fields) -> "Params":
        """Parameters for a given spectrum (``M = len(eigenvalues)``), e.g. a kernel's on data."""
        return cls(alpha=fields.pop("alpha", None), N=N, P=P, teacher=teacher,
                   eigenvalues_given=eigenvalues, **fields)

    def __post_init__(self):
        set_ = object.__setattr__
        given = self.eigenvalues_given
        if given is not None:
            lam = _vector("eigenvalues", given, "positive non-increasing kernel eigenvalues")
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
            set_(self, "alpha", float(self.alpha) + 0.0)
        set_(self, "N", _integer("N", self.N))
        set_(self, "P", _integer("P", self.P))
        M = self.N if self.M is None else _integer("M", self.M)
        if self.features not in ("modes", "random"):
            raise ValueError(f"features must be 'modes' or 'random', got {self.features!r}")
        if M < self.N and self.features == "modes":
            raise ValueError(f"M must be an integer >= N = {self.N}, got {M} (only random features "
                             "may outnumber the kernel modes)")
        set_(self, "M", M)
        for name in ("sigma2", "gamma", "T", "lr"):
            set_(self, name, _nonnegative(name, getattr(self, name)))
        if self.batch is not None:
            if self.lr == 0:
                raise ValueError(f"batch needs a learning rate lr > 0 (minibatches are discrete "
                                 f"steps), got batch = {self.batch!r} with lr = 0")
            if isinstance(self.batch, bool) or not isinstance(self.batch, numbers.Integral) \
                    or not 1 <= self.batch <= self.P:
                raise ValueError(f"batch must be an integer from 1 to P = {self.P}, "
                                 f"got {self.batch!r}")
            set_(self, "batch", None if self.batch == self.P else int(self.batch))
        if self.teacher is not None:
            powers = _vector("teacher", self.teacher, f"{M} mode powers (one per target mode)")
            if powers.shape != (M,) or not np.all(np.isfinite(powers)) or np.any(powers < 0):
                raise ValueError(
                    f"teacher must be {M} finite non-negative mode powers (one per target mode), "
                    f"got an array of shape {np.shape(self.teacher)}"
                    + ("" if powers.shape != (M,) else " with negative or non-finite entries"))
            powers.setflags(write=False)
            set_(self, "teacher", powers)

    def _key(self) -> tuple:
        arrays = tuple(None if a is None else (a.shape, a.tobytes())
                       for a in (self.teacher, self.eigenvalues_given))
        return (self.alpha, self.N, self.P, self.M, self.sigma2, self.gamma, self.T, self.lr,
                self.batch, self.features) + arrays

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        # rebuilt through __init__: validated again, arrays read-only again
        return (self.__class__, (self.alpha, self.N, self.P, self.M, self.sigma2, self.gamma,
                                 self.T, self.teacher, self.eigenvalues_given, self.lr,
                                 self.batch, self.features))

    @property
    def discrete(self) -> bool:
        """True for discrete-time training (``lr > 0``): gradient descent or minibatch SGD."""
        return self.lr > 0

    @property
    def batch_size(self) -> int:
        """Minibatch size ``B`` (``P`` for full-batch training)."""
        return self.P if self.batch is None else self.batch

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
        """Whether ``t = inf`` exists: not for Langevin without weight decay when ``N >= P``
        (random features: when ``min(N, M) >= P``, the weights diffusing where ``F^T`` sees)."""
        seen = min(self.N, self.M) if self.features == "random" else self.N
        return not (self.T > 0 and self.gamma == 0 and seen >= self.P)

    def replace(self, **changes) -> "Params":
        """A copy with some fields changed (validated again)."""
        fields = dict(alpha=self.alpha, N=self.N, P=self.P, M=self.M, sigma2=self.sigma2,
                      gamma=self.gamma, T=self.T, teacher=self.teacher,
                      eigenvalues_given=self.eigenvalues_given, lr=self.lr, batch=self.batch,
                      features=self.features)
        if "N" in changes and "M" not in changes and self.M == self.N:
            fields["M"] = None  # M follows N when it was N
        fields.update(changes)
        return Params(**fields)


def validate_times(times, params: Params | None = None) -> np.ndarray:
    """Times as a float array: non-negative, ``inf`` allowed (the long-time limit).

    With ``params`` given, ``inf`` is refused where no equilibrium exists (``T > 0``,
    ``gamma = 0``, ``N >= P``): for ``N > P`` the weights diffuse freely in the null space of
    ``H``; at ``N = P`` there is no null space, but the smallest eigenvalues of ``H``
    accumulate at zero and the thermal variance ``T int dmu(h) / h`` diverges.
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
        if params.N > params.P:
            why = (f"N = {params.N} > P = {params.P}: the weights diffuse freely in the null "
                   "space of H and the thermal variance grows without bound")
        else:
            why = (f"N = P = {params.N}: H has no null space, but its smallest eigenvalues "
                   "accumulate at zero and the thermal variance T int dmu(h)/h diverges")
        raise ValueError(f"t = inf is not allowed with T = {params.T:g} > 0, gamma = 0 and {why}; "
                         "use gamma > 0, N < P, or finite times")
    return t


@dataclass(frozen=True)
class ErrorCurve:
    """Generalisation error and its parts at ``times``.

    ``error = bias + label_variance + thermal_variance``; ``bias`` includes the uncaptured tail.
    ``error_sem`` is the standard error over designs (simulations only, else ``None``);
    ``error_median`` the median over designs of the error (simulations only, else ``None``),
    the typical value where the mean over designs is infinite (see
    :func:`rfdmft.simulation.heavy_tailed`).
    ``sgd_variance`` (minibatch SGD only, else ``None``) is the error that minibatch noise adds
    to full-batch gradient descent; the other parts are then those of gradient descent with the
    same learning rate, and ``error`` includes it.
    """

    times: np.ndarray
    bias: np.ndarray
    label_variance: np.ndarray
    thermal_variance: np.ndarray
    error_sem: np.ndarray | None = None
    error_median: np.ndarray | None = None
    sgd_variance: np.ndarray | None = None

    @property
    def error(self) -> np.ndarray:
        total = self.bias + self.label_variance + self.thermal_variance
        return total if self.sgd_variance is None else total + self.sgd_variance

    def to_dict(self) -> dict:
        """JSON-ready dictionary: lists aligned with ``times``. An infinite time or value is
        written as the string ``"inf"`` (``"-inf"``), a value that is not a number as ``None``;
        ``sgd_variance``, ``error_sem`` and ``error_median`` appear only when set."""
        out = {"times": [self._json_number(x) for x in self.times]}
        for key in ("error", "bias", "label_variance", "thermal_variance", "sgd_variance",
                    "error_sem", "error_median"):
            value = getattr(self, key)
            if value is not None:
                out[key] = [self._json_number(x) for x in value]
        return out

    @staticmethod
    def _json_number(x) -> float | str | None:
        """``x`` for JSON: a float, ``"inf"`` / ``"-inf"`` when infinite, ``None`` when NaN."""
        x = float(x)
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return None if math.isnan(x) else x


class DivergenceError(RuntimeError):
    """Discrete-time training diverges for these parameters (a step beyond the stability edge);
    no numbers are given."""


#: Relative slack within which ``t / lr`` counts as a whole number of steps.
STEP_SLACK = 1e-9


def steps(params: Params, times) -> np.ndarray:
    """Number of discrete steps ``n = floor(t / lr)`` taken by time ``t`` (``inf`` stays ``inf``;
    ``t / lr`` within ``STEP_SLACK`` relative (at most ``1e-6``) below a whole number counts as
    that number). The state
    reported at ``t`` is the one after these ``n`` steps. Needs ``params.lr > 0``."""
    if not params.lr > 0:
        raise ValueError(f"steps need a learning rate lr > 0, got lr = {params.lr!r}")
    t = np.asarray(times, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        x = t / params.lr
        n = np.floor(x + np.minimum(STEP_SLACK * x, 1e-6))
    return np.where(np.isinf(t), np.inf, n)


def validate_z(z, gamma: float = 0.0) -> np.ndarray:
    """Laplace variables as a complex array (same shape): finite real and imaginary parts, and
    ``z + gamma`` off the closed negative real half-line ``(-inf, 0]`` (where the resolvent has
    its spectrum). Raises ``ValueError`` naming the first bad value."""
    try:
        z = np.asarray(z, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"z must be complex numbers, got {z!r}") from None
    if z.size == 0:
        raise ValueError("z must contain at least one value, got none")
    flat = z.reshape(-1)
    bad = ~(np.isfinite(flat.real) & np.isfinite(flat.imag))
    if bad.any():
        raise ValueError(f"z must be finite complex numbers, got {flat[bad][0]}")
    s = flat + gamma
    bad = (s.imag == 0) & (s.real <= 0)
    if bad.any():
        raise ValueError(f"z + gamma must not lie on the negative real half-line (-inf, 0], got "
                         f"z = {flat[bad][0]} with gamma = {gamma:g}")
    return z


# --------------------------------------------------------------------------------------------
# memory: estimates of the solvers' peaks, checked against what this machine has free
# --------------------------------------------------------------------------------------------

#: Share of the available memory a single computation may plan to use.
MEMORY_FRACTION = 0.8


def _gigabytes(n: float) -> str:
    return f"{n / 1e9:.3g} GB" if math.isfinite(n) else "unboundedly much"


def available_memory() -> int:
    """Bytes this process can still allocate: ``MemAvailable`` of ``/proc/meminfo`` (Linux),
    else ``os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')``, and no more than an
    address-space limit (``ulimit -v``) leaves. Falls back to 2**62 when nothing is known."""
    import os
    import resource

    found = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = 2**62
    try:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            found = min(found, limit)
    except (ValueError, OSError):
        pass
    return int(found)


def check_memory(needed: float, what: str, available: int | None = None) -> None:
    """Refuse, before any work, a computation whose estimated peak ``needed`` (bytes) exceeds
    ``MEMORY_FRACTION`` of ``available`` (default :func:`available_memory`).

    ``what`` names the computation and its size parameters, starting with the parameter
    (e.g. ``"N = 1000000000 (theory, Laplace)"``), and leads the one-line ``ValueError``."""
    available = available_memory() if available is None else int(available)
    needed = float(needed)
    if not needed <= MEMORY_FRACTION * available:
        raise ValueError(
            f"{what} is too large for this machine: it needs about {_gigabytes(needed)} of "
            f"memory at its peak, and {_gigabytes(available)} is available (at most "
            f"{MEMORY_FRACTION:.0%} of it is used)")


#: Bytes per target mode for the spectrum (``lambda``, built in slices) and the teacher powers.
_BYTES_PER_TARGET_MODE = 16
#: Bytes per model mode of the Laplace solver beyond the spectrum (the compressed sums work on
#: a few hundred nodes; measured peak, spectrum included: 16.5 bytes per mode at ``N = 4e5``).
_BYTES_PER_MODE_LAPLACE = 8
#: Time-domain solver: bytes per (mode x grid node) and per grid node squared (measured:
#: 56-73, and about 1000 with ``rank`` ~ 30 kernels, about 30 bytes per kernel: the operators
#: are ``rank x n x n``; with the feedback cut at ``svd_tol = 1e-5``, ``rank`` ~ 20-23).
_BYTES_PER_MODE_NODE = 80
_BYTES_PER_NODE2 = 800


def time_domain_memory(N: int, grid_points: int) -> float:
    """Estimated peak bytes of one time-domain solve (``rfdmft.dmft``) on ``grid_points`` nodes
    with ``N`` modes (or nodes of the mode rule): ``80 N n + 800 n^2``. The first term is the ``N x n`` mode responses,
    their integrals and the compressing SVD; the second the convolution operators
    (``rank x n x n``) and the two-time functions. Calibrated on the measured peak
    (``resource.getrusage`` max RSS and ``tracemalloc``) of ``solve_time_domain`` at
    ``N = 1e3..3e4``, ``n = 200..360``: 56-73 bytes per mode and node, about 1000 per node^2 with
    30 kernels; with 20-23 kernels the estimate is 3.4-4.4 times the ``tracemalloc`` peak at
    ``(N, P) = (4000, 300), (2000, 500), (1e4, 1e3), (1000, 2000), (3e4, 300)``."""
    return float(_BYTES_PER_MODE_NODE) * N * grid_points + float(_BYTES_PER_NODE2) * grid_points**2


def theory_memory(params: Params, times, method: str = "laplace",
                  resolution: float = 1.0) -> float:
    """Estimated peak bytes of ``theory_laplace`` (``method="laplace"``) or
    ``theory_time_domain`` / ``solve_time_domain`` (``"time-domain"``) at ``params, times``,
    without doing any of the work.

    Laplace: ``16 M`` (spectrum, teacher powers) ``+ 8 N`` (measured 16-27 bytes per mode in
    all at ``N = 4e5 - 1e7``, 35-44 with a teacher) ``+ 3 (2K+1) 16 n`` for a non-isotropic teacher (the
    two-point transform's ``(2K+1) x n`` complex resolvents over the ``n`` nodes of the mode
    rule, :func:`rfdmft.quadrature.size_bound`) ``+ 64 (K+1)`` bytes per time. Time domain: ``16 M`` plus
    :func:`time_domain_memory` on the finer grid of its first pass (resolution
    ``2 resolution``, :func:`rfdmft.dmft.grid_plan`: none for times past full relaxation), with
    the bound :func:`rfdmft.quadrature.rule_size_bound` on the nodes of the mode rule in place
    of the ``N`` modes, plus ``8 N``.
    """
    if method not in ("laplace", "time-domain"):
        raise ValueError(f"method must be 'laplace' or 'time-domain', got {method!r}")
    t = validate_times(times)
    base = float(_BYTES_PER_TARGET_MODE) * params.M
    if method == "laplace":
        K = 24
        try:
            from .laplace import CONTOUR
            K = int(CONTOUR["K"])
        except (ImportError, KeyError, TypeError, ValueError):
            pass
        isotropic = params.teacher is None or bool(np.all(params.teacher[: params.N] == 1.0))
        nodes = 0
        if not isotropic:
            from .quadrature import rule_size_bound
            nodes = rule_size_bound(params)
        return (base + float(_BYTES_PER_MODE_LAPLACE) * params.N
                + 3.0 * (2 * K + 1) * 16 * nodes + 64.0 * (K + 1) * t.size)
    base += float(_BYTES_PER_MODE_LAPLACE) * params.N
    if base > MEMORY_FRACTION * available_memory():
        return base                               # the spectrum alone does not fit
    from .dmft import grid_plan                   # the grid the solver will build (0: none)

    from .quadrature import rule_size_bound       # the solver sums over the rule's nodes

    n = grid_plan(params, t, resolution)
    return base + (time_domain_memory(rule_size_bound(params), n) if n else 0.0)


def check_theory_size(params: Params, times, method: str = "laplace",
                      resolution: float = 1.0, available: int | None = None) -> None:
    """``ValueError`` (one line, starting ``"N = ..."``) when :func:`theory_memory` exceeds what
    this machine has available (:func:`check_memory`); call it before any work."""
    needed = theory_memory(params, times, method, resolution)
    size = f"N = {params.N}"
    if params.M != params.N:
        size = (f"M = {params.M} (N = {params.N})"
                if _BYTES_PER_TARGET_MODE * params.M > needed / 2 else f"N = {params.N} (M = {params.M})")
    solver = "Laplace" if method == "laplace" else "time-domain"
    check_memory(needed, f"{size} ({solver} theory)", available)
