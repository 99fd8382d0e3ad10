"""``proxybench select``: the cloud's side of a selection for a real device, which holds its own images.

No benchmark here: no dataset, no ground truth, no task. The pool is a folder of image
files (extracted into a pool store in the cache first) or a store made by ``proxybench
features extract``; the device is a ``proxybench device serve --data`` process somewhere,
which decodes its own images and answers only through its runtime's release mechanisms,
under its own budget. This process plays the harness's part for the cloud: it starts the
confined cloud process, relays and counts every device request (bytes, the device's
compute, the runtime's DP events), and writes the chosen files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contract.registry import plugin_class, registry
from ..contract.sampler import check_sizes
from ..contract.weights import PoolData, build_extractor, parse_weights
from ..harness.children import Children, child_start, parse_address
from ..harness.messages import CloudSetup, CloudStarted, DeviceReady, DeviceSession, SelectionReport
from ..harness.options import HarnessOptions
from ..harness.relay import Relay, relay_until
from ..harness.remote_error import ChildFailure
from ..ml.extractor import Extractor
from ..ml.image_files import list_image_files
from ..ml.pool_store import (
    ROWS_PER_SHARD,
    PoolIdentity,
    PoolStore,
    files_text,
    is_pool_store,
    open_pool_store,
    read_identity,
    text_sha256,
    write_identity,
)
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..util.settings import current
from ..wire.link import deserialize, serialize
from ..wire.phases import SELECT
from .runner import runtime_privacy
from .spec import RunSpec

_DEFAULTS = RunSpec()


@dataclass(frozen=True)
class SelectRequest:
    """What ``proxybench select`` was asked: checked when made, before phi is built or a process starts."""

    pool: Path  # a pool store (pool.json beside its shards) or a folder of images
    sampler: str
    budget: int
    device_address: str
    sampler_params: dict[str, Any] = field(default_factory=dict)
    backbone: str = _DEFAULTS.backbone
    weights: str = _DEFAULTS.weights
    feature_layer: int = _DEFAULTS.feature_layer
    delta: float = _DEFAULTS.delta
    seed: int = 0
    device_size: int | None = None  # the device's images, as its owner estimates them: only for sizing warnings

    def __post_init__(self) -> None:
        if not Path(self.pool).exists():
            raise ProxybenchError(f"--pool {self.pool} does not exist (a folder of images, or a pool store made by "
                                  "`proxybench features extract`)")
        parse_address(self.device_address)
        if self.budget < 1:
            raise ProxybenchError(f"--budget must be a positive number of pool images, got {self.budget}")
        if not 0.0 < self.delta < 1.0:
            raise ProxybenchError(f"--delta must be in (0, 1), got {self.delta:g}")
        cls = plugin_class("sampler", self.sampler)
        if cls.kind == "oracle":
            raise ProxybenchError(f"sampler {self.sampler!r} is an oracle: it reads the benchmark's ground truth, "
                                  "which a real pool does not have")
        registry().create("sampler", self.sampler, **self.sampler_params)  # a wrong name or value is named now
        name, _ = parse_weights(self.weights)
        if plugin_class("weights", name).uses_pool:
            raise ProxybenchError(f"weights {self.weights!r} are fitted to the pool; a selection for a real device "
                                  "needs phi fixed before the pool is read (lite0, file:PATH or hub:NAME)")

    @property
    def is_store(self) -> bool:
        return is_pool_store(self.pool)

    @property
    def session_key(self) -> str:
        """The session's name, which also keys the device's noise stream with the device's own secret."""
        text = json.dumps({**asdict(self), "pool": str(Path(self.pool).resolve()), "at": time.time_ns()},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DeviceSelection:
    """What a selection chose and what it cost: the files, the bytes both ways, the device's compute, (epsilon, delta)."""

    pool_root: str
    files: tuple[str, ...]  # chosen files, relative to pool_root, in the sampler's order
    indices: np.ndarray  # their rows in the pool store
    weights: np.ndarray | None  # the sampler's weights where it gives them
    epsilon: float | None  # None: some reply had no guarantee
    delta: float
    guarantee: str
    bytes_down: int
    bytes_up: int
    device_flops: int
    device_cpu_seconds: float
    device_calls: int
    sandbox: dict[str, Any]
    info: dict[str, Any]
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {"pool": self.pool_root, "selected": len(self.files), "epsilon": self.epsilon, "delta": self.delta,
                "guarantee": self.guarantee, "bytes_down": self.bytes_down, "bytes_up": self.bytes_up,
                "device_flops": self.device_flops, "device_cpu_seconds": round(self.device_cpu_seconds, 4),
                "device_calls": self.device_calls, "seconds": round(self.seconds, 2), "sandbox": self.sandbox,
                "sampler_info": self.info}

    def write(self, out: Path) -> Path:
        """``out`` (CSV: rank, file, row, weight) and ``out`` with ``.json``: the summary; the JSON's path."""
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["rank", "file", "row", "weight"])
            for rank, (name, row) in enumerate(zip(self.files, self.indices, strict=True)):
                weight = "" if self.weights is None else f"{float(self.weights[rank]):.6g}"
                writer.writerow([rank, name, int(row), weight])
        meta = out.with_suffix(".json")
        meta.write_text(json.dumps(self.summary(), indent=1, default=str))
        return meta


