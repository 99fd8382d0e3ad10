"""The WeightSource plugin base (how phi gets its weights), what it may fit them to, and building phi by name.

phi is public: cloud and device hold the same one. A source whose weights may be fitted to
the pool (BatchNorm recalibration, cloud training) declares the class variable ``uses_pool``,
and its features are cached per scenario instead of per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .images import ImageRows
from .params import Plugin

if TYPE_CHECKING:  # torch is loaded where phi is built: a spec's weights are checked without it
    from torch import nn

    from ..ml.extractor import Extractor


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

    #: True when the weights may depend on the pool's content (so features are cached per pool).
    uses_pool: ClassVar[bool] = False
    #: The image side phi is fed (``input_size``): a parameter (a dataclass field) in every built-in source,
    #: so it is an instance attribute; this value serves a source that declares none.
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


def parse_weights(spec: str, cls: type[WeightSource] | None = None) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:argument`` (as in ``file:PATH``): the argument fills the source's first parameter.

    ``cls``: the source's class where the caller looked it up already.
    """
    from .registry import plugin_class

    name, _, arg = spec.partition(":")
    cls = plugin_class("weights", name) if cls is None else cls
    if not arg:
        return name, {}
    fields = list(cls.param_fields())
    if not fields:
        raise ProxybenchError(f"weights {name!r} takes no argument, got {spec!r}")
    return name, {fields[0]: arg}


def build_extractor(backbone: str, weights: str, pool: PoolData, cache: Cache, seed: int = 0,
                    layer: int = -1, source_class: type[WeightSource] | None = None) -> Extractor:
    """phi: ``backbone`` with the weights ``weights`` names (``source_class``: its class, where looked up already)."""
    from ..ml.extractor import Extractor
    from .params import coerce_params
    from .registry import plugin_class

    name, params = parse_weights(weights, source_class)
    cls = plugin_class("weights", name) if source_class is None else source_class
    source = cls(**coerce_params(cls, params))
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
