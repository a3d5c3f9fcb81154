"""Sweeps: grid order, identical results from every executor, the cache (hits, keys,
interruptions, corrupt entries) and clear errors."""

import dataclasses
import logging
import os

import numpy as np
import pytest

import rfdmft
from rfdmft import Params, simulate, spectrum, theory_laplace
from rfdmft import sweeps
from rfdmft.sweeps import cache_key, grid, sweep

TIMES = np.array([0.0, 0.3, 3.0, 30.0, np.inf])
BASE = Params(alpha=1.0, N=60, P=20, sigma2=0.02)
GRID = grid(BASE, P=[10, 20, 40], gamma=[0.0, 0.05])

CALLS = []          # arguments of every call of ``counted`` in this process
FAIL_AT_P = set()   # ``counted`` raises for these P


def counted(params, times, **kwargs):
    """``theory_laplace`` that records its calls and can be told to fail (for the cache tests)."""
    CALLS.append(params)
    if params.P in FAIL_AT_P:
        raise RuntimeError(f"planned failure at P = {params.P}")
    return theory_laplace(params, times, **kwargs)


def fails_when_told(params, times):
    """``simulate`` with 2 designs, failing at the ``P`` named by an environment variable, which
    worker processes inherit (they do not share this module's globals)."""
    if str(params.P) in os.environ.get("RFDMFT_TEST_FAIL_AT_P", "").split(","):
        raise RuntimeError(f"planned failure at P = {params.P}")
    return simulate(params, times, designs=2)


def not_a_curve(params, times):
    return times


