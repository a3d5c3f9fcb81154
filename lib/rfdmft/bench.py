"""Benchmarks: ``python -m rfdmft bench``. Everything is timed side by side in one run and
reported as ratios, since absolute times on shared machines are noisy.

Each timing is the best of a few repetitions after one warm-up call (numba compilation is
reported separately, not counted); where two things are compared, their calls alternate so
that both see the same load. Every row prints the measured values, the ratio and its target,
and ``TARGET MISSED`` when the target is not met; the run ends with a list of the misses.
Before timing, every comparison checks that both sides compute the same numbers.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .model import Params

#: Targets of the full run (``--quick`` shrinks the problems; its ratios are only a smoke test).
TARGETS = dict(simulation_over_laplace=1000.0, design_over_svd=1.0, krr_speedup=3.0,
               widget_latency_s=0.2, chapter_s=90.0, book_s=600.0)


def best_time(function, repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def best_times(functions, repeats: int = 3) -> list[float]:
    """Shortest wall time of each function over ``repeats`` rounds in which the calls alternate."""
    best = [np.inf] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[i] = min(best[i], time.perf_counter() - start)
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


class _Report:
    """Prints rows and collects the results, the missed targets and (``quick``) the targets
    not checked; :meth:`verdict` is computed from exactly these rows."""

    def __init__(self, out, quick: bool = False):
        self.out = out
        self.quick = quick
        self.results: dict = {}
        self.missed: list[str] = []
        self.met: list[str] = []
        self.unchecked: list[str] = []

    def row(self, name: str, text: str, ok: bool | None = None, sized: bool = False,
            correct: bool = True):
        """One row; ``ok`` False marks a missed target, None means no target. ``sized``: the
        target refers to the full-size problem, so a ``quick`` run (smaller problems) does not
        judge it, says so on the row, and judges only ``correct`` (size-independent checks,
        e.g. that two methods agree)."""
        if self.quick and sized and ok is not None:
            if not correct:
                self.missed.append(name)
                text += "  <-- CHECK FAILED"
            else:
                self.unchecked.append(name)
                text += "  [target not checked in --quick: it refers to the full-size run]"
        elif ok is False or (ok is not None and not correct):
            self.missed.append(name)
            text += "  <-- TARGET MISSED"
        elif ok:
            self.met.append(name)
        self.out(text)

    def skipped(self, name: str, why: str):
        """A target not measured in this run (e.g. the chapters in ``--quick``)."""
        self.unchecked.append(name)
        self.out(f"{name}: not measured ({why})")

    def verdict(self) -> str:
        """The last line, from the rows printed above it."""
        if self.missed:
            return "targets missed: " + ", ".join(self.missed)
        if self.unchecked:
            met = ", ".join(self.met) if self.met else "none"
            return (f"targets met: {met}; NOT checked in this run: {', '.join(self.unchecked)} "
                    "(run without --quick to check them)")
        return "all targets met"


# --------------------------------------------------------------------------------------------
# references the library is compared with
# --------------------------------------------------------------------------------------------

def euler_maruyama_numpy(K, b, temperature, times, dt, seed):
    """Plain numpy loop doing the steps of ``rfdmft.paths._euler_maruyama``: the reference.

    ``w <- w + h (drive - w @ K)`` per step, then ``sqrt(2 T h)`` times standard normals from the
    legacy generator seeded with ``seed`` (the sequence numba's ``np.random`` reproduces)."""
    np.random.seed(seed)
    n = b.shape[1]
    out = np.zeros((times.size, 3, n))
    w = np.zeros((3, n))
    drive = np.zeros((3, n))
    drive[:2] = b
    now = 0.0
    amplitude = math.sqrt(2.0 * temperature)
    for j in range(times.size):
        steps = int(math.ceil((times[j] - now) / dt - 1e-9))
        h = (times[j] - now) / steps if steps > 0 else 0.0
        kick = amplitude * math.sqrt(h)
        for _ in range(steps):
            w = w + h * (drive - w @ K)
            if temperature > 0.0:
                w[2] += kick * np.random.standard_normal(n)
        out[j] = w
        now = times[j]
    return out


def krr_learning_curve_brentq(params: Params, Ps) -> np.ndarray:
    """Straightforward reference for :func:`rfdmft.krr_learning_curve`: for each ``P``, solve
    ``kappa = gamma / P + (kappa / P) sum_k lam_k / (lam_k + kappa)`` with
    ``scipy.optimize.brentq`` (``gamma > 0``) and evaluate the ridge-regression error
    ``(kappa^2 sum lam p / (lam + kappa)^2 + sigma_e2 rho) / (1 - rho) + tail``."""
    from scipy.optimize import brentq

    if params.gamma <= 0:
        raise ValueError(f"gamma must be > 0 for this reference, got {params.gamma}")
    lam = params.eigenvalues[: params.N]
    p = params.powers[: params.N]
    tail, gamma = params.tail, params.gamma
    sig_e = params.sigma2 + tail
    out = []
    for P in Ps:
        def equation(kappa):
            return kappa - gamma / P - kappa / P * np.sum(lam / (lam + kappa))
        kappa = brentq(equation, gamma / P, gamma / P + lam.sum() / P, xtol=1e-300, rtol=1e-15,
                       maxiter=500)
        ratio = lam / (lam + kappa)
        rho = np.sum(ratio**2) / P
        signal = kappa**2 * np.sum(lam * p / (lam + kappa) ** 2)
        out.append((signal + sig_e * rho) / (1 - rho) + tail)
    return np.array(out)


@contextlib.contextmanager
def _contour_nodes(K: int):
    """Temporarily use ``K`` nodes per half-contour in the Laplace inversion."""
    from . import laplace

    old = laplace.CONTOUR["K"]
    laplace.CONTOUR["K"] = K
    try:
        yield
    finally:
        laplace.CONTOUR["K"] = old


# --------------------------------------------------------------------------------------------
# the rows
# --------------------------------------------------------------------------------------------

def _laplace_rows(report: _Report, scale: int):
    from .laplace import theory_laplace
    from .simulation import simulate, time_design

    times = np.logspace(-1, 4, 200)
    big = Params(alpha=1.0, N=10_000 // scale, P=2_500 // scale)
    start = time.perf_counter()
    theory_laplace(big, times)
    report.out(f"first Laplace call (includes numba compilation): {time.perf_counter() - start:.2f} s")
    laplace_big = best_time(lambda: theory_laplace(big, times), repeats=5)
    report.results["laplace_200_times_N10k_s"] = laplace_big
    report.row("laplace", f"Laplace theory, 200 times, N = {big.N}, P = {big.P}: "
               f"{laplace_big * 1e3:.1f} ms (target: a small fraction of a second)",
               laplace_big < 0.5, sized=True)

    params = Params(alpha=1.0, N=4000 // scale, P=1000 // scale)
    laplace = best_time(lambda: theory_laplace(params, times), repeats=5)
    simulation = best_time(lambda: simulate(params, times, designs=20), repeats=1)
    ratio = simulation / laplace
    report.results["simulation_over_laplace"] = ratio
    target = TARGETS["simulation_over_laplace"]
    report.row("simulation_over_laplace",
               f"exact simulation (20 designs) / Laplace theory at N = {params.N}, P = {params.P}, "
               f"200 times: {simulation:.2f} s / {laplace * 1e3:.1f} ms = {ratio:.0f}x "
               f"(target >= {target:.0f}x)", ratio >= target, sized=True)

    timing = time_design(params, times, repeats=5, threads=1)
    ratio = timing["ratio"]
    report.results["design_over_svd"] = ratio
    target = TARGETS["design_over_svd"]
    report.row("design_over_svd",
               f"simulator per design ({timing['route']} route) / one thin SVD of the same "
               f"design, 1 BLAS thread, medians of 5 alternated calls: {timing['design']:.3f} s "
               f"(spread {timing['design_spread']:.3f}) / {timing['svd']:.3f} s (spread "
               f"{timing['svd_spread']:.3f}) = {ratio:.2f}x (target <= {target}x)",
               ratio <= target, sized=True)


def _time_domain_rows(report: _Report, scale: int):
    from .dmft import solve_time_domain, theory_time_domain
    from .laplace import theory_laplace

    medium = Params(alpha=1.0, N=2000 // scale, P=500 // scale)
    few = np.logspace(-1, 3, 300)
    theory_time_domain(medium, few[:5])
    domain = best_time(lambda: theory_time_domain(medium, few), repeats=1)
    report.results["time_domain_N2000_s"] = domain
    laplace_medium = best_time(lambda: theory_laplace(medium, few), repeats=5)
    report.results["time_domain_over_laplace"] = domain / laplace_medium
    report.row("time_domain", f"time-domain DMFT, 300 times, N = {medium.N}, P = {medium.P}: "
               f"{domain:.2f} s (target: seconds); / Laplace theory: "
               f"{domain / laplace_medium:.0f}x", domain < 30, sized=True)

    # equal accuracy: both against a converged reference (Laplace with 48 nodes, checked
    # against 32 nodes); Laplace with the fewest nodes that is as accurate as the time domain
    noisy = medium.replace(sigma2=0.01)
    with _contour_nodes(48):
        reference = theory_laplace(noisy, few).error
    with _contour_nodes(32):
        check = theory_laplace(noisy, few).error
    reference_error = float(np.max(np.abs(check / reference - 1)))
    start = time.perf_counter()
    solution = solve_time_domain(noisy, few)
    domain = time.perf_counter() - start
    domain_error = float(np.max(np.abs(solution.curve.error / reference - 1)))
    estimate = float(np.max(solution.error_estimate / solution.curve.error))
    for K in (4, 6, 8, 10, 12, 16, 20, 24, 32):
        with _contour_nodes(K):
            laplace_error = float(np.max(np.abs(theory_laplace(noisy, few).error / reference - 1)))
        if laplace_error <= domain_error:
            break
    with _contour_nodes(K):
        laplace = best_time(lambda: theory_laplace(noisy, few), repeats=5)
    ratio = domain / laplace
    report.results.update(time_domain_over_laplace_equal_accuracy=ratio,
                          time_domain_error=domain_error, laplace_error=laplace_error,
                          laplace_nodes=K)
    report.row("equal_accuracy",
               f"time-domain / Laplace at equal accuracy (N = {noisy.N}, P = {noisy.P}, "
               f"sigma2 = {noisy.sigma2}, 300 times; max relative error against Laplace with 48 "
               f"nodes, itself within {reference_error:.0e} of 32 nodes): time domain "
               f"(Richardson, default grid) {domain_error:.1e} (its estimate {estimate:.1e}) in "
               f"{domain:.2f} s; Laplace with K = {K} nodes {laplace_error:.1e} in "
               f"{laplace * 1e3:.1f} ms: {ratio:.0f}x (target: Laplace faster, > 1x)",
               ratio > 1 and laplace_error <= domain_error, sized=True,
               correct=laplace_error <= domain_error)


def _paths_row(report: _Report, scale: int):
    from .paths import _euler_maruyama
    from .simulation import sample_design

    params = Params(alpha=1.0, N=max(400 // scale, 20), P=max(200 // scale, 10), gamma=0.01,
                    T=0.01)
    rng = np.random.default_rng(0)
    A = sample_design(params, rng)
    H = A.T @ A
    K = H + params.gamma * np.eye(params.N)
    drives = rng.standard_normal((2, params.N))
    dt = 0.05 / (np.linalg.eigvalsh(H)[-1] + params.gamma)
    steps = 2000 // scale
    times = np.array([dt * steps / 2, dt * steps])
    fast = _euler_maruyama(K, drives, params.T, times, dt, 3)          # also compiles
    slow = euler_maruyama_numpy(K, drives, params.T, times, dt, 3)
    difference = float(np.max(np.abs(fast - slow)) / np.max(np.abs(slow)))
    numba_time, numpy_time = best_times(
        [lambda: _euler_maruyama(K, drives, params.T, times, dt, 3),
         lambda: euler_maruyama_numpy(K, drives, params.T, times, dt, 3)], repeats=3)
    ratio = numpy_time / numba_time
    report.results.update(paths_speedup=ratio, paths_difference=difference)
    report.row("paths", f"Euler-Maruyama sample path, N = {params.N}, {steps} steps: numpy loop "
               f"/ numba (rfdmft.paths): {numpy_time * 1e3:.0f} ms / {numba_time * 1e3:.0f} ms = "
               f"{ratio:.1f}x (same path: max relative difference {difference:.1e}; target > 1x)",
               ratio > 1 and difference < 1e-12, sized=True, correct=difference < 1e-12)


def _krr_row(report: _Report, scale: int):
    from .equilibrium import krr_learning_curve

    params = Params(alpha=1.0, N=20_000 // scale, P=1, sigma2=0.01, gamma=1e-3)
    Ps = np.unique(np.logspace(1, 4, 30).astype(int) // scale + 1)
    fast = krr_learning_curve(params, Ps)                                 # also compiles
    slow = krr_learning_curve_brentq(params, Ps)
    difference = float(np.max(np.abs(fast / slow - 1)))
    library, reference = best_times([lambda: krr_learning_curve(params, Ps),
                                     lambda: krr_learning_curve_brentq(params, Ps)], repeats=5)
    ratio = reference / library
    report.results.update(krr_speedup=ratio, krr_difference=difference)
    target = TARGETS["krr_speedup"]
    report.row("krr", f"learning curve, {Ps.size} values of P, M = N = {params.N}: brentq per P "
               f"/ krr_learning_curve: {reference * 1e3:.1f} ms / {library * 1e3:.1f} ms = "
               f"{ratio:.1f}x (agree to {difference:.0e}; target >= {target:.0f}x)",
               ratio >= target and difference < 1e-10, sized=True, correct=difference < 1e-10)


#: Slider changes timed by :func:`widget_latency` (from the explorer's defaults).
SLIDER_CHANGES = (("P", 400), ("P", 200), ("N", 1600), ("N", 800), ("sigma2", 0.1),
                  ("sigma2", 0.01))


def widget_latency(changes=SLIDER_CHANGES) -> list[float]:
    """Seconds from a slider change to the redrawn figure of ``rfdmft.widgets.theory_explorer``,
    one per change: the callback recomputes the theory, draws, and renders the figure to PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import IPython.display
    import ipywidgets

    from .widgets import _SYMBOLS, theory_explorer

    rendered = []
    original = IPython.display.display

    def display(image, *args, **kwargs):
        rendered.append(len(image.data))

    IPython.display.display = display
    latencies = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):     # terminal escapes of clear_output
            widget = theory_explorer()
            sliders = {child.description: child for row in widget.children
                       if isinstance(row, ipywidgets.HBox) for child in row.children}
            names = {name: symbol for name, symbol in _SYMBOLS.items() if symbol in sliders}
            for name, value in changes:
                if name not in names:
                    raise ValueError(f"changes must name sliders of the theory explorer "
                                     f"{sorted(names)}, got {name!r}")
                before = len(rendered)
                start = time.perf_counter()
                sliders[names[name]].value = value
                latencies.append(time.perf_counter() - start)
                if len(rendered) != before + 1:
                    raise RuntimeError(f"changing {name} did not redraw the figure")
    finally:
        IPython.display.display = original
    return latencies


def _widget_row(report: _Report, changes: int):
    from .laplace import theory_laplace
    from .widgets import explorer_times

    latencies = widget_latency(SLIDER_CHANGES[:changes])
    median, worst = float(np.median(latencies)), float(np.max(latencies))
    # the computing part of one redraw: the theory the explorer draws, at its default values
    times = np.append(explorer_times(61, 1e5), np.inf)
    theory = best_time(lambda: theory_laplace(Params(alpha=1.0, N=800, P=200, sigma2=0.01),
                                              times), repeats=5)
    report.results.update(widget_latency_s=median, widget_latency_max_s=worst,
                          widget_theory_s=theory)
    target = TARGETS["widget_latency_s"]
    report.row("widget", f"theory explorer, slider change to redrawn figure (PNG), "
               f"{len(latencies)} changes: median {median * 1e3:.0f} ms, worst {worst * 1e3:.0f} ms, "
               f"of which the DMFT theory {theory * 1e3:.0f} ms and the rest matplotlib "
               f"(target <= {target * 1e3:.0f} ms)", median <= target)


def book_root() -> Path | None:
    """The repository root (holding ``_toc.yml``): the working directory, else the checkout
    this package lives in."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "_toc.yml").is_file():
            return candidate
    return None


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks ``_toc.yml`` lists, in book order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = []

    def collect(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            collect(entry.get("sections"))
            collect(entry.get("chapters"))

    files.append(toc["root"])
    collect(toc.get("chapters"))
    collect(toc.get("parts"))
    paths = [root / f"{name}.ipynb" for name in files]
    return [path for path in paths if path.is_file()]


def execute_notebook(path: Path, timeout: int = 600) -> tuple[float, int]:
    """Execute ``path`` in a fresh kernel (working directory: its folder, as the book build
    does); returns the seconds taken and the number of stderr outputs of its cells."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(stderr=subprocess.DEVNULL)          # the kernel's own log lines, not cells'
    elapsed = time.perf_counter() - start
    stderr = sum(1 for cell in notebook.cells for output in cell.get("outputs", [])
                 if output.get("output_type") == "stream" and output.get("name") == "stderr")
    return elapsed, stderr


def _chapter_rows(report: _Report):
    root = book_root()
    if root is None:
        report.row("chapters", "chapter execution: no _toc.yml in the working directory or "
                   "above the package; run from the repository root", False)
        return
    total = 0.0
    report.results["chapters_s"] = {}
    for path in toc_notebooks(root):
        name = path.relative_to(root).as_posix()
        try:
            elapsed, stderr = execute_notebook(path)
        except Exception as error:                  # a failing chapter is a row, not a crash
            report.row(f"chapter {name}", f"chapter {name}: FAILED ({type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''})", False)
            continue
        total += elapsed
        report.results["chapters_s"][name] = elapsed
        target = TARGETS["chapter_s"]
        note = f", {stderr} stderr outputs (must be none)" if stderr else ""
        report.row(f"chapter {name}", f"chapter {name}: {elapsed:.1f} s in a fresh kernel"
                   f"{note} (target < {target:.0f} s)", elapsed < target and not stderr)
    report.results["book_s"] = total
    target = TARGETS["book_s"]
    report.row("book", f"whole book (every notebook in _toc.yml, one after another): {total:.0f} s "
               f"on {os.cpu_count()} cores (target <= {target / 60:.0f} min)", total <= target)


def run(quick: bool = False, out=print) -> dict:
    """Measure and print the ratios; returns them as a dictionary (``missed``: the rows whose
    target was not met).

    ``quick`` shrinks every problem and skips the chapters (a smoke test): the targets refer to
    the full run, so the rows of shrunk problems judge only their size-independent checks
    (agreement between methods) and say so, and the last line names every target not checked
    (``unchecked`` in the result).
    """
    scale = 8 if quick else 1
    report = _Report(out, quick=quick)
    for line in machine():
        out(line)
    _laplace_rows(report, scale)
    _time_domain_rows(report, scale)
    _paths_row(report, scale)
    _krr_row(report, scale)
    _widget_row(report, 2 if quick else 6)
    if not quick:
        _chapter_rows(report)
    else:
        report.skipped("chapters", "--quick skips executing the chapters")
    report.results["missed"] = report.missed
    report.results["unchecked"] = report.unchecked
    out(report.verdict())
    sys.stdout.flush()
    return report.results
