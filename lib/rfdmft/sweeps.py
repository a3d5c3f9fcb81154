"""Parameter sweeps: one error curve per point of a grid of :class:`Params`, with a progress
bar, an on-disk cache and any ``concurrent.futures``-style executor (a local process pool, or
a ``dask.distributed.Client`` for a cluster).

Conventions:

* a point's result depends only on the function, the point's ``Params``, the times and the
  keyword arguments (``designs``, ``seed``, ...), which are passed unchanged to every point:
  the seed is fixed per point (every point of a simulation sweep uses the same ``seed``, i.e.
  common random numbers), never by the order in which points finish, so serial, process-pool
  and cluster runs return identical numbers. (LAPACK's results can change in the last bits
  with the number of BLAS threads; :func:`rfdmft.simulate` uses
  ``simulation.SIMULATOR_BLAS_THREADS`` = 1 at every size, as pool and Dask workers do, so
  its runs agree bit for bit.)
* a cache entry is named by a SHA-256 key of the function's qualified name, every
  ``Params`` dataclass field (arrays by dtype, shape and bytes; ``None`` included), the times,
  the keyword arguments and ``rfdmft.__version__``. Entries are written by the calling
  process as results arrive, to a temporary file in the cache directory renamed into place
  (``os.replace``), so an interrupted sweep leaves only complete entries and a rerun resumes
  from them; an entry that cannot be read or does not match its key is recomputed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import numbers
import os
import queue
import tempfile
from pathlib import Path

import numpy as np

from .model import ErrorCurve, Params, validate_times

__all__ = ["grid", "sweep", "cache_key", "SweepResult", "FUNCTIONS"]

#: Library functions a sweep can be named by (``sweep("simulate", ...)``); any importable
#: module-level function ``f(params, times, **kwargs) -> ErrorCurve`` can also be passed.
FUNCTIONS = ("simulate", "simulate_paths", "theory_laplace", "theory_time_domain")

_FORMAT = "rfdmft-sweep-1"
_PARTS = ("times", "bias", "label_variance", "thermal_variance")


class SweepResult(list):
    """The error curves in grid order (a list), with where each came from:
    ``computed`` and ``from_cache`` are the grid indices evaluated in this call and read
    from the cache; ``recomputed`` those whose cache entry was unreadable (also in ``computed``)."""

    def __init__(self, curves, computed, from_cache, recomputed):
        super().__init__(curves)
        self.computed = list(computed)
        self.from_cache = list(from_cache)
        self.recomputed = list(recomputed)


def grid(base: Params, **axes) -> list[Params]:
    """Cartesian product of field values: ``grid(base, P=[100, 200], sigma2=[0, 0.1])`` gives
    ``base.replace(P=100, sigma2=0)``, ``base.replace(P=100, sigma2=0.1)``, ... (the last axis
    varies fastest). Every axis must be a non-empty iterable of values of a ``Params`` field."""
    if not isinstance(base, Params):
        raise ValueError(f"base must be a Params, got {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(Params)}
    values = []
    for name, axis in axes.items():
        if name not in names:
            raise ValueError(f"grid axis {name!r} is not a Params field; allowed: {sorted(names)}")
        if isinstance(axis, (str, bytes)) or not hasattr(axis, "__iter__"):
            raise ValueError(f"grid axis {name} must be an iterable of values, got {axis!r}")
        axis = list(axis)
        if not axis:
            raise ValueError(f"grid axis {name} must have at least one value, got none")
        values.append(axis)
    return [base.replace(**dict(zip(axes, point))) for point in itertools.product(*values)]


# --------------------------------------------------------------------------------------------
# the cache key
# --------------------------------------------------------------------------------------------

def _encode(value, where: str) -> bytes:
    """Unambiguous bytes for a key ingredient (type-tagged, length-prefixed)."""
    def tagged(tag: str, payload: bytes) -> bytes:
        return tag.encode() + len(payload).to_bytes(8, "little") + payload

    if value is None:
        return tagged("none", b"")
    if isinstance(value, (bool, np.bool_)):
        return tagged("bool", b"1" if value else b"0")
    if isinstance(value, numbers.Integral):
        return tagged("int", str(int(value)).encode())
    if isinstance(value, numbers.Real):
        return tagged("float", float(value).hex().encode())
    if isinstance(value, str):
        return tagged("str", value.encode())
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ValueError(f"{where} must not be an object array")
        array = np.ascontiguousarray(value)
        header = f"{array.dtype.str}{array.shape}".encode()
        return tagged("array", tagged("head", header) + array.tobytes())
    if isinstance(value, (list, tuple)):
        return tagged("seq", b"".join(_encode(v, where) for v in value))
    raise ValueError(f"{where} must be None, a number, a string, an array or a list of these "
                     f"(to be part of the cache key), got {type(value).__name__}")


def _qualified_name(function) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def cache_key(function, params: Params, times, *, version: str | None = None, **kwargs) -> str:
    """SHA-256 hex key of one sweep point: the function's qualified name, every ``Params``
    field (via :func:`dataclasses.fields`, arrays by bytes, ``None`` included), the times, the
    keyword arguments and ``version`` (default ``rfdmft.__version__``)."""
    from . import __version__

    function = _resolve(function)
    if not isinstance(params, Params):
        raise ValueError(f"params must be a Params, got {type(params).__name__}")
    t = validate_times(times)
    digest = hashlib.sha256()
    digest.update(_encode(_FORMAT, "format"))
    digest.update(_encode(_qualified_name(function), "function"))
    digest.update(_encode(__version__ if version is None else version, "version"))
    for f in dataclasses.fields(Params):
        digest.update(_encode(f.name, "field"))
        digest.update(_encode(getattr(params, f.name), f"Params.{f.name}"))
    digest.update(_encode(t, "times"))
    for name in sorted(kwargs):
        digest.update(_encode(name, "keyword"))
        digest.update(_encode(kwargs[name], f"keyword argument {name}"))
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# the cache directory
# --------------------------------------------------------------------------------------------

def _cache_dir(cache) -> Path | None:
    """The cache directory (created if missing). Only reading is checked here: a directory
    that exists but is not writable is fine when every point is cached (see :func:`sweep`)."""
    if cache is None:
        return None
    if not isinstance(cache, (str, os.PathLike)):
        raise ValueError(f"cache must be None or a directory path, got {cache!r}")
    if os.fspath(cache) in ("", b""):
        raise ValueError("cache must be None or a non-empty directory path, got '' (write "
                         "cache='.' for the current directory)")
    path = Path(cache)
    if path.exists() and not path.is_dir():
        raise ValueError(f"cache must be a directory, got {str(path)!r}, which is a file")
    if not path.exists():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cache directory {str(path)!r} cannot be created: {error}") from None
    if not os.access(path, os.R_OK | os.X_OK):
        raise ValueError(f"cache directory {str(path)!r} is not readable")
    return path


def _read(path: Path, key: str, times: np.ndarray) -> ErrorCurve | None:
    """The cached curve, or ``None`` if the entry is missing, unreadable or not for ``key``."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key or str(data["format"]) != _FORMAT:
                return None
            arrays = {name: np.array(data[name], dtype=float) for name in _PARTS}
            sem = np.array(data["error_sem"], dtype=float) if bool(data["has_sem"]) else None
            median = (np.array(data["error_median"], dtype=float)
                      if "error_median" in data.files and bool(data["has_median"]) else None)
    except Exception:                       # truncated, corrupt, wrong layout: recompute
        return None
    if not np.array_equal(arrays["times"], times) \
            or any(arrays[name].shape != times.shape for name in _PARTS) \
            or (sem is not None and sem.shape != times.shape) \
            or (median is not None and median.shape != times.shape):
        return None
    return ErrorCurve(error_sem=sem, error_median=median, **arrays)


