"""Robustness: memory refused before any work, no tracebacks (huge sizes, broken
pipes, Ctrl-C), interrupted process-pool sweeps keep every finished point, cache faults
refused up front, Params arrays and equality, z validated, honest benchmark verdicts."""

import copy
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from rfdmft import ErrorCurve, Params, spectrum, theory_laplace
from rfdmft import bench, cli, model, sweeps
from rfdmft.model import (available_memory, check_memory, check_theory_size, theory_memory,
                          time_domain_memory, validate_z)
from rfdmft.sweeps import cache_key, sweep

ENV = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba_cache"))


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "rfdmft", *args], capture_output=True, text=True,
                          env=ENV, **kwargs)


def one_line(out):
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# item 5 and 6: sizes refused before any work, in one line
# --------------------------------------------------------------------------------------------

HUGE = "1000000000000000000000"


@pytest.mark.parametrize("command", ["theory", "simulate"])
@pytest.mark.parametrize("flags, flag", [(["--N", HUGE], "--N"), (["--N", "10", "--M", HUGE], "--M")])
def test_huge_sizes_exit_2_in_one_line(command, flags, flag):
    start = time.perf_counter()
    out = run(command, "--alpha", "1", *flags, "--P", "20", "--times", "1")
    assert out.returncode == 2 and out.stdout == ""
    line = one_line(out)
    assert flag in line and ("too large" in line), line
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("method", ["laplace", "time-domain"])
def test_theory_beyond_this_machine_is_refused_before_any_work(method):
    # N = 1e9: the spectrum alone needs 16 GB (both solvers then sum over a few hundred nodes)
    N = "1000000000"
    start = time.perf_counter()
    out = run("theory", "--alpha", "1", "--N", N, "--P", "1000", "--times", "1,100,1000",
              "--method", method)
    assert out.returncode == 2 and out.stdout == ""
    line = one_line(out)
    assert line.startswith("rfdmft: error: --N = ") and "too large for this machine" in line
    assert time.perf_counter() - start < 30          # refused, not attempted


def test_check_memory_compares_needed_with_available():
    check_memory(0.79e9, "N = 5", available=10**9)
    with pytest.raises(ValueError, match=r"^N = 5 .*too large for this machine.*1 GB is available"):
        check_memory(0.81e9, "N = 5", available=10**9)
    with pytest.raises(ValueError, match="too large"):
        check_memory(float("inf"), "N = 5", available=10**9)
    # the machine's figure is the kernel's MemAvailable (bounded by ulimit -v)
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    kernel = int(fields["MemAvailable"].split()[0]) * 1024
    assert abs(available_memory() - kernel) < 0.2 * kernel + 2**28


def test_check_theory_size_uses_the_estimate():
    params = Params(alpha=1.0, N=10**6, P=100)
    needed = theory_memory(params, [1.0, 10.0])
    check_theory_size(params, [1.0, 10.0], available=int(2 * needed))
    with pytest.raises(ValueError, match=r"^N = 1000000 \(Laplace theory\)"):
        check_theory_size(params, [1.0, 10.0], available=int(needed))
    with pytest.raises(ValueError, match="method must be"):
        theory_memory(params, [1.0], method="exact")


