"""What every folder dataset shares: the data root, the scan into an Index, fingerprinting, chunked decoding into the cache.

A folder dataset object holds parameters only. Each ``cache_key``, ``client_domains`` or
``load`` looks at the folder as it is now, so two equal parameter objects always agree and
an object sent to another process carries no scanned state or pixels.
"""

from __future__ import annotations

import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image

from proxybench import (
    OUTSIDE_LABEL_SPACE,
    Cache,
    Dataset,
    ImageData,
    ImageWriter,
    ProxybenchError,
    bar,
    memmapped_image_data,
    resize_rgb,
)

from .readers import reading
from .tree_index import remembered_fingerprint

CHUNK = 512  # images decoded per chunk: the most pixels held in memory besides the memmap
PRIVATE_STREAM = 24  # the stream of the public/private split, beside a hash of the domain's name


def csv(text: str) -> tuple[str, ...]:
    """The items of a comma-separated parameter."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


@dataclass
class Index:
    """A dataset before decoding: one row per source image."""

    sources: list[Any]  # Path of an image file, or (array name, row) for array-backed sources
    labels: np.ndarray
    domains: np.ndarray
    is_test: np.ndarray
    domain_names: tuple[str, ...]
    class_names: tuple[str, ...]
    distractor_domains: tuple[str, ...] = ()
    files: list[Path] = field(default_factory=list)  # every file the content depends on (fingerprinted)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # pixels of the array-backed sources, by array name


def layout_error(what: str, path: Path, dataset: str, layout: str) -> ProxybenchError:
    """An error that says what is wrong where, and quotes the layout the dataset expects."""
    return ProxybenchError(
        f"{dataset}: {what}: {path}\nexpected layout under the data root:\n{layout}\n"
        f"(see `proxybench datasets info {dataset}`)"
    )


def seeded_split(labels: np.ndarray, domains: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """is_test per row: stratified by domain and class, at least one train image per (domain, class)."""
    if not 0.0 <= test_fraction < 1.0:
        raise ProxybenchError(f"test_fraction must be in [0, 1), got {test_fraction}")
    is_test = np.zeros(len(labels), bool)
    for d in np.unique(domains):
        rng = np.random.default_rng([seed, int(d)])
        for c in np.unique(labels[domains == d]):
            if c == OUTSIDE_LABEL_SPACE:
                continue  # distractors are pool data only
            rows = np.flatnonzero((domains == d) & (labels == c))
            n_test = min(len(rows) - 1, int(round(test_fraction * len(rows))))
            if n_test > 0:
                is_test[rng.permutation(rows)[:n_test]] = True
    return is_test


def private_split(labels: np.ndarray, domains: np.ndarray, domain_names: tuple[str, ...], is_test: np.ndarray,
                  fraction: float) -> np.ndarray:
    """is_private per row: ``fraction`` of each domain's training rows, stratified by class.

    Fixed by the domain's name alone (no client, no run seed): every client shares the pool (the
    rest), and a domain's split stays put when other domains are read. Distractors stay public.
    """
    if not 0.0 < fraction < 1.0:
        raise ProxybenchError(f"private_fraction must be in (0, 1), got {fraction}")
    is_private = np.zeros(len(labels), bool)
    for d, name in enumerate(domain_names):
        rng = np.random.default_rng([PRIVATE_STREAM, zlib.crc32(name.encode())])
        for c in np.unique(labels[domains == d]):
            if c == OUTSIDE_LABEL_SPACE:
                continue
            rows = np.flatnonzero((domains == d) & (labels == c) & ~is_test)
            is_private[rng.permutation(rows)[: int(round(fraction * len(rows)))]] = True
    return is_private


@dataclass
class DecodedDataset(Dataset):
    """Images decoded from files (or arrays) into a memory-mapped cache entry, in chunks: what every dataset read from
    disk shares, whatever its folders. A subclass says where the images are (``index``), which training rows are
    private (``private_rows``) and what the content depends on (``content``)."""

    #: Parameters that do not change the content (left out of the cache key).
    not_in_key: ClassVar[tuple[str, ...]] = ("workers",)

    image_size: int = field(default=64, metadata={"help": "side in pixels every image is resized to"})
    on_corrupt: Literal["skip", "error"] = field(default="skip", metadata={
        "help": "an unreadable image: skip it (and list it), or stop with an error"})
    workers: int = field(default=0, metadata={"help": "decoding threads; 0: one per CPU"})

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ProxybenchError(f"{self.name}: image_size must be at least 8, got {self.image_size}")

    # ------------------------------------------------------------- what subclasses provide

    def index(self) -> Index:
        """Every source image with its label, domain and split, read from the folders as they are now."""
        raise NotImplementedError

    def private_rows(self, index: Index) -> np.ndarray:
        """is_private per row of ``index``: the training rows a device's rows are drawn from, which no pool holds."""
        raise NotImplementedError

    def content(self, params: dict[str, Any]) -> Any:
        """A fingerprint of the files the content depends on (``params``: the content parameters)."""
        raise NotImplementedError

    def decode_array(self, index: Index, source: Any) -> np.ndarray:
        """uint8 (H, W, 3) of an array-backed source; file sources are decoded by ``_decode_file``."""
        raise NotImplementedError

    # ------------------------------------------------------------- shared

    def cache_key(self) -> dict:
        """Name, version, content parameters and the fingerprint of the files (``content``)."""
        params = {k: v for k, v in self.params().items() if k not in self.not_in_key}
        return {"dataset": self.name, "version": self.version, "params": params, "content": self.content(params)}

    def _decode_file(self, path: Path) -> np.ndarray | None:
        try:
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft("RGB", (self.image_size, self.image_size))  # DCT-domain downscale: faster
                return resize_rgb(img, self.image_size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            if self.on_corrupt == "error":
                raise ProxybenchError(f"{self.name}: corrupt image {path}: {exc} "
                                      "(--param on_corrupt=skip skips such files)") from exc
            print(f"proxybench: {self.name}: skipping corrupt image {path}: {exc}", file=sys.stderr)
            return None

    def _decode(self, index: Index, source: Any) -> np.ndarray | None:
        return self._decode_file(source) if isinstance(source, Path) else self.decode_array(index, source)

    def _build(self, writer: ImageWriter) -> dict[str, np.ndarray]:
        index = self.index()
        is_private = self.private_rows(index)
        n = len(index.sources)
        writer.reserve(n, self.image_size, self.image_size)
        keep = np.zeros(n, bool)
        workers = self.workers or os.cpu_count() or 1
        decode = partial(self._decode, index)
        with ThreadPoolExecutor(max_workers=workers) as pool, bar(total=n, desc=f"decoding {self.name}") as progress:
            for start in range(0, n, CHUNK):
                images = list(pool.map(decode, index.sources[start : start + CHUNK]))
                ok = [im for im in images if im is not None]
                keep[start : start + len(images)] = [im is not None for im in images]
                if ok:
                    writer.write(np.stack(ok))
                progress.update(len(images))
        if not keep.any():
            raise ProxybenchError(f"{self.name}: every image failed to decode")
        skipped = [str(s) for s, k in zip(index.sources, keep, strict=True) if not k]
        return {
            "labels": index.labels[keep],
            "domains": index.domains[keep],
            "is_test": index.is_test[keep],
            "groups": np.arange(n, dtype=np.int64)[keep],  # one group per image file
            "is_private": is_private[keep],
            "domain_names": np.array(index.domain_names),
            "class_names": np.array(index.class_names),
            "distractor_domains": np.array(index.distractor_domains, dtype=str),
            "skipped": np.array(skipped, dtype=str),
        }

    def load(self, cache: Cache) -> ImageData:
        data, extra = memmapped_image_data(cache, self.cache_key(), self._build)
        skipped = extra.get("skipped", np.array([]))
        if len(skipped):
            print(f"proxybench: {self.name}: {len(skipped)} corrupt images were skipped when this dataset was "
                  f"cached (e.g. {skipped[0]})", file=sys.stderr)
        return data

    def generate(self) -> ImageData:
        """Everything in memory (small data only); ``load`` streams into the cache instead."""
        raise ProxybenchError(f"{self.name} is read through load(cache), which decodes it into the cache")


@dataclass
class FolderDataset(DecodedDataset):
    """A dataset under one data root: root lookup, scan, fingerprint of the root's files, a private part per domain."""

    not_in_key: ClassVar[tuple[str, ...]] = ("root", "workers")

    root: str = field(default="", metadata={"help": "the local folder of the data (--data-root fills it)"})
    private_fraction: float = field(default=0.5, metadata={
        "help": "share of each domain's training images (stratified by class, fixed by the domain's name) in its "
                "private part: the device's rows come from it, every pool holds the rest"})

    def scan(self, root: Path) -> Index:
        """Every source image with its label, domain and split, read from the folder's listings."""
        raise NotImplementedError

    def data_root(self) -> Path:
        """The folder from ``root`` or the environment variable; an error says how to give it."""
        text = self.root or os.environ.get(self.env_var, "")
        if not text:
            raise ProxybenchError(
                f"dataset {self.name!r} needs its local folder: pass --data-root PATH (or --param root=PATH), "
                f"or set {self.env_var}. Where to get it and the expected layout: proxybench datasets info {self.name}"
            )
        root = Path(text).expanduser()
        if not root.is_dir():
            raise layout_error("data root does not exist", root, self.name, self.layout)
        return root

    def index(self) -> Index:
        """Scan the data root now (not remembered: the folder may change between calls)."""
        root = self.data_root()
        with reading(root, (OSError,)):
            index = self.scan(root)
        if not index.sources:
            raise layout_error("no images found", root, self.name, self.layout)
        return index

    def private_rows(self, index: Index) -> np.ndarray:
        return private_split(index.labels, index.domains, index.domain_names, index.is_test, self.private_fraction)

    def content_files(self, root: Path) -> list[Path]:
        """Every file the content depends on; by default from the full scan (subclasses may list them cheaper)."""
        return self.index().files

    def content(self, params: dict[str, Any]) -> str:
        """One stat per file and per folder that holds them, each call; the tree is walked (listed, split lists
        parsed) only when that finds a change (``tree_index``)."""
        root = self.data_root()
        with reading(root, (OSError,)):
            return remembered_fingerprint(root, {"dataset": self.name, "version": self.version, "params": params},
                                          lambda: self.content_files(root))
