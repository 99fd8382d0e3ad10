"""Colour of the digits images: ink and paper colours, textures, blending, camera-like degradation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .glyphs import OUT
from .warp import upsample

_LUMA = np.array([0.299, 0.587, 0.114])


def with_luma(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """Keep the hue of each colour in ``rgb`` (n, 3) but move its luma to ``luma``."""
    cur = np.clip(rgb @ _LUMA, 1e-3, 1 - 1e-3)[:, None]
    target = luma[:, None]
    darker = rgb * target / cur
    lighter = rgb + (1 - rgb) * (target - cur) / (1 - cur)
    return np.where(target <= cur, darker, lighter)


def colours(rng: np.random.Generator, n: int, luma: tuple[float, float], saturation: float) -> np.ndarray:
    """n random colours with luma in a range; ``saturation`` 0 gives grays."""
    rgb = 0.5 + saturation * (rng.uniform(0, 1, (n, 3)) - 0.5)
    return with_luma(rgb, rng.uniform(*luma, n))


def smooth_noise(rng: np.random.Generator, n: int, cells: int = 6) -> np.ndarray:
    """Low-frequency texture in about [-1, 1], (n, OUT, OUT)."""
    return upsample(rng.normal(0, 1, (n, cells, cells)), OUT)


def blend(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Paint ``fg`` over ``bg`` through ``mask`` (n, OUT, OUT); colours are (n, 3) or images."""
    m = mask[..., None]
    fg = fg[:, None, None] if fg.ndim == 2 else fg
    bg = bg[:, None, None] if bg.ndim == 2 else bg
    return bg * (1 - m) + fg * m


def paper(rng: np.random.Generator, colour: np.ndarray, texture: float) -> np.ndarray:
    """A flat colour (n, 3) with a faint low-frequency texture, (n, OUT, OUT, 3)."""
    return colour[:, None, None] * (1 + texture * smooth_noise(rng, len(colour))[..., None])


def finish(rng: np.random.Generator, img: np.ndarray, blur: tuple[float, ...] = (0.0,), noise: float = 0.0) -> np.ndarray:
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