def pool_store(request: SelectRequest, extractor: Extractor, cache: Cache) -> PoolStore:
    """The request's pool as a store made by ``extractor``: opened and checked, or a folder extracted into the cache.

    The cache's store is named by the folder, its file list and phi, so an added or renamed
    file makes a new one; an extraction that was stopped resumes from its finished shards.
    """
    if request.is_store:
        store = open_pool_store(request.pool)
        store.check_extractor(extractor.key)
        return store
    from ..ml.pool_extraction import ImageFiles, extract_pool

    root = Path(request.pool).resolve()
    names = [p.relative_to(root).as_posix() for p in list_image_files(root)]
    listing = files_text(names)
    identity = PoolIdentity(str(root), len(names), text_sha256(listing), extractor.image_size, "float32",
                            ROWS_PER_SHARD, extractor.key)
    folder = cache.root / "pool-stores" / text_sha256(json.dumps(asdict(identity), sort_keys=True).encode())[:16]
    if read_identity(folder) is None:
        write_identity(folder, identity, listing)
    extract_pool(folder, ImageFiles(root, names, identity.image_size), extractor, identity.dtype,
                 identity.rows_per_shard)
    return open_pool_store(folder)


def select_on_device(request: SelectRequest, cache: Cache) -> DeviceSelection:
    """Run ``request``'s sampler in a confined cloud process against the device at its address."""
    started = time.perf_counter()
    options = HarnessOptions.from_settings(current(), device_address=request.device_address)
    empty = np.zeros((0, 1, 1, 3), np.uint8)
    extractor = build_extractor(request.backbone, request.weights,
                                PoolData(empty, np.zeros(0, np.int64), key={"pool": None}), cache,
                                layer=request.feature_layer)
    store = pool_store(request, extractor, cache)
    # The budget and the sampler's parameters against the pool (and the device's size, where its owner said it).
    check_sizes(registry().create("sampler", request.sampler, **request.sampler_params), request.budget,
                store.store.rows, request.device_size, request.delta)
    children = Children(options)
    scratch = tempfile.mkdtemp(prefix="proxybench-cloud-")
    try:
        start = child_start(options, extractor)
        children.device.send_bytes(serialize(DeviceSession(start, request.session_key, request.delta,
                                                               image_size=store.identity.image_size).to_message()))
        ready = DeviceReady.from_message(deserialize(children.device.recv_bytes()))
        cloud_cache = cache.root / "cloud"
        cloud_cache.mkdir(parents=True, exist_ok=True)
        children.cloud.send_bytes(serialize(CloudSetup(
            start, scratch=scratch, cache_root=str(cloud_cache), pool_dir=str(store.store.folder),
            pool_key={"store": store.store.content_hash}, plugin_modules=tuple(registry().local_modules()),
            sampler=request.sampler, sampler_params=request.sampler_params, task="", task_params={},
            budget=request.budget, seed=request.seed, delta=request.delta, num_classes=0, pool_labels=None,
            oracle_client_domain=None, oracle_shares=None,
        ).to_message()))
        answer = deserialize(children.cloud.recv_bytes())
        if answer.get("op") == ChildFailure.OP:
            raise ProxybenchError(f"the cloud process failed to start: {answer.get('error')}")
        sandbox = {**ready.sandbox, "cloud": CloudStarted.from_message(answer).sandbox}
        relay = Relay(children.exchange)
        selection = SelectionReport.from_message(relay_until(children.cloud, relay, SelectionReport.OP)).selection
    finally:
        children.close()
        shutil.rmtree(scratch, ignore_errors=True)
    privacy = runtime_privacy(relay.transcript, request.delta)
    compute = relay.meter.to_record()["by_phase"][SELECT]
    return DeviceSelection(
        pool_root=str(store.root), files=tuple(store.files[i] for i in selection.indices), indices=selection.indices,
        weights=selection.weights, epsilon=privacy["epsilon"], delta=request.delta, guarantee=privacy["guarantee"],
        bytes_down=relay.ledger.total("down", SELECT), bytes_up=relay.ledger.total("up", SELECT),
        device_flops=int(compute.get("flops", 0)), device_cpu_seconds=float(compute.get("cpu_seconds", 0.0)),
        device_calls=len(relay.transcript), sandbox=sandbox, info=selection.info,
        seconds=time.perf_counter() - started)
