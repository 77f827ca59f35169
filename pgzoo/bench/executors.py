"""Where runs execute: a local process pool, or Ray tasks on a (local or joined) cluster.

Both run :func:`pgzoo.bench.population.run_item` (one run, or a cell's seeds as one population)
with one torch thread per run, so that the same
run gives the same numbers on either. A worker process that dies mid-run is retried.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pgzoo.bench.lifeline import Reaper, die_with_parent
from pgzoo.bench.population import run_item
from pgzoo.bench.suite import RunSpec
from pgzoo.bench.task import limit_threads
from pgzoo.errors import PgzooError, UsageError
from pgzoo.registry import QUIET_PLUGINS_ENV

MAX_ATTEMPTS = 3
RAY_CONNECT_TIMEOUT_S = 30
StatusCallback = Callable[[int], None]
"""Called with the number of runs currently running."""


@dataclass
class Outcome:
    """A finished run: its results line, or why it failed."""

    spec: RunSpec
    record: dict[str, Any] | None = None
    error: str | None = None


def _one_line(err: BaseException) -> str:
    """An error as one line: pgzoo's own say what happened; others get their type's name."""
    text = (str(err) if isinstance(err, PgzooError) else f"{type(err).__name__}: {err}").strip().splitlines()
    return text[0] if text else type(err).__name__


def _outcomes(item: list[RunSpec], records: list[dict[str, Any]]) -> Iterator[Outcome]:
    """The outcomes of a work item: a results line per run, or (a population member that
    failed alone) its error."""
    for spec, r in zip(item, records, strict=True):
        if r.get("type") == "failed":
            yield Outcome(spec, error=r["error"])
        else:
            yield Outcome(spec, record=r)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Within the block, SIGINT waits (blocked) in the calling thread, and processes started
    from it are born with it blocked (the mask survives fork and exec): a Ctrl-C while a worker
    is still starting (importing pgzoo, unpickling its first run, before any handler of its own)
    then cannot print a worker's traceback. The bench gets its Ctrl-C when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _init_local_worker(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process stops the workers itself
    if hasattr(signal, "pthread_sigmask"):  # born blocked (_sigint_blocked): a Ctrl-C pending since is dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # tqdm's default lock is a multiprocessing semaphore, registered with the bench's resource
    # tracker: a worker terminated on Ctrl-C would leave it to a "leaked semaphore" warning.
    # Workers show no progress bar: a thread lock does.
    tqdm.set_lock(threading.RLock())
    die_with_parent(parent_pid)  # ... and a SIGKILLed bench takes them with it
    os.environ[QUIET_PLUGINS_ENV] = "1"  # the bench has already warned about broken plugins
    limit_threads()


class LocalExecutor:
    """A pool of ``workers`` processes, one run per worker at a time; ``compile_`` is the ``compile``
    setting of every run (default: the bench's, see :func:`~pgzoo.bench.population.run_item`)."""

    name = "local"

    def __init__(self, workers: int, compile_: str | None = None) -> None:
        self.workers, self.compile_ = workers, compile_
        self._pool: ProcessPoolExecutor | None = None

    def run(self, specs: list[list[RunSpec]], status: StatusCallback) -> Iterator[Outcome]:
        """Run the work items ``specs`` (one run, or the seeds of a cell trained as a population)."""
        pending = list(range(len(specs)))
        attempts = [0] * len(specs)
        while pending:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_local_worker, initargs=(os.getpid(),))
            with _sigint_blocked():  # submit starts the workers (spawn: from this thread)
                futures: dict[Future, int] = {self._pool.submit(run_item, [asdict(s) for s in specs[i]], "local",
                                                                  self.compile_): i
                                              for i in pending}
            pending = []
            not_done: set[Future] = set(futures)
            finished = False
            try:
                while not_done:
                    done, not_done = wait(not_done, timeout=0.5, return_when=FIRST_COMPLETED)
                    status(min(self.workers, sum(f.running() for f in not_done)))
                    for f in done:
                        i = futures[f]
                        try:
                            records = f.result()
                        except BrokenProcessPool:
                            attempts[i] += 1
                            if attempts[i] < MAX_ATTEMPTS:
                                pending.append(i)
                            else:
                                yield from (Outcome(s, error=f"worker process died {attempts[i]} times")
                                            for s in specs[i])
                            continue
                        except Exception as e:  # a failed run must not stop the others
                            yield from (Outcome(s, error=_one_line(e)) for s in specs[i])
                            continue
                        yield from _outcomes(specs[i], records)
                finished = True
            finally:
                self.close(wait=finished)

    def close(self, wait: bool = False) -> None:
        """Stop the pool: after the last run, wait for its processes to exit; else (interrupted)
        cancel queued runs and terminate running workers now."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if wait:
            pool.shutdown(wait=True)
            return
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=5)


class RayExecutor:
    """Every run is a Ray task (1 CPU, retried if its worker dies). With ``address``, joins that
    cluster; without, starts a local one with ``workers`` CPUs."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None) -> None:
        self.workers, self.address = workers, address
        self._refs: list[Any] = []
        self._reaper: Reaper | None = None

    def _init(self) -> Any:
        if self.address:
            check_reachable(self.address)
            _use_ray_token_if_saved()  # before Ray reads its settings at import
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'pgzoo[bench]'") from None

        env_vars = {**{k: v for k, v in os.environ.items() if k.startswith("PGZOO_")}, QUIET_PLUGINS_ENV: "1"}
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR",
                                  "runtime_env": {"env_vars": env_vars}}
        if self.address:
            try:
                with _time_limit(RAY_CONNECT_TIMEOUT_S, f"no Ray cluster answered at {self.address} within "
                                                        f"{RAY_CONNECT_TIMEOUT_S} s"):
                    ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as e:
                raise UsageError(f"--address {self.address}: cannot join the Ray cluster there: "
                                 f"{_one_line(e)}") from None
        else:
            self._reaper = Reaper()  # the local cluster's processes must not outlive a killed bench
            ray.init(num_cpus=self.workers, include_dashboard=False, **kwargs)
        return ray

    def run(self, specs: list[list[RunSpec]], status: StatusCallback) -> Iterator[Outcome]:
        ray = self._init()
        try:
            capacity = max(1, int(ray.cluster_resources().get("CPU", self.workers)))
            task = ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS, retry_exceptions=False)(run_item)
            index = {task.remote([asdict(s) for s in item], "ray"): i for i, item in enumerate(specs)}
            self._refs = list(index)
            not_done = list(index)
            while not_done:
                done, not_done = ray.wait(not_done, num_returns=1, timeout=0.5)
                self._refs = not_done
                status(min(capacity, len(not_done)))
                for ref in done:
                    item = specs[index[ref]]
                    try:
                        records = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        yield from (Outcome(s, error=_one_line(e.cause) if e.cause else _one_line(e)) for s in item)
                        continue
                    except ray.exceptions.RayError as e:
                        yield from (Outcome(s, error=_one_line(e)) for s in item)
                        continue
                    yield from _outcomes(item, records)
        finally:
            self.close()

    def close(self) -> None:
        """Cancel unfinished tasks and disconnect (a cluster we joined keeps running)."""
        import ray

        if ray.is_initialized():
            self._disconnect(ray)
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None

    def _disconnect(self, ray: Any) -> None:
        for ref in self._refs:
            with contextlib.suppress(Exception):  # finished or already cancelled
                ray.cancel(ref, force=True)
        self._refs = []
        ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A one-line :class:`UsageError` unless something accepts TCP connections at ``address``
    (``host:port``; other forms, such as ``auto`` or ``ray://…``, are left to Ray). Ray itself
    retries an unreachable address for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        reason = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise UsageError(f"--address {address}: cannot reach a Ray cluster there ({reason})") from None


def _use_ray_token_if_saved() -> None:
    """Join with token authentication when this machine has Ray's saved token, as ``ray start``
    decides for the cluster it starts: any local ``ray.init()`` (e.g. ``pgzoo bench --executor ray``
    without ``--address``) saves ``~/.ray/auth_token``, and a cluster started after that expects it
    while a joining driver does not send it unless ``RAY_AUTH_MODE=token``."""
    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


@contextlib.contextmanager
def _time_limit(seconds: int, message: str) -> Iterator[None]:
    """Raise a :class:`UsageError` with ``message`` if the block takes longer than ``seconds``
    (SIGALRM: main thread on Unix only; elsewhere no limit)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise UsageError(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_executor(name: str, workers: int, address: str | None = None) -> LocalExecutor | RayExecutor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "ray":
        return RayExecutor(workers, address)
    return LocalExecutor(workers)