def same(a, b):
    """Bitwise equality of two lists of error curves."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in ("times", "bias", "label_variance", "thermal_variance"):
            assert np.array_equal(getattr(x, name), getattr(y, name)), name
        assert (x.error_sem is None) == (y.error_sem is None)
        if x.error_sem is not None:
            assert np.array_equal(x.error_sem, y.error_sem, equal_nan=True)
    return True


def test_grid_is_the_cartesian_product_in_order():
    assert [(p.P, p.gamma) for p in GRID] == [(10, 0.0), (10, 0.05), (20, 0.0), (20, 0.05),
                                              (40, 0.0), (40, 0.05)]
    assert all(p.sigma2 == 0.02 and p.N == 60 for p in GRID)
    with pytest.raises(ValueError, match="Pp"):
        grid(BASE, Pp=[1])
    with pytest.raises(ValueError, match="at least one value"):
        grid(BASE, P=[])


REFERENCE = {}


def reference():
    """Direct calls of ``simulate`` at every grid point, in grid order."""
    if not REFERENCE:
        REFERENCE["curves"] = [simulate(p, TIMES, designs=3, seed=7) for p in GRID]
    return REFERENCE["curves"]


def test_serial_sweep_equals_direct_calls_in_grid_order():
    serial = sweep(simulate, GRID, TIMES, executor="serial", progress=False, designs=3, seed=7)
    assert same(serial, reference()) and serial.computed == list(range(len(GRID)))
    # a different seed really changes the numbers (the comparisons here can fail)
    other = sweep(simulate, GRID[:1], TIMES, executor="serial", progress=False, designs=3, seed=8)
    assert not np.array_equal(other[0].error[1:4], reference()[0].error[1:4])


def test_process_pool_gives_identical_results():
    pooled = sweep("simulate", GRID, TIMES, progress=False, designs=3, seed=7)  # default pool
    assert same(pooled, reference())


def test_dask_cluster_gives_identical_results():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        clustered = sweep(simulate, GRID, TIMES, executor=client, progress=False, designs=3,
                          seed=7)
    assert same(clustered, reference())


def test_cache_hit_returns_identical_results_without_calling(tmp_path):
    CALLS.clear()
    first = sweep(counted, GRID, TIMES, cache=tmp_path, executor="serial", progress=False)
    assert len(CALLS) == len(GRID) and first.computed == list(range(len(GRID)))
    assert len(list(tmp_path.glob("*.npz"))) == len(GRID)
    CALLS.clear()
    again = sweep(counted, GRID, TIMES, cache=tmp_path, executor="serial", progress=False)
    assert CALLS == [] and again.computed == [] and again.from_cache == list(range(len(GRID)))
    assert same(again, first)
    assert same(first, [theory_laplace(p, TIMES) for p in GRID])
    # other times or another function are other entries
    sweep(counted, GRID[:2], TIMES[:3], cache=tmp_path, executor="serial", progress=False)
    assert len(CALLS) == 2


def test_interrupted_sweep_keeps_finished_entries_and_resumes(tmp_path):
    CALLS.clear()
    FAIL_AT_P.add(40)
    try:
        with pytest.raises(RuntimeError, match="planned failure") as info:
            sweep(counted, GRID, TIMES, cache=tmp_path, executor="serial", progress=False)
    finally:
        FAIL_AT_P.clear()
    assert "sweep point 4" in "".join(getattr(info.value, "__notes__", []))
    assert len(list(tmp_path.glob("*.npz"))) == 4              # P = 10, 20 finished
    assert not list(tmp_path.glob(".tmp-*"))
    CALLS.clear()
    resumed = sweep(counted, GRID, TIMES, cache=tmp_path, executor="serial", progress=False)
    assert [p.P for p in CALLS] == [40, 40] and resumed.computed == [4, 5]
    assert resumed.from_cache == [0, 1, 2, 3]
    assert same(resumed, [theory_laplace(p, TIMES) for p in GRID])


def test_failure_in_a_worker_process_keeps_finished_entries_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("RFDMFT_TEST_FAIL_AT_P", "40")
    with pytest.raises(RuntimeError, match="planned failure at P = 40"):
        sweep(fails_when_told, GRID, TIMES, cache=tmp_path, progress=False)     # process pool
    assert not list(tmp_path.glob(".tmp-*"))
    kept = sorted(tmp_path.glob("*.npz"))
    assert len(kept) <= 4
    monkeypatch.delenv("RFDMFT_TEST_FAIL_AT_P")
    resumed = sweep(fails_when_told, GRID, TIMES, cache=tmp_path, progress=False)
    assert len(resumed.from_cache) == len(kept) and resumed.recomputed == []
    assert sorted(resumed.computed + resumed.from_cache) == list(range(len(GRID)))
    assert {4, 5} <= set(resumed.computed)
    assert same(resumed, [simulate(p, TIMES, designs=2) for p in GRID])


def test_interruption_while_writing_leaves_no_entry(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweeps.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(counted, GRID[:2], TIMES, cache=tmp_path, executor="serial", progress=False)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []                      # no entry, no temporary file
    CALLS.clear()
    result = sweep(counted, GRID[:2], TIMES, cache=tmp_path, executor="serial", progress=False)
    assert len(CALLS) == 2 and result.computed == [0, 1]


def test_corrupt_entries_are_recomputed_not_trusted(tmp_path):
    first = sweep(counted, GRID[:3], TIMES, cache=tmp_path, executor="serial", progress=False)
    paths = [tmp_path / f"{cache_key(counted, p, TIMES)}.npz" for p in GRID[:3]]
    assert all(path.exists() for path in paths)
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])               # truncated
    paths[1].write_bytes(b"not a cache entry")                 # garbage
    flipped = bytearray(paths[2].read_bytes())                 # one bit of the bias flipped
    at = bytes(flipped).find(first[2].bias.tobytes())
    assert at > 0
    flipped[at + 20] ^= 0x01
    paths[2].write_bytes(bytes(flipped))
    CALLS.clear()
    again = sweep(counted, GRID[:3], TIMES, cache=tmp_path, executor="serial", progress=False)
    assert again.recomputed == [0, 1, 2] and again.computed == [0, 1, 2] and len(CALLS) == 3
    assert same(again, first)
    CALLS.clear()
    healed = sweep(counted, GRID[:3], TIMES, cache=tmp_path, executor="serial", progress=False)
    assert CALLS == [] and same(healed, first)


def test_an_entry_for_another_key_is_not_trusted(tmp_path):
    sweep(counted, GRID[:2], TIMES, cache=tmp_path, executor="serial", progress=False)
    keys = [cache_key(counted, p, TIMES) for p in GRID[:2]]
    os.replace(tmp_path / f"{keys[1]}.npz", tmp_path / f"{keys[0]}.npz")   # wrong content
    CALLS.clear()
    again = sweep(counted, GRID[:2], TIMES, cache=tmp_path, executor="serial", progress=False)
    assert again.recomputed == [0] and again.computed == [0, 1] and len(CALLS) == 2
    assert same(again, [theory_laplace(p, TIMES) for p in GRID[:2]])


# a change of every Params field; a new field must be added here (the test fails otherwise)
TEACHER = np.linspace(2.0, 0.5, 80)
KEYED = Params(alpha=1.0, N=60, M=80, P=20, sigma2=0.02, gamma=0.01, T=0.001, teacher=TEACHER)
CHANGES = {"alpha": 1.5, "N": 61, "P": 21, "M": 81, "sigma2": 0.03, "gamma": 0.02, "T": 0.002,
           "lr": 0.01, "batch": 5, "features": "random"}


def changed(name):
    if name == "teacher":
        teacher = TEACHER.copy()
        teacher[-1] *= 1.0 + 1e-12                             # one mode power, last digits
        return KEYED.replace(teacher=teacher)
    if name == "eigenvalues_given":                            # None -> the same spectrum, given
        return KEYED.replace(eigenvalues_given=spectrum(1.0, 80))
    if name == "M":
        return KEYED.replace(M=81, teacher=np.r_[TEACHER, 1.0])
    if name == "batch":                                        # a batch needs a learning rate
        return KEYED.replace(lr=CHANGES["lr"], batch=CHANGES["batch"])
    return KEYED.replace(**{name: CHANGES[name]})


def test_cache_key_changes_with_every_field_times_arguments_and_version():
    key = cache_key(theory_laplace, KEYED, TIMES)
    # equal inputs built separately give the same key (no object identities in it)
    twin = Params(alpha=1, N=60, M=80, P=20, sigma2=0.02, gamma=0.01, T=0.001,
                  teacher=list(TEACHER))
    assert cache_key("theory_laplace", twin, list(TIMES)) == key
    names = [f.name for f in dataclasses.fields(Params)]
    unknown = [n for n in names if n not in CHANGES and n not in ("teacher", "eigenvalues_given")]
    assert not unknown, f"add a change of the new Params fields {unknown} to this test"
    keys = {name: cache_key(theory_laplace, changed(name), TIMES) for name in names}
    assert all(k != key for k in keys.values()), [n for n, k in keys.items() if k == key]
    assert len(set(keys.values())) == len(names)
    assert cache_key(theory_laplace, KEYED, TIMES, version=rfdmft.__version__) == key
    assert cache_key(theory_laplace, KEYED, TIMES, version=rfdmft.__version__ + ".1") != key
    assert cache_key(simulate, KEYED, TIMES) != key
    assert cache_key(theory_laplace, KEYED, TIMES[:-1]) != key
    assert cache_key(simulate, KEYED, TIMES, seed=1) != cache_key(simulate, KEYED, TIMES, seed=2)
    assert cache_key(simulate, KEYED, TIMES, designs=3) != cache_key(simulate, KEYED, TIMES)


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="function must be one of"):
        sweep("simulation", GRID, TIMES, progress=False)
    with pytest.raises(ValueError, match="importable"):
        sweep(lambda p, t: theory_laplace(p, t), GRID, TIMES, progress=False)
    with pytest.raises(ValueError, match="at least one Params"):
        sweep(simulate, [], TIMES, progress=False)
    with pytest.raises(ValueError, match=r"grid\[1\] must be a Params"):
        sweep(simulate, [BASE, {"P": 3}], TIMES, progress=False)
    with pytest.raises(ValueError, match="iterable of Params"):
        sweep(simulate, BASE, TIMES, progress=False)
    entry = tmp_path / "file"
    entry.write_text("x")
    with pytest.raises(ValueError, match="cache must be a directory"):
        sweep(simulate, GRID, TIMES, cache=entry, progress=False)
    with pytest.raises(ValueError, match="cannot be created"):
        sweep(simulate, GRID, TIMES, cache=entry / "sub", progress=False)
    with pytest.raises(ValueError, match="executor must be"):
        sweep(simulate, GRID, TIMES, executor="threads", progress=False)
    with pytest.raises(ValueError, match="keyword argument seed"):
        cache_key(simulate, BASE, TIMES, seed=object())
    with pytest.raises(TypeError, match="not an ErrorCurve"):
        sweep(not_a_curve, GRID[:1], TIMES, executor="serial", progress=False)
    langevin = BASE.replace(T=0.1, gamma=0.0, N=60, P=20)           # no equilibrium: t = inf refused
    with pytest.raises(ValueError, match="t = inf"):
        sweep(simulate, [langevin], TIMES, executor="serial", progress=False)


def test_progress_bar_goes_to_stderr_and_can_be_silenced(tmp_path, capsys):
    sweep(theory_laplace, GRID[:2], TIMES, cache=tmp_path, executor="serial", progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    sweep(theory_laplace, GRID[:3], TIMES, cache=tmp_path, executor="serial", progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "theory_laplace" in err


def test_cache_keeps_the_simulations_median(tmp_path):
    grid = [Params(alpha=1.0, N=30, P=20, sigma2=0.1)]
    first = sweep(simulate, grid, [1.0, 10.0], cache=tmp_path, executor="serial",
                  progress=False, designs=5)
    again = sweep(simulate, grid, [1.0, 10.0], cache=tmp_path, executor="serial",
                  progress=False, designs=5)
    assert again.from_cache == [0]
    assert first[0].error_median is not None
    assert np.array_equal(again[0].error_median, first[0].error_median)
    assert np.array_equal(again[0].error_sem, first[0].error_sem)
