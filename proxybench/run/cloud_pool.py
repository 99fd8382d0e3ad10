"""The cloud's pool folder: pool rows only, their images and phi's features, which the cloud memory-maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contract.dataset import StoredFeatures
from ..contract.images import ImageRows
from ..ml.cluster_pool import store_rows
from ..ml.extractor import Extractor, cached_features, save_rows
from ..ml.pool_store import open_pool_store
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .batches import read_in_batches
from .scenario import Scenario


def stored_pool_rows(stored: StoredFeatures, scenario: Scenario, extractor: Extractor,
                     cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """The store's rows (one memory map) and each pool row's row in it, once the store is known to be phi's own."""
    store = open_pool_store(stored.store)
    store.check_extractor(extractor.key)
    size = scenario.data.images.shape[1]
    if store.identity.image_size != size:
        raise ProxybenchError(f"the pool store {stored.store} decoded its images at {store.identity.image_size} px and "
                              f"this run decodes them at {size} px, so phi would not see the same pixels: run with "
                              f"--param image_size={store.identity.image_size}, or extract with --image-size {size}")
    rows = stored.store_row[scenario.pool_idx]
    if (rows < 0).any():
        missing = int((rows < 0).sum())
        raise ProxybenchError(f"the pool store {stored.store} lacks {missing} of the pool's {len(rows)} images; "
                              f"extract the pool folder {store.root} again into a new store")
    return store_rows(store.store, cache.root), rows


def cloud_pool(scenario: Scenario, extractor: Extractor, cache: Cache, data_key: dict,
               stored: StoredFeatures | None = None) -> Path:
    """The cache folder of ``scenario``'s pool under ``extractor``: ``images.npy`` and ``features.npy``.

    The cloud's sandbox reads this folder and nothing else of the cache, so it never holds a
    row outside the pool. ``data_key`` is the dataset's ``cache_key``; ``stored``, the dataset's
    pool store, if phi already ran over the pool there (its rows are taken in its dtype).
    """
    data = scenario.data

    def fill(folder: Path) -> None:
        # Pool rows only, copied a chunk at a time from the (memory-mapped) feature cache: never whole in RAM.
        if stored is not None:
            save_rows(*stored_pool_rows(stored, scenario, extractor, cache), folder / "features.npy")
        elif extractor.key["pool"] is None:  # phi does not depend on the pool: one cache entry per dataset
            train_idx = scenario.public_idx  # every pool's rows: one feature entry for every client
            feats = cached_features(extractor, ImageRows(data.images, train_idx), {"data": data_key}, cache)
            position = np.full(len(data.images), -1)
            position[train_idx] = np.arange(len(train_idx))
            save_rows(feats, position[scenario.pool_idx], folder / "features.npy")
        else:
            save_rows(cached_features(extractor, scenario.pool_images, {"pool": scenario.key}, cache), None,
                      folder / "features.npy")
        out = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                        shape=scenario.pool_images.shape)
        read_in_batches(scenario.pool_images, out)
        out.flush()
        del out

    key = {"scenario": scenario.key, "extractor": extractor.key,
           **({"store": open_pool_store(stored.store).store.content_hash} if stored is not None else {})}
    folder = cache.folder("cloud-pools", key, fill)
    for name in ("features.npy", "images.npy"):  # a cached folder must hold exactly this pool's rows
        rows = np.load(folder / name, mmap_mode="r").shape[0]
        if rows != len(scenario.pool_idx):
            raise ProxybenchError(f"cached cloud pool {folder} has {rows} rows in {name} for a pool of "
                                  f"{len(scenario.pool_idx)}; delete the folder to rebuild it")
    return folder
