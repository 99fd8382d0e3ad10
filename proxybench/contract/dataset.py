"""The Dataset plugin base, and the helpers a dataset uses to build its images once into the cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..util.cache import Cache
from .images import ImageData
from .params import Plugin


class DomainSize(NamedTuple):
    """One domain's training split as a dataset declares it, before anything is built."""

    images: int  # training images (the test split excluded)
    groups: int | None  # groups (originals) among them, None when only the data can tell


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

    def training_sizes(self) -> dict[str, DomainSize] | None:
        """Each domain's training images (distractors included), known without generating or decoding the data.

        A run checks its budget against the largest pool these allow before it builds anything
        (``RunSpec.largest_pool``). ``None``: only the built data can tell; the budget is then
        checked when the sampler runs.
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
