"""What the digits domains draw from: font glyphs, scikit-learn's handwritten digits, photos, on one canvas.

Every source is a float mask (or photo) in [0, 1], loaded once per process; the warp
(``warp.py``) maps the CANVAS x CANVAS masks down to OUT x OUT images.
"""

from __future__ import annotations

import os
from functools import lru_cache

import matplotlib
import numpy as np
from matplotlib.ft2font import FT2Font
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

DIGITS = "0123456789"
#: Letters that do not read as digits (no O o I l S B Z g q, nor look-alikes such as b G D s z y i j).
LETTERS = "ACEFHJKLMNPRTUVWXYacdefhkmnprtuvwx"

OUT = 32  # output side
CANVAS = 64  # mask canvas side: the warp samples it 1:1 and averages 2x2 blocks down to OUT
GLYPH_HEIGHT = 40  # glyph height on the canvas at scale 1 (20 px in the output)
_FONT_DIR = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
_SYMBOL_FONTS = ("LastResort", "cmex", "cmsy", "cmmi")  # symbol or math-italic faces with no text digits


@lru_cache(maxsize=1)
def font_paths() -> tuple[str, ...]:
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


def render_glyph(path: str, char: str) -> np.ndarray:
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
def glyph_bank(chars: str) -> np.ndarray:
    """Canvas masks of every (font, char): float32 (fonts, len(chars), CANVAS, CANVAS)."""
    return np.stack([np.stack([render_glyph(p, c) for c in chars]) for p in font_paths()])


@lru_cache(maxsize=1)
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits, smoothly upsampled onto the canvas."""
    from sklearn.datasets import load_digits

    data = load_digits()
    side = 48  # the 8x8 digit fills its frame; 48/64 leaves an MNIST-like margin
    up = ndimage.zoom(data.images / 16.0, (1, side / 8, side / 8), order=3, grid_mode=True, mode="nearest")
    pad = (CANVAS - side) // 2
    canvas = np.pad(np.clip(up, 0, 1), ((0, 0), (pad, pad), (pad, pad))).astype(np.float32)
    return canvas, data.target.astype(np.int64)


@lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """Colour photos shipped with scikit-learn and scikit-image, float32 in [0, 1]."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
    images = [getattr(data, n)() for n in names] + list(load_sample_images().images)
    return tuple(im[..., :3].astype(np.float32) / 255.0 for im in images)
