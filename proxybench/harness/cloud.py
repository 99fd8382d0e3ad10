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

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..contract.images import ImageRows
from ..contract.registry import import_third_party_plugins, registry
from ..contract.sampler import CloudView, run_sampler
from ..contract.task import PickedData, PoolView, TaskContext
from ..ml.cluster_pool import store_rows
from ..ml.extractor import Extractor
from ..ml.sharded_store import open_store
from ..util.cache import Cache
from ..util.progress import send_to
from ..util.settings import using
from ..wire.device import Device
from ..wire.link import deserialize, serialize
from .confinement import clean_environment, confine, limit_threads
from .messages import CloudSetup, CloudStarted, SelectionReport, TaskReport, TaskStart
from .remote_error import ChildFailure

# Independent random streams of the cloud, derived from the run's seed (the device's noise is not among them:
# it comes from the device's secret, see run.device_secret).
STREAM_SAMPLER, STREAM_TASK = 1, 3


def pool_rows(folder: Path, cache: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The pool's features and images: a benchmark's cloud pool (``features.npy``, ``images.npy``, memory-mapped),
    or a pool store of features alone (``proxybench select``: the images stay files the cloud does not read), as
    one memory map too (``store_rows``: a store of several shards is copied once into the cloud's ``cache``)."""
    if (folder / "features.npy").is_file():
        return np.load(folder / "features.npy", mmap_mode="r"), np.load(folder / "images.npy", mmap_mode="r")
    return store_rows(open_store(folder), cache), None


class CloudSide:
    """The cloud's session: the pool view, the plugins, and the device handle over the harness pipe."""

    def __init__(self, conn: Connection, setup: CloudSetup):
        self.conn = conn
        self.setup = setup
        folder = Path(setup.pool_dir)
        self.pool_features, images = pool_rows(folder, Path(setup.cache_root))
        self.pool_images = ImageRows(images, np.arange(len(images))) if images is not None else None
        self.extractor = Extractor.from_message(setup.start.phi)
        reg = registry()
        self.sampler = reg.create("sampler", setup.sampler, **setup.sampler_params)
        self.task = reg.create("task", setup.task, **setup.task_params) if setup.task else None
        self.device = Device(self.exchange)

    def exchange(self, request: bytes) -> bytes:
        self.conn.send_bytes(request)
        return self.conn.recv_bytes()

    def select(self) -> np.ndarray:
        s = self.setup
        oracle = s.oracle_client_domain
        cloud = CloudView(features=self.pool_features, images=self.pool_images, labels=s.pool_labels,
                          extractor=self.extractor, oracle_in_domain=None if oracle is None else oracle >= 0,
                          oracle_client_domain=oracle,
                          oracle_shares=None if oracle is None else tuple(float(w) for w in s.oracle_shares),
                          delta=s.delta)
        rng = np.random.default_rng([s.seed, STREAM_SAMPLER])
        selection = run_sampler(self.sampler, cloud, self.device, s.budget, rng)
        reply = self.exchange(serialize(SelectionReport(selection).to_message()))
        self.pool_labels = TaskStart.from_message(deserialize(reply)).pool_labels
        self.selection = selection
        return selection.indices

    def run_task(self) -> None:
        s, chosen = self.setup, self.selection.indices
        result = self.task.run(TaskContext(
            selection=self.selection,
            picked=PickedData(images=self.pool_images[chosen], features=np.asarray(self.pool_features[chosen]),
                              true_labels=self.pool_labels[chosen]),
            pool=PoolView(images=self.pool_images, labels=self.pool_labels, key=s.pool_key),
            num_classes=s.num_classes,
            device=self.device,
            extractor=self.extractor,
            seed=s.seed,
            rng=np.random.default_rng([s.seed, STREAM_TASK]),
            cache=Cache(s.cache_root),
        ))
        self.conn.send_bytes(serialize(TaskReport(result).to_message()))


def report_failure(conn: Connection, exc: BaseException) -> None:
    """A child's failure, as the message the harness turns back into an exception (``ChildFailure``)."""
    try:
        conn.send_bytes(serialize(ChildFailure.of(exc).to_message()))
    except (OSError, ValueError):  # the harness is gone: nobody to tell
        pass


def cloud_main(conn: Connection, bars: Connection | None = None) -> None:
    """Entry point of the cloud process: set up, select, then run the task when the harness says so.

    A cloud process of its own runs under the settings the harness sent (the torch device, the scheduler)
    and sends its progress bars over ``bars``, where the harness draws them.
    """
    from ..util.orphan import exit_when_orphaned

    if bars is not None:
        send_to(bars, "cloud")
    isolated = multiprocessing.parent_process() is not None  # a process of its own, not the in-process reference
    try:
        setup = CloudSetup.from_message(deserialize(conn.recv_bytes()))
        with using(setup.start.settings) if isolated else contextlib.nullcontext():
            if isolated:
                clean_environment(setup.start, setup.scratch)
                sandbox = confine(read=(setup.pool_dir,), write=(setup.scratch, setup.cache_root),
                                  tcp_open=bool(setup.start.settings.scheduler),  # a dask cluster's ports
                                  other_processes=False)
                limit_threads(setup.start)
                exit_when_orphaned()  # after confinement, which needs a single thread
                import_third_party_plugins()  # here, confined, and never in the harness (contract.describe)
            else:
                sandbox = {"mechanism": "none", "reason": "in-process reference (thread isolation)"}
            conn.send_bytes(serialize(CloudStarted(sandbox).to_message()))
            for module in setup.plugin_modules:
                registry().register_module(module)
            side = CloudSide(conn, setup)
            side.select()
            if side.task is not None:  # none: a selection for a real device (proxybench select)
                side.run_task()
    except EOFError:  # the harness closed the pipe (stopped early, or died)
        pass
    except BaseException as exc:
        report_failure(conn, exc)
    finally:
        conn.close()
