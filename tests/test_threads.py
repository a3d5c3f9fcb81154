"""The thread policy: the test session runs on one numba and one BLAS thread (tests/conftest.py,
measured fastest), so the threaded paths are exercised here, once, on two threads each, and
must give the numbers the serial paths give."""

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rfdmft import Params, paths
from rfdmft.paths import PARALLEL_MODES, _euler_maruyama, _euler_maruyama_steps
from rfdmft.simulation import design_error, sample_design

TWO = 2
needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < TWO,
                                       reason="numba has fewer than two threads here")


def blas_threads() -> set:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_the_session_runs_on_one_thread_each():
    assert numba.get_num_threads() == 1
    assert blas_threads() == {1}


@needs_two_threads
@pytest.mark.parametrize("N", [37, 300])
def test_threaded_euler_maruyama_takes_the_serial_path_bit_for_bit(N):
    """Each step computes rows ``4 b .. 4 b + 3`` of ``w + h (drive - w K)`` with the same ``_drift_block``
    whether the blocks are shared among threads or not (no sum crosses threads, the Langevin
    kicks are drawn serially after the step), so the paths must be identical, not close."""
    rng = np.random.default_rng(11)
    params = Params(alpha=1.0, N=N, P=N // 2 + 1, gamma=0.05, T=0.02)
    A = sample_design(params, rng)
    K = A.T @ A + params.gamma * np.eye(N)
    b = rng.standard_normal((2, N))
    dt = 0.05 / np.linalg.eigvalsh(K)[-1]
    times = np.array([3 * dt, 50 * dt, 50 * dt, 120.5 * dt])
    serial = _euler_maruyama_steps(K, b, params.T, times, dt, 7, False)
    numba.set_num_threads(TWO)
    try:
        assert numba.get_num_threads() == TWO
        threaded = _euler_maruyama_steps(K, b, params.T, times, dt, 7, True)
    finally:
        numba.set_num_threads(1)
    assert np.abs(serial[:, 2]).max() > 1e-3              # the thermal part moved
    assert np.array_equal(threaded, serial)


def test_threads_only_where_a_core_is_idle_and_the_work_is_large(monkeypatch):
    """The measured policy: a second thread only for large work (``THREADED_ENTRIES``,
    ``PARALLEL_MODES``) and only while the load average leaves a core idle."""
    from rfdmft import simulation

    monkeypatch.setattr(simulation, "MAX_THREADS", None)
    monkeypatch.setattr(simulation.os, "cpu_count", lambda: 2)
    for load, spare in ((0.2, 1), (1.0, 1), (1.4, 1), (1.6, 0), (2.0, 0), (7.5, 0)):
        monkeypatch.setattr(simulation.os, "getloadavg", lambda load=load: (load, load, load))
        assert simulation.spare_cores() == spare, load
        assert simulation.blas_threads(simulation.THREADED_ENTRIES) == 1 + spare
        assert simulation.blas_threads(simulation.THREADED_ENTRIES - 1) == 1
    monkeypatch.setattr(simulation, "MAX_THREADS", 1)          # the test session's setting
    monkeypatch.setattr(simulation.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert simulation.spare_cores() == 0


def test_euler_maruyama_shares_steps_from_parallel_modes_on_when_a_core_is_idle(monkeypatch):
    """The threshold is read at each call, and only counts when numba has more than one thread
    and a core is idle."""
    chosen = []
    monkeypatch.setattr(paths, "_euler_maruyama_steps",
                        lambda K, b, T, times, dt, seed, parallel: chosen.append(parallel))
    monkeypatch.setattr(paths, "PARALLEL_MODES", 64)
    dummy = np.zeros((1, 1))
    for n in (63, 64):
        _euler_maruyama(dummy, np.zeros((2, n)), 0.0, np.ones(1), 0.1, 0)   # session: 1 thread
    if numba.config.NUMBA_NUM_THREADS >= TWO:
        numba.set_num_threads(TWO)
        try:
            for spare in (1, 0):
                monkeypatch.setattr(paths, "spare_cores", lambda spare=spare: spare)
                for n in (63, 64):
                    _euler_maruyama(dummy, np.zeros((2, n)), 0.0, np.ones(1), 0.1, 0)
        finally:
            numba.set_num_threads(1)
        assert chosen == [False, False, False, True, False, False]
    else:
        assert chosen == [False, False]


@pytest.mark.parametrize("factor", ["gram", "svd"])
def test_a_design_on_two_blas_threads_gives_the_one_thread_numbers(factor):
    """Two OpenBLAS threads split the products and factorisations differently, which changes
    the rounding only: the error curve and its parts agree to ~1e-12 relative (the Gram
    route's accuracy test and the SVD bound the eigenvalues to ~1e-11 relative, and the
    parts are sums of positive terms)."""
    params = Params(alpha=1.0, N=600, P=200, sigma2=0.05, gamma=1e-3, T=0.01)
    A = sample_design(params, np.random.default_rng(5))
    times = np.append(np.logspace(-1, 4, 40), np.inf)
    with threadpool_limits(1, user_api="blas"):
        assert blas_threads() == {1}
        one = design_error(params, A, times, factor=factor)
    with threadpool_limits(TWO, user_api="blas"):
        assert blas_threads() == {TWO}
        two = design_error(params, A, times, factor=factor)
    for part in ("error", "bias", "label_variance", "thermal_variance"):
        np.testing.assert_allclose(getattr(two, part), getattr(one, part), rtol=1e-12, atol=0,
                                   err_msg=part)
    assert blas_threads() == {1}                            # the session's limit is back
