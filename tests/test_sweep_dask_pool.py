"""The sweep's Dask executor puts each run's pool passes (ECOS's k-means) on its own cluster, without deadlock.

A run task leaves its worker's thread pool while its cloud waits on pool-pass tasks of the same
cluster, and the executor keeps one run per worker thread in flight. The first test drives the
executor with a stand-in for ``run_one`` on a cluster of threads (seconds); the second runs real
ECOS runs on ``DaskExecutor(jobs=2)`` and compares them with ``LocalExecutor()``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time

import pytest

from proxybench.run import executors
from proxybench.run.executors import DaskExecutor, LocalExecutor, Outcome
from proxybench.run.grid import expand
from proxybench.util import dask_cluster
from proxybench.util.settings import current
from proxybench.util.threads import available_cores

from .conftest import TINY_DATASET, TINY_RUN

distributed = pytest.importorskip("distributed")

#: Two ECOS runs, in flight together on two one-thread workers (the fake runs below cover sending the next run).
ECOS_GRID = {
    "datasets": [{"name": "digits", "params": TINY_DATASET}],
    "client_domains": ["street"],
    "backbones": [{"backbone": TINY_RUN["backbone"], "weights": TINY_RUN["weights"]}],
    "samplers": [{"name": "ecos", "params": {"R": [5, 20]}}],
    "tasks": [{"name": "outsource", "params": {"epochs": 1}}],
    "budgets": [TINY_RUN["budget"]],
    "seeds": [0],
}
#: What a deadlocked sweep is given before the test fails (the two runs take about 40 s on 2 busy cores).
DEADLINE = 300.0


def within(seconds: float, work):
    """``work()``'s value, or a failure when it has not returned after ``seconds`` (a deadlock does not return).

    pytest-timeout is not a dependency: the work runs in a daemon thread, which a deadlock leaves behind.
    """
    box: dict = {}

    def target():
        try:
            box["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="sweep-under-deadline")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the Dask sweep did not finish within {seconds:.0f} s: runs holding every worker thread while "
                    "their pool passes wait for one (the nested-task deadlock)?")
    if "error" in box:
        raise box["error"]
    return box["value"]


# --- the executor's scheduling, with a stand-in run on a cluster of threads -------------------------------------


class FakeRuns:
    """Stands in for ``run_one`` on workers that are threads of this process: the cloud's part, in miniature.

    Each run connects to the scheduler its settings name, as a cloud process does, and waits
    there for a task of its own (its "pool pass"); it records how many runs were in flight, on
    which worker, and the settings and thread count it was given.
    """

    def __init__(self, fail: set[int] = frozenset(), seconds: float = 0.3, slow: dict[int, float] | None = None):
        self.fail, self.seconds, self.slow = fail, seconds, slow or {}
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.in_flight: collections.Counter = collections.Counter()  # worker address: runs running there now
        self.most = 0
        self.most_on_a_worker = 0
        self.given: list[tuple] = []

    def __call__(self, spec, results_dir, cache_dir, threads, settings=None) -> Outcome:
        worker = distributed.get_worker().address
        with self.lock:
            self.started.append(spec.seed)
            self.in_flight[worker] += 1
            self.most = max(self.most, sum(self.in_flight.values()))
            self.most_on_a_worker = max(self.most_on_a_worker, self.in_flight[worker])
            self.given.append((settings, threads))
        try:
            time.sleep(self.slow.get(spec.seed, self.seconds))  # the runs overlap
            with distributed.Client(settings.scheduler, timeout="10s") as client:
                # the pool pass: a task of the same cluster, which needs a free worker thread
                assert client.submit(pow, spec.seed, 2, pure=False).result(timeout=60) == spec.seed**2
        finally:
            with self.lock:
                self.in_flight[worker] -= 1
        status = "failed" if spec.seed in self.fail else "ok"
        return Outcome(spec.run_id, status, "boom" if status == "failed" else None, self.seconds, None, None)


@pytest.fixture
def thread_cluster():
    """Two workers of one thread each, threads of this process (so a monkeypatched ``run_one`` runs there)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=None, silence_logs=40) as cluster:
        yield cluster


def fake_specs(n: int):
    return expand({**ECOS_GRID, "samplers": ["random"], "seeds": list(range(n))})


def test_runs_whose_pool_passes_need_the_cluster_finish_one_per_worker_thread(tmp_path, monkeypatch, thread_cluster):
    """Five runs on 2 one-thread workers, each waiting on a task of the cluster: all finish, 2 at a time, 1 per worker.

    The first run outlasts the others, so the next runs go to the other worker while it still runs.
    """
    fake = FakeRuns(seconds=0.2, slow={0: 2.0})
    monkeypatch.setattr(executors, "run_one", fake)
    executor = DaskExecutor(scheduler=thread_cluster.scheduler_address)
    specs = fake_specs(5)
    outcomes = within(120, lambda: list(executor.map(specs, tmp_path)))
    assert executor.slots == 2
    assert sorted(o.run_id for o in outcomes) == sorted(s.run_id for s in specs)
    assert all(o.status == "ok" for o in outcomes)
    assert sorted(fake.started) == list(range(5))
    assert fake.most == 2  # the executor keeps the cluster's two threads busy with runs, and no more
    assert fake.most_on_a_worker == 1  # a run that left its thread does not let a second run in beside it
    # each run keeps this worker's settings but for the scheduler (the one its worker talks to), and its cores
    expected = dataclasses.replace(current(), scheduler=thread_cluster.scheduler_address)
    assert {given for given in fake.given} == {(expected, max(1, available_cores()))}


