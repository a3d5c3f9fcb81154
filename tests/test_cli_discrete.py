"""The command line with discrete-time training: --lr (gradient descent) and --batch (SGD)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rfdmft import Params, simulate


def run(*args):
    return subprocess.run([sys.executable, "-m", "rfdmft", *args], capture_output=True, text=True)


BASE = ["--alpha", "1", "--N", "40", "--P", "15", "--M", "60", "--sigma2", "0.1",
        "--gamma", "0.05", "--T", "0.02"]
PARAMS = dict(alpha=1, N=40, P=15, M=60, sigma2=0.1, gamma=0.05, T=0.02)
KEYS = {"times", "error", "bias", "label_variance", "thermal_variance"}


def test_gradient_descent_json_is_the_library_simulation():
    out = run("simulate", *BASE, "--lr", "0.03", "--times", "0,0.5,10,inf", "--designs", "5",
              "--seed", "2", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == KEYS | {"error_sem"}
    expected = simulate(Params(**PARAMS, lr=0.03), [0, 0.5, 10, np.inf], designs=5, seed=2)
    for key in ("error", "bias", "label_variance", "thermal_variance"):
        np.testing.assert_allclose(data[key], getattr(expected, key), rtol=1e-14)
    continuous = simulate(Params(**PARAMS), [0.5, 10], designs=5, seed=2)
    assert not np.allclose(data["error"][1:3], continuous.error, rtol=1e-3)


def test_sgd_json_and_table_carry_the_sgd_variance():
    args = ["simulate", *BASE, "--lr", "0.03", "--batch", "4", "--times", "0,0.5,3",
            "--designs", "4", "--seed", "1"]
    out = run(*args, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == KEYS | {"error_sem", "sgd_variance"}
    parts = np.array([data["bias"], data["label_variance"], data["thermal_variance"],
                      data["sgd_variance"]])
    np.testing.assert_allclose(parts.sum(axis=0), data["error"], rtol=1e-14)
    expected = simulate(Params(**PARAMS, lr=0.03, batch=4), [0, 0.5, 3], designs=4, seed=1)
    np.testing.assert_allclose(data["sgd_variance"], expected.sgd_variance, rtol=1e-14)
    np.testing.assert_allclose(data["error_sem"], expected.error_sem, rtol=1e-14)
    assert data["sgd_variance"][0] == 0 and data["error"][0] == pytest.approx(1.0, rel=1e-12)
    table = run(*args)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split() == ["t", "error", "error_sem", "bias", "label_variance",
                                "thermal_variance", "sgd_variance"]
    assert [float(line.split()[-1]) for line in lines[1:]] == pytest.approx(
        data["sgd_variance"], rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("command, extra", [
    ("simulate", ["--designs", "3", "--json"]), ("simulate", ["--designs", "3"]),
    ("theory", ["--json"]), ("theory", [])])
def test_lr_zero_is_the_same_as_no_lr(command, extra):
    args = [command, *BASE, "--times", "0,0.7,inf", *extra]
    without, zero = run(*args), run(*args, "--lr", "0")
    assert without.returncode == 0 and zero.returncode == 0, zero.stderr
    assert zero.stdout == without.stdout and zero.stderr == without.stderr


@pytest.mark.parametrize("args, flag", [
    (["--batch", "4"], "--batch"),                                       # needs --lr
    (["--lr", "0", "--batch", "4"], "--batch"),
    (["--lr", "0.01", "--batch", "0"], "--batch"),
    (["--lr", "0.01", "--batch", "16"], "--batch"),                      # > P = 15
    (["--lr", "0.01", "--batch", "2.5"], "--batch"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "fast"], "--lr"),
    (["--lr", "0.01", "--method", "sde"], "--lr needs --method exact"),
    (["--lr", "0.01", "--batch", "4", "--times", "1,inf"], "--times inf"),
    (["--lr", "1e-4", "--batch", "4", "--times", "1e6"], "--times 1e+06"),
])
def test_simulate_usage_errors_exit_2_in_one_line(args, flag):
    common = [a for a in BASE]
    if "--times" not in args:
        args = [*args, "--times", "1"]
    out = run("simulate", *common, *args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("rfdmft: error: ") and flag in lines[0], lines[0]


def test_too_much_work_names_what_fits():
    out = run("simulate", *BASE, "--lr", "1e-4", "--batch", "4", "--times", "1e4",
              "--designs", "50")
    message = out.stderr.strip()
    assert out.returncode == 2
    for needle in ("--times 10000 with lr = 0.0001 (100000000 steps)", "B = 4", "N = 40",
                   "P = 15", "50 designs", "too much work", "what fits: t <= ", "designs <= "):
        assert needle in message, message


@pytest.mark.parametrize("args, flag", [
    (["--lr", "0.01", "--method", "time-domain"], "--lr needs --method laplace"),
    (["--batch", "3"], "--batch"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "0.01", "--batch", "99"], "--batch"),
])
def test_theory_usage_errors_exit_2_in_one_line(args, flag):
    out = run("theory", *BASE, *args, "--times", "1")
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr and flag in lines[0], out.stderr


@pytest.mark.parametrize("command, args, start", [
    ("simulate", ["--lr", "5"], "rfdmft: failed: gradient descent diverges: "),
    ("simulate", ["--lr", "0.2", "--batch", "1"], "rfdmft: failed: minibatch SGD diverge"),
    ("theory", ["--lr", "5"], "rfdmft: failed: "),
    ("theory", ["--lr", "5", "--batch", "2"], "rfdmft: failed: "),
])
def test_divergence_exits_1_without_numbers(command, args, start):
    out = run(command, *BASE, *args, "--times", "0,1,30", "--json")
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith(start), lines[0]
    assert "diverge" in lines[0] and "lr" in lines[0]


def test_theory_lr_is_the_discrete_theory():
    discrete = pytest.importorskip("rfdmft.discrete")
    times = [0.0, 0.5, 3.0]
    for extra, fields in (([], {}), (["--batch", "5"], {"batch": 5})):
        out = run("theory", *BASE, "--lr", "0.03", *extra, "--times", "0,0.5,3", "--json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        expected = discrete.theory_discrete(Params(**PARAMS, lr=0.03, **fields), times).to_dict()
        assert data == expected
        assert ("sgd_variance" in data) == bool(fields)
        np.testing.assert_allclose(data["error"], np.sum(
            [data[k] for k in ("bias", "label_variance", "thermal_variance", "sgd_variance")
             if k in data], axis=0), rtol=1e-13)


def test_help_names_the_discrete_flags():
    for command in ("simulate", "theory"):
        out = run(command, "--help")
        assert out.returncode == 0
        for needle in ("--lr", "--batch", "sgd_variance"):
            assert needle in out.stdout, (command, needle)


def test_ctrl_c_stops_the_sgd_monte_carlo_within_a_second():
    import os
    import signal
    import time

    args = ["simulate", "--alpha", "1", "--N", "400", "--P", "200", "--lr", "1e-4",
            "--batch", "8", "--times", "1,100", "--designs", "50"]
    process = subprocess.Popen([sys.executable, "-m", "rfdmft", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    time.sleep(4.0)
    assert process.poll() is None, "finished before the interrupt: make the problem larger"
    start = time.perf_counter()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    elapsed = time.perf_counter() - start
    assert process.returncode == 130, (process.returncode, err)
    assert err == "rfdmft: interrupted\n" and out == ""
    assert elapsed < 1.0, elapsed
