"""The embedded digits dataset plugin: five digit domains and a letter distractor domain, each from its own stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, NamedTuple

import numpy as np

from proxybench import OUTSIDE_LABEL_SPACE, Dataset, DomainSize, ImageData, ProxybenchError, track

from .colour import blend, colours, finish, paper
from .glyphs import DIGITS, LETTERS, sklearn_digits
from .originals import SPLIT_STREAM, split_originals
from .styles import handwriting, letters_distinct, photo, printed, street

DOMAIN_NAMES = ("handwritten", "printed", "street", "photo", "thick", "letters")
DISTRACTOR_DOMAINS = ("letters",)
CLASS_NAMES = tuple(str(d) for d in range(10))


class _Part(NamedTuple):
    """One domain's images before they are stacked into the dataset: public rows, then private, then test."""

    images: np.ndarray  # uint8 (n, OUT, OUT, 3)
    labels: np.ndarray
    groups: np.ndarray  # domain-local group ids
    is_test: np.ndarray
    is_private: np.ndarray


def _balanced_labels(rng: np.random.Generator, n: int, classes: int = 10) -> np.ndarray:
    """n labels with class counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


def _stack(public: _Part, secret: _Part) -> _Part:
    return _Part(*(np.concatenate([a, b]) for a, b in zip(public, secret, strict=True)))


@dataclass
class DigitsDomains(Dataset):
    """Digits-Five-style domains built from installed files, so every run has data offline.

    Domains: ``handwritten`` (sklearn digits, smooth upsampling, affine + elastic warps, random
    pen width; light on black), ``printed`` (matplotlib's text fonts, dark on light paper),
    ``street`` (SVHN-like coloured plates, neighbour digits at the edges, blur, noise),
    ``photo`` (MNIST-M-like inverted glyphs on photo patches), ``thick`` (sklearn digits with a
    thick pen, pixelated to 12-16 px, coloured ink on pastel paper) and the distractor domain
    ``letters`` (non-digit-like letters, label OUTSIDE_LABEL_SPACE, public only).

    Parts: each digit domain's public part (in every pool) is drawn from the public seed; its
    private part (the device's to draw from) and its test split are drawn with the harness's
    secret (``self.secret``), so public code and seeds rebuild the pool and nothing else.

    Leaks: ``groups`` are ``domain_index << 32`` plus a local id. handwritten and thick split
    sklearn's 1797 originals disjointly, then each half into public, private and test
    originals (``split_originals``); every augmentation of an original shares its group. A
    font-rendered image is its own group. Photo backgrounds for train and test come from
    disjoint parts (left 70% / right 30%) of each photo.

    ``distractor_style="same"`` is a stress setting: half the letters are drawn in the printed
    style and half in the street style, so they look like client-domain data.
    """

    name: ClassVar[str] = "digits"
    description: ClassVar[str] = "Embedded multi-domain digits (5 digit domains + letter distractors), generated offline"
    version: ClassVar[str] = "2"
    uses_secret: ClassVar[bool] = True
    seed: int = field(default=0, metadata={
        "help": "seed of every domain's random streams (the private part's and the test split's are keyed by the secret too)"})
    train_per_domain: int = field(default=6000, metadata={
        "help": "training images per digit domain, public and private parts together"})
    private_fraction: float = field(default=0.5, metadata={
        "help": "share of each digit domain's training images in its private part (drawn with the harness's "
                "secret; the device's rows come from it); the rest is public, in every pool"})
    test_per_domain: int = field(default=500, metadata={"help": "test images per digit domain (drawn with the secret)"})
    distractors: int = field(default=2000, metadata={"help": "letter images (outside the label space, in every pool)"})
    distractor_style: Literal["distinct", "same"] = field(default="distinct", metadata={
        "help": "letters in their own style, or half printed and half street (look like client data)"})

    def __post_init__(self) -> None:
        if not 0.0 < self.private_fraction < 1.0:
            raise ProxybenchError(f"digits: private_fraction must be in (0, 1), got {self.private_fraction}")
        if min(self.public_images, self.private_images) < 1:
            raise ProxybenchError(f"digits: train_per_domain={self.train_per_domain} at private_fraction="
                                  f"{self.private_fraction} leaves a part empty; give each part an image at least")

    @property
    def private_images(self) -> int:
        return int(round(self.private_fraction * self.train_per_domain))

    @property
    def public_images(self) -> int:
        return self.train_per_domain - self.private_images

    def client_domains(self) -> tuple[str, ...]:
        """Every domain but the letter distractors: fixed, so known without generating anything."""
        return tuple(d for d in DOMAIN_NAMES if d not in DISTRACTOR_DOMAINS)

    def training_sizes(self) -> dict[str, DomainSize]:
        """From the parameters: a rendered image is its own group; an augmented original's group count needs the data."""
        sizes = {name: DomainSize(self.public_images, self.public_images) for name in DOMAIN_NAMES}
        sizes.update({name: DomainSize(self.public_images, None) for name in ("handwritten", "thick")},
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
            is_private=np.concatenate([p.is_private for p in parts]),
        )

    def _domain(self, index: int, name: str) -> _Part:
        """One domain from its own streams, so domains do not shift each other: a public one, and one of the secret."""
        public = np.random.default_rng([self.seed, index])
        if name == "letters":
            return self._letters(public)
        secret = self.secret.rng(self.seed, index)
        if name in ("handwritten", "thick"):
            return self._from_originals(public, secret, name)
        n_pub, n_priv, n_test = self.public_images, self.private_images, self.test_per_domain
        labels_pub = _balanced_labels(public, n_pub)
        labels_sec = np.concatenate([_balanced_labels(secret, n_priv), _balanced_labels(secret, n_test)])
        is_test = np.arange(n_priv + n_test) >= n_priv
        if name == "printed":
            images = printed(public, DIGITS, labels_pub), printed(secret, DIGITS, labels_sec)
        elif name == "street":
            images = street(public, DIGITS, labels_pub), street(secret, DIGITS, labels_sec)
        else:
            images = photo(public, labels_pub, np.zeros(n_pub, bool)), photo(secret, labels_sec, is_test)
        groups = np.arange(n_pub + n_priv + n_test, dtype=np.int64)
        return _stack(_Part(images[0], labels_pub, groups[:n_pub], np.zeros(n_pub, bool), np.zeros(n_pub, bool)),
                      _Part(images[1], labels_sec, groups[n_pub:], is_test, ~is_test))

    def _from_originals(self, public: np.random.Generator, secret: np.random.Generator, name: str) -> _Part:
        """Augment this domain's sklearn originals: the public part from its originals, the others with the secret."""
        split = split_originals(self.seed, self.secret.rng(self.seed, SPLIT_STREAM), self.train_per_domain,
                                self.test_per_domain, self.private_fraction)[name]
        pub = self._augment(public, name, [(split["public"], self.public_images)])
        sec = self._augment(secret, name, [(split["private"], self.private_images), (split["test"], self.test_per_domain)])
        is_test = np.arange(self.private_images + self.test_per_domain) >= self.private_images
        return _stack(_Part(*pub, np.zeros(self.public_images, bool), np.zeros(self.public_images, bool)),
                      _Part(*sec, is_test, ~is_test))

    @staticmethod
    def _augment(rng: np.random.Generator, name: str, parts: list[tuple[np.ndarray, int]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, labels, originals) of ``count`` images per (originals, count), cycling through each class's originals."""
        _, target = sklearn_digits()
        originals, labels = [], []
        for pool, count in parts:
            part_labels = _balanced_labels(rng, count)
            part_originals = np.empty(count, np.int64)
            for c in range(10):
                sel = part_labels == c
                part_originals[sel] = np.resize(rng.permutation(pool[target[pool] == c]), int(sel.sum()))
            originals.append(part_originals)
            labels.append(part_labels)
        originals_arr = np.concatenate(originals)
        masks = handwriting(rng, originals_arr, thick=name == "thick")
        n = len(masks)
        if name == "thick":
            img = blend(masks, colours(rng, n, (0.1, 0.35), 1.0), paper(rng, colours(rng, n, (0.75, 0.95), 0.5), 0.04))
            images = finish(rng, img, noise=0.02)
        else:
            img = blend(masks, colours(rng, n, (0.85, 1.0), 0.0), colours(rng, n, (0.0, 0.12), 0.0))
            images = finish(rng, img, blur=(0.0, 0.4), noise=0.02)
        return images, np.concatenate(labels), originals_arr

    def _letters(self, rng: np.random.Generator) -> _Part:
        n = self.distractors
        char_ids = rng.integers(0, len(LETTERS), n)
        if self.distractor_style == "same":
            half = n // 2
            images = np.concatenate([printed(rng, LETTERS, char_ids[:half]), street(rng, LETTERS, char_ids[half:])])
        else:
            images = letters_distinct(rng, char_ids)
        none = np.zeros(n, bool)
        return _Part(images, np.full(n, OUTSIDE_LABEL_SPACE, np.int64), np.arange(n, dtype=np.int64), none, none)
