"""Where a sweep's runs execute: in local processes, or on a Dask cluster.

Every executor calls the same ``run_one`` on each spec, so a record does not depend on
where it ran. Workers share the cache folder (its writes are atomic and locked per
entry) and write their records themselves; they also return them, so the sweep can
fill a local results folder that a remote cluster cannot see.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..util.orphan import exit_when_orphaned
from ..util.settings import Settings, current, using
from ..util.threads import available_cores, limit_threads
from .spec import RunSpec


@dataclass
class Outcome:
    """What a worker reports about one run (the record itself rides along)."""

    run_id: str
    status: str  # "ok" | "failed"
    error: str | None
    seconds: float
    accuracy: float | None
    record: dict[str, Any] | None


class Executor(Protocol):
    #: How many runs execute at once (for the progress table's "running" count and ETA).
    slots: int

    def map(self, specs: Sequence[RunSpec], results_dir: Path, stop_on_failure: bool = False) -> Iterator[Outcome]:
        """Run the specs, yielding outcomes as runs finish; stop submitting after a failure if asked."""


def run_one(spec: RunSpec, results_dir: Path | str, cache_dir: Path | str | None, threads: int | None,
            settings: Settings | None = None) -> Outcome:
    """Run one spec where this function is called; a failure becomes a failed Outcome (its record is on disk).

    ``settings``: the sweep's, for a worker it started (a Dask worker keeps its own: None). Per-run
    progress bars are off: they would garble the sweep's live table, which reports progress instead.
    """
    from ..results.store import read_record, record_path
    from ..util.cache import Cache
    from .runner import run

    if threads is not None:
        limit_threads(threads)
    start = time.perf_counter()
    with using(dataclasses.replace(current() if settings is None else settings, progress=False)):
        try:
            record, _ = run(spec, results_dir, Cache(cache_dir))
        except Exception as exc:
            path = record_path(results_dir, spec.run_id)
            record = read_record(path) if path.exists() else None
            error = record["error"] if record else f"{type(exc).__name__}: {exc}"
            return Outcome(spec.run_id, "failed", error, time.perf_counter() - start, None, record)
    return Outcome(spec.run_id, "ok", None, time.perf_counter() - start, record["metrics"].get("accuracy"), record)


def until_failure(outcomes: Iterable[Outcome], stop_on_failure: bool) -> Iterator[Outcome]:
    """Pass outcomes on; with ``stop_on_failure``, stop after the first failed one."""
    for outcome in outcomes:
        yield outcome
        if stop_on_failure and outcome.status != "ok":
            return


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes that exit on their own when this process dies.

    Killed with SIGKILL (as the OOM killer does), a sweep cannot shut its pool down, and idle
    workers would wait on their call queue forever, each holding its memory; each worker
    therefore watches for the death of this process (``exit_when_orphaned``).
    Spawn, not fork: forking a process that has started torch's thread pools can deadlock.
    """
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=exit_when_orphaned, initargs=(1.0, os.getpid()))


