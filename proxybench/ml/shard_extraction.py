"""phi over image shards on dask workers: one ``.npy`` feature shard per image shard, then the manifest.

The pool that no single machine should extract is given as image shards (``.npy`` uint8
N x H x W x 3, each readable where the workers run). Each worker rebuilds the public
extractor from its message (``Extractor.to_message``: the same weights everywhere), runs it
over one image shard and writes that shard's features into the store's folder; the client
only writes the manifest from what the workers report. Feature shard i holds image shard
i's rows, in order, so the store's row numbering is the image shards' concatenation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..util.errors import ProxybenchError
from .extractor import STORE_DTYPES, Extractor, extract_to_npy
from .sharded_store import Shard, ShardedStore, file_sha256, shard_name, write_manifest


def extract_one_shard(extractor_message: dict[str, Any], images_path: str, out_path: str, dtype: str) -> Shard:
    """On a worker: phi of one image shard into one feature shard; returns its manifest entry."""
    extractor = Extractor.from_message(extractor_message)
    images = np.load(images_path, mmap_mode="c")  # copy-on-write: torch wants writable arrays
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ProxybenchError(f"image shard {images_path}: expected uint8 N x H x W x 3, got {images.dtype} {images.shape}")
    out = Path(out_path)
    extract_to_npy(extractor, images, out, dtype)
    return Shard(out.name, int(len(images)), file_sha256(out))


def extract_image_shards(extractor: Extractor, image_shards: Sequence[Path | str], folder: Path | str, client: Any,
                         dtype: str = "float32") -> ShardedStore:
    """phi of every image shard, one dask task each, as a sharded store in ``folder`` (a path the workers share)."""
    if dtype not in STORE_DTYPES:
        raise ProxybenchError(f"feature store dtype must be one of {STORE_DTYPES}, got {dtype!r}")
    if not image_shards:
        raise ProxybenchError("extract_image_shards needs at least one image shard")
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    [message] = client.scatter([extractor.to_message()], broadcast=True)  # phi's weights sent once per worker
    futures = [client.submit(extract_one_shard, message, str(Path(p).resolve()), str(folder / shard_name(i)), dtype,
                             pure=False) for i, p in enumerate(image_shards)]
    return write_manifest(folder, client.gather(futures), extractor.dim, dtype)
