"""Messages: the exact infinity at the interpolation threshold, the infinite mean over
designs, how infinite values are written, and the refusal of t = inf without equilibrium."""

import json
import subprocess
import sys

import numpy as np
import pytest

import rfdmft as rf
from rfdmft import cli
from rfdmft.model import ErrorCurve, validate_times
from rfdmft.simulation import HeavyTailWarning, simulate

THRESHOLD = ["--alpha", "0.5", "--N", "60", "--P", "60", "--sigma2", "0.1"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "rfdmft", *args], capture_output=True, text=True)


def main(capsys, *args):
    status = cli.main(list(args), watchdog=False)
    out = capsys.readouterr()
    return status, out.out, out.err


# ---- theory at N = P without ridge: every row, inf, one line on standard error ----------------

def test_threshold_prints_every_row_and_inf(capsys):
    out = run("theory", *THRESHOLD, "--times", "1,10,inf")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.strip().splitlines()]
    assert rows[0] == ["t", "error", "bias", "label_variance", "thermal_variance"]
    assert [row[0] for row in rows[1:]] == ["1", "10", "inf"]
    assert rows[3][1] == "inf" and rows[3][3] == "inf"            # error, label-noise variance
    assert float(rows[3][2]) == 0.0 and float(rows[3][4]) == 0.0  # the fit is exact; no T
    status, finite, err = main(capsys, "theory", *THRESHOLD, "--times", "1,10")  # without inf
    assert status == 0 and err == ""
    assert [row[1:] for row in rows[1:3]] == [line.split()[1:]
                                              for line in finite.strip().splitlines()[1:]]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith("rfdmft: note: at t = inf the label-noise variance")
    for needle in ("infinite", "interpolation threshold N = P = 60", "gamma = 0",
                   "smallest eigenvalues of H", "sigma2 + tail = 0.1"):
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("method", ["laplace", "time-domain"])
def test_threshold_json_writes_infinite_values_as_inf(capsys, method):
    status, out, err = main(capsys, "theory", *THRESHOLD, "--times", "2,inf", "--json",
                            "--method", method)
    assert status == 0 and len(err.strip().splitlines()) == 1 and "N = P" in err
    data = json.loads(out)
    assert data["times"] == [2.0, "inf"]
    assert data["error"][1] == data["label_variance"][1] == "inf"
    assert data["bias"][1] == 0.0 and data["thermal_variance"][1] == 0.0
    equilibrium = rf.equilibrium(rf.Params(alpha=0.5, N=60, P=60, sigma2=0.1))
    assert equilibrium.rho == 1.0 and equilibrium.label_variance == np.inf  # sigma2 rho/(1-rho)
    reference = rf.theory_laplace(rf.Params(alpha=0.5, N=60, P=60, sigma2=0.1), [2.0])
    assert data["error"][0] == pytest.approx(reference.error[0], rel=1e-3)


def test_the_tail_alone_diverges_too_and_no_noise_no_infinity(capsys):
    status, out, err = main(capsys, "theory", "--alpha", "0.5", "--N", "60", "--M", "90", "--P",
                            "60", "--times", "inf", "--json")
    assert status == 0 and json.loads(out)["label_variance"] == ["inf"]
    assert "sigma2 + tail = " in err
    for extra in ([], ["--sigma2", "0.1", "--gamma", "1e-3"]):    # nothing infinite: no note
        status, out, err = main(capsys, "theory", "--alpha", "0.5", "--N", "60", "--P", "60",
                                "--times", "inf", "--json", *extra)
        assert status == 0 and err == ""
        assert np.isfinite(json.loads(out)["error"][0])


def test_other_infinities_are_still_refused(monkeypatch, capsys):
    """Only the exact infinity at t = inf, N = P, gamma = 0 is printed; an infinite value
    anywhere else means the solver failed."""
    from rfdmft import laplace

    def infinite(params, times):
        t = np.asarray(times, dtype=float)
        return ErrorCurve(times=t, bias=np.zeros(t.shape), label_variance=np.full(t.shape, np.inf),
                          thermal_variance=np.zeros(t.shape))

    monkeypatch.setattr(laplace, "theory_laplace", infinite)
    for args in (["--N", "60", "--P", "60", "--sigma2", "0.1", "--times", "10,inf"],
                 ["--N", "60", "--P", "61", "--sigma2", "0.1", "--times", "inf"],
                 ["--N", "60", "--P", "60", "--sigma2", "0.1", "--gamma", "0.1", "--times", "inf"]):
        status, out, err = main(capsys, "theory", "--alpha", "0.5", *args)
        assert status == 1 and out == ""
        assert err == ("rfdmft: failed: the Laplace theory produced non-finite values; "
                       "nothing is printed\n")


def help_text(capsys, command):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"], watchdog=False)
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_documents_how_infinite_values_are_written(capsys):
    for command in ("simulate", "theory"):
        text = help_text(capsys, command)
        assert 'the string "inf"' in text and "null" in text and "N = P" in text
    text = help_text(capsys, "simulate")
    assert "error_median" in text and "|N - P| <= 1" in text


