"""Sweep workers end themselves when the sweep's main process is killed (SIGKILL, as the OOM killer does)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

#: A stand-in for a sweep's main process: a worker pool with one worker busy and one idle, then it waits.
PARENT = textwrap.dedent("""
    import multiprocessing, os, time
    from proxybench.run.executors import worker_pool

    pool = worker_pool(2)
    busy = pool.submit(time.sleep, 600)  # a worker in the middle of a run
    pool.submit(os.getpid).result()  # a second worker, now idle on the call queue
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie that only waits for its (adoptive) parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_workers_exit_when_the_sweep_process_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]  # returns once both workers are up
        assert len(workers) == 2 and all(_alive(p) for p in workers), workers
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for pid in left:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent by 10 s"


def test_a_process_whose_parent_is_already_gone_exits_at_once() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import time; from proxybench.util.orphan import exit_when_orphaned; "
                               "exit_when_orphaned(0.1, parent_pid=-1); time.sleep(30)"],
        timeout=60,
    )
    assert child.returncode == 1
