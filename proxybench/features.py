"""The public selection extractor phi: timm backbones, weight sources, extraction and its cache.

phi is public: cloud and device hold the same one. It is kept apart from the task
models (which tasks train). A WeightSource decides phi's weights; a source whose
weights are fitted to the pool (BatchNorm recalibration, cloud training) declares
``uses_pool``, and its features are cached per scenario instead of per dataset.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from .cache import Cache
from .dataset import ImageRows
from .device import forward_flops
from .errors import ProxybenchError, unknown_name
from .params import Plugin
from .progress import track
from .training import to_tensor


@dataclass
class PoolData:
    """What the cloud may fit phi's weights to: the pool, labels where the pool has them."""

    images: ImageRows  # read lazily: index it for the rows you need
    labels: np.ndarray
    key: dict  # identifies the pool for caching

    def __post_init__(self) -> None:
        if not isinstance(self.images, ImageRows):  # an in-memory array: a view of all its rows
            self.images = ImageRows(self.images, np.arange(len(self.images)))


class WeightSource(Plugin):
    """How phi gets its weights. Subclasses are dataclasses (their fields are parameters)."""

    #: True when the weights depend on the pool's content (so features are cached per pool).
    uses_pool: bool = False
    #: Input size the weights expect.
    image_size: int = 32

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        """Return the backbone (``num_classes=0``: pooled features) with this source's weights, in eval mode."""
        raise NotImplementedError

    def input_size(self, model: nn.Module) -> int:
        """The image side phi is fed, for the model ``load`` returned (a source may take it from the weights)."""
        return self.image_size

    def normalization(self, model: nn.Module) -> tuple[tuple, tuple]:
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        return tuple(cfg.get("mean", (0.5, 0.5, 0.5))), tuple(cfg.get("std", (0.5, 0.5, 0.5)))


def create_backbone(backbone: str) -> nn.Module:
    if not timm.is_model(backbone):
        raise unknown_name("timm backbone", backbone, [])
    return timm.create_model(backbone, pretrained=False, num_classes=0)


def state_dict_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def load_state_dict_bytes(model: nn.Module, data: bytes) -> None:
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))


def parse_weights(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:argument`` (as in ``file:PATH``): the argument fills the source's first parameter."""
    from .registry import registry

    name, _, arg = spec.partition(":")
    cls = registry().get("weights", name)
    if not arg:
        return name, {}
    fields = list(cls.param_fields())
    if not fields:
        raise ProxybenchError(f"weights {name!r} takes no argument, got {spec!r}")
    return name, {fields[0]: arg}


class Extractor:
    """phi: a backbone in eval mode plus its preprocessing; batched, no-grad extraction.

    ``layer`` -1 takes the backbone's pooled head features; ``layer`` i >= 0 takes the
    global-average-pooled output of stage i (timm's ``forward_intermediates``), which
    keeps lower-level, domain-revealing statistics and costs less compute.
    """

    def __init__(self, model: nn.Module, image_size: int, mean: tuple, std: tuple, key: dict,
                 layer: int = -1, batch_size: int = 256):
        self.model = model.eval()
        self.key = key  # identifies phi for caching
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
        for start in track(starts, desc=desc, total=len(starts)):
            x = to_tensor(images[start : start + self.batch_size], self.image_size, self.mean, self.std)
            out[start : start + len(x)] = self._forward(x).float().numpy()
        return out


def build_extractor(backbone: str, weights: str, pool: PoolData, cache: Cache, seed: int = 0,
                    layer: int = -1) -> Extractor:
    from .registry import registry

    name, params = parse_weights(weights)
    source = registry().get("weights", name).build(**params)
    model = source.load(backbone, pool, cache, seed)
    mean, std = source.normalization(model)
    image_size = source.input_size(model)
    key = {
        "backbone": backbone,
        "weights": name,
        "weights_params": source.params(),
        "image_size": image_size,
        "layer": layer,
        "pool": pool.key if source.uses_pool else None,
    }
    return Extractor(model, image_size, mean, std, key, layer=layer)


def cached_features(extractor: Extractor, images: np.ndarray, images_key: dict, cache: Cache) -> np.ndarray:
    """phi(images), cached by the extractor's identity and the images' identity, as a read-only memory map.

    The entry is a cache folder holding ``features.npy`` (float32, N x dim), written batch by
    batch during extraction and opened with ``mmap_mode="r"``: a pool of a million images is
    never held twice in memory (no bytes blob, no decoded copy). What a read verifies is
    described at ``Cache.FOLDER_HASH_LIMIT``.
    """

    def fill(folder: Path) -> None:
        out = np.lib.format.open_memmap(folder / "features.npy", mode="w+", dtype=np.float32,
                                        shape=(len(images), extractor.dim))
        extractor.extract(images, desc="pool features", out=out)
        out.flush()

    path = cache.folder("features", {"extractor": extractor.key, "images": images_key}, fill)
    return np.load(path / "features.npy", mmap_mode="r")