def test_stop_on_failure_sends_no_further_run(tmp_path, monkeypatch, thread_cluster):
    fake = FakeRuns(fail={0}, seconds=0.5)
    monkeypatch.setattr(executors, "run_one", fake)
    specs = fake_specs(6)
    outcomes = within(120, lambda: list(DaskExecutor(scheduler=thread_cluster.scheduler_address).map(
        specs, tmp_path, stop_on_failure=True)))
    assert outcomes[-1].status == "failed" and all(o.status == "ok" for o in outcomes[:-1])
    time.sleep(1.0)  # a run sent after the failure would have started by now
    assert len(fake.started) <= 3  # the two first runs, and at most the one sent when the other finished first


# --- real ECOS runs on DaskExecutor(jobs=2): the in-process records, and the pool passes seen by the scheduler -----


class TaskWatch(distributed.diagnostics.plugin.SchedulerPlugin):
    """On the scheduler: how many tasks of each name prefix finished, and how many runs were processing at once."""

    name = "proxybench-test-task-watch"

    def __init__(self):
        self.finished: collections.Counter = collections.Counter()
        self.runs: dict[str, str] = {}  # run task key: the worker processing it
        self.most_runs = 0
        self.most_runs_on_a_worker = 0

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        from dask.utils import key_split

        if finish == "memory":
            self.finished[key_split(key)] += 1
        if not str(key).startswith("proxybench-run-"):
            return
        if finish == "processing":
            self.runs[key] = self.scheduler.tasks[key].processing_on.address
        elif start == "processing":
            self.runs.pop(key, None)
        self.most_runs = max(self.most_runs, len(self.runs))
        self.most_runs_on_a_worker = max([self.most_runs_on_a_worker, *collections.Counter(self.runs.values()).values()])


def _watch_report(dask_scheduler) -> dict:
    watch = dask_scheduler.plugins[TaskWatch.name]
    return {"finished": dict(watch.finished), "most_runs": watch.most_runs,
            "most_runs_on_a_worker": watch.most_runs_on_a_worker}


def test_dask_sweep_puts_ecos_pool_passes_on_its_cluster_with_the_in_process_records(tmp_path, monkeypatch):
    monkeypatch.delenv("PROXYBENCH_SCHEDULER", raising=False)  # the in-process runs stay in process
    specs = expand(ECOS_GRID)
    local = {o.run_id: o for o in LocalExecutor().map(specs, tmp_path / "local")}

    report: dict = {}
    real_client = dask_cluster.dask_client

    @contextlib.contextmanager
    def watched_client(*args, **kwargs):
        with real_client(*args, **kwargs) as client:
            client.register_plugin(TaskWatch())
            yield client
            report.update(client.run_on_scheduler(_watch_report))

    monkeypatch.setattr(dask_cluster, "dask_client", watched_client)
    executor = DaskExecutor(jobs=2)
    on_dask = within(DEADLINE, lambda: {o.run_id: o for o in executor.map(specs, tmp_path / "dask")})

    assert executor.slots == 2 and set(on_dask) == set(local) == {s.run_id for s in specs}
    for run_id, here in local.items():
        there = on_dask[run_id]
        assert here.status == there.status == "ok", there.error
        a, b = here.record, there.record
        assert a["selection"]["indices_hash"] == b["selection"]["indices_hash"]
        assert a["selection"]["info"]["cluster_sizes"] == b["selection"]["info"]["cluster_sizes"]
        assert a["metrics"] == b["metrics"]
        assert a["ledger"] == b["ledger"]
        # the one field that says where the pool passes ran: the cloud's sandbox left TCP open for the cluster
        sandbox_here, sandbox_there = a["harness"]["sandbox"]["cloud"], b["harness"]["sandbox"]["cloud"]
        assert sandbox_here["mechanism"] == sandbox_there["mechanism"]
        if sandbox_there["mechanism"].startswith("landlock"):
            assert "tcp (left open by the policy)" in sandbox_there["unenforced"]
            assert "tcp (left open by the policy)" not in sandbox_here["unenforced"]

    # The scheduler saw each run's pool passes: the assignment pass's block (block_labels, fused with the block's
    # read by dask's graph optimization) once per run, besides the runs themselves.
    finished = report["finished"]
    assert sum(n for prefix, n in finished.items() if "block_labels" in prefix) >= len(specs), finished
    assert finished.get("proxybench-run") == len(specs), finished
    assert report["most_runs"] == 2 and report["most_runs_on_a_worker"] == 1, report
