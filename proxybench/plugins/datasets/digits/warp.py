"""Geometry of the digits glyphs: per-image affine and elastic warps, pen width, pixelation."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .glyphs import CANVAS, OUT


class Affine(NamedTuple):
    """Per-image warp parameters; shifts are in output pixels."""

    angle: np.ndarray
    scale: np.ndarray
    shear: np.ndarray
    dy: np.ndarray
    dx: np.ndarray

    @classmethod
    def sample(
        cls, rng: np.random.Generator, n: int, angle: float, scale: tuple[float, float], shear: float, shift: float
    ) -> Affine:
        return cls(
            np.deg2rad(rng.uniform(-angle, angle, n)),
            rng.uniform(*scale, n),
            rng.uniform(-shear, shear, n),
            rng.uniform(-shift, shift, n),
            rng.uniform(-shift, shift, n),
        )


def warp(src: np.ndarray, aff: Affine, elastic: np.ndarray | None = None, chunk: int = 512) -> np.ndarray:
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
            coords += upsample(elastic[sl], CANVAS)
        index = np.broadcast_to(np.arange(sl.stop - sl.start, dtype=np.float32)[:, None, None], coords[:, 0].shape)
        warped = ndimage.map_coordinates(src[sl], [index, coords[:, 0], coords[:, 1]], order=1, cval=0.0)
        out[sl] = warped.reshape(-1, OUT, 2, OUT, 2).mean(axis=(2, 4))
    return np.clip(out, 0, 1)


@lru_cache(maxsize=8)
def _upsampler(k: int, size: int) -> np.ndarray:
    """The (size, k) matrix of cubic-spline upsampling along one axis (zoom is linear)."""
    return ndimage.zoom(np.eye(k), (size / k, 1), order=3, grid_mode=True, mode="nearest").astype(np.float32)


def upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Smoothly upsample the last two axes of (..., k, k) to (..., size, size)."""
    m = _upsampler(coarse.shape[-1], size)
    return np.einsum("hk,...kl,wl->...hw", m, coarse.astype(np.float32), m)


def elastic_field(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A coarse random displacement field for ``warp`` (canvas pixels)."""
    return rng.normal(0, amplitude, (n, 2, 4, 4)).astype(np.float32)


def stroke(value: np.ndarray, threshold: np.ndarray, softness: float = 0.15) -> np.ndarray:
    """Re-threshold a smooth intensity into a stroke: a lower threshold draws a thicker pen."""
    return np.clip((value - threshold[:, None, None]) / softness, 0, 1).astype(np.float32)


def dilate_masks(masks: np.ndarray, size: int) -> np.ndarray:
    return ndimage.grey_dilation(masks, size=(1, size, size))


def pixelate(masks: np.ndarray, rng: np.random.Generator, sides: tuple[int, ...]) -> np.ndarray:
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
