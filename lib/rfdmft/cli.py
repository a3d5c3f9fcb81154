"""Command line: ``python -m rfdmft simulate ...`` and ``python -m rfdmft theory ...``.

Bad input exits with status 2 and one line on standard error naming the parameter, its
value and what is allowed; so does a problem too large for this machine's memory (estimated
before any work, see :func:`rfdmft.model.check_theory_size`). A solver that cannot give
trusted numbers exits with status 1 and one line; numbers that cannot be trusted are never
printed. Two results are printed with a note on standard error and status 0: the exact
infinity of the theory's label-noise variance at ``t = inf``, ``N = P``, ``gamma = 0``
(written ``inf``), and a simulation at times where the mean over designs is infinite
(:func:`rfdmft.simulation.heavy_tailed`; the median over designs is added). Ctrl-C exits
with status 130 and the line ``rfdmft: interrupted`` (within about a second, also while a
long compiled call runs, see :func:`_interrupt_watchdog`); output piped into a reader that
stops early (``| head``) ends quietly with status 141 (``128 + SIGPIPE``, the status a Unix
tool killed by ``SIGPIPE`` reports). No traceback is ever shown.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import warnings

import numpy as np

from .model import Params, check_memory, check_theory_size, validate_times

#: Exit statuses: usage error, untrusted numbers or failure, broken pipe, Ctrl-C.
EXIT_USAGE, EXIT_FAILED, EXIT_PIPE, EXIT_INTERRUPTED = 2, 1, 141, 130

#: Seconds the main thread gets to handle Ctrl-C itself before the watchdog ends the process.
INTERRUPT_GRACE = 0.5

_interrupt_reported = threading.Event()


class UsageError(Exception):
    """A user mistake on the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):                     # argparse's own errors: one line, status 2
        raise UsageError(message)


def _integer(flag, minimum=1):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{flag} must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise UsageError(f"{flag} must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _number(flag, allowed):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{flag} must be {allowed}, got {text!r}") from None
        return value
    return parse


def _times(text):
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError("--times must be comma-separated non-negative numbers (inf allowed), "
                         f"got {text!r}") from None
    return values