def _traced_peak(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("teacher", [False, True])
def test_laplace_estimate_bounds_the_measured_peak(teacher):
    """The estimate is above the measured peak (numpy allocations, traced) but not wildly so."""
    N = 40_000 if teacher else 400_000
    kwargs = dict(teacher=np.linspace(2.0, 0.5, N)) if teacher else {}
    params = Params(alpha=1.0, N=N, P=300, sigma2=0.1, gamma=0.01, T=0.01, **kwargs)
    times = np.logspace(-1, 3, 50)
    theory_laplace(Params(alpha=1.0, N=20, P=5, **({"teacher": np.ones(20) * 2} if teacher else {})),
                   [1.0])                                  # compiled before measuring
    peak = _traced_peak(lambda: theory_laplace(params, times))
    estimate = theory_memory(params, times)
    assert peak <= estimate <= 4 * peak + 2e6, (peak, estimate)


def test_time_domain_estimate_bounds_the_measured_peak():
    from rfdmft import solve_time_domain

    params = Params(alpha=1.0, N=4000, P=300, sigma2=0.1)
    times = np.logspace(-1, 3, 30)
    solve_time_domain(Params(alpha=1.0, N=20, P=5, sigma2=0.1), [1.0, 10.0])
    peak = _traced_peak(lambda: solve_time_domain(params, times))
    estimate = theory_memory(params, times, method="time-domain")
    assert peak <= estimate <= 4 * peak, (peak, estimate)
    assert time_domain_memory(10, 100) == 80 * 10 * 100 + 800 * 100**2


# --------------------------------------------------------------------------------------------
# item 6: a reader that stops early
# --------------------------------------------------------------------------------------------

def test_output_into_head_ends_quietly():
    times = ",".join(str(i) for i in range(1, 4000))
    process = subprocess.Popen([sys.executable, "-m", "rfdmft", "theory", "--alpha", "1", "--N",
                                "50", "--P", "20", "--times", times], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ENV)
    first = process.stdout.readline()
    process.stdout.close()                       # what head does after its lines
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    assert first.split()[:2] == [b"t", b"error"]
    assert err == "", err
    assert process.returncode == cli.EXIT_PIPE == 141


# --------------------------------------------------------------------------------------------
# Ctrl-C: status 130, one line, within a second
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    # the compressed theory's work at this size is the spectrum and its mode rule (about 10 s)
    ["theory", "--alpha", "1", "--N", "200000000", "--P", "1000", "--times", "1,100"],
    ["simulate", "--alpha", "1", "--N", "3000", "--P", "2000", "--times", "1,100",
     "--designs", "100"],
])
def test_ctrl_c_exits_130_within_a_second(args):
    process = subprocess.Popen([sys.executable, "-m", "rfdmft", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(4.0)
    assert process.poll() is None, "finished before the interrupt: make the problem larger"
    start = time.perf_counter()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    elapsed = time.perf_counter() - start
    assert process.returncode == 130, (process.returncode, err)
    assert err == "rfdmft: interrupted\n" and out == ""
    assert elapsed < 1.0, elapsed


def test_keyboard_interrupt_in_main_is_one_line(monkeypatch, capsys):
    from rfdmft import laplace

    def interrupted(params, times):
        raise KeyboardInterrupt

    monkeypatch.setattr(laplace, "theory_laplace", interrupted)
    status = cli.main(["theory", "--alpha", "1", "--N", "5", "--P", "3", "--times", "1"],
                      watchdog=False)
    assert status == 130


# --------------------------------------------------------------------------------------------
# item 10 (theory side) and the last-resort handler
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, name", [("laplace", "the Laplace theory"),
                                          ("time-domain", "the time-domain theory")])
def test_non_finite_theory_blames_the_theory(monkeypatch, capsys, method, name):
    from rfdmft import dmft, laplace

    def nan_curve(params, times, **kwargs):
        t = np.asarray(times, dtype=float)
        return ErrorCurve(times=t, bias=np.full(t.shape, np.nan), label_variance=np.zeros(t.shape),
                          thermal_variance=np.zeros(t.shape))

    monkeypatch.setattr(laplace, "theory_laplace", nan_curve)
    monkeypatch.setattr(dmft, "theory_time_domain", nan_curve)
    status = cli.main(["theory", "--alpha", "1", "--N", "5", "--P", "3", "--times", "1",
                       "--method", method], watchdog=False)
    err = capsys.readouterr()
    assert status == 1 and err.out == ""
    assert err.err == f"rfdmft: failed: {name} produced non-finite values; nothing is printed\n"
    assert "simulation" not in err.err