@dataclass
class LocalExecutor:
    """``jobs`` worker processes on this machine (``jobs=1`` runs in this process, with all cores)."""

    jobs: int = 1
    cache_dir: Path | None = None

    @property
    def slots(self) -> int:
        return self.jobs

    def map(self, specs: Sequence[RunSpec], results_dir: Path, stop_on_failure: bool = False) -> Iterator[Outcome]:
        if self.jobs == 1:
            # All cores, set explicitly: the thread count changes float summation order, and records
            # must not depend on which executor (or which OMP_NUM_THREADS) ran them.
            yield from until_failure((run_one(spec, results_dir, self.cache_dir, available_cores()) for spec in specs),
                                     stop_on_failure)
            return
        threads = max(1, available_cores() // self.jobs)
        settings = current()  # the workers are this sweep's: they run under its settings (the torch device)
        with worker_pool(self.jobs) as pool:
            futures = [pool.submit(run_one, spec, results_dir, self.cache_dir, threads, settings) for spec in specs]
            try:
                yield from until_failure((f.result() for f in as_completed(futures)), stop_on_failure)
            finally:
                for future in futures:
                    future.cancel()


def _run_on_dask_worker(spec: RunSpec, results_dir: str, cache_dir: str | None) -> Outcome:
    """Run one spec on a dask worker, with its cloud's pool passes (ECOS's k-means) on the same cluster.

    The run keeps the worker's own settings (its torch device) but for ``scheduler``: the address
    this worker reaches the scheduler at, which the run's cloud process connects to as a client of
    its own (``cluster_pool.pool_on_cluster``). The task secedes from the worker's thread pool while
    the run goes on (``distributed.secede``, as ``worker_client`` does), so its thread no longer
    counts against the worker and the pool passes it waits for can run there: with every thread
    held by a run, they would wait forever. The executor, not the worker, bounds how many runs are
    in flight (``DaskExecutor``). The machine's cores are shared among the threads the worker has.
    """
    from distributed import get_worker, rejoin, secede

    worker = get_worker()
    threads = max(1, available_cores() // max(1, worker.state.nthreads))
    settings = dataclasses.replace(current(), scheduler=worker.scheduler.address)
    secede()
    try:
        return run_one(spec, results_dir, cache_dir, threads, settings)
    finally:
        rejoin()  # back in the pool (waits for a free slot) before the task reports


@dataclass
class DaskExecutor:
    """Runs on a dask.distributed cluster: ``scheduler`` (tcp://HOST:PORT), or a loopback LocalCluster of ``jobs`` workers.

    Workers of an existing cluster must see the same plugins, and the cache and results
    folders should be shared paths (records are also returned and written locally). A run's
    cloud computes its pool passes on the same cluster (``_run_on_dask_worker``); a run's task
    leaves its worker's thread pool meanwhile, so the cluster would start every submitted run at
    once: the executor submits one run per worker thread (``slots``), each to that thread's worker,
    and the next spec to the same worker when one finishes. A worker thus runs at most as many
    runs as it has threads, as a run that held its thread would.
    """

    scheduler: str | None = None
    jobs: int = 2
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        self.slots = self.jobs

    def map(self, specs: Sequence[RunSpec], results_dir: Path, stop_on_failure: bool = False) -> Iterator[Outcome]:
        from ..util.dask_cluster import dask_client, import_distributed

        as_completed = import_distributed().as_completed
        with dask_client(self.scheduler, workers=self.jobs) as client:
            # One place per worker thread; none known yet (a cluster still starting): one run at a time, anywhere.
            places: list[str | None] = [address for address, n in client.nthreads().items() for _ in range(n)] or [None]
            self.slots = len(places)
            cache_dir = str(self.cache_dir) if self.cache_dir is not None else None
            waiting = iter(specs)
            in_flight: dict[str, tuple[Any, str | None]] = {}  # future key: the future, the worker it was sent to

            def submit(place: str | None) -> Any | None:
                """The next spec, on ``place`` while that worker lives (else on any); None when none is left."""
                spec = next(waiting, None)
                if spec is None:
                    return None
                where = {} if place is None else {"workers": [place], "allow_other_workers": True}
                future = client.submit(_run_on_dask_worker, spec, str(results_dir), cache_dir,
                                       key=f"proxybench-run-{spec.run_id}", **where)
                in_flight[future.key] = (future, place)
                return future

            running = as_completed([f for f in (submit(place) for place in places) if f is not None])

            def outcomes() -> Iterator[Outcome]:
                for future in running:
                    _, place = in_flight.pop(future.key)
                    outcome = future.result()
                    if not (stop_on_failure and outcome.status != "ok"):
                        following = submit(place)  # before yielding: the sweep's bookkeeping does not hold it back
                        if following is not None:
                            running.add(following)
                    yield outcome

            try:
                yield from until_failure(outcomes(), stop_on_failure)
            finally:
                client.cancel([future for future, _ in in_flight.values()])


def make_executor(kind: str, jobs: int, scheduler: str | None, cache_dir: Path | None) -> Executor:
    """The executor the CLI's --executor / --jobs / --scheduler ask for."""
    if kind == "local":
        return LocalExecutor(jobs=jobs, cache_dir=cache_dir)
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler, jobs=jobs, cache_dir=cache_dir)
    raise ValueError(f"unknown executor {kind!r}")