def _write(path: Path, key: str, curve: ErrorCurve, description: str) -> None:
    """Write atomically: a temporary file in the same directory, then ``os.replace``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as stream:
            sem, median = curve.error_sem, curve.error_median
            np.savez(stream, key=np.array(key), format=np.array(_FORMAT),
                     description=np.array(description), has_sem=np.array(sem is not None),
                     error_sem=np.zeros(0) if sem is None else np.asarray(sem, dtype=float),
                     has_median=np.array(median is not None),
                     error_median=np.zeros(0) if median is None else np.asarray(median, dtype=float),
                     **{name: np.asarray(getattr(curve, name), dtype=float) for name in _PARTS})
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------

def _resolve(function):
    """The function object for a name in :data:`FUNCTIONS` or an importable module-level function."""
    if isinstance(function, str):
        if function not in FUNCTIONS:
            raise ValueError(f"function must be one of {FUNCTIONS} or a module-level function, "
                             f"got {function!r}")
        import rfdmft
        return getattr(rfdmft, function)
    if not callable(function):
        raise ValueError(f"function must be one of {FUNCTIONS} or a module-level function, "
                         f"got {function!r}")
    name = getattr(function, "__qualname__", None)
    module = getattr(function, "__module__", None)
    target = None
    if name and module and "<" not in name:
        try:
            target = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError):
            target = None
    if target is not function:
        raise ValueError("function must be importable by its qualified name (a module-level "
                         "function: it names the cache entries and is sent to worker "
                         f"processes), got {function!r}")
    return function


def _evaluate(function, params: Params, times: np.ndarray, kwargs: dict) -> ErrorCurve:
    """One grid point; the same code runs in this process, a worker process or a cluster."""
    curve = function(params, times, **kwargs)
    if not isinstance(curve, ErrorCurve):
        raise TypeError(f"{_qualified_name(function)} returned {type(curve).__name__}, "
                        "not an ErrorCurve")
    return curve


def _limit_threads(threads: int) -> None:
    """Initializer of the default pool's workers: share the cores instead of oversubscribing."""
    import numba
    from threadpoolctl import threadpool_limits
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    threadpool_limits(threads)


