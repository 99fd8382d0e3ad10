"""A practitioner's own data: the device's images in one folder, the public pool in another.

The device's folder is the client domain, ``device``: its training images are all private (the
device holds every one; ``client_fraction`` draws from them) and its test images are a seeded
share of them or a folder of their own. The pool's folder is public and in the pool of every
run. Whether the pool holds images like the device's is exactly what is not known, so the pool
is never part of the device's domain: the in-domain shares of a record are 0 by construction
and measure nothing here (docs/own-data.md).

Labels come from ``{class}/{image}`` folders. The label space is the device's class folders
(its training and test folders together); a pool image is labeled when its class folder is
named like one of them. A folder laid out otherwise (images at its top, or deeper) is
unlabeled, and a run whose task needs the missing labels is refused before anything is built
(``unlabeled_parts``).

``pool_root`` may also be a pool store made by ``proxybench features extract``: the pool is then
the store's images, in its order, and a run whose phi made the store takes their features from
it instead of embedding the pool again (``stored_features``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from proxybench import (
    OUTSIDE_LABEL_SPACE,
    ImageData,
    ProxybenchError,
    StoredFeatures,
    is_pool_store,
    list_image_files,
    open_pool_store,
)

from .base import DecodedDataset, Index, layout_error, seeded_split
from .readers import reading
from .tree_index import remembered_fingerprint

DEVICE = "device"  # the client domain: the device folder (and its test folder)
POOL = "pool"  # pool images whose class folder names a device class
POOL_UNLABELED = "pool_unlabeled"  # the other pool images: pool-only, outside the label space


@dataclass(frozen=True)
class Tree:
    """The images under one folder, in path order, and each one's class folder when the folder is ``{class}/{image}``."""

    root: Path
    files: list[Path]
    classes: list[str] | None  # None: not {class}/{image}, so unlabeled
    stray: Path | None  # an image outside {class}/{image} folders: why it is unlabeled

    def labels(self, position: dict[str, int]) -> np.ndarray:
        """Each image's index in the label space, OUTSIDE_LABEL_SPACE where its class is not in it (or it has none)."""
        if self.classes is None:
            return np.full(len(self.files), OUTSIDE_LABEL_SPACE, np.int64)
        return np.array([position.get(c, OUTSIDE_LABEL_SPACE) for c in self.classes], np.int64)

    def why_unlabeled(self, what: str) -> str:
        """A sentence for ``unlabeled_parts``: the folder, and an image that is not in a class folder."""
        return f"the {what} folder {self.root} has no labels: its images are not all in {{class}}/{{image}} folders " \
               f"(e.g. {self.stray})"


