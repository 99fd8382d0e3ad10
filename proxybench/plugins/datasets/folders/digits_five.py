"""Digits-Five (MNIST, MNIST-M, SVHN, SynthDigits, USPS) from each domain's usual files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from proxybench import ProxybenchError, resize_rgb

from .base import FolderDataset, Index, csv, layout_error
from .readers import read_idx, read_libsvm_bz2, read_svhn_mat, read_text

DIGITS_FIVE_DOMAINS = ("mnist", "mnistm", "svhn", "syn", "usps")


@dataclass
class DigitsFive(FolderDataset):
    """Digits-Five: MNIST, MNIST-M, SVHN, SynthDigits and USPS from their usual files, as 32x32 RGB."""

    name: ClassVar[str] = "digits-five"
    description: ClassVar[str] = "Digits-Five (mnist, mnistm, svhn, syn, usps) from local files, 32x32 RGB"
    env_var: ClassVar[str] = "PROXYBENCH_DIGITS_FIVE"
    layout: ClassVar[str] = """\
  ROOT/mnist/train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
             t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]          (IDX)
  ROOT/mnist_m/mnist_m_train/*.png, mnist_m_test/*.png,
               mnist_m_train_labels.txt, mnist_m_test_labels.txt ("file.png label" lines)
  ROOT/svhn/train_32x32.mat, test_32x32.mat                                   (X 32x32x3xN, y; 10 = digit 0)
  ROOT/syn/synth_train_32x32.mat, synth_test_32x32.mat                        (SynNumbers, same format as SVHN)
  ROOT/usps/usps.bz2, usps.t.bz2                                              (LIBSVM, labels 1-10)"""
    info: ClassVar[str] = """\
Download each domain's usual files and put them in ROOT/{mnist,mnist_m,svhn,syn,usps}/:
  mnist:   the four IDX files from https://yann.lecun.com/exdb/mnist/ (gzipped or not)
  mnist_m: mnist_m.tar.gz (Ganin & Lempitsky 2015, e.g. via https://github.com/pumpikano/tf-dann), unpacked
  svhn:    train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/
  syn:     SynNumbers (Ganin & Lempitsky 2015) synth_train_32x32.mat, synth_test_32x32.mat
  usps:    usps.bz2 and usps.t.bz2 from https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps
Each domain is capped at train_per_domain / test_per_domain images (a seeded subsample; the
Digit-Five protocol uses 25000 / 9000; 0 keeps all). Grey images are repeated to RGB;
everything is resized to image_size (default 32).
Private part: private_fraction (default 0.5) of each domain's kept training images, stratified by
class and fixed by the domain's name; the device's rows come from it, every pool holds the rest."""

    image_size: int = field(default=32, metadata={"help": "side in pixels every image is resized to"})
    domains: str = field(default=",".join(DIGITS_FIVE_DOMAINS), metadata={"help": "comma-separated domains to read"})
    train_per_domain: int = field(default=25000, metadata={
        "help": "training images kept per domain (a seeded subsample; 0 keeps all)"})
    test_per_domain: int = field(default=9000, metadata={
        "help": "test images kept per domain (a seeded subsample; 0 keeps all)"})
    seed: int = field(default=0, metadata={"help": "seed of the subsamples"})

    def client_domains(self) -> tuple[str, ...]:
        """The ``domains`` parameter, each checked to be a Digits-Five domain: known without reading the folder."""
        domains = csv(self.domains)
        for d in domains:
            if d not in DIGITS_FIVE_DOMAINS:
                raise self._unknown_domain(d)
        return domains

    def _unknown_domain(self, domain: str) -> ProxybenchError:
        return ProxybenchError(f"{self.name}: unknown domain {domain!r}; domains are {', '.join(DIGITS_FIVE_DOMAINS)}")

    def _files(self, root: Path, domain: str) -> dict[str, Path]:
        def find(folder: str, *names: str) -> Path:
            for n in names:
                if (root / folder / n).is_file():
                    return root / folder / n
            raise layout_error(f"missing {domain} file", root / folder / names[0], self.name, self.layout)

        if domain == "mnist":
            return {f"{split}_{kind}": find("mnist", f"{prefix}-{kind}-idx{dims}-ubyte", f"{prefix}-{kind}-idx{dims}-ubyte.gz")
                    for split, prefix in (("train", "train"), ("test", "t10k"))
                    for kind, dims in (("images", 3), ("labels", 1))}
        if domain == "svhn":
            return {"train": find("svhn", "train_32x32.mat"), "test": find("svhn", "test_32x32.mat")}
        if domain == "syn":
            return {"train": find("syn", "synth_train_32x32.mat"), "test": find("syn", "synth_test_32x32.mat")}
        if domain == "usps":
            return {"train": find("usps", "usps.bz2"), "test": find("usps", "usps.t.bz2")}
        if domain == "mnistm":
            return {"train": find("mnist_m", "mnist_m_train_labels.txt"), "test": find("mnist_m", "mnist_m_test_labels.txt")}
        raise self._unknown_domain(domain)

    def _arrays(self, domain: str, files: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
        if domain == "mnist":
            images, labels = read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"]).astype(np.int64)
            if len(images) != len(labels):
                raise ProxybenchError(f"{self.name}: {files[f'{split}_images']} has {len(images)} images, "
                                      f"{files[f'{split}_labels']} {len(labels)} labels")
            return images, labels
        if domain in ("svhn", "syn"):
            return read_svhn_mat(files[split])
        return read_libsvm_bz2(files[split])

    def _mnistm(self, listing: Path) -> tuple[list[Path], np.ndarray]:
        folder = listing.parent / listing.name.replace("_labels.txt", "")
        paths, labels = [], []
        for n, line in enumerate(read_text(listing).splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit():
                raise ProxybenchError(f"{self.name}: {listing}:{n}: expected 'file.png label', got {line!r}")
            paths.append(folder / parts[0])
            labels.append(int(parts[1]))
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise layout_error(f"{len(absent)} MNIST-M images listed in {listing.name} are missing, e.g.", absent[0],
                               self.name, self.layout)
        return paths, np.array(labels, np.int64)

    def _cap(self, n: int, cap: int, domain: int, test: bool) -> np.ndarray:
        if cap <= 0 or n <= cap:
            return np.arange(n)
        return np.sort(np.random.default_rng([self.seed, domain, int(test)]).choice(n, cap, replace=False))

    def content_files(self, root: Path) -> list[Path]:
        files = []
        for d in csv(self.domains):
            found = self._files(root, d)
            files += list(found.values())
            if d == "mnistm":
                files += [p for split in ("train", "test") for p in self._mnistm(found[split])[0]]
        return files

    def scan(self, root: Path) -> Index:
        """Reads the array files (labels are needed now); their pixels ride in the Index for decoding."""
        domains = csv(self.domains)
        arrays: dict[str, np.ndarray] = {}
        sources: list[Any] = []
        labels, doms, tests = [], [], []
        for k, d in enumerate(domains):
            found = self._files(root, d)
            for split, cap in (("train", self.train_per_domain), ("test", self.test_per_domain)):
                if d == "mnistm":
                    paths, y = self._mnistm(found[split])
                    take = self._cap(len(paths), cap, k, split == "test")
                    sources += [paths[i] for i in take]
                else:
                    key = f"{d}/{split}"
                    arrays[key], y = self._arrays(d, found, split)
                    take = self._cap(len(y), cap, k, split == "test")
                    sources += [(key, int(i)) for i in take]
                labels.append(y[take])
                doms.append(np.full(len(take), k, np.int64))
                tests.append(np.full(len(take), split == "test"))
        return Index(sources, np.concatenate(labels) % 10, np.concatenate(doms), np.concatenate(tests), domains,
                     tuple(str(i) for i in range(10)), arrays=arrays)

    def decode_array(self, index: Index, source: tuple[str, int]) -> np.ndarray:
        key, i = source
        img = index.arrays[key][i]
        mode = "L" if img.ndim == 2 else "RGB"
        return resize_rgb(Image.fromarray(np.ascontiguousarray(img), mode=mode), self.image_size)
