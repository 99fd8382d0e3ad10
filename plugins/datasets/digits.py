"""The embedded default dataset: a Digits-Five-style multi-domain digits benchmark, made offline.

Everything comes from files pip installs (scikit-learn's digits and sample photos,
scikit-image's photos, matplotlib's TTF fonts), so the benchmark runs without downloads.
All glyphs go through one pipeline: a 64x64 float mask on a canvas -> a random affine
(and elastic) warp supersampled down to 32x32 -> a domain-specific colouring.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal, NamedTuple

import matplotlib
import numpy as np
from matplotlib.ft2font import FT2Font
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from proxybench import OUTSIDE_LABEL_SPACE, Dataset, ImageData, hookimpl, track

DOMAIN_NAMES = ("handwritten", "printed", "street", "photo", "thick", "letters")
CLASS_NAMES = tuple(str(d) for d in range(10))
DIGITS = "0123456789"
#: Letters that do not read as digits (no O o I l S B Z g q, nor look-alikes such as b G D s z y i j).
LETTERS = "ACEFHJKLMNPRTUVWXYacdefhkmnprtuvwx"

OUT = 32  # output side
CANVAS = 64  # mask canvas side: the warp samples it 1:1 and averages 2x2 blocks down to OUT
GLYPH_HEIGHT = 40  # glyph height on the canvas at scale 1 (20 px in the output)
SPLIT_STREAM = 1000  # rng stream of the handwritten/thick split of sklearn's originals
_LUMA = np.array([0.299, 0.587, 0.114])
_FONT_DIR = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
_SYMBOL_FONTS = ("LastResort", "cmex", "cmsy", "cmmi")  # symbol or math-italic faces with no text digits
_PHOTO_TRAIN_FRACTION = 0.7  # left part of each photo feeds train patches, the right part test patches


class _Part(NamedTuple):
    """One domain's images before they are stacked into the dataset."""

    images: np.ndarray  # uint8 (n, OUT, OUT, 3)
    labels: np.ndarray
    groups: np.ndarray  # domain-local group ids
    is_test: np.ndarray


# --------------------------------------------------------------------------- glyph sources


@lru_cache(maxsize=1)
def _font_paths() -> tuple[str, ...]:
    """Text faces among matplotlib's TTFs that map every digit and letter we draw."""
    paths = []
    for f in sorted(os.listdir(_FONT_DIR)):
        if not f.endswith(".ttf") or f.startswith(_SYMBOL_FONTS):
            continue
        path = os.path.join(_FONT_DIR, f)
        font = FT2Font(path)
        if all(font.get_char_index(ord(c)) for c in DIGITS + LETTERS):
            paths.append(path)
    return tuple(paths)


