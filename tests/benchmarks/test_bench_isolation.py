"""What the process boundary costs: a device round trip, and the main job, process against in-process.

The in-process reference runs the same cloud and device code as threads of the harness,
over the same pipes and bytes (``isolation="thread"``), with no program worker, no
sandbox and no time grid; so the difference is the boundary as runs have it: the
processes' start (forked from a forkserver that imported torch once), the program
worker, Landlock, the replies' time grid, and the pool and phi they load. Both sides run
in this one pytest run, after a warm-up run that fills the cache; ``process_over_thread``
is the figure (target <= 1.05 on the main job). ``PROXYBENCH_BENCH_BUSY=1`` keeps one core
busy with a single-threaded matrix product meanwhile, as a run beside it would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import numpy as np

from proxybench import Cache, Device, Extractor, RunSpec, create_backbone
from proxybench.harness.children import Children
from proxybench.harness.local import local_device
from proxybench.harness.messages import ChildStart, DevicePrivate, DeviceProvision, DeviceReady
from proxybench.harness.options import HarnessOptions
from proxybench.harness.relay import Relay
from proxybench.run.runner import run
from proxybench.util.settings import Settings
from proxybench.wire.link import deserialize, serialize

from ..conftest import TINY_RUN, make_context
from .conftest import best_seconds, sizes

#: ECOS's coverage request on the default benchmark: 100 centroids x 112 dims in float16 (22.5 kB).
CENTROIDS = np.zeros((100, 112), np.float16)


def echo_scores_program(ctx, msg):
    """Answers like ECOS's device: R float32 scores."""
    return {"scores": np.zeros(len(msg["centroids"]), np.float32)}


def test_device_round_trip_with_ecos_message(benchmark):
    """One ``device.call`` with a 22.5 kB message: through a device process and pipe vs a device in this process."""
    context = make_context(np.zeros((10, 8), np.float32))
    phi = Extractor(create_backbone("resnet10t"), 32, (0.5,) * 3, (0.5,) * 3, {"backbone": "resnet10t"})
    children = Children(HarnessOptions())
    try:
        start = ChildStart(threads=1, environment={}, settings=Settings(), phi=phi.to_message())
        children.device.send_bytes(serialize(DeviceProvision(start, context.images, None, np.arange(10)).to_message()))
        children.device.send_bytes(serialize(DevicePrivate(None, "bench", 1e-5, None, 0.0,  # grid 0: the boundary alone
                                                           context.images[:1], np.zeros(1, int)).to_message()))
        DeviceReady.from_message(deserialize(children.device.recv_bytes()))
        relay = Relay(children.exchange)
        remote = Device(lambda request: relay.forward(deserialize(request)))
        local, _ = local_device(context)
        msg = {"centroids": CENTROIDS, "sigma": 5.0}
        rounds = sizes(50, 500)
        local_s = best_seconds(lambda: local.call(echo_scores_program, msg), rounds)
        remote.call(echo_scores_program, msg)
        benchmark.pedantic(remote.call, args=(echo_scores_program, msg), rounds=rounds)
        remote_s = best_seconds(lambda: remote.call(echo_scores_program, msg), rounds)
        assert relay.ledger.transfers[0].nbytes >= CENTROIDS.nbytes
        benchmark.extra_info.update(message_bytes=relay.ledger.transfers[0].nbytes, process_seconds=remote_s,
                                    in_process_seconds=local_s, process_over_thread=remote_s / local_s)
    finally:
        children.close()


@contextmanager
def busy_core():
    """With ``PROXYBENCH_BENCH_BUSY=1``: a single-threaded matrix product on one core for the duration."""
    if os.environ.get("PROXYBENCH_BENCH_BUSY") != "1":
        yield
        return
    loop = "import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a @ a"
    busy = subprocess.Popen([sys.executable, "-c", loop], env={**os.environ, "OPENBLAS_NUM_THREADS": "1",
                                                                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


def test_main_job_process_against_in_process(benchmark, tmp_path):
    spec = RunSpec(sampler="ecos", task="autolabel", **sizes(TINY_RUN, {}))
    cache = Cache(tmp_path / "cache")
    run(spec, tmp_path / "warm", cache)
    with busy_core():
        thread, _ = run(spec, tmp_path / "thread", cache, HarnessOptions.from_settings(isolation="thread"))
        record, _ = benchmark.pedantic(run, args=(spec, tmp_path / "process", cache), rounds=1)
    for key in ("metrics", "ledger"):
        assert record[key] == thread[key]
    assert record["selection"]["indices_hash"] == thread["selection"]["indices_hash"]
    benchmark.extra_info.update(process_seconds=record["timings"]["total"], thread_seconds=thread["timings"]["total"],
                                process_over_thread=record["timings"]["total"] / thread["timings"]["total"])
