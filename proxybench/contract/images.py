"""The multi-domain image collection a scenario is cut from (``ImageData``), and lazy row views of it (``ImageRows``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Label of an image outside the label space (a distractor domain).
OUTSIDE_LABEL_SPACE = -1


@dataclass
class ImageData:
    """All images of a dataset, with the ground truth kept beside them.

    ``groups`` ties images that derive from the same original (one handwritten
    sample augmented several times, say): splits keep each group on one side,
    so no original leaks between client and pool or between train and test.

    ``is_private`` marks the training rows of each domain's private part: a client's
    rows are drawn from it and no pool ever holds it, so the pool is the same for
    every client (docs/datasets.md). Unset, no row is private, and no client can be cut.
    """

    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,), OUTSIDE_LABEL_SPACE for distractors
    domains: np.ndarray  # int64 (N,), index into domain_names
    is_test: np.ndarray  # bool (N,): the domain's held-out test split
    groups: np.ndarray  # int64 (N,): source-original id, unique across the dataset
    domain_names: tuple[str, ...]
    class_names: tuple[str, ...]
    distractor_domains: tuple[str, ...] = ()
    is_private: np.ndarray | None = None  # bool (N,): the private part's training rows; None: no row is private

    def __post_init__(self) -> None:
        n = len(self.images)
        self.is_private = np.zeros(n, dtype=bool) if self.is_private is None else np.asarray(self.is_private, dtype=bool)
        for field in ("labels", "domains", "is_test", "groups", "is_private"):
            if len(getattr(self, field)) != n:
                raise ValueError(f"ImageData.{field} has {len(getattr(self, field))} entries, images has {n}")
        if (self.is_private & self.is_test).any():
            raise ValueError(f"ImageData: {int((self.is_private & self.is_test).sum())} rows are both test and "
                             "private; the private part holds training rows only")
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"ImageData.images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}")

    @property
    def client_domains(self) -> tuple[str, ...]:
        """Domains a device can hold: those inside the label space with a private part (any, where none has one).

        A labeled domain without private rows is pool-only: own-folders' pool of the device's classes.
        """
        private = {self.domain_names[d] for d in np.unique(self.domains[self.is_private])}
        return tuple(d for d in self.domain_names if d not in self.distractor_domains and (not private or d in private))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "images": self.images,
            "labels": self.labels,
            "domains": self.domains,
            "is_test": self.is_test,
            "groups": self.groups,
            "is_private": self.is_private,
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
            is_private=a["is_private"].astype(bool),
        )


class ImageRows:
    """Some rows of an image array, read from it only when indexed.

    The images of a folder dataset are a memory map: ``images[pool_idx]`` would copy the
    whole pool into memory. A view reads just the rows a caller asks for (a batch, a
    selection), in file order, so a pool of any size is never decoded at once.
    """

    def __init__(self, source: np.ndarray, rows: np.ndarray):
        self.source = source  # the whole image array (often a memory map); never read at once
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.source.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    def take(self, key: Any) -> ImageRows:
        """A narrower view (rows picked as ``__getitem__`` would pick them), still unread."""
        return ImageRows(self.source, self.rows[key if isinstance(key, slice) else np.asarray(key)])

    def __getitem__(self, key: Any) -> np.ndarray:
        """The rows ``key`` picks (an int, a slice, an index array or a boolean mask), as an array."""
        rows = self.rows[key if isinstance(key, (int, np.integer, slice)) else np.asarray(key)]
        if rows.ndim == 0:
            return np.asarray(self.source[int(rows)])
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.source.shape[1:]), dtype=self.source.dtype)
        out[order] = self.source[rows[order]]
        return out
