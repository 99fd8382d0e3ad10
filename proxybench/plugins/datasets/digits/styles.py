"""The look of each digits domain: how its glyph masks are drawn, coloured and degraded."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .colour import blend, colours, finish, paper, smooth_noise, with_luma
from .glyphs import DIGITS, LETTERS, OUT, glyph_bank, photos, sklearn_digits
from .warp import Affine, dilate_masks, elastic_field, pixelate, stroke, warp

_PHOTO_TRAIN_FRACTION = 0.7  # left part of each photo feeds train patches, the right part test patches


def font_masks(
    rng: np.random.Generator,
    chars: str,
    char_ids: np.ndarray,
    aff: Affine,
    dilate: int = 1,
    fonts: np.ndarray | None = None,
) -> np.ndarray:
    """Warped masks of font glyphs; random fonts unless given."""
    bank = glyph_bank(chars)
    fonts = rng.integers(0, len(bank), len(char_ids)) if fonts is None else fonts
    src = bank[fonts, char_ids]
    return warp(dilate_masks(src, dilate) if dilate > 1 else src, aff)


def printed(rng: np.random.Generator, chars: str, char_ids: np.ndarray) -> np.ndarray:
    """Print: near-neutral dark ink on light paper, any face, modest geometry."""
    n = len(char_ids)
    masks = font_masks(rng, chars, char_ids, Affine.sample(rng, n, 10, (0.8, 1.3), 0.15, 3))
    ink = colours(rng, n, (0.0, 0.3), 0.2)
    sheet = paper(rng, colours(rng, n, (0.78, 1.0), 0.15), 0.03)
    return finish(rng, blend(masks, ink, sheet), blur=(0.0, 0.4), noise=0.02)


def street(rng: np.random.Generator, chars: str, char_ids: np.ndarray) -> np.ndarray:
    """House-number crops: coloured plates, same-font neighbours cut by the edges, blur, noise.

    The centre glyph is large and keeps a luma contrast of at least 0.22 before the
    contrast jitter, which keeps the domain learnable while still hard.
    """
    n = len(char_ids)
    aff = Affine.sample(rng, n, 8, (0.9, 1.35), 0.2, 2)
    fonts = rng.integers(0, len(glyph_bank(chars)), n)
    mask = font_masks(rng, chars, char_ids, aff, fonts=fonts)
    for side in (-1, 1):
        offset = side * aff.scale * rng.uniform(15, 18, n)
        shown = rng.uniform(0, 1, n) < 0.75
        neighbour = font_masks(rng, chars, rng.integers(0, len(chars), n), aff._replace(dx=aff.dx + offset), fonts=fonts)
        mask = np.maximum(mask, neighbour * shown[:, None, None])
    bg_luma = rng.uniform(0.15, 0.9, n)
    bg = with_luma(rng.uniform(0, 1, (n, 3)), bg_luma)
    fg_luma = np.where(bg_luma > 0.5, bg_luma - rng.uniform(0.22, 0.6, n), bg_luma + rng.uniform(0.22, 0.6, n))
    fg = with_luma(rng.uniform(0, 1, (n, 3)), np.clip(fg_luma, 0.02, 0.98))
    direction = rng.uniform(0, 2 * np.pi, n)
    ramp = np.linspace(-0.5, 0.5, OUT)
    gradient = np.cos(direction)[:, None, None] * ramp[:, None] + np.sin(direction)[:, None, None] * ramp
    shade = 1 + rng.uniform(0, 0.35, n)[:, None, None] * gradient + 0.04 * smooth_noise(rng, n)
    img = blend(mask, fg, bg) * shade[..., None]
    mean = img.mean(axis=(1, 2, 3), keepdims=True)
    img = mean + (img - mean) * rng.uniform(0.6, 1.0, (n, 1, 1, 1))
    return finish(rng, img, blur=(0.0, 0.6, 0.9, 1.3), noise=0.07)


def photo(rng: np.random.Generator, char_ids: np.ndarray, is_test: np.ndarray) -> np.ndarray:
    """MNIST-M-like: photo patches whose colours invert under a bold glyph.

    Train patches come from the left 70% of each photo, test patches from the right 30%,
    so no background pixel is shared between the splits.
    """
    n = len(char_ids)
    aff = Affine.sample(rng, n, 15, (0.85, 1.25), 0.2, 3)
    masks = font_masks(rng, DIGITS, char_ids, aff, dilate=3)
    patches = _photo_patches(rng, is_test)
    flip = 1 - 2 * patches  # per channel, towards the inverted colour...
    fg = patches + np.sign(flip) * np.maximum(np.abs(flip), 0.45)  # ...but never less than 0.45 away
    return finish(rng, blend(masks, np.clip(fg, 0, 1), patches), noise=0.02)


def _photo_patches(rng: np.random.Generator, is_test: np.ndarray) -> np.ndarray:
    """Random square crops (32-96 px, resampled to OUT) from the split's part of each photo."""
    sources = photos()
    n = len(is_test)
    which = rng.integers(0, len(sources), n)
    size = rng.uniform(32, 96, n)
    u = rng.uniform(0, 1, (n, 2))
    steps = (np.arange(OUT) + 0.5) / OUT
    out = np.empty((n, OUT, OUT, 3), np.float32)
    for k, image in enumerate(sources):
        h, w, _ = image.shape
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
                out[sel, ..., ch] = ndimage.map_coordinates(image[..., ch], [ys, xs], order=1)
    return out


def handwriting(rng: np.random.Generator, originals: np.ndarray, thick: bool) -> np.ndarray:
    """Warped stroke masks of sklearn digits: thin-to-medium pen, or a thick, pixelated one."""
    canvas, _ = sklearn_digits()
    n = len(originals)
    if thick:
        src = dilate_masks(stroke(canvas[originals], rng.uniform(0.2, 0.35, n)), 3)
        aff = Affine.sample(rng, n, 10, (0.95, 1.15), 0.2, 2)
        return pixelate(warp(src, aff, elastic_field(rng, n, 1.5)), rng, (12, 14, 16))
    src = stroke(canvas[originals], rng.uniform(0.3, 0.6, n))
    aff = Affine.sample(rng, n, 12, (0.9, 1.1), 0.25, 2)
    return warp(src, aff, elastic_field(rng, n, 2.0))


def letters_distinct(rng: np.random.Generator, char_ids: np.ndarray) -> np.ndarray:
    """A style no digit domain has: light outlined glyphs on textured mid-gray."""
    n = len(char_ids)
    masks = font_masks(rng, LETTERS, char_ids, Affine.sample(rng, n, 10, (0.8, 1.2), 0.15, 3))
    outline = np.clip(dilate_masks(masks, 3) - masks, 0, 1)
    bg = paper(rng, colours(rng, n, (0.4, 0.6), 0.0), 0.15)
    img = blend(masks, colours(rng, n, (0.9, 1.0), 0.0), blend(outline, colours(rng, n, (0.0, 0.15), 0.0), bg))
    return finish(rng, img, noise=0.02)
