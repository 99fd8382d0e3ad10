"""phi over a folder's image files into a pool store, a shard at a time, resumable; in this process or on dask workers.

Images are decoded only as phi reads them (``ImageFiles``: a batch at a time), so memory does
not grow with the pool. As soon as a shard's file is complete its entry (rows, SHA-256) is
appended to ``shards.jsonl``; a killed extraction restarts from the shards the journal records
whose files still hash to it, and the manifest is written once every shard is there. On dask,
this process writes each shard's decoded images into ``image-shards/`` inside the store (the
workers write the feature shards beside it, so they share the folder) and a worker runs phi
over it (``shard_extraction.extract_one_shard``); each image shard is deleted once its features
are recorded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..util.dask_cluster import import_distributed
from ..util.progress import bar
from .extractor import Extractor, extract_to_npy
from .image_files import decode_image
from .shard_extraction import extract_one_shard
from .sharded_store import Shard, ShardedStore, file_sha256, shard_name, write_manifest

JOURNAL = "shards.jsonl"
IMAGE_SHARDS = "image-shards"
#: Images decoded per write into an image shard (dask): the most pixels held here at once.
DECODE_BATCH = 1024


class ImageFiles:
    """The images ``root / names[i]`` as a read-only uint8 (N, size, size, 3) array-like, decoded only where indexed.

    An int, a slice or an index array decodes just those files (``decode_image``, on
    ``workers`` threads): phi's batches, BatchNorm's sample (through ``ImageRows``) and a
    dask image shard each read what they need, never the pool.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, root: Path, names: Sequence[str], size: int, workers: int = 0):
        self.root, self.names, self.size = Path(root), names, size
        self.workers = workers or os.cpu_count() or 1

    def __len__(self) -> int:
        return len(self.names)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self.names), self.size, self.size, 3

    def rows(self, start: int, stop: int) -> ImageFiles:
        """Rows ``[start, stop)``, still undecoded."""
        return ImageFiles(self.root, self.names[start:stop], self.size, self.workers)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return decode_image(self.root / self.names[key], self.size)
        picked = self.names[key] if isinstance(key, slice) else [self.names[i] for i in np.asarray(key)]
        out = np.empty((len(picked), self.size, self.size, 3), dtype=np.uint8)
        with ThreadPoolExecutor(self.workers) as pool:
            for i, image in enumerate(pool.map(partial(decode_image, size=self.size),
                                               [self.root / name for name in picked])):
                out[i] = image
        return out


def shard_bounds(rows: int, rows_per_shard: int) -> list[tuple[int, int]]:
    return [(s, min(rows, s + rows_per_shard)) for s in range(0, rows, rows_per_shard)]


def finished_shards(folder: Path, bounds: Sequence[tuple[int, int]]) -> dict[int, Shard]:
    """The journal's shards (the last entry of each) whose file is still there with the recorded rows and bytes.

    A torn last line (the process killed while appending) is skipped: that shard is simply extracted again.
    """
    entries: dict[int, Shard] = {}
    path = folder / JOURNAL
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            e = json.loads(line)
            entries[int(e["index"])] = Shard(str(e["file"]), int(e["rows"]), str(e["sha256"]))
        except (ValueError, KeyError, TypeError):
            continue
    return {i: s for i, s in entries.items()
            if 0 <= i < len(bounds) and s.file == shard_name(i) and s.rows == bounds[i][1] - bounds[i][0]
            and (folder / s.file).is_file() and file_sha256(folder / s.file) == s.sha256}


def _record(folder: Path, index: int, shard: Shard) -> None:
    with open(folder / JOURNAL, "a") as f:
        f.write(json.dumps({"index": index, "file": shard.file, "rows": shard.rows, "sha256": shard.sha256}) + "\n")


def write_image_shard(path: Path, images: ImageFiles) -> Path:
    """``images`` decoded into a uint8 ``.npy`` at ``path``, ``DECODE_BATCH`` at a time (what a worker's phi reads)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=images.shape)
    for s in range(0, len(images), DECODE_BATCH):
        out[s : s + DECODE_BATCH] = images[s : s + DECODE_BATCH]
    out.flush()
    del out
    return path


def extract_pool(folder: Path, images: ImageFiles, extractor: Extractor, dtype: str, rows_per_shard: int,
                 client: Any = None) -> tuple[ShardedStore, int]:
    """phi of every image into the store at ``folder``, skipping the shards already finished; then the manifest.

    ``client``: a dask ``distributed.Client`` whose workers run phi (``folder`` must be a path
    they share), else phi runs here. Returns the store and how many shards were extracted now.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / IMAGE_SHARDS, ignore_errors=True)  # a killed dask run's leftovers: rewritten where needed
    bounds = shard_bounds(len(images), rows_per_shard)
    done = finished_shards(folder, bounds)
    todo = [i for i in range(len(bounds)) if i not in done]
    with bar(f"phi over {len(bounds)} shards", total=len(images), unit="images") as progress:
        progress.update(sum(done[i].rows for i in done))

        def finish(index: int, shard: Shard) -> None:
            _record(folder, index, shard)
            done[index] = shard
            progress.update(shard.rows)

        if client is None:
            for i in todo:
                path = folder / shard_name(i)
                extract_to_npy(extractor, images.rows(*bounds[i]), path, dtype)
                finish(i, Shard(path.name, bounds[i][1] - bounds[i][0], file_sha256(path)))
        else:
            _on_cluster(folder, images, extractor, dtype, bounds, todo, client, finish)
    return write_manifest(folder, [done[i] for i in range(len(bounds))], extractor.dim, dtype), len(todo)


def _on_cluster(folder: Path, images: ImageFiles, extractor: Extractor, dtype: str, bounds: Sequence[tuple[int, int]],
                todo: Sequence[int], client: Any, finish: Any) -> None:
    """Image shards written here while the workers run phi over the ones before: at most two per worker wait on disk."""
    distributed = import_distributed()
    shards_dir = folder / IMAGE_SHARDS
    shards_dir.mkdir(exist_ok=True)
    [message] = client.scatter([extractor.to_message()], broadcast=True)  # phi's weights sent once per worker
    pending: dict[Any, tuple[int, Path]] = {}
    limit = 2 * max(1, len(client.nthreads()))

    def collect(futures: Any) -> None:
        for future in list(futures):
            index, image_path = pending.pop(future)
            finish(index, future.result())  # a worker's error is raised here
            image_path.unlink()

    for i in todo:
        image_path = write_image_shard(shards_dir / f"images-{i:05d}.npy", images.rows(*bounds[i]))
        pending[client.submit(extract_one_shard, message, str(image_path), str(folder / shard_name(i)), dtype,
                              pure=False)] = (i, image_path)
        collect([f for f in pending if f.done()])
        if len(pending) >= limit:
            collect(distributed.wait(list(pending), return_when="FIRST_COMPLETED").done)
    collect(distributed.wait(list(pending)).done)
    shards_dir.rmdir()
