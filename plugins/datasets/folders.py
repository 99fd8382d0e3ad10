"""Real multi-domain benchmarks read from local folders the user downloaded: DomainNet, Digits-Five,
Office-Home, and any ``root/{domain}/{class}/{image}`` tree.

Nothing here downloads. Each dataset finds its folder in its ``root`` parameter (``proxybench run
--data-root PATH`` fills it) or in an environment variable named in its ``info``
(``proxybench datasets info NAME``). Images are decoded once, in chunks, into a memory-mapped
uint8 array in the proxybench cache; the cache key covers the file list with sizes and
modification times and the image size, so changed files are a new entry, never a stale hit.
Every image file (or array row) is its own split group.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    hookimpl,
    memmapped_image_data,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHUNK = 512  # images decoded per chunk: the most pixels held in memory besides the memmap


def _csv(text: str) -> tuple[str, ...]:
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


def _fingerprint(files: list[Path], root: Path) -> str:
    """Hash of the relative paths, sizes and modification times of the files."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _layout_error(what: str, path: Path, dataset: str, layout: str) -> ProxybenchError:
    return ProxybenchError(
        f"{dataset}: {what}: {path}\nexpected layout under the data root:\n{layout}\n"
        f"(see `proxybench datasets info {dataset}`)"
    )


