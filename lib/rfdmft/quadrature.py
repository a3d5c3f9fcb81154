r"""Compressed sums over the modes: the theory's cost independent of ``N``.

Every theory in the library sums smooth functions of the eigenvalue over the ``N`` captured
modes, ``S[f] = sum_{k<=N} c_k f(lambda_k)`` with ``c_k = 1`` or the teacher powers ``p_k``.
For a power law most modes crowd at small ``lambda`` (half of them within a factor
``2^(1 + alpha)`` of ``lambda_N``), so these sums are integrals over the spectrum in disguise.
:func:`mode_rule` replaces them by short weighted sums over nodes,
``S[f] ~ sum_j W_j f(x_j)``:

* in ``y = log lambda`` the modes are cut, from the top, into bands of width ``BAND``; a band
  holding more than ``NODES`` modes is replaced by ``NODES`` Chebyshev points (first kind) on
  its range, with the interpolatory weights ``W_j = sum_k c_k l_j(y_k)`` (``l_j`` the Lagrange
  basis of the points, evaluated through Chebyshev moments). The rule is exact for every
  polynomial in ``y`` of degree below ``NODES``, for any weights ``c_k``; the constant gives
  ``sum_j W_j = sum_k c_k`` (the mode count ``N`` for ``c = 1``). Smaller bands, the leading
  modes in particular, keep their modes exactly.
* Error. For ``f`` analytic and bounded in the strip ``|Im y| < d`` the interpolation error
  falls like ``rho^-NODES``, ``rho = b + sqrt(1 + b^2)``, ``b = 2 d / BAND``. The functions the
  solvers sum are resolvents ``1 / (s + lambda P q)`` on the Laplace contour, whose pole in
  ``y`` stays at ``|Im y| >= pi/2 - phi = 0.677`` (``phi`` the contour's angle; ``Im q > 0``
  only moves it further), their squares and products; decaying exponentials
  ``exp(-lambda c)``, ``c > 0`` (bounded for ``|Im y| < pi/2``); and ``lambda / (lambda +
  kappa)`` (pole at distance ``pi``). With ``BAND = 1.5`` and ``NODES = 32`` the worst case
  (single and double poles at distance 0.677 anywhere along the band) is below ``1e-13`` of the
  band's ``sum |c_k f(lambda_k)|``, so sums of positive terms keep relative accuracy ~1e-13
  (``tests/test_quadrature.py``). Exponentials ``exp(-lambda c)`` are summed to ~1e-13 relative
  while ``c lambda_N`` is of order ten or less; past that every term has decayed by more than
  ``e^-10`` and the error, small against the band's largest term, is no longer relative.

The number of nodes grows like the logarithm of the spectrum's range: about 21 per unit of
``log lambda`` past the leading modes (a power law with ``alpha = 1`` and ``N = 10^6``: under
500 nodes). Sums over nodes are short, so the compiled kernels add them plainly; the full
sums (:func:`full_sums`, for checks) are only used where asked for.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numba import njit

from .model import Params

__all__ = ["ModeRule", "mode_rule", "compress", "full_sums", "size_bound", "rule_size_bound",
           "BAND", "NODES"]

#: Band width in ``log lambda`` and Chebyshev points per compressed band.
BAND = 1.5
NODES = 32

_compressing = True


@dataclass(frozen=True)
class ModeRule:
    """Nodes and weights for sums over the ``N`` captured modes (read-only arrays).

    ``sum_{k<=N} f(lambda_k) ~ sum_j weight[j] f(lam[j])`` and
    ``sum_{k<=N} p_k f(lambda_k) ~ sum_j power[j] f(lam[j])``; ``lam`` is non-increasing, its
    first ``exact`` entries are the leading modes themselves (weight 1, power ``p_k``)."""

    lam: np.ndarray
    weight: np.ndarray
    power: np.ndarray
    exact: int

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.lam.size


@njit(cache=True)
def _bands(lam, band, nodes):
    """Start indices of the bands (and ``lam.size`` last): a band is the run of modes within
    ``band`` of its first ``y = log lam``; a run of ``nodes`` or fewer modes is kept as single
    modes."""
    n = lam.size
    starts = np.empty(n + 1, np.int64)
    count = 0
    a = 0
    while a < n:
        limit = math.log(lam[a]) - band
        lo = a + 1
        hi = n
        while lo < hi:                     # first index past the band (y is non-increasing)
            mid = (lo + hi) // 2
            if math.log(lam[mid]) >= limit:
                lo = mid + 1
            else:
                hi = mid
        starts[count] = a
        count += 1
        a = lo if lo - a > nodes else a + 1
    starts[count] = n
    return starts[: count + 1]


#: Modes per call of the compiled moment kernel (about 0.05 s): Ctrl-C is seen between calls.
_CHUNK = 2_000_000


@njit(cache=True, fastmath=True)
def _moments(lam, p, start, stop, mid, half, mu, mup, weighted):
    """Add the Chebyshev moments ``sum_k c_k T_r(u_k)``, ``u = (log lam - mid) / half``, of modes
    ``start..stop-1`` to ``mu`` (``c = 1``) and, if ``weighted``, to ``mup`` (``c = p``).
    Blocks of modes run through the recurrence together, so the loop over modes vectorises."""
    m = mu.size
    width = 512
    u = np.empty(width)
    old = np.empty(width)
    cur = np.empty(width)
    pk = np.empty(width)
    for a in range(start, stop, width):
        n = min(width, stop - a)
        for i in range(n):
            u[i] = (math.log(lam[a + i]) - mid) / half
            old[i] = 1.0
            cur[i] = u[i]
            pk[i] = p[a + i] if weighted else 1.0
        mu[0] += n
        s = 0.0
        sp = 0.0
        for i in range(n):
            s += u[i]
            sp += pk[i]
        mu[1] += s
        if weighted:
            mup[0] += sp
            sp = 0.0
            for i in range(n):
                sp += pk[i] * u[i]
            mup[1] += sp
        for r in range(2, m):
            s = 0.0
            sp = 0.0
            for i in range(n):
                new = 2.0 * u[i] * cur[i] - old[i]
                old[i] = cur[i]
                cur[i] = new
                s += new
                sp += pk[i] * new
            mu[r] += s
            if weighted:
                mup[r] += sp


def _band_rule(lam, p, a: int, b: int, nodes: int, weighted: bool):
    """``nodes`` Chebyshev points on the range of modes ``a..b-1`` and their interpolatory
    weights for ``c = 1`` and ``c = p``: ``W_j = (2/m) sum_r' T_r(t_j) mu_r`` (``r = 0`` halved)."""
    hi, lo = math.log(lam[a]), math.log(lam[b - 1])
    mid, half = 0.5 * (hi + lo), 0.5 * (hi - lo)
    mu = np.zeros(nodes)
    mup = np.zeros(nodes)
    for start in range(a, b, _CHUNK):               # slices: Ctrl-C is seen between them
        _moments(lam, p, start, min(b, start + _CHUNK), mid, half, mu, mup, weighted)
    theta = np.pi * (2 * np.arange(nodes) + 1) / (2 * nodes)
    T = np.cos(np.outer(theta, np.arange(nodes)))     # T_r(t_j)
    T[:, 0] *= 0.5
    x = np.exp(mid + half * np.cos(theta))
    return x, (2.0 / nodes) * (T @ mu), (2.0 / nodes) * (T @ (mup if weighted else mu))


