"""The cloud's pool on a dask.distributed cluster: the k-means sample, training and the assignment pass.

Only the pool-wide passes leave the cloud process: workers read their blocks of the pool
where the files are (a sharded store's shards, or row blocks of one ``.npy``) and send back
what the client needs (the sampled rows, one narrow label per row). Training runs on the
client, on the same sample ``kmeans`` draws, and each row's label comes from the same
arithmetic as ``nearest_centroid`` (per row, the distances do not depend on the chunk or
block a row falls in, nor on the thread count: tested), so centroids and labels equal the
in-process ones and a sampler's later draws, made on the client, equal them too. The device
is never involved: its program and messages are exactly those of an in-process run.

A pool store of several shards reaches the cloud's in-process passes as one read-only memory
map (``store_rows``): a copy of the shards written once into the cloud's cache, since a
sampler indexes its pool as one array and the cloud may write nothing else. On a cluster
the workers still read the store's own shards, where they are.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..util.dask_cluster import dask_client
from ..util.errors import ProxybenchError
from ..util.settings import current
from .geometry import distance_chunk, kmeans_sample, nearest_centroid, release_pages, train_kmeans
from .sharded_store import ShardedStore

#: ``tcp://HOST:PORT`` of a running scheduler, or ``local`` / ``local:WORKERS`` for a LocalCluster on 127.0.0.1.
SCHEDULER_ENV = "PROXYBENCH_SCHEDULER"
LOCAL_WORKERS = 2
#: Rows per block when one ``.npy`` is split for the workers (a multiple of every distance chunk).
ROWS_PER_BLOCK = 1 << 20
#: Rows per write while a store's shards are copied into one ``.npy`` (``store_rows``).
COPY_CHUNK = 1 << 16

#: The copies ``store_rows`` made in this process (their paths), and the store pieces each holds, in order:
#: what the workers read instead of the copy.
_copied_from: dict[str, list[tuple[str, int, int]]] = {}


def store_rows(store: ShardedStore, cache: Path) -> np.ndarray:
    """A sharded store's rows as one read-only memory map: its only shard, or a copy of its shards in ``cache``.

    A sampler indexes its pool as one (N, d) array, and numpy cannot map several files as
    one, so the rows are copied once into ``cache/pool-rows/<content hash>.npy`` (written
    beside, then renamed: a later selection of the same store reuses it). The copy is written
    shard chunk by chunk, releasing each read chunk's pages, so it costs disk (the store's
    size again), not memory; the passes over it then release their pages too (``geometry``).
    Measured on ``proxybench select`` over 1e6 x 512 float16 rows in 16 shards (1 GB; ECOS,
    R=100, kmeans_max_points=50000): concatenating the shards in RAM put the cloud process's
    peak RSS at 2.4 GB (the array, plus the shards' pages it read), the copy at 0.78 GB (torch
    included), in the same wall time; writing the copy took 0.9 s from the page cache.
    """
    if len(store.shards) == 1:
        return store.shard(0)
    path = Path(cache) / "pool-rows" / f"{store.content_hash[:32]}.npy"
    if not path.is_file():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(store.dtype)), "fortran_order": False,
                  "shape": store.shape}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.lib.format.write_array_header_1_0(f, header)
                for i in range(len(store.shards)):
                    shard = store.shard(i)
                    for s in range(0, len(shard), COPY_CHUNK):
                        f.write(np.ascontiguousarray(shard[s : s + COPY_CHUNK]).data)
                        release_pages(shard, s, s + COPY_CHUNK)
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never made, or its folder is not one
                tmp.unlink()
            size = store.rows * store.d * np.dtype(store.dtype).itemsize
            raise ProxybenchError(f"cannot copy the pool store {store.folder}'s {len(store.shards)} shards into one "
                                  f"memory map {path} ({size / 1e9:.2f} GB): {exc}; free that much in the cache "
                                  "(--cache-dir), or extract the store as one shard (features extract --rows-per-shard)") from exc
    rows = np.load(path, mmap_mode="r")
    if rows.shape != store.shape or str(rows.dtype) != store.dtype:
        raise ProxybenchError(f"{path} holds {rows.shape} {rows.dtype}, not the store {store.folder}'s {store.shape} "
                              f"{store.dtype}: delete it and select again")
    _copied_from[str(Path(rows.filename).resolve())] = store.pieces()
    return rows


def read_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of a ``.npy`` file, memory-mapped where the worker runs."""
    return np.load(path, mmap_mode="r")[start:stop]


def dask_array_of(pieces: list[tuple[str, int, int]], d: int, dtype: str) -> Any:
    """One dask.array over (path, start, stop) pieces, one block each, read lazily by the workers."""
    import dask
    import dask.array as da

    return da.concatenate([da.from_delayed(dask.delayed(read_rows)(path, start, stop), shape=(stop - start, d),
                                           dtype=dtype) for path, start, stop in pieces])


