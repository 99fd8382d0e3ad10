"""The cloud's pool folder: pool rows only, their images and phi's features, which the cloud memory-maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contract.images import ImageRows
from ..ml.extractor import Extractor, cached_features, save_rows
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .batches import read_in_batches
from .scenario import Scenario


def cloud_pool(scenario: Scenario, extractor: Extractor, cache: Cache, data_key: dict) -> Path:
    """The cache folder of ``scenario``'s pool under ``extractor``: ``images.npy`` and ``features.npy``.

    The cloud's sandbox reads this folder and nothing else of the cache, so it never holds a
    row outside the pool. ``data_key`` is the dataset's ``cache_key``.
    """
    data = scenario.data

    def fill(folder: Path) -> None:
        # Pool rows only, copied a chunk at a time from the (memory-mapped) feature cache: never whole in RAM.
        if extractor.key["pool"] is None:  # phi does not depend on the pool: one cache entry per dataset
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

    folder = cache.folder("cloud-pools", {"scenario": scenario.key, "extractor": extractor.key}, fill)
    for name in ("features.npy", "images.npy"):  # a cached folder must hold exactly this pool's rows
        rows = np.load(folder / name, mmap_mode="r").shape[0]
        if rows != len(scenario.pool_idx):
            raise ProxybenchError(f"cached cloud pool {folder} has {rows} rows in {name} for a pool of "
                                  f"{len(scenario.pool_idx)}; delete the folder to rebuild it")
    return folder