def compress(lam, powers=None, band: float = BAND, nodes: int = NODES) -> ModeRule:
    """The rule for positive non-increasing eigenvalues ``lam`` and optional weights ``powers``
    (default 1): see the module docstring."""
    lam = np.ascontiguousarray(lam, dtype=float)
    weighted = powers is not None
    p = np.ascontiguousarray(powers, dtype=float) if weighted else np.ones(1)
    if lam.ndim != 1 or (weighted and p.shape != lam.shape):
        raise ValueError("lam and powers must be 1-D arrays of equal length")
    if lam.size and not (lam[-1] > 0 and np.all(lam[1:] <= lam[:-1])):
        raise ValueError("lam must be positive and non-increasing")
    if not _compressing or lam.size <= nodes:
        x, w, wp = lam.copy(), np.ones(lam.size), (p.copy() if weighted else np.ones(lam.size))
        exact = lam.size
    else:
        starts = _bands(lam, float(band), int(nodes))
        single = np.diff(starts) == 1
        exact = int(np.argmin(single)) if not single.all() else lam.size
        xs, ws, wps = [], [], []
        run = []                                     # consecutive single modes
        for a, b, one in zip(starts[:-1], starts[1:], single):
            if one:
                run.append(a)
                continue
            if run:
                idx = np.array(run)
                xs.append(lam[idx]), ws.append(np.ones(idx.size))
                wps.append(p[idx] if weighted else np.ones(idx.size))
                run = []
            if lam[a] == lam[b - 1]:                 # equal eigenvalues: one node, exactly
                x, w = lam[a:a + 1].copy(), np.array([float(b - a)])
                wp = np.array([float(p[a:b].sum())]) if weighted else w.copy()
            else:
                x, w, wp = _band_rule(lam, p, int(a), int(b), int(nodes), weighted)
            xs.append(x), ws.append(w), wps.append(wp)
        if run:
            idx = np.array(run)
            xs.append(lam[idx]), ws.append(np.ones(idx.size))
            wps.append(p[idx] if weighted else np.ones(idx.size))
        x, w, wp = np.concatenate(xs), np.concatenate(ws), np.concatenate(wps)
    for arr in (x, w, wp):
        arr.setflags(write=False)
    return ModeRule(lam=x, weight=w, power=wp, exact=exact)


