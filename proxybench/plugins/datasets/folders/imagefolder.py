"""Image-folder trees, ``root/{domain}/{class}/{image}``: any such tree, and Office-Home."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from proxybench import IMAGE_EXTENSIONS, OUTSIDE_LABEL_SPACE

from .base import FolderDataset, Index, csv, layout_error, seeded_split
from .readers import reading


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _scan_tree(root: Path, domains: tuple[str, ...], name: str, layout: str,
               distractors: tuple[str, ...] = ()) -> tuple[list[Path], np.ndarray, np.ndarray, tuple[str, ...]]:
    """Files, labels and domain ids of ``root/{domain}/{class}/{image}``; classes from the non-distractor domains."""
    per_domain: list[dict[str, list[Path]]] = []
    for d in domains:
        folder = root / d
        if not folder.is_dir():
            raise layout_error(f"missing domain folder {d!r}", folder, name, layout)
        classes = {c.name: _list_images(c) for c in sorted(folder.iterdir()) if c.is_dir()}
        classes = {c: files for c, files in classes.items() if files}
        if not classes:
            raise layout_error(f"domain folder {d!r} has no {{class}}/{{image}} subfolders with images", folder, name,
                               layout)
        per_domain.append(classes)
    class_names = tuple(sorted({c for d, cl in zip(domains, per_domain, strict=True) if d not in distractors for c in cl}))
    files, labels, doms = [], [], []
    for k, (d, classes) in enumerate(zip(domains, per_domain, strict=True)):
        for c, paths in classes.items():
            label = OUTSIDE_LABEL_SPACE if d in distractors or c not in class_names else class_names.index(c)
            files += paths
            labels += [label] * len(paths)
            doms += [k] * len(paths)
    return files, np.array(labels, np.int64), np.array(doms, np.int64), class_names


def _domain_folder(root: Path, domain: str) -> str:
    """The folder name of a domain whose name has spaces on disk ("Real World") or underscores."""
    for candidate in (domain, domain.replace("_", " ")):
        if (root / candidate).is_dir():
            return candidate
    return domain


@dataclass
class ImageFolderDataset(FolderDataset):
    """Bring your own multi-domain data: ``root/{domain}/{class}/{image}``, seeded stratified split."""

    name: ClassVar[str] = "imagefolder"
    description: ClassVar[str] = "any local root/{domain}/{class}/{image} tree (--data-root), seeded train/test split"
    env_var: ClassVar[str] = "PROXYBENCH_IMAGEFOLDER"
    layout: ClassVar[str] = """\
  ROOT/{domain}/{class}/{image}.{jpg,png,...}   one folder per domain, one per class inside it
  e.g. ROOT/sketch/cat/0001.png, ROOT/photo/cat/0042.jpg, ROOT/letters/A/001.png (a distractor domain)"""
    info: ClassVar[str] = """\
Your own multi-domain image data. Nothing to download.
Classes are the union of the class folders of the non-distractor domains; a domain listed in
distractor_domains is pool-only and its images are labeled outside the label space (-1).
Train/test: a seeded split, stratified by domain and class (test_fraction, seed).
Private part: private_fraction (default 0.5) of each domain's training images, stratified by
class and fixed by the domain's name; the device's rows come from it, every pool holds the rest.
Images are resized (squashed) to image_size x image_size RGB."""

    #: Name domains in lower case with underscores ("Real World" -> real_world).
    lowercase_domains: ClassVar[bool] = False

    domains: str = field(default="", metadata={"help": "comma-separated domains to read; empty: every subfolder of the root"})
    distractor_domains: str = field(default="", metadata={
        "help": "comma-separated domains whose labels are outside the label space"})
    test_fraction: float = field(default=0.2, metadata={"help": "share of each domain and class held out for testing"})
    seed: int = field(default=0, metadata={"help": "seed of the train/test split"})

    def domain_list(self, root: Path) -> tuple[str, ...]:
        """The domain folders, as named on disk."""
        if self.domains:
            return csv(self.domains)
        return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))

    def domain_name(self, folder: str) -> str:
        """A domain's name in proxybench, from its folder name."""
        return folder.replace(" ", "_").lower() if self.lowercase_domains else folder

    def client_domains(self) -> tuple[str, ...]:
        """The non-distractor domain folders: a listing of the root, no image is read."""
        distractors = csv(self.distractor_domains)
        root = self.data_root()
        with reading(root, (OSError,)):
            folders = self.domain_list(root)
        return tuple(self.domain_name(d) for d in folders if d not in distractors)

    def scan(self, root: Path) -> Index:
        domains = self.domain_list(root)
        distractors = csv(self.distractor_domains)
        unknown = [d for d in distractors if d not in domains]
        if unknown:
            raise layout_error(f"distractor domain {unknown[0]!r} is not a domain folder", root / unknown[0], self.name,
                               self.layout)
        files, labels, doms, class_names = _scan_tree(root, domains, self.name, self.layout, distractors)
        names = tuple(self.domain_name(d) for d in domains)
        return Index(list(files), labels, doms, seeded_split(labels, doms, self.test_fraction, self.seed),
                     names, class_names, tuple(n for d, n in zip(domains, names, strict=True) if d in distractors),
                     files=list(files))


OFFICE_HOME_DOMAINS = ("Art", "Clipart", "Product", "Real World")


@dataclass
class OfficeHome(ImageFolderDataset):
    """Office-Home (Venkateswara et al., CVPR 2017): 4 domains x 65 office objects, about 15.5k images."""

    name: ClassVar[str] = "office-home"
    lowercase_domains: ClassVar[bool] = True
    description: ClassVar[str] = "Office-Home from a local folder: art, clipart, product, real_world; 65 classes"
    env_var: ClassVar[str] = "PROXYBENCH_OFFICE_HOME"
    layout: ClassVar[str] = """\
  ROOT/Art/{class}/{image}.jpg
  ROOT/Clipart/{class}/{image}.jpg
  ROOT/Product/{class}/{image}.jpg
  ROOT/Real World/{class}/{image}.jpg   (or Real_World)"""
    info: ClassVar[str] = """\
Download: https://www.hemanthdv.org/officeHomeDataset.html (OfficeHomeDataset_10072016.zip);
unzip it; ROOT is the folder that holds Art/, Clipart/, Product/ and "Real World"/.
Domains in proxybench: art, clipart, product, real_world. There is no official split:
a seeded split stratified by domain and class (test_fraction, seed). Private part: private_fraction
(default 0.5) of each domain's training images, by class, fixed by the domain's name (the device's rows)."""

    def domain_list(self, root: Path) -> tuple[str, ...]:
        wanted = csv(self.domains) if self.domains else OFFICE_HOME_DOMAINS
        by_name = {d.replace(" ", "_").lower(): d for d in OFFICE_HOME_DOMAINS}
        return tuple(_domain_folder(root, by_name.get(d.replace(" ", "_").lower(), d)) for d in wanted)