def _model_arguments(parser):
    parser.add_argument("--alpha", required=True, type=_number("--alpha", "a number > 0"),
                        help="spectral exponent: lambda_k ~ k^-(1+alpha)")
    parser.add_argument("--N", required=True, type=_integer("--N"), help="modes of the model")
    parser.add_argument("--M", type=_integer("--M"), help="modes of the target (default N)")
    parser.add_argument("--P", required=True, type=_integer("--P"), help="training points")
    parser.add_argument("--sigma2", default=0.0, type=_number("--sigma2", "a number >= 0"),
                        help="label-noise variance (default 0)")
    parser.add_argument("--gamma", default=0.0, type=_number("--gamma", "a number >= 0"),
                        help="weight decay (default 0)")
    parser.add_argument("--T", default=0.0, type=_number("--T", "a number >= 0"),
                        help="Langevin temperature (default 0)")
    parser.add_argument("--times", required=True, type=_times,
                        help="comma-separated times; inf is the long-time limit")
    parser.add_argument("--lr", default=0.0, type=_number("--lr", "a number >= 0"),
                        help="learning rate of discrete-time training: gradient descent with "
                             "steps of size lr, time t = lr * steps (default 0: continuous time)")
    parser.add_argument("--batch", type=_integer("--batch"),
                        help="minibatch size B of SGD, 1 <= B <= P (needs --lr; default P: "
                             "full-batch gradient descent)")
    parser.add_argument("--features", default="modes", choices=["modes", "random"],
                        help="modes: the model uses the first N kernel modes (default); random: "
                             "N random projections of all M modes (a random-feature model; "
                             "N may exceed M)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


#: How the output writes what is not a finite number (the --help of both commands says it).
OUTPUT_HELP = (
    "Output: a table, or with --json one JSON object of lists aligned with --times. An "
    "infinite time or value is written inf (in JSON the string \"inf\"), a value that is not "
    "a number null. Without weight decay (gamma = 0) at N = P the t = inf label-noise "
    "variance is infinite: it is printed as inf, with a note on standard error and exit "
    "status 0.")
DISCRETE_HELP = (
    " With --lr the training takes discrete steps: gradient descent (exact per design, and in "
    "the theory), and with --batch B < P minibatch SGD: the simulation is then a Monte Carlo "
    "(one run per design; t = inf is refused) and the theory homogenised with a fourth-moment term; the excess error of "
    "SGD over gradient descent is the column (JSON key) sgd_variance, included in error. A "
    "learning rate beyond the stability edge exits with status 1 and a message, no numbers.")
HEAVY_HELP = (
    " Where the mean over designs is infinite (gamma = 0, t = inf, |N - P| <= 1, with label "
    "noise, an uncaptured tail M > N or T > 0) the mean and error_sem mean nothing: the "
    "median over designs is added as error_median and standard error says so.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rfdmft",
                     description="Generalisation error of random-feature regression with a "
                                 "power-law kernel spectrum, trained by gradient flow, weight "
                                 "decay or Langevin dynamics.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    simulate = commands.add_parser(
        "simulate", help="exact finite-size simulation averaged over random designs",
        description="Exact finite-size simulation: the error and its parts averaged over "
                    "random designs, with the standard error.",
        epilog=OUTPUT_HELP + DISCRETE_HELP + HEAVY_HELP)
    _model_arguments(simulate)
    simulate.add_argument("--designs", default=20, type=_integer("--designs"),
                          help="random designs to average (default 20)")
    simulate.add_argument("--seed", default=0, type=_integer("--seed", 0), help="seed (default 0)")
    simulate.add_argument("--method", default="exact", choices=["exact", "sde"],
                          help="exact: closed-form averages per design; sde: sample paths")
    theory = commands.add_parser(
        "theory", help="dynamical mean-field theory (typical case, large N and P)",
        description="Dynamical mean-field theory: the error and its parts for the typical "
                    "design, from the Laplace-domain or the time-domain solver.",
        epilog=OUTPUT_HELP + DISCRETE_HELP)
    _model_arguments(theory)
    theory.add_argument("--method", default="laplace", choices=["laplace", "time-domain"],
                        help="laplace: contour inversion of the response (default); "
                             "time-domain: two-time DMFT on a time grid")
    bench = commands.add_parser(
        "bench", help="benchmarks: speed ratios measured side by side in one run",
        description="Measure the library's speed ratios side by side and print them.")
    bench.add_argument("--quick", action="store_true",
                       help="smaller problems (a smoke test; the targets refer to the full run)")
    return parser


_FLAGS = {"P x N": "--P x --N", "t =": "--times", "alpha": "--alpha", "N": "--N", "M": "--M",
          "P": "--P", "sigma2": "--sigma2", "gamma": "--gamma", "T": "--T", "t": "--times",
          "designs": "--designs", "lr": "--lr", "batch": "--batch"}


def _as_flag(message: str) -> str:
    """Library messages name parameters (``N must ...``); on the command line name the flag."""
    for name, flag in _FLAGS.items():
        if message.startswith(name + " "):
            return flag + message[len(name):]
    return message


#: What produced the numbers, for the messages: (command, method) -> name.
_PRODUCERS = {("simulate", "exact"): "the exact simulation", ("simulate", "sde"): "the SDE simulation",
              ("theory", "laplace"): "the Laplace theory",
              ("theory", "time-domain"): "the time-domain theory"}

#: The only methods with discrete-time training (--lr > 0).
_DISCRETE_METHODS = {"simulate": "exact", "theory": "laplace"}


def _producer(args) -> str:
    """What produced the numbers, for the messages."""
    if args.lr > 0:
        if args.command == "theory":
            return "the discrete-time theory"
        return "the SGD Monte Carlo" if args.batch is not None else "the exact simulation"
    return _PRODUCERS[args.command, args.method]


def _check(args):
    """Every check that needs no solver work: values, times, and the memory the run needs."""
    from . import simulation

    if args.batch is not None and not args.lr > 0:
        raise UsageError(f"--batch needs --lr > 0 (minibatch SGD takes discrete steps), got "
                         f"--batch {args.batch} with --lr {args.lr:g}")
    params = Params(alpha=args.alpha, N=args.N, M=args.M, P=args.P, sigma2=args.sigma2,
                    gamma=args.gamma, T=args.T, lr=args.lr, batch=args.batch,
                    features=args.features)
    if params.features == "random":
        method = {"simulate": "exact", "theory": "laplace"}[args.command]
        if args.method != method:
            raise UsageError(f"--features random needs --method {method} ({args.command}), got "
                             f"--method {args.method}")
        if params.discrete:
            raise UsageError(f"--features random is continuous-time only, got --lr {args.lr:g}")
    if params.discrete and args.method != _DISCRETE_METHODS[args.command]:
        raise UsageError(f"--lr needs --method {_DISCRETE_METHODS[args.command]} "
                         f"({args.command}): the {args.method} method is continuous-time only, "
                         f"got --method {args.method} with --lr {args.lr:g}")
    times = validate_times(args.times, params)
    if params.batch is not None and args.command == "simulate":
        from . import sgd

        sgd.check_sgd(params, times, args.designs)      # t = inf, the work: before any
    if args.command == "simulate":
        # the target's spectrum and teacher powers (M entries each) come first
        size = f"M = {params.M}" if params.M != params.N else f"N = {params.N}"
        check_memory(24.0 * params.M, f"{size} (the target's spectrum)")
        if params.features == "random":
            from .random_features import check_rf_size

            check_rf_size(params, len(times))
        else:
            simulation.check_size(params, method=args.method, times=len(times))
    else:
        check_theory_size(params, times, args.method)
    return params, times


def _exact_infinity(params: Params, times: np.ndarray) -> np.ndarray:
    """Per time: whether the theory's label-noise variance is infinite, exactly (``t = inf``,
    ``gamma = 0``, ``N = P``, ``sigma2 + tail > 0``: ``sigma_e2 rho / (1 - rho)`` with
    ``rho = 1``)."""
    return np.isinf(times) & (params.features == "modes" and params.gamma == 0
                              and params.N == params.P and params.sigma2 + params.tail > 0)


def _run(args) -> tuple[dict, list[str]]:
    """The result (``ErrorCurve.to_dict``) and the notes for standard error."""
    from . import dmft, laplace, paths, simulation

    try:
        params, times = _check(args)
    except (ValueError, OverflowError) as error:
        raise UsageError(_as_flag(str(error))) from None

    def discrete_theory():
        try:
            from .discrete import theory_discrete
        except ImportError as error:
            raise RuntimeError(f"the discrete-time theory (rfdmft.discrete) is not available: "
                               f"{error}") from None
        try:
            return theory_discrete(params, times)
        except ValueError as error:                # input it does not take (e.g. t = inf)
            raise UsageError(_as_flag(str(error))) from None

    def random_theory():
        try:
            return laplace.theory_laplace(params, times)
        except ValueError as error:                # input it does not take (the threshold)
            raise UsageError(_as_flag(str(error))) from None

    run = {
        ("simulate", "exact"): lambda: simulation.simulate(params, times, designs=args.designs,
                                                           seed=args.seed),
        ("simulate", "sde"): lambda: paths.simulate_paths(params, times, designs=args.designs,
                                                          seed=args.seed),
        ("theory", "laplace"): (discrete_theory if params.discrete
                                else random_theory if params.features == "random"
                                else lambda: laplace.theory_laplace(params, times)),
        ("theory", "time-domain"): lambda: dmft.theory_time_domain(params, times),
    }[args.command, args.method]
    with warnings.catch_warnings():
        # the command line says it in its own words, below
        warnings.simplefilter("ignore", simulation.HeavyTailWarning)
        curve = run()
    values = [curve.error, curve.bias, curve.label_variance, curve.thermal_variance]
    if curve.sgd_variance is not None:
        values.append(curve.sgd_variance)
    values = np.array(values, dtype=float)
    expected = np.zeros(values.shape, bool)        # infinities the theory gives exactly
    if args.command == "theory":
        expected[[0, 2]] = _exact_infinity(params, curve.times)
    if not np.all(np.isfinite(values) | (expected & (values == np.inf))):
        raise RuntimeError(f"{_producer(args)} produced non-finite values; "
                           "nothing is printed")
    result = curve.to_dict()
    notes = []
    if np.isinf(values).any():
        notes.append(
            f"note: at t = inf the label-noise variance, and so the error, is infinite: at the "
            f"interpolation threshold N = P = {params.N} without weight decay (gamma = 0) the "
            "smallest eigenvalues of H accumulate at zero and the interpolator divides the "
            f"label noise (sigma2 + tail = {params.sigma2 + params.tail:g}) by them; use "
            "gamma > 0 or finite times")
    heavy = simulation.heavy_tailed(params, times)
    if args.command == "simulate" and heavy.any() and result.get("error_median") is not None:
        where = "the key error_median" if args.json else "the column error_median"
        notes.append(f"warning: at t = inf the mean over designs is infinite "
                     f"({simulation._heavy_tail_cause(params)}); the error and error_sem "
                     "printed there mean nothing")
        runs = "designs" if args.method == "exact" else "sample paths"
        notes.append(f"warning: {where} gives the median over the {args.designs} {runs} "
                     "instead, which is finite")
    else:
        result.pop("error_median", None)
    return result, notes


def _cell(value) -> str:
    """A table cell: ``"inf"`` as written in the JSON, ``n/a`` for ``None``, else 6 digits."""
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else f"{value:.6g}"


def _table(result: dict) -> str:
    keys = ["error", "error_sem", "error_median", "bias", "label_variance", "thermal_variance",
            "sgd_variance"]
    keys = [key for key in keys if key in result]
    rows = [["t"] + keys]
    for j, t in enumerate(result["times"]):
        rows.append([str(t) if isinstance(t, str) else f"{t:g}"]
                    + [_cell(result[k][j]) for k in keys])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)