@dataclass
class OwnFolders(DecodedDataset):
    """Your own data as two folders, the device's images and a public pool, so that samplers are compared on it."""

    name: ClassVar[str] = "own-folders"
    description: ClassVar[str] = "your device's images and a public pool, two local folders (--device-root, --pool-root)"
    layout: ClassVar[str] = """\
  DEVICE_ROOT/{class}/{image}.{jpg,png,...}   the device's images by class (or images at any depth: unlabeled)
  POOL_ROOT/{class}/{image}                   the pool by class, matched to the device's classes by folder name
  POOL_ROOT/**/{image}                        (or images at any depth, as flat or nested as you like: unlabeled)
  DEVICE_TEST_ROOT/{class}/{image}            optional: the device's test images (else a share of DEVICE_ROOT)"""
    info: ClassVar[str] = """\
Your own images; nothing to download: proxybench run --device-root DIR --pool-root DIR (docs/own-data.md).
Domains: device (the device folder: all its training images are private, the device holds them),
pool (pool images whose class folder names a device class) and pool_unlabeled (every other pool
image: other classes, or a pool without class folders; outside the label space, -1).
Labels: a folder of {class}/{image} folders is labeled by them; any other layout is unlabeled. The
label space is the class folders of the device folder and the device test folder.
Tasks: autolabel needs the device's labels; outsource and compress need pool labels; every task
is scored on the device's test labels. A run that lacks the labels it needs is refused at once.
Test split: device_test_root, else a seeded share (device_test_fraction, stratified by class).
The pool never holds the device's domain: in-domain shares are 0 and measure nothing here.
Images are resized (squashed) to image_size x image_size RGB."""

    not_in_key: ClassVar[tuple[str, ...]] = ("device_root", "pool_root", "device_test_root", "workers")

    device_root: str = field(default="", metadata={
        "help": "the device's images: {class}/{image} folders, or images at any depth (unlabeled); --device-root"})
    pool_root: str = field(default="", metadata={
        "help": "the public pool: {class}/{image} folders, images at any depth (unlabeled), or a pool store made "
                "by `proxybench features extract` (its images, and phi's features where the run's phi made it); "
                "--pool-root"})
    device_test_root: str = field(default="", metadata={
        "help": "the device's test images as {class}/{image} folders; empty: a share of device_root"})
    device_test_fraction: float = field(default=0.2, metadata={
        "help": "without device_test_root: share of each device class held out for testing (seeded, stratified)"})
    seed: int = field(default=0, metadata={"help": "seed of the device's train/test split (the pool never depends on it)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.device_test_fraction < 1.0:
            raise ProxybenchError(f"{self.name}: device_test_fraction must be in (0, 1), got {self.device_test_fraction}")

    def roots(self) -> dict[str, Path]:
        """The folders by part (device, pool, device_test where given); an error names a missing one and how to give it."""
        given = {"device": (self.device_root, "--device-root DIR"), "pool": (self.pool_root, "--pool-root DIR"),
                 "device_test": (self.device_test_root, "--param device_test_root=DIR")}
        out = {}
        for part, (text, how) in given.items():
            if not text:
                if part == "device_test":
                    continue
                raise ProxybenchError(f"dataset {self.name!r} needs its {part} folder: pass {how} "
                                      f"(see proxybench datasets info {self.name})")
            root = Path(text).expanduser()
            if not root.is_dir():
                raise layout_error(f"the {part} folder does not exist", root, self.name, self.layout)
            out[part] = self.store_images(root) if part == "pool" and is_pool_store(root) else root
        for a, b in itertools.combinations(out, 2):
            if out[a].resolve().is_relative_to(out[b].resolve()) or out[b].resolve().is_relative_to(out[a].resolve()):
                raise ProxybenchError(f"{self.name}: the {a} folder {out[a]} and the {b} folder {out[b]} overlap: an "
                                      "image would be in both; give folders apart")
        return out

    def store_images(self, store: Path) -> Path:
        """A pool store's image folder, once its images are known to be decoded at this dataset's size (before any
        is: phi's features in the store are of those pixels)."""
        opened = open_pool_store(store)
        if opened.identity.image_size != self.image_size:
            size = opened.identity.image_size
            raise ProxybenchError(f"{self.name}: the pool store {store} decoded its images at {size} px and this run "
                                  f"decodes them at {self.image_size} px, so phi would not see the same pixels: run "
                                  f"with --param image_size={size}, or extract with --image-size {self.image_size}")
        return opened.root

    def pool_store(self) -> Path | None:
        """``pool_root`` when it is a pool store, else None."""
        root = Path(self.pool_root).expanduser()
        return root if self.pool_root and is_pool_store(root) else None

    def tree(self, part: str, root: Path) -> Tree:
        """The images of one folder (a pool store's, in its order), and their classes where it is ``{class}/{image}``."""
        store = self.pool_store() if part == "pool" else None
        with reading(root, (OSError,)):
            files = [root / name for name in open_pool_store(store).files] if store else \
                list_image_files(root, allow_empty=True)
        if not files:
            raise layout_error(f"no images found in the {part} folder", root, self.name, self.layout)
        stray = next((f for f in files if len(f.relative_to(root).parts) != 2), None)
        return Tree(root, files, None if stray else [f.parent.name for f in files], stray)

    def trees(self) -> dict[str, Tree]:
        return {part: self.tree(part, root) for part, root in self.roots().items()}

    @staticmethod
    def class_names(trees: dict[str, Tree]) -> tuple[str, ...]:
        """The label space: the class folders of the device's training and test folders."""
        return tuple(sorted({c for part in ("device", "device_test") if part in trees
                             for c in trees[part].classes or ()}))

    def index(self) -> Index:
        trees = self.trees()
        class_names = self.class_names(trees)
        position = {c: i for i, c in enumerate(class_names)}
        device, pool, test = trees["device"], trees["pool"], trees.get("device_test")
        device_labels = device.labels(position)
        if test is None:  # an unlabeled device is split as one class
            strata = device_labels if device.classes is not None else np.zeros(len(device.files), np.int64)
            device_test = seeded_split(strata, np.zeros(len(strata), np.int64), self.device_test_fraction, self.seed)
            if not device_test.any():
                raise ProxybenchError(f"{self.name}: device_test_fraction {self.device_test_fraction} of the device "
                                      f"folder {device.root} holds no test image (each class keeps one for training); "
                                      "give more images, or a device_test_root")
        else:
            device_labels = np.concatenate([device_labels, test.labels(position)])
            device_test = np.arange(len(device_labels)) >= len(device.files)
        pool_labels = pool.labels(position)
        labeled = pool_labels != OUTSIDE_LABEL_SPACE
        # Only the pool domains that hold images: one without any would be a domain without data.
        names = (DEVICE, *([POOL] if labeled.any() else []), *([POOL_UNLABELED] if not labeled.all() else []))
        ids = {n: i for i, n in enumerate(names)}
        pool_domains = np.where(labeled, ids.get(POOL, -1), ids.get(POOL_UNLABELED, -1))  # -1: taken by no row
        files = device.files + (test.files if test is not None else []) + pool.files
        return Index(files, np.concatenate([device_labels, pool_labels]),
                     np.concatenate([np.zeros(len(device_labels), np.int64), pool_domains]),
                     np.concatenate([device_test, np.zeros(len(pool_labels), bool)]),
                     names, class_names, (POOL_UNLABELED,) if POOL_UNLABELED in names else (), files=list(files))

    def stored_features(self, data: ImageData) -> StoredFeatures | None:
        """The pool store's row of each pool image: a pool row's group is its file's place in the index, and the
        store's files follow the device's (and its test folder's) there."""
        store = self.pool_store()
        if store is None:
            return None
        trees = self.trees()
        first = len(trees["device"].files) + (len(trees["device_test"].files) if "device_test" in trees else 0)
        return StoredFeatures(store, np.where(data.groups >= first, data.groups - first, -1))

    def private_rows(self, index: Index) -> np.ndarray:
        """Every training image of the device: it holds them all, and no pool does."""
        return (index.domains == index.domain_names.index(DEVICE)) & ~index.is_test

    def content(self, params: dict[str, Any]) -> dict[str, str]:
        """One fingerprint per folder (``tree_index``: remembered, walked again only when a folder changed).

        A pool store's images are its file list, not the folder's listing: its hash keys the memory of them.
        """
        out = {}
        store = self.pool_store()
        for part, root in self.roots().items():
            listing = {"store_files": open_pool_store(store).identity.files_sha256} if part == "pool" and store else {}
            with reading(root, (OSError,)):
                out[part] = remembered_fingerprint(
                    root, {"dataset": self.name, "version": self.version, "params": params, "part": part, **listing},
                    lambda part=part, root=root: self.tree(part, root).files)
        return out

    def client_domains(self) -> tuple[str, ...]:
        """The device's domain only: the pool is every run's, never a device's (no folder is read)."""
        return (DEVICE,)

    def unlabeled_parts(self) -> dict[str, str]:
        """Which of the pool, the device and its test images carry no label of the device's classes, and why."""
        trees = self.trees()
        device, pool, test = trees["device"], trees["pool"], trees.get("device_test")
        class_names = self.class_names(trees)
        out = {}
        if device.classes is None:
            out["device"] = device.why_unlabeled("device")
        if test is not None and test.classes is None:
            out["device_test"] = test.why_unlabeled("device test")
        elif test is None and device.classes is None:
            out["device_test"] = (f"the device's test images (a share of the device folder {device.root}) have no "
                                  "labels (give the device {class}/{image} folders, or --param device_test_root=DIR "
                                  "of {class}/{image} folders)")
        if pool.classes is None:
            out["pool"] = pool.why_unlabeled("pool")
        elif not set(pool.classes) & set(class_names):
            out["pool"] = (f"none of the pool folder {pool.root}'s class folders ({_some(sorted(set(pool.classes)))}) "
                           f"is named like a device class ({_some(class_names) or 'the device has none'})")
        return out


def _some(names: list[str] | tuple[str, ...], n: int = 5) -> str:
    """The first few of a list of names, for an error."""
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")