def test_error_curve_json_form_of_non_finite_values():
    curve = ErrorCurve(times=np.array([1.0, np.inf]), bias=np.array([0.5, 0.0]),
                       label_variance=np.array([0.1, np.inf]), thermal_variance=np.zeros(2),
                       error_sem=np.array([np.nan, 0.2]), error_median=np.array([0.6, 7.0]))
    d = curve.to_dict()
    assert d["times"] == [1.0, "inf"] and d["label_variance"] == [0.1, "inf"]
    assert d["error"] == [0.6, "inf"] and d["error_sem"] == [None, 0.2]
    assert d["error_median"] == [0.6, 7.0]
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert "error_median" not in ErrorCurve(times=np.ones(1), bias=np.ones(1),
                                            label_variance=np.ones(1),
                                            thermal_variance=np.ones(1)).to_dict()
    negative = ErrorCurve(times=np.ones(1), bias=np.array([-np.inf]), label_variance=np.zeros(1),
                          thermal_variance=np.zeros(1))
    assert negative.to_dict()["bias"] == ["-inf"]


# ---- simulate where the mean over designs is infinite -------------------------------------------

NEAR = ["--alpha", "0.5", "--N", "30", "--P", "31", "--sigma2", "0.1", "--designs", "9",
        "--seed", "2"]


def test_heavy_tails_add_the_median_and_say_so(capsys):
    status, out, err = main(capsys, "simulate", *NEAR, "--times", "1,inf")
    assert status == 0
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0] == ["t", "error", "error_sem", "error_median", "bias", "label_variance",
                       "thermal_variance"]
    with pytest.warns(HeavyTailWarning):
        expected = simulate(rf.Params(alpha=0.5, N=30, P=31, sigma2=0.1), [1.0, np.inf],
                            designs=9, seed=2)
    assert [float(row[3]) for row in rows[1:]] == pytest.approx(expected.error_median, rel=1e-5)
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err and "HeavyTailWarning" not in err
    assert lines[0].startswith("rfdmft: warning: at t = inf the mean over designs is infinite")
    assert "|N - P| = 1" in lines[0] and "sigma2 = 0.1" in lines[0]
    assert "error_sem" in lines[0] and "mean nothing" in lines[0]
    assert "the column error_median" in lines[1] and "median over the 9 designs" in lines[1]


def test_heavy_tails_json_keeps_the_mean_and_adds_the_median(capsys):
    status, out, err = main(capsys, "simulate", *NEAR, "--times", "1,inf", "--json")
    assert status == 0 and "the key error_median" in err
    data = json.loads(out)
    assert set(data) == {"times", "error", "bias", "label_variance", "thermal_variance",
                         "error_sem", "error_median"}
    with pytest.warns(HeavyTailWarning):
        expected = simulate(rf.Params(alpha=0.5, N=30, P=31, sigma2=0.1), [1.0, np.inf],
                            designs=9, seed=2)
    np.testing.assert_allclose(data["error"], expected.error, rtol=1e-14)
    np.testing.assert_allclose(data["error_median"], expected.error_median, rtol=1e-14)
    assert data["error_median"][1] < data["error"][1]       # the mean is pulled up by the tail


@pytest.mark.parametrize("args", [["--P", "33"], ["--P", "31", "--gamma", "1e-3"],
                                  ["--P", "31", "--times", "1,1e6"]])
def test_no_heavy_tails_no_median_no_warning(capsys, args):
    base = ["--alpha", "0.5", "--N", "30", "--sigma2", "0.1", "--designs", "3", "--json"]
    times = [] if "--times" in args else ["--times", "1,inf"]
    status, out, err = main(capsys, "simulate", *base, *args, *times)
    assert status == 0 and err == ""
    assert "error_median" not in json.loads(out)


def test_heavy_tails_with_sample_paths(capsys):
    status, out, err = main(capsys, "simulate", *NEAR, "--times", "inf", "--method", "sde")
    assert status == 0 and "error_median" in out.splitlines()[0]
    assert "median over the 9 sample paths" in err


# ---- the refusal of t = inf without equilibrium ----------------------------------------------

def test_refusal_at_the_threshold_speaks_of_small_eigenvalues_not_a_null_space():
    with pytest.raises(ValueError) as at_threshold:
        validate_times([np.inf], rf.Params(alpha=0.5, N=60, P=60, T=0.1))
    message = str(at_threshold.value)
    assert message.startswith("t = inf is not allowed with T = 0.1 > 0, gamma = 0 and N = P = 60")
    assert "no null space" in message and "accumulate at zero" in message
    assert "diffuse" not in message and "T int dmu(h)/h diverges" in message
    with pytest.raises(ValueError) as above:
        validate_times([np.inf], rf.Params(alpha=0.5, N=61, P=60, T=0.1))
    message = str(above.value)
    assert "N = 61 > P = 60" in message and "diffuse freely in the null space of H" in message
    for message in (str(at_threshold.value), str(above.value)):
        assert message.endswith("use gamma > 0, N < P, or finite times")


def test_refusal_on_the_command_line(capsys):
    status, out, err = main(capsys, "theory", "--alpha", "0.5", "--N", "60", "--P", "60",
                            "--T", "0.1", "--times", "1,inf")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("rfdmft: error: --times inf is not allowed") and "no null space" in err
