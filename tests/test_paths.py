"""Sample paths against the exact simulator, and their reproducibility."""

import numpy as np
import pytest

from rfdmft import Params, sample_path, simulate, simulate_paths

PARAMS = Params(alpha=1.0, N=12, P=8, M=20, sigma2=0.2, gamma=0.1, T=0.05)
TIMES = [0.0, 0.3, 3.0, 30.0, np.inf]


def part_statistics(samples):
    """Mean and standard error over runs (axis 0)."""
    samples = np.asarray(samples)
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(len(samples))


def test_sample_paths_agree_with_exact_simulator_part_by_part():
    # the simulator closes the averages over teacher, label noise, uncaptured modes and Langevin
    # noise analytically; the paths draw all of them explicitly
    exact = simulate(PARAMS, TIMES, designs=4000, seed=1)
    runs = [sample_path(PARAMS, TIMES, seed=s) for s in range(3000)]
    for name in ("bias", "label_variance", "thermal_variance", "error"):
        mean, sem = part_statistics([getattr(run, name) for run in runs])
        reference = getattr(exact, name)
        reference_sem = exact.error_sem if name == "error" else 0.0
        z = np.abs(mean - reference) / np.sqrt(sem**2 + reference_sem**2 + 1e-300)
        assert np.all(z[1:] < 4.5), (name, mean, reference, z)


def test_exact_steps_do_not_depend_on_the_time_grid():
    params = PARAMS.replace(T=0.0)
    coarse = sample_path(params, [3.0], seed=11)
    fine = sample_path(params, [0.01, 0.5, 1.0, 2.9, 3.0], seed=11)
    np.testing.assert_allclose(fine.w[-1], coarse.w[-1], rtol=1e-12, atol=1e-14)


def test_euler_maruyama_converges_to_the_exact_path_at_first_order():
    params = PARAMS.replace(T=0.0)
    exact = sample_path(params, [0.5, 2.0], seed=5)
    deviations = []
    for dt in (1e-3, 5e-4):
        euler = sample_path(params, [0.5, 2.0], seed=5, integrator="euler", dt=dt)
        deviations.append(np.max(np.abs(euler.w - exact.w)))
    assert deviations[0] < 1e-2 * np.max(np.abs(exact.w))
    assert deviations[1] / deviations[0] == pytest.approx(0.5, abs=0.05)


def test_euler_maruyama_thermal_statistics():
    params = Params(alpha=1.0, N=6, P=5, gamma=0.5, T=0.1)
    exact = simulate(params, [0.5, 2.0], designs=2000)
    euler = simulate_paths(params, [0.5, 2.0], designs=300, integrator="euler", seed=2)
    z = np.abs(euler.error - exact.error) / np.hypot(euler.error_sem, exact.error_sem)
    assert np.all(z < 4.5), z


def test_initial_error_of_a_path_is_its_teacher_power():
    run = sample_path(PARAMS, [0.0, 1.0], seed=3)
    lam = PARAMS.eigenvalues
    assert run.error[0] == pytest.approx(lam @ run.teacher**2, rel=1e-12)
    assert run.w.shape == (2, PARAMS.N)
    assert run.teacher.shape == (PARAMS.M,)


def test_paths_are_reproducible_from_the_seed():
    for integrator in ("exact", "euler"):
        times = [0.5, 1.0] if integrator == "euler" else TIMES
        a = sample_path(PARAMS, times, seed=9, integrator=integrator)
        b = sample_path(PARAMS, times, seed=9, integrator=integrator)
        c = sample_path(PARAMS, times, seed=10, integrator=integrator)
        np.testing.assert_array_equal(a.weights, b.weights)
        assert not np.allclose(a.error, c.error)
    m1 = simulate_paths(PARAMS, [1.0, np.inf], designs=5, seed=2)
    m2 = simulate_paths(PARAMS, [np.inf, 1.0], designs=5, seed=2)      # order of times is free
    np.testing.assert_allclose(m1.error, m2.error[::-1], rtol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="^integrator must"):
        sample_path(PARAMS, [1.0], integrator="rk4")
    with pytest.raises(ValueError, match="needs integrator='exact'"):
        sample_path(PARAMS, [1.0, np.inf], integrator="euler")
    with pytest.raises(ValueError, match="increasing order"):
        sample_path(PARAMS, [2.0, 1.0])
    with pytest.raises(ValueError, match="^dt must"):
        sample_path(PARAMS, [1.0], integrator="euler", dt=-1.0)
    with pytest.raises(ValueError, match="^t = inf is not allowed"):
        sample_path(Params(alpha=1, N=10, P=5, T=1.0), [np.inf])


def test_sample_paths_refuse_discrete_time():
    """Sample paths integrate the continuous dynamics: a learning rate is refused, not ignored."""
    from rfdmft.paths import sample_path, simulate_paths

    params = Params(alpha=1.0, N=20, P=10, lr=0.01)
    for call in (lambda: sample_path(params, [1.0]), lambda: simulate_paths(params, [1.0], 2)):
        with pytest.raises(ValueError, match="lr = 0.01"):
            call()