def _interrupt_watchdog(grace: float = INTERRUPT_GRACE) -> None:
    """Make Ctrl-C end the process within ``grace`` seconds even while the main thread is in a
    long compiled call (LAPACK, a numba kernel that releases the GIL), where Python's own
    handler would wait until the call returns.

    ``signal.set_wakeup_fd`` has the C-level handler write the signal number into a pipe at
    once; a daemon thread reads it and, unless the main thread has reported the interrupt
    within ``grace`` seconds (the normal path: ``KeyboardInterrupt``, one line, status 130),
    writes that line itself and ends the process with ``os._exit(130)``. Command line only:
    it must run in the main thread."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except (ValueError, OSError):                      # not the main thread: nothing to do
        os.close(read)
        os.close(write)
        return

    def watch():
        while True:
            try:
                data = os.read(read, 64)
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data and not _interrupt_reported.wait(grace):
                _report_interrupt()
                os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=watch, name="rfdmft-interrupt-watchdog", daemon=True).start()


def _report_interrupt() -> None:
    if not _interrupt_reported.is_set():
        _interrupt_reported.set()
        try:
            os.write(2, b"rfdmft: interrupted\n")
        except OSError:
            pass


def _silence_stdout() -> None:
    """After a broken pipe: point standard output at /dev/null so that the interpreter's final
    flush does not fail again (and print a traceback) on the way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if text else type(error).__name__