def _resize_rgb(img: Image.Image, size: int) -> np.ndarray:
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def _seeded_split(labels: np.ndarray, domains: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
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


@dataclass
class FolderDataset(Dataset):
    """Shared machinery: root lookup, fingerprinting, chunked decoding into the cache, corrupt-image policy."""

    #: Environment variable that holds the data root when ``root`` is empty.
    env_var: ClassVar[str] = ""
    #: The expected tree, quoted by layout errors and ``datasets info``.
    layout: ClassVar[str] = ""
    #: Parameters that do not change the content (left out of the cache key).
    not_in_key: ClassVar[tuple[str, ...]] = ("root", "workers")

    root: str = ""
    image_size: int = 64
    on_corrupt: Literal["skip", "error"] = "skip"
    workers: int = 0  # decoding threads; 0: one per CPU

    # ------------------------------------------------------------- what subclasses provide

    def scan(self, root: Path) -> Index:
        raise NotImplementedError

    def decode_array(self, source: Any) -> np.ndarray:
        """uint8 (H, W, 3) of an array-backed source; file sources are decoded by ``_decode_file``."""
        raise NotImplementedError

    # ------------------------------------------------------------- shared

    def data_root(self) -> Path:
        text = self.root or os.environ.get(self.env_var, "")
        if not text:
            raise ProxybenchError(
                f"dataset {self.name!r} needs its local folder: pass --data-root PATH (or --param root=PATH), "
                f"or set {self.env_var}. Where to get it and the expected layout: proxybench datasets info {self.name}"
            )
        root = Path(text).expanduser()
        if not root.is_dir():
            raise _layout_error("data root does not exist", root, self.name, self.layout)
        return root

    def index(self) -> Index:
        if getattr(self, "_index", None) is None:
            if self.image_size < 8:
                raise ProxybenchError(f"{self.name}: image_size must be at least 8, got {self.image_size}")
            root = self.data_root()
            index = self.scan(root)
            if not index.sources:
                raise _layout_error("no images found", root, self.name, self.layout)
            self._index = index
        return self._index

    def content_files(self, root: Path) -> list[Path]:
        """Every file the content depends on; by default from the full scan (subclasses may list them cheaper)."""
        return self.index().files

    def cache_key(self) -> dict:
        if getattr(self, "_fingerprint", None) is None:
            root = self.data_root()
            self._fingerprint = _fingerprint(self.content_files(root), root)
        params = {k: v for k, v in self.params().items() if k not in self.not_in_key}
        return {"dataset": self.name, "version": self.version, "params": params, "content": self._fingerprint}

    def _decode_file(self, path: Path) -> np.ndarray | None:
        try:
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft("RGB", (self.image_size, self.image_size))  # DCT-domain downscale: faster
                return _resize_rgb(img, self.image_size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            if self.on_corrupt == "error":
                raise ProxybenchError(f"{self.name}: corrupt image {path}: {exc} "
                                      "(--param on_corrupt=skip skips such files)") from exc
            print(f"proxybench: {self.name}: skipping corrupt image {path}: {exc}", file=sys.stderr)
            return None

    def _decode(self, source: Any) -> np.ndarray | None:
        return self._decode_file(source) if isinstance(source, Path) else self.decode_array(source)

    def _build(self, writer: ImageWriter) -> dict[str, np.ndarray]:
        index = self.index()
        n = len(index.sources)
        writer.reserve(n, self.image_size, self.image_size)
        keep = np.zeros(n, bool)
        workers = self.workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=workers) as pool, bar(total=n, desc=f"decoding {self.name}") as progress:
            for start in range(0, n, CHUNK):
                images = list(pool.map(self._decode, index.sources[start : start + CHUNK]))
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


# --------------------------------------------------------------------------- image-folder trees


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _scan_tree(root: Path, domains: tuple[str, ...], name: str, layout: str,
               distractors: tuple[str, ...] = ()) -> tuple[list[Path], np.ndarray, np.ndarray, tuple[str, ...]]:
    """Files, labels and domain ids of ``root/{domain}/{class}/{image}``; classes from the non-distractor domains."""
    per_domain: list[dict[str, list[Path]]] = []
    for d in domains:
        folder = root / d
        if not folder.is_dir():
            raise _layout_error(f"missing domain folder {d!r}", folder, name, layout)
        classes = {c.name: _list_images(c) for c in sorted(folder.iterdir()) if c.is_dir()}
        classes = {c: files for c, files in classes.items() if files}
        if not classes:
            raise _layout_error(f"domain folder {d!r} has no {{class}}/{{image}} subfolders with images", folder, name,
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
Images are resized (squashed) to image_size x image_size RGB."""

    #: Name domains in lower case with underscores ("Real World" -> real_world).
    lowercase_domains: ClassVar[bool] = False

    domains: str = ""  # comma-separated; empty: every subfolder of the root
    distractor_domains: str = ""  # comma-separated domains whose labels are outside the label space
    test_fraction: float = 0.2
    seed: int = 0

    def domain_list(self, root: Path) -> tuple[str, ...]:
        if self.domains:
            return _csv(self.domains)
        return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))

    def scan(self, root: Path) -> Index:
        domains = self.domain_list(root)
        distractors = _csv(self.distractor_domains)
        unknown = [d for d in distractors if d not in domains]
        if unknown:
            raise _layout_error(f"distractor domain {unknown[0]!r} is not a domain folder", root / unknown[0], self.name,
                                self.layout)
        files, labels, doms, class_names = _scan_tree(root, domains, self.name, self.layout, distractors)
        names = tuple(d.replace(" ", "_").lower() if self.lowercase_domains else d for d in domains)
        return Index(list(files), labels, doms, _seeded_split(labels, doms, self.test_fraction, self.seed),
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
a seeded split stratified by domain and class (test_fraction, seed)."""

    def domain_list(self, root: Path) -> tuple[str, ...]:
        wanted = _csv(self.domains) if self.domains else OFFICE_HOME_DOMAINS
        by_name = {d.replace(" ", "_").lower(): d for d in OFFICE_HOME_DOMAINS}
        return tuple(_domain_folder(root, by_name.get(d.replace(" ", "_").lower(), d)) for d in wanted)


# --------------------------------------------------------------------------- DomainNet

DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
#: The 10-class subset of the ECOS paper.
ECOS_CLASSES = "bird,feather,headphones,ice_cream,teapot,tiger,whale,windmill,wine_glass,zebra"


@dataclass
class DomainNet(FolderDataset):
    """DomainNet (Peng et al., ICCV 2019) with its official train/test lists; a class subset (default: ECOS's 10)."""

    name: ClassVar[str] = "domainnet"
    description: ClassVar[str] = "DomainNet from a local folder with the official split lists; ECOS's 10 classes by default"
    env_var: ClassVar[str] = "PROXYBENCH_DOMAINNET"
    layout: ClassVar[str] = """\
  ROOT/{domain}_train.txt, ROOT/{domain}_test.txt   lines: "{domain}/{class}/{file}.jpg {label}"
  ROOT/{domain}/{class}/{file}.jpg
  for domain in clipart, infograph, painting, quickdraw, real, sketch"""
    info: ClassVar[str] = """\
Download: http://ai.bu.edu/M3SDA/ (section "Dataset"): for each domain the image zip
(clipart.zip, infograph.zip, painting.zip, quickdraw.zip, real.zip, sketch.zip) and its
split lists ({domain}_train.txt, {domain}_test.txt). Unzip every zip into ROOT, next to the lists.
Classes: the `classes` parameter (comma-separated class folder names, or "all" for all 345);
default the 10-class subset of the ECOS paper. Labels are re-indexed in the order given."""

    classes: str = ECOS_CLASSES
    domains: str = ",".join(DOMAINNET_DOMAINS)

    def scan(self, root: Path) -> Index:
        domains = _csv(self.domains)
        wanted = None if self.classes.strip().lower() == "all" else _csv(self.classes)
        rows: list[tuple[Path, str, int, bool]] = []
        for k, d in enumerate(domains):
            for split in ("train", "test"):
                listing = root / f"{d}_{split}.txt"
                if not listing.is_file():
                    raise _layout_error(f"missing split list of domain {d!r}", listing, self.name, self.layout)
                for n, line in enumerate(listing.read_text().splitlines(), 1):
                    if not line.strip():
                        continue
                    parts = line.split()
                    rel = Path(parts[0])
                    if len(parts) != 2 or len(rel.parts) != 3:
                        raise ProxybenchError(f"{self.name}: {listing}:{n}: expected 'domain/class/file.jpg label', "
                                              f"got {line!r}")
                    rows.append((root / rel, rel.parts[1], k, split == "test"))
        present = sorted({c for _, c, _, _ in rows})
        if wanted is None:
            class_names = tuple(present)
        else:
            missing = [c for c in wanted if c not in present]
            if missing:
                raise ProxybenchError(f"{self.name}: classes {missing} are in none of the split lists; "
                                      f"known classes include {', '.join(present[:20])}...")
            class_names = wanted
        rows = [r for r in rows if r[1] in class_names]
        absent = [p for p, _, _, _ in rows if not p.is_file()]
        if absent:
            raise _layout_error(f"{len(absent)} images listed in the split lists are missing, e.g.", absent[0],
                                self.name, self.layout)
        files = [p for p, _, _, _ in rows]
        lists = [root / f"{d}_{s}.txt" for d in domains for s in ("train", "test")]
        return Index(
            files,
            np.array([class_names.index(c) for _, c, _, _ in rows], np.int64),
            np.array([k for _, _, k, _ in rows], np.int64),
            np.array([t for _, _, _, t in rows], bool),
            domains,
            class_names,
            files=lists + files,
        )


# --------------------------------------------------------------------------- Digits-Five

DIGITS_FIVE_DOMAINS = ("mnist", "mnistm", "svhn", "syn", "usps")


def _read_idx(path: Path) -> np.ndarray:
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ProxybenchError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ProxybenchError(f"{path}: IDX header says {shape}, file holds {data.size} values (truncated?)")
    return data.reshape(shape)


def _read_libsvm_bz2(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """USPS from the LIBSVM site: 'label idx:value ...', labels 1-10 (10 = digit 0), values in [-1, 1], 256 pixels."""
    labels, images = [], []
    for line in bz2.open(path, "rt"):
        parts = line.split()
        if not parts:
            continue
        x = np.full(256, -1.0, np.float32)
        for item in parts[1:]:
            i, v = item.split(":")
            x[int(i) - 1] = float(v)
        labels.append(int(float(parts[0])) % 10)
        images.append(x)
    pixels = np.clip((np.stack(images) + 1) * 127.5, 0, 255).astype(np.uint8).reshape(-1, 16, 16)
    return pixels, np.array(labels, np.int64)


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    mat = loadmat(path)
    if "X" not in mat or "y" not in mat:
        raise ProxybenchError(f"{path}: expected variables X (32x32x3xN) and y (N), found {sorted(mat)}")
    return np.ascontiguousarray(np.transpose(mat["X"], (3, 0, 1, 2))).astype(np.uint8), mat["y"].ravel().astype(np.int64) % 10


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
everything is resized to image_size (default 32)."""

    image_size: int = 32
    domains: str = ",".join(DIGITS_FIVE_DOMAINS)
    train_per_domain: int = 25000
    test_per_domain: int = 9000
    seed: int = 0

    def _files(self, root: Path, domain: str) -> dict[str, Path]:
        def find(folder: str, *names: str) -> Path:
            for n in names:
                if (root / folder / n).is_file():
                    return root / folder / n
            raise _layout_error(f"missing {domain} file", root / folder / names[0], self.name, self.layout)

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
        raise ProxybenchError(f"{self.name}: unknown domain {domain!r}; domains are {', '.join(DIGITS_FIVE_DOMAINS)}")

    def _arrays(self, domain: str, files: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
        if domain == "mnist":
            images, labels = _read_idx(files[f"{split}_images"]), _read_idx(files[f"{split}_labels"]).astype(np.int64)
            if len(images) != len(labels):
                raise ProxybenchError(f"{self.name}: {files[f'{split}_images']} has {len(images)} images, "
                                      f"{files[f'{split}_labels']} {len(labels)} labels")
            return images, labels
        if domain in ("svhn", "syn"):
            return _read_svhn_mat(files[split])
        return _read_libsvm_bz2(files[split])

    def _mnistm(self, listing: Path) -> tuple[list[Path], np.ndarray]:
        folder = listing.parent / listing.name.replace("_labels.txt", "")
        paths, labels = [], []
        for n, line in enumerate(listing.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ProxybenchError(f"{self.name}: {listing}:{n}: expected 'file.png label', got {line!r}")
            paths.append(folder / parts[0])
            labels.append(int(parts[1]))
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise _layout_error(f"{len(absent)} MNIST-M images listed in {listing.name} are missing, e.g.", absent[0],
                                self.name, self.layout)
        return paths, np.array(labels, np.int64)

    def _cap(self, n: int, cap: int, domain: int, test: bool) -> np.ndarray:
        if cap <= 0 or n <= cap:
            return np.arange(n)
        return np.sort(np.random.default_rng([self.seed, domain, int(test)]).choice(n, cap, replace=False))

    def content_files(self, root: Path) -> list[Path]:
        files = []
        for d in _csv(self.domains):
            found = self._files(root, d)
            files += list(found.values())
            if d == "mnistm":
                files += [p for split in ("train", "test") for p in self._mnistm(found[split])[0]]
        return files

    def scan(self, root: Path) -> Index:
        """Reads the array files (labels are needed now); their pixels stay in memory for decoding."""
        domains = _csv(self.domains)
        self._loaded: dict[str, np.ndarray] = {}
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
                    self._loaded[key], y = self._arrays(d, found, split)
                    take = self._cap(len(y), cap, k, split == "test")
                    sources += [(key, int(i)) for i in take]
                labels.append(y[take])
                doms.append(np.full(len(take), k, np.int64))
                tests.append(np.full(len(take), split == "test"))
        return Index(sources, np.concatenate(labels) % 10, np.concatenate(doms), np.concatenate(tests), domains,
                     tuple(str(i) for i in range(10)))

    def decode_array(self, source: tuple[str, int]) -> np.ndarray:
        key, i = source
        img = self._loaded[key][i]
        mode = "L" if img.ndim == 2 else "RGB"
        return _resize_rgb(Image.fromarray(np.ascontiguousarray(img), mode=mode), self.image_size)


@hookimpl
def proxybench_datasets() -> list[type]:
    return [DomainNet, DigitsFive, OfficeHome, ImageFolderDataset]
