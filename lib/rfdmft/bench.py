"""Benchmarks: ``python -m rfdmft bench``. Everything is timed side by side in one run and
reported as ratios, since absolute times on shared machines are noisy.

Each timing is the best of a few repetitions after one warm-up call (numba compilation is
reported separately, not counted).
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from .model import Params


def best_time(function, repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> list[str]:
    """Lines describing the machine, the thread counts and the versions in use."""
    import numba
    import scipy

    lines = [f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
             f"numba {numba.__version__}",
             f"cores: {os.cpu_count()}, numba threads: {numba.get_num_threads()}"]
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            lines.append(f"{pool['user_api']} ({pool['internal_api']}): {pool['num_threads']} threads")
    except ImportError:
        pass
    return lines


def run(quick: bool = False, out=print) -> dict:
    """Measure and print the ratios; returns them as a dictionary.

    ``quick`` shrinks every problem (for a smoke test); the targets refer to the full run.
    """
    from .dmft import theory_time_domain
    from .laplace import theory_laplace
    from .simulation import sample_design, design_error, simulate

    scale = 8 if quick else 1
    results = {}
    for line in machine():
        out(line)

    times = np.logspace(-1, 4, 200)
    big = Params(alpha=1.0, N=10_000 // scale, P=2_500 // scale)
    start = time.perf_counter()
    theory_laplace(big, times)
    out(f"first Laplace call (includes numba compilation): {time.perf_counter() - start:.2f} s")
    laplace_big = best_time(lambda: theory_laplace(big, times), repeats=5)
    results["laplace_200_times_N10k_s"] = laplace_big
    out(f"Laplace theory, 200 times, N = {big.N}, P = {big.P}: {laplace_big * 1e3:.1f} ms "
        "(target: a small fraction of a second)")

    params = Params(alpha=1.0, N=4000 // scale, P=1000 // scale)
    laplace = best_time(lambda: theory_laplace(params, times), repeats=5)
    simulation = best_time(lambda: simulate(params, times, designs=20), repeats=1)
    results["simulation_over_laplace"] = simulation / laplace
    out(f"exact simulation (20 designs) / Laplace theory at N = {params.N}, P = {params.P}, "
        f"200 times: {simulation:.2f} s / {laplace * 1e3:.1f} ms = {simulation / laplace:.0f}x "
        "(target >= 1000x)")

    A = sample_design(params, np.random.default_rng(0))
    per_design = best_time(lambda: design_error(params, A, times))
    tall = A.T if params.P < params.N else A
    svd = best_time(lambda: np.linalg.svd(tall, full_matrices=False))
    results["design_over_svd"] = per_design / svd
    out(f"simulator per design / one SVD of the same design: {per_design:.3f} s / {svd:.3f} s "
        f"= {per_design / svd:.2f}x (target <= 1.3x)")

    medium = Params(alpha=1.0, N=2000 // scale, P=500 // scale)
    few = np.logspace(-1, 3, 300)
    theory_time_domain(medium, few[:5])
    domain = best_time(lambda: theory_time_domain(medium, few), repeats=1)
    results["time_domain_N2000_s"] = domain
    laplace_medium = best_time(lambda: theory_laplace(medium, few), repeats=5)
    results["time_domain_over_laplace"] = domain / laplace_medium
    out(f"time-domain DMFT, 300 times, N = {medium.N}, P = {medium.P}: {domain:.2f} s "
        f"(target: seconds); / Laplace theory: {domain / laplace_medium:.0f}x")
    return results
