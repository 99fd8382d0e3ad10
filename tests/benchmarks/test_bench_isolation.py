"""What the process boundary costs: a device round trip, and the main job, process against in-process.

The in-process reference runs the same cloud and device code as threads of the harness,
over the same pipes and bytes (``isolation="thread"``), with no program worker, no
sandbox and no time grid; so the difference is the boundary as runs have it: the
processes' start (forked from a forkserver that imported torch once), the program
worker, Landlock, the replies' time grid, and the pool and phi they load. Both sides run
in this one pytest run, after a warm-up run that fills the cache; ``process_over_thread``
is the figure (target <= 1.05 on the main job). ``PROXYBENCH_BENCH_BUSY=1`` keeps one core
busy with a single-threaded matrix product meanwhile, as a run beside it would.

The children's OpenMP threads wait passively (``harness.children``); the in-process reference's
wait as this process's environment said when torch loaded. Beside other work, libgomp's default
(spin, then sleep) takes cores from the neighbour and flatters the reference: run with
``OMP_WAIT_POLICY=PASSIVE`` to compare the boundary alone (the record says which).
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

#: How the in-process reference's OpenMP threads wait: this process's setting before any run set the children's.
REFERENCE_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY", "libgomp default (spin, then sleep)")

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
    """``PROXYBENCH_BENCH_ROUNDS=N``: N pairs, the order alternating (thread first, then process first), so that a
    neighbour's heavy phases land on both sides; the figure is the ratio of the summed wall times."""
    spec = RunSpec(sampler="ecos", task="autolabel", **sizes(TINY_RUN, {}))
    cache = Cache(tmp_path / "cache")
    run(spec, tmp_path / "warm", cache)
    rounds = int(os.environ.get("PROXYBENCH_BENCH_ROUNDS", "1"))
    records: dict[str, list[dict]] = {"process": [], "thread": []}
    with busy_core():
        for i in range(rounds):
            for kind in ("thread", "process") if i % 2 == 0 else ("process", "thread"):
                out = tmp_path / f"{kind}-{i}"
                if kind == "thread":
                    record, _ = run(spec, out, cache, HarnessOptions.from_settings(isolation="thread"))
                elif i == 0:
                    record, _ = benchmark.pedantic(run, args=(spec, out, cache), rounds=1)
                else:
                    record, _ = run(spec, out, cache)
                records[kind].append(record)
    reference = records["thread"][0]
    for record in records["process"] + records["thread"]:  # the boundary changes no result
        assert (record["metrics"], record["ledger"]) == (reference["metrics"], reference["ledger"])
        assert record["selection"]["indices_hash"] == reference["selection"]["indices_hash"]
    seconds = {kind: [r["timings"]["total"] for r in rs] for kind, rs in records.items()}
    stages = {kind: {stage: round(sum(r["timings"][stage] for r in rs), 3) for stage in rs[0]["timings"]}
              for kind, rs in records.items()}  # where the difference is: the boundary's stages or the task's
    benchmark.extra_info.update(process_seconds=seconds["process"], thread_seconds=seconds["thread"],
                                stage_seconds=stages, reference_wait_policy=REFERENCE_WAIT_POLICY,
                                process_over_thread=sum(seconds["process"]) / sum(seconds["thread"]))