def test_unexpected_errors_are_one_line_not_a_traceback(monkeypatch, capsys):
    from rfdmft import laplace

    def broken(params, times):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(laplace, "theory_laplace", broken)
    status = cli.main(["theory", "--alpha", "1", "--N", "5", "--P", "3", "--times", "1"],
                      watchdog=False)
    err = capsys.readouterr().err
    assert status == 1 and err == "rfdmft: failed: ZeroDivisionError: float division by zero\n"

    def no_memory(params, times):
        raise MemoryError()

    monkeypatch.setattr(laplace, "theory_laplace", no_memory)
    status = cli.main(["theory", "--alpha", "1", "--N", "5", "--P", "3", "--times", "1"],
                      watchdog=False)
    err = capsys.readouterr().err
    assert status == 1 and err == "rfdmft: failed: out of memory\n"   # never an empty message


# --------------------------------------------------------------------------------------------
# item 7 (input side): z
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("z, gamma, message", [
    (np.nan, 0.0, "z must be finite"), (complex(1, np.inf), 0.0, "z must be finite"),
    ([1.0, complex(np.nan, 1)], 0.0, "z must be finite"), (-1.0, 0.0, "negative real"),
    (0.0, 0.0, "negative real"), (-0.5, 0.25, "negative real"), ([], 0.0, "at least one"),
    ("x", 0.0, "z must be complex")])
def test_bad_z_is_refused(z, gamma, message):
    with pytest.raises(ValueError, match=message):
        validate_z(z, gamma)


def test_good_z_passes_unchanged():
    z = np.array([[1.0, 1j], [-1 + 1e-300j, -0.2]])
    out = validate_z(z, gamma=0.5)
    assert out.shape == (2, 2) and np.array_equal(out, z)


# --------------------------------------------------------------------------------------------
# item 9: Params
# --------------------------------------------------------------------------------------------

TEACHER_PARAMS = Params(alpha=1.0, N=5, M=8, P=3, teacher=np.linspace(2, 1, 8))


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy,
                                   lambda p: pickle.loads(pickle.dumps(p))])
def test_arrays_stay_read_only_after_copy_and_pickle(clone):
    for params in (TEACHER_PARAMS, Params.from_spectrum([3.0, 2.0, 1.0], N=2, P=2)):
        twin = clone(params)
        assert twin == params and hash(twin) == hash(params)
        for array in (twin.teacher, twin.eigenvalues_given):
            if array is not None:
                assert not array.flags.writeable
                with pytest.raises(ValueError):
                    array[0] = 0.0


def test_equality_and_hash_use_array_contents():
    a = Params.from_spectrum([3.0, 2.0, 1.0], N=2, P=2)
    b = Params.from_spectrum([1.0, 0.5, 0.1], N=2, P=2)
    assert a != b and len({a, b}) == 2
    assert a == Params.from_spectrum(np.array([3.0, 2.0, 1.0]), N=2, P=2)
    assert hash(a) == hash(Params.from_spectrum((3, 2, 1), N=2, P=2))
    other = TEACHER_PARAMS.replace(teacher=np.linspace(2, 1.5, 8))
    assert other != TEACHER_PARAMS and len({other, TEACHER_PARAMS}) == 2
    assert TEACHER_PARAMS.replace(teacher=list(np.linspace(2, 1, 8))) == TEACHER_PARAMS
    assert Params(alpha=1, N=5, P=3) == Params(alpha=1.0, N=5, P=3, M=5)
    assert Params(alpha=1, N=5, P=3) != Params(alpha=1, N=5, P=4)
    assert Params(alpha=1, N=5, P=3).__eq__("x") is NotImplemented


@pytest.mark.parametrize("field, value", [
    ("teacher", np.ones((2, 4))), ("eigenvalues_given", [[3.0, 2.0], [1.0, 0.5]]),
    ("teacher", 1.0), ("eigenvalues_given", 2.0)])