def _render_glyph(path: str, char: str) -> np.ndarray:
    """One glyph, cropped to its ink and scaled to GLYPH_HEIGHT, centred on the canvas."""
    big = Image.new("L", (256, 256))
    ImageDraw.Draw(big).text((128, 128), char, font=ImageFont.truetype(path, 160), fill=255, anchor="mm")
    crop = big.crop(big.getbbox())
    w = max(1, min(CANVAS - 8, round(crop.width * GLYPH_HEIGHT / crop.height)))
    crop = crop.resize((w, GLYPH_HEIGHT), Image.LANCZOS)
    canvas = Image.new("L", (CANVAS, CANVAS))
    canvas.paste(crop, ((CANVAS - w) // 2, (CANVAS - GLYPH_HEIGHT) // 2))
    return np.asarray(canvas, dtype=np.float32) / 255.0


@lru_cache(maxsize=4)
def _glyph_bank(chars: str) -> np.ndarray:
    """Canvas masks of every (font, char): float32 (fonts, len(chars), CANVAS, CANVAS)."""
    return np.stack([np.stack([_render_glyph(p, c) for c in chars]) for p in _font_paths()])


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits, smoothly upsampled onto the canvas."""
    from sklearn.datasets import load_digits

    data = load_digits()
    side = 48  # the 8x8 digit fills its frame; 48/64 leaves an MNIST-like margin
    up = ndimage.zoom(data.images / 16.0, (1, side / 8, side / 8), order=3, grid_mode=True, mode="nearest")
    pad = (CANVAS - side) // 2
    canvas = np.pad(np.clip(up, 0, 1), ((0, 0), (pad, pad), (pad, pad))).astype(np.float32)
    return canvas, data.target.astype(np.int64)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """Colour photos shipped with scikit-learn and scikit-image, float32 in [0, 1]."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
    images = [getattr(data, n)() for n in names] + list(load_sample_images().images)
    return tuple(im[..., :3].astype(np.float32) / 255.0 for im in images)


def split_originals(seed: int, train_per_domain: int, test_per_domain: int) -> dict[str, dict[str, np.ndarray]]:
    """Indices of scikit-learn's digits used by each sklearn-derived domain and split.

    Stratified by class, the originals are halved between ``handwritten`` and ``thick``,
    then each half is cut into disjoint train and test originals in proportion to the
    requested image counts, so no original is seen by two domains or both splits.
    """
    _, target = _sklearn_digits()
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    test_share = test_per_domain / max(1, train_per_domain + test_per_domain)
    out: dict[str, dict[str, list[np.ndarray]]] = {d: {"train": [], "test": []} for d in ("handwritten", "thick")}
    for c in range(10):
        perm = rng.permutation(np.flatnonzero(target == c))
        for domain, half in (("handwritten", perm[0::2]), ("thick", perm[1::2])):
            n_test = 0 if test_per_domain == 0 else max(1, round(len(half) * test_share))
            out[domain]["test"].append(half[:n_test])
            out[domain]["train"].append(half[n_test:])
    return {d: {s: np.sort(np.concatenate(v)) for s, v in splits.items()} for d, splits in out.items()}


# --------------------------------------------------------------------------- geometry


def _balanced_labels(rng: np.random.Generator, n: int, classes: int = 10) -> np.ndarray:
    """n labels with class counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


class _Affine(NamedTuple):
    """Per-image warp parameters; shifts are in output pixels."""

    angle: np.ndarray
    scale: np.ndarray
    shear: np.ndarray
    dy: np.ndarray
    dx: np.ndarray

    @classmethod
    def sample(
        cls, rng: np.random.Generator, n: int, angle: float, scale: tuple[float, float], shear: float, shift: float
    ) -> _Affine:
        return cls(
            np.deg2rad(rng.uniform(-angle, angle, n)),
            rng.uniform(*scale, n),
            rng.uniform(-shear, shear, n),
            rng.uniform(-shift, shift, n),
            rng.uniform(-shift, shift, n),
        )


def _warp(src: np.ndarray, aff: _Affine, elastic: np.ndarray | None = None, chunk: int = 512) -> np.ndarray:
    """Warp canvas masks (n, CANVAS, CANVAS) by per-image affines, return (n, OUT, OUT).

    ``elastic`` is an optional low-resolution displacement field (n, 2, k, k) in canvas
    pixels, smoothly upsampled. The canvas is sampled on its own grid and 2x2-averaged,
    which anti-aliases the result.
    """
    n = len(src)
    c = (CANVAS - 1) / 2
    cos, sin = np.cos(aff.angle), np.sin(aff.angle)
    fwd = np.stack([np.stack([cos, -sin + cos * aff.shear], -1), np.stack([sin, cos + sin * aff.shear], -1)], 1)
    inv = np.linalg.inv(fwd * aff.scale[:, None, None]).astype(np.float32)
    shift = np.stack([aff.dy, aff.dx], 1).astype(np.float32) * (CANVAS / OUT)
    grid = np.stack(np.meshgrid(np.arange(CANVAS), np.arange(CANVAS), indexing="ij")).astype(np.float32) - c
    out = np.empty((n, OUT, OUT), np.float32)
    for lo in range(0, n, chunk):
        sl = slice(lo, min(n, lo + chunk))
        p = grid[None] - shift[sl, :, None, None]
        coords = np.einsum("nij,njhw->nihw", inv[sl], p) + c
        if elastic is not None:
            coords += _upsample(elastic[sl], CANVAS)
        index = np.broadcast_to(np.arange(sl.stop - sl.start, dtype=np.float32)[:, None, None], coords[:, 0].shape)
        warped = ndimage.map_coordinates(src[sl], [index, coords[:, 0], coords[:, 1]], order=1, cval=0.0)
        out[sl] = warped.reshape(-1, OUT, 2, OUT, 2).mean(axis=(2, 4))
    return np.clip(out, 0, 1)


@lru_cache(maxsize=8)
def _upsampler(k: int, size: int) -> np.ndarray:
    """The (size, k) matrix of cubic-spline upsampling along one axis (zoom is linear)."""
    return ndimage.zoom(np.eye(k), (size / k, 1), order=3, grid_mode=True, mode="nearest").astype(np.float32)


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Smoothly upsample the last two axes of (..., k, k) to (..., size, size)."""
    m = _upsampler(coarse.shape[-1], size)
    return np.einsum("hk,...kl,wl->...hw", m, coarse.astype(np.float32), m)


def _elastic(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A coarse random displacement field for ``_warp`` (canvas pixels)."""
    return rng.normal(0, amplitude, (n, 2, 4, 4)).astype(np.float32)


def _stroke(value: np.ndarray, threshold: np.ndarray, softness: float = 0.15) -> np.ndarray:
    """Re-threshold a smooth intensity into a stroke: a lower threshold draws a thicker pen."""
    return np.clip((value - threshold[:, None, None]) / softness, 0, 1).astype(np.float32)


def _dilate(masks: np.ndarray, size: int) -> np.ndarray:
    return ndimage.grey_dilation(masks, size=(1, size, size))


def _pixelate(masks: np.ndarray, rng: np.random.Generator, sides: tuple[int, ...]) -> np.ndarray:
    """Low-resolution look: area-downsample each mask to a random side, nearest-upsample back."""
    from skimage.transform import resize

    side = rng.choice(sides, len(masks))
    out = np.empty_like(masks)
    for s in sides:
        sel = side == s
        if not sel.any():
            continue
        small = resize(masks[sel], (int(sel.sum()), s, s), order=1, anti_aliasing=True)
        idx = np.arange(OUT) * s // OUT
        out[sel] = small[:, idx][:, :, idx]
    return out


# --------------------------------------------------------------------------- colouring


def _with_luma(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """Keep the hue of each colour in ``rgb`` (n, 3) but move its luma to ``luma``."""
    cur = np.clip(rgb @ _LUMA, 1e-3, 1 - 1e-3)[:, None]
    target = luma[:, None]
    darker = rgb * target / cur
    lighter = rgb + (1 - rgb) * (target - cur) / (1 - cur)
    return np.where(target <= cur, darker, lighter)


def _colours(rng: np.random.Generator, n: int, luma: tuple[float, float], saturation: float) -> np.ndarray:
    """n random colours with luma in a range; ``saturation`` 0 gives grays."""
    rgb = 0.5 + saturation * (rng.uniform(0, 1, (n, 3)) - 0.5)
    return _with_luma(rgb, rng.uniform(*luma, n))


def _smooth_noise(rng: np.random.Generator, n: int, cells: int = 6) -> np.ndarray:
    """Low-frequency texture in about [-1, 1], (n, OUT, OUT)."""
    return _upsample(rng.normal(0, 1, (n, cells, cells)), OUT)


def _blend(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Paint ``fg`` over ``bg`` through ``mask`` (n, OUT, OUT); colours are (n, 3) or images."""
    m = mask[..., None]
    fg = fg[:, None, None] if fg.ndim == 2 else fg
    bg = bg[:, None, None] if bg.ndim == 2 else bg
    return bg * (1 - m) + fg * m


def _paper(rng: np.random.Generator, colour: np.ndarray, texture: float) -> np.ndarray:
    """A flat colour (n, 3) with a faint low-frequency texture, (n, OUT, OUT, 3)."""
    return colour[:, None, None] * (1 + texture * _smooth_noise(rng, len(colour))[..., None])


def _finish(rng: np.random.Generator, img: np.ndarray, blur: tuple[float, ...] = (0.0,), noise: float = 0.0) -> np.ndarray:
    """Camera-like degradation (a per-image blur level and Gaussian noise), then uint8."""
    level = rng.choice(len(blur), len(img))
    sigma = rng.uniform(0, noise, len(img))[:, None, None, None]
    img = img + sigma * rng.normal(0, 1, img.shape)
    for i, s in enumerate(blur):
        if s > 0:
            sel = level == i
            if sel.any():
                img[sel] = ndimage.gaussian_filter(img[sel], sigma=(0, s, s, 0))
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- styles


def _font_masks(
    rng: np.random.Generator,
    chars: str,
    char_ids: np.ndarray,
    aff: _Affine,
    dilate: int = 1,
    fonts: np.ndarray | None = None,
) -> np.ndarray:
    """Warped masks of font glyphs; random fonts unless given."""
    bank = _glyph_bank(chars)
    fonts = rng.integers(0, len(bank), len(char_ids)) if fonts is None else fonts
    src = bank[fonts, char_ids]
    return _warp(_dilate(src, dilate) if dilate > 1 else src, aff)


def _printed(rng: np.random.Generator, chars: str, char_ids: np.ndarray) -> np.ndarray:
    """Print: near-neutral dark ink on light paper, any face, modest geometry."""
    n = len(char_ids)
    masks = _font_masks(rng, chars, char_ids, _Affine.sample(rng, n, 10, (0.8, 1.3), 0.15, 3))
    ink = _colours(rng, n, (0.0, 0.3), 0.2)
    paper = _paper(rng, _colours(rng, n, (0.78, 1.0), 0.15), 0.03)
    return _finish(rng, _blend(masks, ink, paper), blur=(0.0, 0.4), noise=0.02)


def _street(rng: np.random.Generator, chars: str, char_ids: np.ndarray) -> np.ndarray:
    """House-number crops: coloured plates, same-font neighbours cut by the edges, blur, noise.

    The centre glyph is large and keeps a luma contrast of at least 0.22 before the
    contrast jitter, which keeps the domain learnable while still hard.
    """
    n = len(char_ids)
    aff = _Affine.sample(rng, n, 8, (0.9, 1.35), 0.2, 2)
    fonts = rng.integers(0, len(_glyph_bank(chars)), n)
    mask = _font_masks(rng, chars, char_ids, aff, fonts=fonts)
    for side in (-1, 1):
        offset = side * aff.scale * rng.uniform(15, 18, n)
        shown = rng.uniform(0, 1, n) < 0.75
        neighbour = _font_masks(rng, chars, rng.integers(0, len(chars), n), aff._replace(dx=aff.dx + offset), fonts=fonts)
        mask = np.maximum(mask, neighbour * shown[:, None, None])
    bg_luma = rng.uniform(0.15, 0.9, n)
    bg = _with_luma(rng.uniform(0, 1, (n, 3)), bg_luma)
    fg_luma = np.where(bg_luma > 0.5, bg_luma - rng.uniform(0.22, 0.6, n), bg_luma + rng.uniform(0.22, 0.6, n))
    fg = _with_luma(rng.uniform(0, 1, (n, 3)), np.clip(fg_luma, 0.02, 0.98))
    direction = rng.uniform(0, 2 * np.pi, n)
    ramp = np.linspace(-0.5, 0.5, OUT)
    gradient = np.cos(direction)[:, None, None] * ramp[:, None] + np.sin(direction)[:, None, None] * ramp
    shade = 1 + rng.uniform(0, 0.35, n)[:, None, None] * gradient + 0.04 * _smooth_noise(rng, n)
    img = _blend(mask, fg, bg) * shade[..., None]
    mean = img.mean(axis=(1, 2, 3), keepdims=True)
    img = mean + (img - mean) * rng.uniform(0.6, 1.0, (n, 1, 1, 1))
    return _finish(rng, img, blur=(0.0, 0.6, 0.9, 1.3), noise=0.07)


def _photo(rng: np.random.Generator, char_ids: np.ndarray, is_test: np.ndarray) -> np.ndarray:
    """MNIST-M-like: photo patches whose colours invert under a bold glyph.

    Train patches come from the left 70% of each photo, test patches from the right 30%,
    so no background pixel is shared between the splits.
    """
    n = len(char_ids)
    aff = _Affine.sample(rng, n, 15, (0.85, 1.25), 0.2, 3)
    masks = _font_masks(rng, DIGITS, char_ids, aff, dilate=3)
    patches = _photo_patches(rng, is_test)
    flip = 1 - 2 * patches  # per channel, towards the inverted colour...
    fg = patches + np.sign(flip) * np.maximum(np.abs(flip), 0.45)  # ...but never less than 0.45 away
    return _finish(rng, _blend(masks, np.clip(fg, 0, 1), patches), noise=0.02)


def _photo_patches(rng: np.random.Generator, is_test: np.ndarray) -> np.ndarray:
    """Random square crops (32-96 px, resampled to OUT) from the split's part of each photo."""
    photos = _photos()
    n = len(is_test)
    which = rng.integers(0, len(photos), n)
    size = rng.uniform(32, 96, n)
    u = rng.uniform(0, 1, (n, 2))
    steps = (np.arange(OUT) + 0.5) / OUT
    out = np.empty((n, OUT, OUT, 3), np.float32)
    for k, photo in enumerate(photos):
        h, w, _ = photo.shape
        cut = int(w * _PHOTO_TRAIN_FRACTION)
        for test in (False, True):
            sel = np.flatnonzero((which == k) & (is_test == test))
            if not len(sel):
                continue
            x_lo, x_hi = (cut, w) if test else (0, cut)
            side = np.minimum(size[sel], min(h, x_hi - x_lo) - 1)
            y0 = u[sel, 0] * (h - 1 - side)
            x0 = x_lo + u[sel, 1] * (x_hi - x_lo - 1 - side)
            ys = (y0[:, None] + side[:, None] * steps)[:, :, None].repeat(OUT, 2)
            xs = (x0[:, None] + side[:, None] * steps)[:, None, :].repeat(OUT, 1)
            for ch in range(3):
                out[sel, ..., ch] = ndimage.map_coordinates(photo[..., ch], [ys, xs], order=1)
    return out


def _handwriting(rng: np.random.Generator, originals: np.ndarray, thick: bool) -> np.ndarray:
    """Warped stroke masks of sklearn digits: thin-to-medium pen, or a thick, pixelated one."""
    canvas, _ = _sklearn_digits()
    n = len(originals)
    if thick:
        src = _dilate(_stroke(canvas[originals], rng.uniform(0.2, 0.35, n)), 3)
        aff = _Affine.sample(rng, n, 10, (0.95, 1.15), 0.2, 2)
        return _pixelate(_warp(src, aff, _elastic(rng, n, 1.5)), rng, (12, 14, 16))
    src = _stroke(canvas[originals], rng.uniform(0.3, 0.6, n))
    aff = _Affine.sample(rng, n, 12, (0.9, 1.1), 0.25, 2)
    return _warp(src, aff, _elastic(rng, n, 2.0))


def _letters_distinct(rng: np.random.Generator, char_ids: np.ndarray) -> np.ndarray:
    """A style no digit domain has: light outlined glyphs on textured mid-gray."""
    n = len(char_ids)
    masks = _font_masks(rng, LETTERS, char_ids, _Affine.sample(rng, n, 10, (0.8, 1.2), 0.15, 3))
    outline = np.clip(_dilate(masks, 3) - masks, 0, 1)
    bg = _paper(rng, _colours(rng, n, (0.4, 0.6), 0.0), 0.15)
    img = _blend(masks, _colours(rng, n, (0.9, 1.0), 0.0), _blend(outline, _colours(rng, n, (0.0, 0.15), 0.0), bg))
    return _finish(rng, img, noise=0.02)


# --------------------------------------------------------------------------- the plugin


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
    seed: int = 0
    train_per_domain: int = 6000
    test_per_domain: int = 500
    distractors: int = 2000
    distractor_style: Literal["distinct", "same"] = "distinct"

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
            distractor_domains=("letters",),
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
            images = _printed(rng, DIGITS, labels)
        elif name == "street":
            images = _street(rng, DIGITS, labels)
        else:
            images = _photo(rng, labels, is_test)
        return _Part(images, labels, np.arange(n, dtype=np.int64), is_test)

    def _from_originals(self, rng: np.random.Generator, name: str) -> _Part:
        """Augment this domain's sklearn originals, cycling through each class's originals."""
        _, target = _sklearn_digits()
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
        masks = _handwriting(rng, originals_arr, thick=name == "thick")
        n = len(masks)
        if name == "thick":
            img = _blend(masks, _colours(rng, n, (0.1, 0.35), 1.0), _paper(rng, _colours(rng, n, (0.75, 0.95), 0.5), 0.04))
            images = _finish(rng, img, noise=0.02)
        else:
            img = _blend(masks, _colours(rng, n, (0.85, 1.0), 0.0), _colours(rng, n, (0.0, 0.12), 0.0))
            images = _finish(rng, img, blur=(0.0, 0.4), noise=0.02)
        return _Part(images, np.concatenate(labels), originals_arr, is_test)

    def _letters(self, rng: np.random.Generator) -> _Part:
        n = self.distractors
        char_ids = rng.integers(0, len(LETTERS), n)
        if self.distractor_style == "same":
            half = n // 2
            images = np.concatenate([_printed(rng, LETTERS, char_ids[:half]), _street(rng, LETTERS, char_ids[half:])])
        else:
            images = _letters_distinct(rng, char_ids)
        return _Part(images, np.full(n, OUTSIDE_LABEL_SPACE, np.int64), np.arange(n, dtype=np.int64), np.zeros(n, bool))


@hookimpl
def proxybench_datasets() -> list[type]:
    return [DigitsDomains]
