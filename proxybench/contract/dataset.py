"""The Dataset plugin base, the secret it draws its private part with, and the helpers that build images once into the cache."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..util.cache import Cache
from .images import ImageData
from .params import Plugin


class DomainSize(NamedTuple):
    """One domain's public training part (what every pool holds of it) as a dataset declares it, before anything is built."""

    images: int  # public training images (the private part and the test split excluded)
    groups: int | None  # groups (originals) among them, None when only the data can tell


@dataclass(frozen=True)
class DatasetSecret:
    """The key a dataset draws its private part and test splits with (docs/threat-model.md).

    The harness derives it from the cache's device secret, which the cloud's sandbox cannot
    read, so no code or seed the cloud can reach rebuilds the device's rows. A dataset never
    keyed (tests, tools, the conformance kit) draws with ``UNKEYED``, the all-zero key: rows
    of the same distribution that anyone can rebuild; a run never uses it.
    """

    key: bytes = field(repr=False)  # never printed: a log or a traceback must not carry it

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError(f"a dataset secret is 32 bytes, got {len(self.key)}")

    @classmethod
    def derive(cls, device_secret: bytes, dataset: str, version: str) -> DatasetSecret:
        """One key per dataset version, so no two datasets (or versions) of a cache share a private stream."""
        return cls(hashlib.sha256(b"\0".join([b"proxybench dataset", device_secret, dataset.encode(),
                                                version.encode()])).digest())

    @property
    def hash(self) -> str:
        """What records and cache keys name it by: the key cannot be recovered from it."""
        return hashlib.sha256(self.key).hexdigest()[:16]

    def rng(self, *stream: int) -> np.random.Generator:
        """A generator for one private stream (say the dataset's seed and a domain index).

        Not a cryptographic generator: none of its outputs reach the cloud but through the
        device runtime's noisy releases, so its state cannot be inferred from them.
        """
        return np.random.default_rng([*np.frombuffer(self.key, dtype=np.uint32).tolist(), *stream])


UNKEYED = DatasetSecret(bytes(32))


@dataclass(frozen=True)
class StoredFeatures:
    """A pool store (``proxybench features extract``) holding phi's features of some of a dataset's rows.

    A run whose phi made the store takes the pool's features from it instead of running phi
    again over a pool it may take hours to embed; a run with another phi is refused, naming what
    differs (``PoolStore.check_extractor``).
    """

    store: Path  # the store's folder
    store_row: np.ndarray  # int64 (N,): each data row's row in the store, -1 where the store does not hold it


class Dataset(Plugin):
    """A dataset plugin: a dataclass of parameters with a ``load`` method.

    Subclasses implement ``generate``; ``load`` caches its result by the plugin's
    name, version and parameters (and the secret's hash, where ``uses_secret``).
    """

    #: Bump when the generated content changes for the same parameters.
    version: ClassVar[str] = "1"
    #: Where to get the data (``proxybench datasets info NAME``); "" for data made offline.
    info: ClassVar[str] = ""
    #: The folder tree a dataset read from disk expects, quoted by ``datasets info`` and its layout errors.
    layout: ClassVar[str] = ""
    #: The environment variable that gives the data root when the ``root`` parameter is empty.
    env_var: ClassVar[str] = ""
    #: True when ``generate`` draws the private part and the test splits with ``self.secret``.
    uses_secret: ClassVar[bool] = False

    @property
    def secret(self) -> DatasetSecret:
        """The key the harness gave this dataset (``keyed``), or ``UNKEYED``."""
        return getattr(self, "_secret", UNKEYED)

    def keyed(self, device_secret: bytes) -> Dataset:
        """A copy that draws its private part with a key derived from the harness's device secret."""
        out = copy.copy(self)
        object.__setattr__(out, "_secret", DatasetSecret.derive(device_secret, self.name, self.version))
        return out

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
        """Each domain's public training images (distractors included), known without generating or decoding the data.

        A run checks its budget against the largest pool these allow before it builds anything
        (``RunSpec.largest_pool``). ``None``: only the built data can tell; the budget is then
        checked when the sampler runs.
        """
        return None

    def unlabeled_parts(self) -> dict[str, str]:
        """The parts of the data known to hold no label of the label space, found without decoding: ``"pool"``,
        ``"device"`` (the device's training images) and ``"device_test"`` (its test images), each with a sentence
        that says where. Empty: every part is labeled, or only the data can tell.

        A run whose task or sampler needs a missing part's labels is refused before anything is built
        (``run.spec.check_labels``); without test labels no task can be scored, so every run is.
        """
        return {}

    def stored_features(self, data: ImageData) -> StoredFeatures | None:
        """Where phi's features of ``data``'s pool rows were already extracted; None (the default): phi runs on them."""
        return None

    def cache_key(self) -> dict:
        """The public identity of the data (never the secret): what the pool's caches are keyed by."""
        return {"dataset": self.name, "version": self.version, "params": self.params()}

    def build_key(self) -> dict:
        """The key of the built data: ``cache_key``, plus the secret's hash where the private part is drawn with it,
        so caches with different secrets never share private rows."""
        return {**self.cache_key(), "secret": self.secret.hash} if self.uses_secret else self.cache_key()

    def load(self, cache: Cache) -> ImageData:
        arrays = cache.arrays("datasets", self.build_key(), lambda: self.generate().to_arrays())
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
    ``ImageData`` arrays (labels, domains, is_test, groups, is_private, domain_names, class_names,
    distractor_domains) for the rows it wrote, plus any extra arrays it wants kept (returned
    as the second value, e.g. a list of skipped files).
    """

    def fill(folder: Path) -> None:
        writer = ImageWriter(folder / "images.npy")
        try:
            meta = build(writer)
        finally:
            writer.close()
        for name in ("labels", "domains", "is_test", "groups", "is_private"):
            if len(meta[name]) != writer.count:
                raise ValueError(f"dataset build wrote {writer.count} images but {len(meta[name])} {name}")
        np.savez(folder / "meta.npz", count=np.int64(writer.count), **meta)

    folder = cache.folder("datasets", key, fill)
    with np.load(folder / "meta.npz", allow_pickle=False) as npz:
        meta = {name: npz[name] for name in npz.files}
    images = np.load(folder / "images.npy", mmap_mode="r")[: int(meta.pop("count"))]
    known = {"labels", "domains", "is_test", "groups", "is_private", "domain_names", "class_names", "distractor_domains"}
    data = ImageData.from_arrays({**{k: meta[k] for k in known}, "images": images})
    return data, {k: v for k, v in meta.items() if k not in known}
