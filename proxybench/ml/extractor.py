"""The public selection extractor phi: batched extraction and its cache.

phi is public: cloud and device hold the same one. It is kept apart from the task
models (which tasks train).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..util.progress import track
from .accelerator import device_cache_key, on_device
from .backbone import create_backbone, load_state_dict_bytes, state_dict_bytes
from .flops import forward_flops
from .training import to_tensor


class Extractor:
    """phi: a backbone in eval mode plus its preprocessing; batched, no-grad extraction.

    ``layer`` -1 takes the backbone's pooled head features; ``layer`` i >= 0 takes the
    global-average-pooled output of stage i (timm's ``forward_intermediates``), which
    keeps lower-level, domain-revealing statistics and costs less compute.
    """

    def __init__(self, model: nn.Module, image_size: int, mean: tuple, std: tuple, key: dict,
                 layer: int = -1, batch_size: int = 256):
        self.model = model.eval()
        self.key = device_cache_key(key)  # identifies phi for caching (and, off the CPU, the device it ran on)
        self.image_size = image_size
        self.mean = mean
        self.std = std
        self.layer = layer
        self.batch_size = batch_size
        with torch.inference_mode():
            self.dim = int(self._forward(torch.zeros(1, 3, image_size, image_size)).shape[1])

    def to_message(self) -> dict[str, Any]:
        """phi as message fields, to install the same public extractor in the cloud and device processes."""
        return {"phi_backbone": self.key["backbone"], "phi_state": np.frombuffer(state_dict_bytes(self.model), np.uint8),
                "phi_image_size": self.image_size, "phi_layer": self.layer,
                "phi_meta": json.dumps({"mean": list(self.mean), "std": list(self.std), "key": self.key})}

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Extractor:
        model = create_backbone(str(msg["phi_backbone"]))
        load_state_dict_bytes(model, msg["phi_state"].tobytes())
        meta = json.loads(msg["phi_meta"])
        return cls(model, int(msg["phi_image_size"]), tuple(meta["mean"]), tuple(meta["std"]), meta["key"],
                   layer=int(msg["phi_layer"]))

    @functools.cached_property
    def flops_per_image(self) -> int:
        return forward_flops(self._forward, self.image_size)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer < 0:
            return self.model(x)
        try:
            (out,) = self.model.forward_intermediates(x, indices=[self.layer], intermediates_only=True,
                                                      stop_early=True)
        except (AttributeError, IndexError, AssertionError, ValueError, NotImplementedError) as exc:
            raise ProxybenchError(f"feature layer {self.layer} is not available for this backbone: {exc}") from exc
        return out.mean(dim=(2, 3))

    @torch.inference_mode()
    def extract(self, images: np.ndarray, desc: str = "features", out: np.ndarray | None = None) -> np.ndarray:
        """phi(images) for uint8 NHWC ``images``, batch by batch, into ``out`` (e.g. a memory map) when given."""
        if out is None:
            out = np.empty((len(images), self.dim), dtype=np.float32)
        starts = range(0, len(images), self.batch_size)
        with on_device(self.model) as device:
            for start in track(starts, desc=desc, total=len(starts)):
                x = to_tensor(images[start : start + self.batch_size], self.image_size, self.mean, self.std)
                out[start : start + len(x)] = self._forward(x.to(device)).float().cpu().numpy()
        return out


#: Feature store types: float32 (the default, what every recorded run used) or float16 (opt-in, half the bytes).
STORE_DTYPES = ("float32", "float16")
ROWS_PER_CHUNK = 1 << 16


def extract_to_npy(extractor: Extractor, images: np.ndarray, path: Path, dtype: str = "float32") -> None:
    """phi(images) written batch by batch into a ``dtype`` ``.npy`` at ``path``; refused where it overflows ``dtype``."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(len(images), extractor.dim))
    extractor.extract(images, desc="pool features", out=out)
    for s in range(0, len(out), ROWS_PER_CHUNK):
        if not np.isfinite(out[s : s + ROWS_PER_CHUNK]).all():
            raise ProxybenchError(f"phi's features overflow a {dtype} store (|value| > "
                                  f"{np.finfo(dtype).max:.0f}); store them as float32")
    out.flush()


def cached_features(extractor: Extractor, images: np.ndarray, images_key: dict, cache: Cache,
                    dtype: str = "float32") -> np.ndarray:
    """phi(images), cached by the extractor's identity and the images' identity, as a read-only memory map.

    The entry is a cache folder holding ``features.npy`` (N x dim), written batch by batch
    during extraction and opened with ``mmap_mode="r"``: a pool of a million images is never
    held twice in memory (no bytes blob, no decoded copy). What a read verifies is described
    at ``Cache.FOLDER_HASH_LIMIT``. ``dtype="float16"`` is opt-in: half the bytes (10^7 x 112
    is 2.2 GB instead of 4.5 GB), a key of its own (the float32 entry stays as it was), and
    refused where phi's outputs leave float16's range.
    """
    if dtype not in STORE_DTYPES:
        raise ProxybenchError(f"feature store dtype must be one of {STORE_DTYPES}, got {dtype!r}")

    def fill(folder: Path) -> None:
        extract_to_npy(extractor, images, folder / "features.npy", dtype)

    key = {"extractor": extractor.key, "images": images_key, **({"dtype": dtype} if dtype != "float32" else {})}
    path = cache.folder("features", key, fill)
    return np.load(path / "features.npy", mmap_mode="r")


def save_rows(features: np.ndarray, rows: np.ndarray | None, path: Path) -> None:
    """``features[rows]`` (all rows when None) as a ``.npy`` at ``path``, gathered a chunk of rows at a time.

    The store's dtype is kept, and only one chunk is ever in memory: the selected rows of a
    memory-mapped store are never materialised whole (fancy indexing would copy them all).
    """
    n = len(features) if rows is None else len(rows)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=features.dtype, shape=(n, features.shape[1]))
    for s in range(0, n, ROWS_PER_CHUNK):
        out[s : s + ROWS_PER_CHUNK] = features[s : s + ROWS_PER_CHUNK] if rows is None else \
            features[rows[s : s + ROWS_PER_CHUNK]]
    out.flush()
    del out