def test_non_1d_arrays_are_refused(field, value):
    fields = dict(alpha=1.0, N=4, P=2, M=None if field == "eigenvalues_given" else 8)
    if field == "teacher":
        fields["M"] = 8
    name = "teacher" if field == "teacher" else "eigenvalues"
    with pytest.raises(ValueError, match=f"^{name} must be a 1-D array"):
        Params(**fields, **{field: value})


def test_negative_zero_is_zero_everywhere():
    plain = Params(alpha=1.0, N=5, P=3, M=6, teacher=[1, 1, 1, 1, 0, 0])
    signed = Params(alpha=1.0, N=5, P=3, M=6, T=-0.0, gamma=-0.0, sigma2=-0.0,
                    teacher=[1, 1, 1, 1, -0.0, -0.0])
    assert signed == plain and hash(signed) == hash(plain)
    assert all(np.copysign(1.0, getattr(signed, f)) == 1.0 for f in ("T", "gamma", "sigma2"))
    assert np.all(np.copysign(1.0, signed.teacher) == 1.0)
    times = [0.0, 1.0]
    assert cache_key(theory_laplace, signed, times) == cache_key(theory_laplace, plain, times)
    assert cache_key(theory_laplace, plain.replace(T=-0.0), times) == \
        cache_key(theory_laplace, plain, times)


# --------------------------------------------------------------------------------------------
# item 8: sweeps
# --------------------------------------------------------------------------------------------

TIMES = np.array([0.0, 1.0, 10.0])


def slow_point(params, times):
    """One second per point, with start/finish markers in ``$RFDMFT_TEST_MARKERS``."""
    markers = os.environ["RFDMFT_TEST_MARKERS"]
    open(os.path.join(markers, f"start-{params.P}"), "w").close()
    time.sleep(1.0)
    t = np.asarray(times, dtype=float)
    curve = ErrorCurve(times=t, bias=np.full(t.shape, float(params.P)),
                       label_variance=np.zeros(t.shape), thermal_variance=np.zeros(t.shape))
    open(os.path.join(markers, f"done-{params.P}"), "w").close()
    return curve


def test_interrupted_pool_sweep_keeps_every_finished_point(tmp_path, monkeypatch):
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("RFDMFT_TEST_MARKERS", str(markers))
    points = [Params(alpha=1.0, N=5, P=P) for P in range(1, 13)]
    main = threading.main_thread().ident
    sent = {}

    def interrupt():
        deadline = time.time() + 120
        while len(list(markers.glob("done-*"))) < 3 and time.time() < deadline:
            time.sleep(0.02)
        sent["time"] = time.perf_counter()
        sent["done"] = {p.name for p in markers.glob("done-*")}
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        sweep(slow_point, points, TIMES, cache=cache, progress=False)       # process pool
    returned = time.perf_counter()
    thread.join()
    assert returned - sent["time"] < 1.5                # prompt: no waiting for queued points
    starts = {p.name for p in markers.glob("start-*")}
    time.sleep(1.5)                                     # no worker goes on computing
    assert {p.name for p in markers.glob("start-*")} == starts
    finished = {int(p.name.split("-")[1]) for p in markers.glob("done-*")}
    assert len(finished) >= 3 and {f"done-{P}" for P in finished} >= sent["done"]
    assert len(starts) <= len(finished) + 2             # nothing new started after the interrupt
    stored = {P for P in range(1, 13)
              if (cache / f"{cache_key(slow_point, points[P - 1], TIMES)}.npz").exists()}
    assert stored == finished                           # every finished point kept
    assert not list(cache.glob(".tmp-*"))
    resumed = sweep(slow_point, points, TIMES, cache=cache, executor="serial", progress=False)
    assert sorted(resumed.from_cache) == sorted(P - 1 for P in finished)
    assert [c.bias[0] for c in resumed] == [float(P) for P in range(1, 13)]