def _default_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    cores = os.cpu_count() or 1
    workers = max(1, min(cores, workers))
    # spawn, not fork: forking a process whose OpenMP/numba threads have started is unsafe
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_limit_threads, initargs=(max(1, cores // workers),))


def _stop_workers(pool) -> None:
    """Terminate the worker processes of our own ``ProcessPoolExecutor`` (after Ctrl-C): points
    already handed to a worker cannot be cancelled otherwise, and would run to the end."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.join(timeout=1.0)


def _progress_bar(enabled: bool, total: int, initial: int, description: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=description, leave=True)


def sweep(function, grid, times, *, cache=None, executor=None, progress: bool = True,
          **kwargs) -> SweepResult:
    """Evaluate ``function(params, times, **kwargs)`` at every ``params`` of ``grid``.

    ``function``: a library function (``rfdmft.simulate``, ``rfdmft.theory_laplace``,
    ``rfdmft.theory_time_domain``, ``rfdmft.simulate_paths``, or one of these names) or any
    importable module-level function returning an :class:`ErrorCurve`. ``grid``: a non-empty
    iterable of :class:`Params` (see :func:`grid`). ``cache``: ``None`` or a directory (created
    if needed) of one ``.npz`` entry per point, see :func:`cache_key`. ``executor``:
    ``None`` (a local process pool, one worker per core, created and shut down here),
    ``"serial"`` (in this process), or any object with ``submit(fn, *args)`` returning a future
    with ``result()`` and ``add_done_callback`` (``concurrent.futures`` executors,
    ``dask.distributed.Client``); it is not shut down. ``progress``: a tqdm bar over the grid
    points (cached points count as done; on standard error, or a widget in a notebook);
    ``False`` silences it.

    The default pool spawns its workers (forking a process whose numba/OpenMP threads have
    started is unsafe): in a script, call ``sweep`` under ``if __name__ == "__main__":``, and a
    function defined in a notebook runs serially or on Dask, which sends it by value, not in
    the pool. Each pool worker limits numba and BLAS to its share of the cores.

    Returns a :class:`SweepResult`: the curves in grid order. If a point fails, the points
    finished so far stay cached, the pending ones are cancelled and the error is raised with
    the failing point named. On Ctrl-C (``KeyboardInterrupt``) the queued points are
    cancelled, the default pool's workers are stopped at once (the points they were computing
    are lost), every point that had finished is written to the cache, and the
    ``KeyboardInterrupt`` is raised again; a rerun resumes from the cache.

    The cache is checked before any work: ``cache=""`` is refused (write ``"."`` for the
    current directory), a cache entry's path that is a directory is refused, and a directory
    without write access is refused only when some point still needs computing (a complete
    cache can be read from a read-only directory).
    """
    function = _resolve(function)
    points = list(grid) if grid is not None and not isinstance(grid, Params) else None
    if points is None:
        raise ValueError("grid must be an iterable of Params (use rfdmft.sweeps.grid(base, ...)), "
                         f"got {grid!r}")
    if not points:
        raise ValueError("grid must contain at least one Params, got none")
    for i, params in enumerate(points):
        if not isinstance(params, Params):
            raise ValueError(f"grid[{i}] must be a Params, got {type(params).__name__}")
    t = validate_times(times)
    for params in points:
        validate_times(t, params)                 # t = inf where no equilibrium exists
    if not (executor is None or executor == "serial" or callable(getattr(executor, "submit", None))):
        raise ValueError(f"executor must be None, 'serial' or an object with a submit method "
                         f"(concurrent.futures executor, dask.distributed.Client), got {executor!r}")
    directory = _cache_dir(cache)
    name = _qualified_name(function)

    curves: list = [None] * len(points)
    keys, computed, from_cache, recomputed = [None] * len(points), [], [], []
    if directory is not None:
        for i, params in enumerate(points):
            keys[i] = cache_key(function, params, t, **kwargs)
            path = directory / f"{keys[i]}.npz"
            if path.exists() and not path.is_file():
                raise ValueError(f"cache entry {str(path)!r} (sweep point {i}) is not a file; "
                                 "remove it or use another cache directory")
            curves[i] = _read(path, keys[i], t)
            if curves[i] is not None:
                from_cache.append(i)
            elif path.exists():
                recomputed.append(i)
    pending = [i for i in range(len(points)) if curves[i] is None]
    if pending and directory is not None and not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"cache directory {str(directory)!r} is not writable, and {len(pending)} "
                         f"of the {len(points)} points are not cached yet (reading a complete "
                         "cache needs no write access)")
    bar = _progress_bar(progress, len(points), len(points) - len(pending), name.split(".")[-1])

    def store(i, curve):
        if directory is not None:          # written first: an interrupted write is retried
            _write(directory / f"{keys[i]}.npz", keys[i], curve, f"{name} {points[i]!r}")
        curves[i] = curve
        computed.append(i)
        if bar is not None:
            bar.update(1)

    def keep_finished(futures, failing):
        """Store the points that finished successfully but were not collected yet."""
        for j, future in futures.items():
            if j != failing and curves[j] is None and future.done() and not future.cancelled():
                try:
                    curve = future.result()
                except Exception:
                    continue
                store(j, curve)

    def failed(i, error):
        error.add_note(f"(in sweep point {i}: {points[i]!r})")
        return error

    try:
        if pending and executor == "serial":
            for i in pending:
                try:
                    curve = _evaluate(function, points[i], t, kwargs)
                except Exception as error:
                    raise failed(i, error)
                store(i, curve)
        elif pending:
            own = executor is None
            pool = _default_pool(len(pending)) if own else executor
            futures = {}
            interrupted = False
            done: queue.Queue = queue.Queue()
            try:
                for i in pending:
                    future = pool.submit(_evaluate, function, points[i], t, kwargs)
                    futures[i] = future
                    future.add_done_callback(lambda _, i=i: done.put(i))
                for _ in range(len(pending)):
                    i = done.get()
                    try:
                        curve = futures[i].result()
                    except Exception as error:
                        keep_finished(futures, i)
                        raise failed(i, error)
                    store(i, curve)
            except KeyboardInterrupt:
                interrupted = True
                raise
            finally:
                if interrupted:
                    # Ctrl-C: keep every point that has finished; stop our own pool's workers at
                    # once (their running points are lost, queued ones never start: the pool
                    # marks them broken) and keep what arrived meanwhile
                    with contextlib.suppress(Exception):
                        keep_finished(futures, None)
                    if own:
                        _stop_workers(pool)
                        with contextlib.suppress(Exception):
                            pool.shutdown(wait=True, cancel_futures=False)
                        with contextlib.suppress(Exception):
                            keep_finished(futures, None)
                for future in [f for f in futures.values() if not f.done()]:
                    future.cancel()
                if own and not interrupted:
                    pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()
    computed.sort()
    return SweepResult(curves, computed, from_cache, recomputed)
