"""The command line: JSON schema, inf, tables, exit codes and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rfdmft import Params, simulate


def run(*args):
    return subprocess.run([sys.executable, "-m", "rfdmft", *args], capture_output=True, text=True)


BASE = ["--alpha", "1", "--N", "40", "--P", "15"]


def test_simulate_json_schema_and_values():
    out = run("simulate", *BASE, "--M", "60", "--sigma2", "0.1", "--gamma", "0.05", "--T", "0.02",
              "--times", "0,0.5,10,inf", "--designs", "6", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"times", "error", "bias", "label_variance", "thermal_variance", "error_sem"}
    assert data["times"] == [0.0, 0.5, 10.0, "inf"]
    assert all(len(v) == 4 for v in data.values())
    parts = np.array([data["bias"], data["label_variance"], data["thermal_variance"]])
    np.testing.assert_allclose(parts.sum(axis=0), data["error"], rtol=1e-14)
    expected = simulate(Params(alpha=1, N=40, P=15, M=60, sigma2=0.1, gamma=0.05, T=0.02),
                        [0, 0.5, 10, np.inf], designs=6, seed=3)
    np.testing.assert_allclose(data["error"], expected.error, rtol=1e-14)
    np.testing.assert_allclose(data["error_sem"], expected.error_sem, rtol=1e-12)
    assert data["error"][0] == pytest.approx(1.0, rel=1e-12)


def test_sde_method_agrees_with_exact_within_error():
    common = [*BASE, "--sigma2", "0.05", "--gamma", "0.1", "--T", "0.01", "--times", "1,inf", "--json"]
    exact = json.loads(run("simulate", *common, "--designs", "200").stdout)
    sde = json.loads(run("simulate", *common, "--designs", "200", "--method", "sde").stdout)
    z = np.abs(np.subtract(sde["error"], exact["error"])) / np.hypot(sde["error_sem"], exact["error_sem"])
    assert np.all(z < 4.5), z


def test_readable_table():
    out = run("simulate", *BASE, "--times", "1,inf", "--designs", "2")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["t", "error", "error_sem", "bias", "label_variance", "thermal_variance"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "inf"]


def test_help():
    for args in ([], ["simulate"]):
        out = run(*args, "--help")
        assert out.returncode == 0 and "usage" in out.stdout and "--times" in run("simulate", "--help").stdout


@pytest.mark.parametrize("args, flag", [
    (["--alpha", "0", "--N", "5", "--P", "3", "--times", "1"], "--alpha"),
    (["--alpha", "x", "--N", "5", "--P", "3", "--times", "1"], "--alpha"),
    (["--alpha", "nan", "--N", "5", "--P", "3", "--times", "1"], "--alpha"),
    (["--alpha", "1", "--N", "0", "--P", "3", "--times", "1"], "--N"),
    (["--alpha", "1", "--N", "2.5", "--P", "3", "--times", "1"], "--N"),
    (["--alpha", "1", "--N", "5", "--P", "-3", "--times", "1"], "--P"),
    (["--alpha", "1", "--N", "5", "--M", "4", "--P", "3", "--times", "1"], "--M"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--sigma2", "-1"], "--sigma2"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--gamma", "inf"], "--gamma"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--T", "-0.1"], "--T"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "-1"], "--times"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1,,2"], "--times"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "nan"], "--times"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1,inf", "--T", "0.5"], "--times"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--designs", "0"], "--designs"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--seed", "-2"], "--seed"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--method", "rk4"], "--method"),
    (["--alpha", "1", "--N", "5", "--P", "3"], "--times"),
    (["--alpha", "1", "--N", "200000", "--P", "100000", "--times", "1"], "--N"),
    (["--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--bogus", "2"], "--bogus"),
])
def test_bad_input_exits_2_with_one_line(args, flag):
    out = run("simulate", *args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert flag in lines[0], lines[0]


def test_langevin_without_decay_keeps_finite_times_and_small_n():
    ok = run("simulate", "--alpha", "1", "--N", "5", "--P", "10", "--T", "0.5", "--times", "1,inf",
             "--designs", "3", "--json")
    assert ok.returncode == 0, ok.stderr                     # N < P: equilibrium exists
    ok = run("simulate", "--alpha", "1", "--N", "10", "--P", "5", "--T", "0.5", "--times", "1,100",
             "--designs", "3", "--json")
    assert ok.returncode == 0, ok.stderr                     # finite times always exist


THEORY = ["--alpha", "1", "--N", "500", "--P", "200", "--sigma2", "0.05", "--gamma", "0.01",
          "--T", "0.005", "--M", "700", "--times", "0,0.3,3,30,300,inf", "--json"]


@pytest.mark.parametrize("method", ["laplace", "time-domain"])
def test_theory_json_agrees_with_simulation(method):
    out = run("theory", *THEORY, "--method", method)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"times", "error", "bias", "label_variance", "thermal_variance"}
    assert data["times"] == [0.0, 0.3, 3.0, 30.0, 300.0, "inf"]
    parts = np.array([data["bias"], data["label_variance"], data["thermal_variance"]])
    np.testing.assert_allclose(parts.sum(axis=0), data["error"], rtol=1e-14)
    assert data["error"][0] == pytest.approx(1.0, rel=1e-12)
    sim = json.loads(run("simulate", *THEORY, "--designs", "40").stdout)
    assert np.all(np.array(sim["error_sem"][1:]) < 0.003 * np.array(sim["error"][1:]))
    np.testing.assert_allclose(data["error"], sim["error"], rtol=0.01)


def test_theory_bad_input_and_help():
    out = run("theory", "--alpha", "1", "--N", "5", "--P", "3", "--times", "1", "--method", "exact")
    assert out.returncode == 2 and "--method" in out.stderr and len(out.stderr.splitlines()) == 1
    out = run("theory", "--alpha", "-1", "--N", "5", "--P", "3", "--times", "1")
    assert out.returncode == 2 and out.stderr.startswith("rfdmft: error: --alpha")
    assert "--method" in run("theory", "--help").stdout


def test_bench_runs_and_prints_every_ratio():
    out = run("bench", "--quick")
    assert out.returncode == 0, out.stderr
    for needle in ("cores:", "Laplace theory, 200 times", "exact simulation (20 designs) / Laplace",
                   "simulator per design", "time-domain DMFT"):
        assert needle in out.stdout, needle
    # the verdict comes from the rows shown: quick runs name the full-run targets they skip
    last = out.stdout.strip().splitlines()[-1]
    assert "all targets met" not in last and "NOT checked in this run" in last, last
    assert "simulation_over_laplace" in last and "chapters" in last, last