def _caused_by_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised because of a Ctrl-C (a ``KeyboardInterrupt`` in its chain)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def main(argv=None, *, watchdog: bool | None = None) -> int:
    """Run the command line; returns the exit status. ``watchdog`` (default: when ``argv`` is
    ``None``, i.e. a real command line) installs :func:`_interrupt_watchdog`."""
    if watchdog if watchdog is not None else argv is None:
        _interrupt_watchdog()
    _interrupt_reported.clear()
    try:
        try:
            args = build_parser().parse_args(argv)
            if args.command == "bench":
                from .bench import run
                run(quick=args.quick)
                sys.stdout.flush()
                return 0
            result, notes = _run(args)
            print(json.dumps(result, allow_nan=False) if args.json else _table(result))
            sys.stdout.flush()
            for note in notes:
                print(f"rfdmft: {note}", file=sys.stderr)
            return 0
        except UsageError as error:
            print(f"rfdmft: error: {_one_line(error)}", file=sys.stderr)
            return EXIT_USAGE
        except MemoryError as error:
            print(f"rfdmft: failed: out of memory{': ' + _one_line(error) if str(error) else ''}",
                  file=sys.stderr)
            return EXIT_FAILED
        except (RuntimeError, np.linalg.LinAlgError) as error:
            print(f"rfdmft: failed: {_one_line(error)}", file=sys.stderr)
            return EXIT_FAILED
        except BrokenPipeError:
            raise
        except SystemExit:
            raise
        except Exception as error:                  # never a traceback: one line, status 1
            if _caused_by_interrupt(error):         # e.g. numba's SystemError around Ctrl-C
                raise KeyboardInterrupt from error
            print(f"rfdmft: failed: {type(error).__name__}: {_one_line(error)}", file=sys.stderr)
            return EXIT_FAILED
    except KeyboardInterrupt:
        _report_interrupt()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