def npy_pieces(path: str, rows: int, rows_per_block: int | None = None) -> list[tuple[str, int, int]]:
    """Row blocks of one ``.npy`` of ``rows`` rows, ``ROWS_PER_BLOCK`` each unless told."""
    step = rows_per_block or ROWS_PER_BLOCK
    return [(path, s, min(rows, s + step)) for s in range(0, rows, step)]


def block_labels(block: np.ndarray, centroids: np.ndarray, chunk: int) -> np.ndarray:
    """Each row's nearest centroid (``nearest_centroid``), in the narrowest integer type that holds R labels."""
    labels, _ = nearest_centroid(block, centroids, chunk=chunk)
    return labels.astype(np.min_scalar_type(max(len(centroids) - 1, 0)))


@dataclass
class ClusterPool:
    """An (N, d) pool as a dask.array on ``client``'s workers."""

    array: Any  # dask.array.Array, one block per shard or row block
    client: Any  # distributed.Client

    @classmethod
    def from_pieces(cls, pieces: list[tuple[str, int, int]], d: int, dtype: str, client: Any) -> ClusterPool:
        return cls(dask_array_of(pieces, d, dtype), client)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.array.shape)

    def take_rows(self, rows: np.ndarray | None) -> np.ndarray:
        """``x[rows]`` (ascending; None: every row) as float32 on the client, each block's part gathered from its worker."""
        part = self.array if rows is None else self.array[np.asarray(rows, dtype=np.int64)]
        return np.ascontiguousarray(self.client.compute(part).result(), dtype=np.float32)

    def assign(self, centroids: np.ndarray) -> np.ndarray:
        """Every row's nearest centroid (int64), computed block by block on the workers with the in-process chunking."""
        n, d = self.shape
        c = np.ascontiguousarray(centroids, dtype=np.float32)
        labels = self.array.map_blocks(block_labels, c, distance_chunk(n, d, len(c)), drop_axis=1,
                                       dtype=np.min_scalar_type(max(len(c) - 1, 0)))
        return self.client.compute(labels).result().astype(np.int64)

    def kmeans(self, k: int, seed: int, niter: int = 20, spherical: bool = False,
               max_points: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``geometry.kmeans`` with the sample gathered from and the assignment run on the workers: the same result."""
        n, _ = self.shape
        centroids = train_kmeans(self.take_rows(kmeans_sample(n, k, seed, max_points)), k, seed, niter, spherical)
        return centroids, self.assign(centroids)


def scheduler_setting() -> str | None:
    """``Settings.scheduler`` ($PROXYBENCH_SCHEDULER), checked: None when unset, else ``local``, ``local:N`` or an address."""
    value = current().scheduler
    return None if value is None else check_scheduler(value)


def check_scheduler(value: str, where: str = SCHEDULER_ENV) -> str:
    """A scheduler setting's spelling (``local``, ``local:WORKERS`` or an address), checked without connecting."""
    if value.startswith("local") and not re.fullmatch(r"local(:[1-9][0-9]*)?", value):
        raise ProxybenchError(f"{where}={value!r}: expected tcp://HOST:PORT, local or local:WORKERS")
    return value


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator[Any]:
    """A client for a scheduler setting: ``local[:WORKERS]`` starts a LocalCluster, anything else is an address.

    A daemonic process (a run's cloud process) may not start worker processes: its
    LocalCluster's workers are then threads of it.
    """
    if scheduler.startswith("local"):
        workers = int(scheduler[6:]) if ":" in scheduler else LOCAL_WORKERS
        with dask_client(None, workers=workers, processes=not multiprocessing.current_process().daemon) as client:
            yield client
    else:
        with dask_client(scheduler) as client:
            yield client


@contextlib.contextmanager
def pool_on_cluster(features: np.ndarray) -> Iterator[ClusterPool | None]:
    """The cloud's pool on the cluster ``$PROXYBENCH_SCHEDULER`` names, or None (compute in this process) when unset.

    ``features`` must be a memory-mapped ``.npy`` (the cloud's own features file) that the
    workers can open at the same path: they read their row blocks of it themselves. A copy
    of a store's shards (``store_rows``) is read from the shards instead, one block each:
    workers of a remote cluster reach the store, which is what was shared with them, and
    not the cloud's cache; and a store's shards split the pool among the workers.
    """
    scheduler = scheduler_setting()
    if scheduler is None:
        yield None
        return
    path = getattr(features, "filename", None)
    if path is None or np.load(path, mmap_mode="r").shape != features.shape:
        raise ProxybenchError(f"{SCHEDULER_ENV} is set, but the pool is not a whole memory-mapped .npy that "
                              "dask workers could open (in-RAM features compute in this process)")
    pieces = _copied_from.get(str(Path(path).resolve())) or npy_pieces(str(path), len(features))
    with connect(scheduler) as client:
        yield ClusterPool.from_pieces(pieces, features.shape[1], str(features.dtype), client)
