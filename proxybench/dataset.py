"""The multi-domain image collection a scenario is cut from, and the Dataset plugin base."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cache import Cache
from .params import Plugin

#: Label of an image outside the label space (a distractor domain).
OUTSIDE_LABEL_SPACE = -1


@dataclass
class ImageData:
    """All images of a dataset, with the ground truth kept beside them.

    ``groups`` ties images that derive from the same original (one handwritten
    sample augmented several times, say): splits keep each group on one side,
    so no original leaks between client and pool or between train and test.
    """

    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,), OUTSIDE_LABEL_SPACE for distractors
    domains: np.ndarray  # int64 (N,), index into domain_names
    is_test: np.ndarray  # bool (N,): the domain's held-out test split
    groups: np.ndarray  # int64 (N,): source-original id, unique across the dataset
    domain_names: tuple[str, ...]
    class_names: tuple[str, ...]
    distractor_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.images)
        for field in ("labels", "domains", "is_test", "groups"):
            if len(getattr(self, field)) != n:
                raise ValueError(f"ImageData.{field} has {len(getattr(self, field))} entries, images has {n}")
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"ImageData.images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}")

    @property
    def client_domains(self) -> tuple[str, ...]:
        """Domains a device can hold: those inside the label space."""
        return tuple(d for d in self.domain_names if d not in self.distractor_domains)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "images": self.images,
            "labels": self.labels,
            "domains": self.domains,
            "is_test": self.is_test,
            "groups": self.groups,
            "domain_names": np.array(self.domain_names),
            "class_names": np.array(self.class_names),
            "distractor_domains": np.array(self.distractor_domains, dtype=str),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> ImageData:
        return cls(
            images=a["images"],
            labels=a["labels"].astype(np.int64),
            domains=a["domains"].astype(np.int64),
            is_test=a["is_test"].astype(bool),
            groups=a["groups"].astype(np.int64),
            domain_names=tuple(str(x) for x in a["domain_names"]),
            class_names=tuple(str(x) for x in a["class_names"]),
            distractor_domains=tuple(str(x) for x in a["distractor_domains"]),
        )


class Dataset(Plugin):
    """A dataset plugin: a dataclass of parameters with a ``load`` method.

    Subclasses implement ``generate``; ``load`` caches its result by the plugin's
    name, version and parameters.
    """

    #: Bump when the generated content changes for the same parameters.
    version: str = "1"

    def generate(self) -> ImageData:
        raise NotImplementedError

    def cache_key(self) -> dict:
        return {"dataset": self.name, "version": self.version, "params": self.params()}

    def load(self, cache: Cache) -> ImageData:
        arrays = cache.arrays("datasets", self.cache_key(), lambda: self.generate().to_arrays())
        return ImageData.from_arrays(arrays)
