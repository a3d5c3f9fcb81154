"""The benchmark's references and helpers: each must compute what the library computes."""

import numpy as np
import pytest

from rfdmft import Params, equilibrium, krr_learning_curve
from rfdmft import bench
from rfdmft.paths import _euler_maruyama, _euler_maruyama_steps
from rfdmft.simulation import sample_design


@pytest.mark.parametrize("N, parallel", [(30, False), (300, False), (300, True)])
def test_numpy_reference_takes_the_same_euler_maruyama_steps(N, parallel):
    """The serial and the threaded step (``paths.PARALLEL_MODES``) against the numpy loop."""
    params = Params(alpha=1.0, N=N, P=N // 2, gamma=0.05, T=0.02)
    rng = np.random.default_rng(4)
    A = sample_design(params, rng)
    K = A.T @ A + params.gamma * np.eye(N)
    drives = rng.standard_normal((2, N))
    dt = 0.05 / np.linalg.eigvalsh(K)[-1]
    times = np.array([7 * dt, 40 * dt, 40 * dt, 101.5 * dt])
    fast = _euler_maruyama_steps(K, drives, params.T, times, dt, 9, parallel)
    slow = bench.euler_maruyama_numpy(K, drives, params.T, times, dt, 9)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-13 * np.abs(slow).max())
    if not parallel:
        np.testing.assert_array_equal(_euler_maruyama(K, drives, params.T, times, dt, 9), fast)
    # the thermal part is driven by the same random numbers, not merely the same distribution
    assert np.abs(slow[:, 2]).max() > 1e-3
    other = bench.euler_maruyama_numpy(K, drives, params.T, times, dt, 10)
    assert np.abs(other[:, 2] - slow[:, 2]).max() > 1e-4


def test_brentq_reference_learning_curve_agrees_with_the_library():
    params = Params(alpha=1.5, N=3000, M=4000, P=1, sigma2=0.05, gamma=0.003)
    Ps = [7, 60, 400, 2500, 9000]
    reference = bench.krr_learning_curve_brentq(params, Ps)
    np.testing.assert_allclose(krr_learning_curve(params, Ps), reference, rtol=1e-12)
    single = [equilibrium(params.replace(P=P)).mean_error for P in Ps]
    np.testing.assert_allclose(single, reference, rtol=1e-12)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        bench.krr_learning_curve_brentq(params.replace(gamma=0.0), Ps)


def test_chapters_are_found_from_the_root_and_from_elsewhere(tmp_path, monkeypatch):
    root = bench.book_root()
    assert root is not None and (root / "_toc.yml").is_file()
    notebooks = bench.toc_notebooks(root)
    toc = (root / "_toc.yml").read_text()
    assert notebooks and all(path.suffix == ".ipynb" and path.is_file() for path in notebooks)
    assert all(path.relative_to(root).with_suffix("").as_posix() in toc for path in notebooks)
    monkeypatch.chdir(tmp_path)                      # outside the repository: the package's checkout
    assert bench.book_root() == root


def test_widget_latency_redraws_once_per_change():
    latencies = bench.widget_latency((("P", 400), ("N", 1600)))
    assert len(latencies) == 2 and all(0 < s < 60 for s in latencies)
    with pytest.raises(ValueError, match="prior_variance"):
        bench.widget_latency((("prior_variance", 2.0),))   # not a slider of this explorer


def test_missed_targets_are_marked_and_collected():
    lines = []
    report = bench._Report(lines.append)
    report.row("fast", "fast: 1x (target > 2x)", False)
    report.row("info", "info: 3 ms", None)
    report.row("ok", "ok: 3x (target > 2x)", True)
    assert report.missed == ["fast"]
    assert lines[0].endswith("TARGET MISSED") and "MISSED" not in lines[1] + lines[2]


def test_execute_notebook_counts_stderr_outputs(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    path = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("open('marker.txt', 'w').write('x')"),
                                       new_code_cell("import sys\nsys.stderr.write('noise')")]),
                   path)
    seconds, stderr = bench.execute_notebook(path, timeout=120)
    assert seconds > 0 and stderr == 1
    assert (tmp_path / "marker.txt").is_file()        # run in the notebook's folder
