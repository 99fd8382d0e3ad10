"""The embedded digits dataset plugin: five digit domains and a letter distractor domain, each from its own stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, NamedTuple

import numpy as np

from proxybench import OUTSIDE_LABEL_SPACE, Dataset, DomainSize, ImageData, track

from .colour import blend, colours, finish, paper
from .glyphs import DIGITS, LETTERS, sklearn_digits, split_originals
from .styles import handwriting, letters_distinct, photo, printed, street

DOMAIN_NAMES = ("handwritten", "printed", "street", "photo", "thick", "letters")
DISTRACTOR_DOMAINS = ("letters",)
CLASS_NAMES = tuple(str(d) for d in range(10))


class _Part(NamedTuple):
    """One domain's images before they are stacked into the dataset."""

    images: np.ndarray  # uint8 (n, OUT, OUT, 3)
    labels: np.ndarray
    groups: np.ndarray  # domain-local group ids
    is_test: np.ndarray


def _balanced_labels(rng: np.random.Generator, n: int, classes: int = 10) -> np.ndarray:
    """n labels with class counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


@dataclass
class DigitsDomains(Dataset):
    """Digits-Five-style domains built from installed files, so every run has data offline.

    Domains: ``handwritten`` (sklearn digits, smooth upsampling, affine + elastic warps, random
    pen width; light on black), ``printed`` (matplotlib's text fonts, dark on light paper),
    ``street`` (SVHN-like coloured plates, neighbour digits at the edges, blur, noise),
    ``photo`` (MNIST-M-like inverted glyphs on photo patches), ``thick`` (sklearn digits with a
    thick pen, pixelated to 12-16 px, coloured ink on pastel paper) and the distractor domain
    ``letters`` (non-digit-like letters, label OUTSIDE_LABEL_SPACE, train only).

    Leaks: ``groups`` are ``domain_index << 32`` plus a local id. handwritten and thick split
    sklearn's 1797 originals disjointly (seeded, stratified; see ``split_originals``), then
    split each half disjointly into train and test originals; every augmentation of an
    original shares its group. A font-rendered image is its own group. Photo backgrounds for
    train and test come from disjoint parts (left 70% / right 30%) of each photo.

    ``distractor_style="same"`` is a stress setting: half the letters are drawn in the printed
    style and half in the street style, so they look like client-domain data.
    """

    name: ClassVar[str] = "digits"
    description: ClassVar[str] = "Embedded multi-domain digits (5 digit domains + letter distractors), generated offline"
    version: ClassVar[str] = "1"
    seed: int = field(default=0, metadata={"help": "seed of every domain's random stream"})
    train_per_domain: int = field(default=6000, metadata={"help": "training images per digit domain"})
    test_per_domain: int = field(default=500, metadata={"help": "test images per digit domain"})
    distractors: int = field(default=2000, metadata={"help": "letter images (outside the label space, pool only)"})
    distractor_style: Literal["distinct", "same"] = field(default="distinct", metadata={
        "help": "letters in their own style, or half printed and half street (look like client data)"})

    def client_domains(self) -> tuple[str, ...]:
        """Every domain but the letter distractors: fixed, so known without generating anything."""
        return tuple(d for d in DOMAIN_NAMES if d not in DISTRACTOR_DOMAINS)

    def training_sizes(self) -> dict[str, DomainSize]:
        """From the parameters: a rendered image is its own group; an augmented original's group count needs the data."""
        sizes = {name: DomainSize(self.train_per_domain, self.train_per_domain) for name in DOMAIN_NAMES}
        sizes.update({name: DomainSize(self.train_per_domain, None) for name in ("handwritten", "thick")},
                     letters=DomainSize(self.distractors, self.distractors))
        return sizes

    def generate(self) -> ImageData:
        parts = [self._domain(d, name) for d, name in enumerate(track(DOMAIN_NAMES, "digits domains"))]
        return ImageData(
            images=np.concatenate([p.images for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            domains=np.concatenate([np.full(len(p.labels), d, np.int64) for d, p in enumerate(parts)]),
            is_test=np.concatenate([p.is_test for p in parts]),
            groups=np.concatenate([(d << 32) + p.groups for d, p in enumerate(parts)]),
            domain_names=DOMAIN_NAMES,
            class_names=CLASS_NAMES,
            distractor_domains=DISTRACTOR_DOMAINS,
        )

    def _domain(self, index: int, name: str) -> _Part:
        """One domain from its own random stream, so domains do not shift each other."""
        rng = np.random.default_rng([self.seed, index])
        if name == "letters":
            return self._letters(rng)
        if name in ("handwritten", "thick"):
            return self._from_originals(rng, name)
        n_train, n = self.train_per_domain, self.train_per_domain + self.test_per_domain
        is_test = np.arange(n) >= n_train
        labels = np.concatenate([_balanced_labels(rng, n_train), _balanced_labels(rng, n - n_train)])
        if name == "printed":
            images = printed(rng, DIGITS, labels)
        elif name == "street":
            images = street(rng, DIGITS, labels)
        else:
            images = photo(rng, labels, is_test)
        return _Part(images, labels, np.arange(n, dtype=np.int64), is_test)

    def _from_originals(self, rng: np.random.Generator, name: str) -> _Part:
        """Augment this domain's sklearn originals, cycling through each class's originals."""
        _, target = sklearn_digits()
        splits = split_originals(self.seed, self.train_per_domain, self.test_per_domain)[name]
        originals, labels = [], []
        for test, count in ((False, self.train_per_domain), (True, self.test_per_domain)):
            pool = splits["test" if test else "train"]
            split_labels = _balanced_labels(rng, count)
            split_originals_ = np.empty(count, np.int64)
            for c in range(10):
                sel = split_labels == c
                split_originals_[sel] = np.resize(rng.permutation(pool[target[pool] == c]), int(sel.sum()))
            originals.append(split_originals_)
            labels.append(split_labels)
        originals_arr = np.concatenate(originals)
        is_test = np.arange(len(originals_arr)) >= self.train_per_domain
        masks = handwriting(rng, originals_arr, thick=name == "thick")
        n = len(masks)
        if name == "thick":
            img = blend(masks, colours(rng, n, (0.1, 0.35), 1.0), paper(rng, colours(rng, n, (0.75, 0.95), 0.5), 0.04))
            images = finish(rng, img, noise=0.02)
        else:
            img = blend(masks, colours(rng, n, (0.85, 1.0), 0.0), colours(rng, n, (0.0, 0.12), 0.0))
            images = finish(rng, img, blur=(0.0, 0.4), noise=0.02)
        return _Part(images, np.concatenate(labels), originals_arr, is_test)

    def _letters(self, rng: np.random.Generator) -> _Part:
        n = self.distractors
        char_ids = rng.integers(0, len(LETTERS), n)
        if self.distractor_style == "same":
            half = n // 2
            images = np.concatenate([printed(rng, LETTERS, char_ids[:half]), street(rng, LETTERS, char_ids[half:])])
        else:
            images = letters_distinct(rng, char_ids)
        return _Part(images, np.full(n, OUTSIDE_LABEL_SPACE, np.int64), np.arange(n, dtype=np.int64), np.zeros(n, bool))