def test_a_directory_where_an_entry_belongs_is_refused_before_computing(tmp_path):
    points = [Params(alpha=1.0, N=20, P=P) for P in (5, 10)]
    (tmp_path / f"{cache_key(theory_laplace, points[1], TIMES)}.npz").mkdir()
    calls = []
    with pytest.raises(ValueError, match=r"cache entry .* \(sweep point 1\) is not a file"):
        sweep(theory_laplace, points, TIMES, cache=tmp_path, executor="serial", progress=False)
    assert not list(tmp_path.glob("*.npz"))[1:] and calls == []


def test_a_read_only_cache_is_read_and_refused_only_for_writing(tmp_path, monkeypatch):
    points = [Params(alpha=1.0, N=20, P=P) for P in (5, 10)]
    first = sweep(theory_laplace, points, TIMES, cache=tmp_path, executor="serial", progress=False)
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:                      # root may write anyway: report what a user sees
        access = os.access
        monkeypatch.setattr(sweeps.os, "access", lambda path, mode: access(path, mode) and not (
            mode & os.W_OK and os.fspath(path) == os.fspath(tmp_path)))
    try:
        again = sweep(theory_laplace, points, TIMES, cache=tmp_path, executor="serial",
                      progress=False)
        assert again.from_cache == [0, 1] and again.computed == []
        assert all(np.array_equal(a.error, b.error) for a, b in zip(again, first))
        more = points + [Params(alpha=1.0, N=20, P=20)]
        with pytest.raises(ValueError, match="is not writable, and 1 of the 3 points"):
            sweep(theory_laplace, more, TIMES, cache=tmp_path, executor="serial", progress=False)
    finally:
        tmp_path.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("cache", [""])
def test_empty_cache_path_is_refused(cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="non-empty directory path"):
        sweep(theory_laplace, [Params(alpha=1.0, N=5, P=3)], TIMES, cache=cache,
              executor="serial", progress=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# item 10: the benchmark's verdict comes from the rows it prints
# --------------------------------------------------------------------------------------------

def test_quick_verdict_names_the_targets_it_does_not_check():
    lines = []
    report = bench._Report(lines.append, quick=True)
    report.row("simulation_over_laplace", "ratio: 25x (target >= 1000x)", 25 >= 1000, sized=True)
    report.row("paths", "paths: 3x (target > 1x)", True, sized=True, correct=True)
    report.row("widget", "widget: 50 ms (target <= 200 ms)", True)
    report.skipped("chapters", "--quick skips them")
    verdict = report.verdict()
    assert "all targets met" not in verdict
    assert "simulation_over_laplace" in verdict.split("NOT checked")[1]
    assert "chapters" in verdict.split("NOT checked")[1]
    assert verdict.startswith("targets met: widget;")
    assert "not checked in --quick" in lines[0]


def test_quick_still_fails_on_wrong_numbers_and_full_runs_judge_everything():
    report = bench._Report(lambda line: None, quick=True)
    report.row("krr", "krr: 5x, agree to 1e-3", True, sized=True, correct=False)
    assert report.missed == ["krr"] and report.verdict() == "targets missed: krr"
    full = bench._Report(lambda line: None)
    full.row("simulation_over_laplace", "25x (target >= 1000x)", False, sized=True)
    assert full.verdict() == "targets missed: simulation_over_laplace"
    full = bench._Report(lambda line: None)
    full.row("krr", "krr: 5x", True, sized=True, correct=True)
    assert full.verdict() == "all targets met"


def test_an_error_raised_by_a_ctrl_c_inside_compiled_code_exits_130(monkeypatch, capfd):
    """numba turns a Ctrl-C that arrives inside a kernel into a SystemError whose context is
    the KeyboardInterrupt: the command line reports it as an interrupt, not as a failure."""
    def interrupted(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("returned a result with an exception set") from interrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    status = cli.main(["theory", "--alpha", "1", "--N", "10", "--P", "5", "--times", "1"],
                      watchdog=False)
    assert status == 130
    assert "interrupted" in capfd.readouterr().err
