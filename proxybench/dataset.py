"""The multi-domain image collection a scenario is cut from, and the Dataset plugin base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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


class ImageRows:
    """Some rows of an image array, read from it only when indexed.

    The images of a folder dataset are a memory map: ``images[pool_idx]`` would copy the
    whole pool into memory. A view reads just the rows a caller asks for (a batch, a
    selection), in file order, so a pool of any size is never decoded at once.
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray):
        self.images = images
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.images.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.images.dtype

    def take(self, key: Any) -> ImageRows:
        """A narrower view (rows picked as ``__getitem__`` would pick them), still unread."""
        return ImageRows(self.images, self.rows[key if isinstance(key, slice) else np.asarray(key)])

    def __getitem__(self, key: Any) -> np.ndarray:
        """The rows ``key`` picks (an int, a slice, an index array or a boolean mask), as an array."""
        rows = self.rows[key if isinstance(key, (int, np.integer, slice)) else np.asarray(key)]
        if rows.ndim == 0:
            return np.asarray(self.images[int(rows)])
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.images.shape[1:]), dtype=self.images.dtype)
        out[order] = self.images[rows[order]]
        return out


class Dataset(Plugin):
    """A dataset plugin: a dataclass of parameters with a ``load`` method.

    Subclasses implement ``generate``; ``load`` caches its result by the plugin's
    name, version and parameters.
    """

    #: Bump when the generated content changes for the same parameters.
    version: str = "1"
    #: Where to get the data and what layout it needs (``proxybench datasets info NAME``).
    info: ClassVar[str] = ""

    def generate(self) -> ImageData:
        raise NotImplementedError

    def client_domains(self) -> tuple[str, ...] | None:
        """The domains a client may hold (distractors excluded), known without generating or decoding the data.

        A run checks its client domain against this before it builds anything (``RunSpec.validate``),
        so a typo fails in a moment instead of after minutes of generation. ``None``: only the built
        data can tell; the check then waits for the scenario.
        """
        return None

    def cache_key(self) -> dict:
        return {"dataset": self.name, "version": self.version, "params": self.params()}

    def load(self, cache: Cache) -> ImageData:
        arrays = cache.arrays("datasets", self.cache_key(), lambda: self.generate().to_arrays())
        return ImageData.from_arrays(arrays)


class ImageWriter:
    """Appends uint8 image chunks to a memory-mapped ``.npy`` file, so no dataset is held in memory at once.

    ``reserve(capacity, height, width)`` sizes the file; ``write(chunk)`` appends. Fewer than
    ``capacity`` rows may be written (skipped corrupt images); the loader reads the first ``count``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.count = 0
        self._array: np.ndarray | None = None

    def reserve(self, capacity: int, height: int, width: int) -> None:
        if self._array is not None:
            raise RuntimeError("ImageWriter.reserve called twice")
        self._array = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.uint8,
                                                shape=(max(1, capacity), height, width, 3))

    def write(self, images: np.ndarray) -> None:
        if self._array is None:
            raise RuntimeError("ImageWriter.write before reserve")
        n = len(images)
        if self.count + n > len(self._array):
            raise ValueError(f"ImageWriter: {self.count + n} images exceed the reserved {len(self._array)}")
        self._array[self.count : self.count + n] = images
        self.count += n

    def close(self) -> None:
        if self._array is not None:
            self._array.flush()
            del self._array
            self._array = None


def memmapped_image_data(
    cache: Cache, key: Any, build: Callable[[ImageWriter], dict[str, np.ndarray]]
) -> tuple[ImageData, dict[str, np.ndarray]]:
    """Build a dataset once into a cache folder entry and open it memory-mapped (read-only).

    ``build(writer)`` writes the images in chunks through ``writer`` and returns the other
    ``ImageData`` arrays (labels, domains, is_test, groups, domain_names, class_names,
    distractor_domains) for the rows it wrote, plus any extra arrays it wants kept (returned
    as the second value, e.g. a list of skipped files).
    """

    def fill(folder: Path) -> None:
        writer = ImageWriter(folder / "images.npy")
        try:
            meta = build(writer)
        finally:
            writer.close()
        for name in ("labels", "domains", "is_test", "groups"):
            if len(meta[name]) != writer.count:
                raise ValueError(f"dataset build wrote {writer.count} images but {len(meta[name])} {name}")
        np.savez(folder / "meta.npz", count=np.int64(writer.count), **meta)

    folder = cache.folder("datasets", key, fill)
    with np.load(folder / "meta.npz", allow_pickle=False) as npz:
        meta = {name: npz[name] for name in npz.files}
    images = np.load(folder / "images.npy", mmap_mode="r")[: int(meta.pop("count"))]
    known = {"labels", "domains", "is_test", "groups", "domain_names", "class_names", "distractor_domains"}
    data = ImageData.from_arrays({**{k: meta[k] for k in known}, "images": images})
    return data, {k: v for k, v in meta.items() if k not in known}
