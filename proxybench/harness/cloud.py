"""The cloud process: where the sampler and the cloud side of the task run.

It is started by the harness with nothing but what the cloud may hold: the pool's
images and features (a cache folder holding pool rows only), the public extractor,
the plugin names and parameters, and a pipe to the harness. It confines itself before
any plugin code is imported: it reads installed code and its pool folder, and writes
only its scratch folder and its own cache (never the dataset's). Pool labels arrive only
where the task shows them to the sampler, or after selection. Every device call is a
request on that pipe, which the harness counts and relays; client rows never enter
this process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..contract.images import ImageRows
from ..contract.registry import registry
from ..contract.sampler import CloudView, run_sampler
from ..contract.task import PickedData, PoolView, TaskContext
from ..ml.extractor import Extractor
from ..privacy.accounting import event_to_json
from ..results.records import jsonable
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..wire.device import Device
from ..wire.link import Message, deserialize, serialize
from .confinement import confine
from .device_process import clean_environment, limit_threads

# Independent random streams of the cloud, derived from the run's seed (the device's noise is not among them:
# it comes from the device's secret, see run.session.device_secret).
STREAM_SAMPLER, STREAM_TASK = 1, 3


class CloudSide:
    """The cloud's session: the pool view, the plugins, and the device handle over the harness pipe."""

    def __init__(self, conn: Connection, setup: Message):
        self.conn = conn
        self.setup = setup
        folder = Path(setup["pool_dir"])
        images = np.load(folder / "images.npy", mmap_mode="r")
        self.pool_images = ImageRows(images, np.arange(len(images)))
        self.pool_features = np.load(folder / "features.npy", mmap_mode="r")
        self.extractor = Extractor.from_message(setup)
        reg = registry()
        self.sampler = reg.create("sampler", setup["sampler"], **json.loads(setup["sampler_params"]))
        self.task = reg.create("task", setup["task"], **json.loads(setup["task_params"]))
        self.device = Device(self.exchange)

    def exchange(self, request: bytes) -> bytes:
        self.conn.send_bytes(request)
        return self.conn.recv_bytes()

    def select(self) -> np.ndarray:
        s = self.setup
        oracle = s["oracle_client_domain"] if isinstance(s["oracle_client_domain"], np.ndarray) else None
        cloud = CloudView(features=self.pool_features, images=self.pool_images,
                          labels=s["pool_labels"] if isinstance(s["pool_labels"], np.ndarray) else None,
                          extractor=self.extractor, oracle_in_domain=None if oracle is None else oracle >= 0,
                          oracle_client_domain=oracle,
                          oracle_shares=None if oracle is None else tuple(float(w) for w in s["oracle_shares"]),
                          delta=float(s["delta"]))
        rng = np.random.default_rng([int(s["seed"]), STREAM_SAMPLER])
        selection = run_sampler(self.sampler, cloud, self.device, int(s["budget"]), rng)
        reply = deserialize(self.exchange(serialize({
            "op": "selection", "indices": selection.indices, "weights": selection.weights,
            "event": json.dumps(event_to_json(selection.privacy)), "adjacency": selection.adjacency,
            "info": json.dumps(selection.info, default=jsonable),
        })))
        self.pool_labels = reply["pool_labels"]
        self.selection = selection
        return selection.indices

    def run_task(self) -> None:
        s, chosen = self.setup, self.selection.indices
        result = self.task.run(TaskContext(
            selection=self.selection,
            picked=PickedData(images=self.pool_images[chosen], features=np.asarray(self.pool_features[chosen]),
                              true_labels=self.pool_labels[chosen]),
            pool=PoolView(images=self.pool_images, labels=self.pool_labels, key=json.loads(s["pool_key"])),
            num_classes=int(s["num_classes"]),
            device=self.device,
            extractor=self.extractor,
            seed=int(s["seed"]),
            rng=np.random.default_rng([int(s["seed"]), STREAM_TASK]),
            cache=Cache(s["cache_root"]),
        ))
        self.conn.send_bytes(serialize({
            "op": "result", "metrics": json.dumps(result.metrics, default=jsonable),
            "event": json.dumps(event_to_json(result.privacy)), "adjacency": result.adjacency,
        }))


def report_failure(conn: Connection, exc: BaseException) -> None:
    """A child's failure, as an envelope the harness turns back into an exception (ProxybenchError stays one)."""
    try:
        conn.send_bytes(serialize({"op": "error", "user_error": isinstance(exc, ProxybenchError),
                                   "error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, ProxybenchError)
                                   else str(exc), "traceback": traceback.format_exc()}))
    except (OSError, ValueError):  # the harness is gone: nobody to tell
        pass


def cloud_main(conn: Connection) -> None:
    """Entry point of the cloud process: set up, select, then run the task when the harness says so."""
    from ..util.orphan import exit_when_orphaned

    isolated = multiprocessing.parent_process() is not None  # a process of its own, not the in-process reference
    try:
        setup = deserialize(conn.recv_bytes())
        if isolated:
            clean_environment(setup)
            sandbox = confine(read=(setup["pool_dir"],), write=(setup["scratch"], setup["cache_root"]),
                              tcp_open=bool(os.environ.get("PROXYBENCH_SCHEDULER")))  # a dask cluster's ports
            limit_threads(setup)
            exit_when_orphaned()  # after confinement, which needs a single thread
        else:
            sandbox = {"mechanism": "none", "reason": "in-process reference (thread isolation)"}
        conn.send_bytes(serialize({"op": "sandbox", "sandbox": json.dumps(sandbox)}))
        for module in json.loads(setup["plugin_modules"]):
            registry().register_module(module)
        side = CloudSide(conn, setup)
        side.select()
        side.run_task()
    except EOFError:  # the harness closed the pipe (stopped early, or died)
        pass
    except BaseException as exc:
        report_failure(conn, exc)
    finally:
        conn.close()