def size_bound(largest: float, smallest: float, N: int) -> int:
    """Most nodes a rule can have for ``N`` modes from ``largest`` to ``smallest``: any window of
    width ``BAND`` in ``log lambda`` holds at most ``NODES`` single modes and is cut by at most
    two bands, so ``2 NODES (log(largest / smallest) / BAND + 1)``."""
    span = math.log(largest / smallest) if smallest > 0 else math.inf
    return int(min(N, 2 * NODES * (span / BAND + 1))) if _compressing else int(N)


def rule_size_bound(params: Params) -> int:
    """:func:`size_bound` for the ``N`` captured modes of ``params``, without building the
    spectrum (a power law spans ``lambda_1 / lambda_N = N^(1 + alpha)``)."""
    N = params.N
    if params.eigenvalues_given is None:
        return size_bound(math.exp((1.0 + params.alpha) * math.log(N)), 1.0, N)
    lam = params.eigenvalues_given
    return size_bound(float(lam[0]), float(lam[N - 1]), N)


_CACHE: "OrderedDict[tuple, ModeRule]" = OrderedDict()


def _digest(a: np.ndarray | None, N: int):
    if a is None:
        return None
    head = np.ascontiguousarray(a[:N])
    return (head.size, float(head[0]), float(head[-1]), hash(head.tobytes()))


def mode_rule(params: Params) -> ModeRule:
    """The compressed sums for ``params`` (its ``N`` captured eigenvalues and teacher powers);
    cached on the spectrum, ``N`` and the teacher, so sweeps over ``P``, noise or time share it.
    Inside :func:`full_sums` the rule is the modes themselves. Refuses random features (the
    mode model's solvers would compute a different model: use :mod:`rfdmft.rf_theory`)."""
    if params.features != "modes":
        raise ValueError(f"this solver is for the mode model (features = 'modes'), got features = "
                         f"{params.features!r}; the random-feature model has rfdmft.rf_theory "
                         "(theory_laplace dispatches there) and rfdmft.random_features")
    own = params.__dict__.get("_mode_rule")            # this Params' rule, kept on it
    if own is not None and own[0] == _compressing:
        return own[1]
    N = params.N
    teacher = None if params.isotropic else _digest(params.teacher, N)
    key = (N, params.M, params.alpha, _digest(params.eigenvalues_given, N), teacher, _compressing)
    rule = _CACHE.get(key)
    if rule is None:
        rule = compress(params.eigenvalues[:N], None if teacher is None else params.powers[:N])
        _CACHE[key] = rule
        if len(_CACHE) > 32:
            _CACHE.popitem(last=False)
    object.__setattr__(params, "_mode_rule", (_compressing, rule))
    return rule


@contextlib.contextmanager
def full_sums():
    """Within this block every solver sums over all ``N`` modes (no compression): for checks."""
    global _compressing
    before = _compressing
    _compressing = False
    try:
        yield
    finally:
        _compressing = before
