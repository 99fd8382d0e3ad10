"""Image files on disk as uint8 rows: listing a folder and decoding files, for data that is not a benchmark dataset.

A real device's images and a practitioner's pool are folders of files in any format PIL
reads; phi sees every image squashed to one square size, as the folder datasets do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..util.errors import ProxybenchError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def list_image_files(root: Path | str, allow_empty: bool = False) -> list[Path]:
    """Every image file under ``root``, at any depth (links followed, hidden entries skipped), in path order."""
    root = Path(root)
    if not root.is_dir():
        raise ProxybenchError(f"image folder {root} does not exist or is not a folder")
    files = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(folder, n) for n in names
                  if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_EXTENSIONS and Path(folder, n).is_file()]
    if not files and not allow_empty:
        raise ProxybenchError(f"image folder {root} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return sorted(files)


def resize_rgb(img: Image.Image, size: int) -> np.ndarray:
    """uint8 (size, size, 3) of any PIL image: every source is squashed to one shape."""
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def decode_image(path: Path, size: int) -> np.ndarray:
    """uint8 (size, size, 3): the file as RGB, squashed to a square; a file PIL cannot read is named in the error."""
    try:
        with Image.open(path) as img:
            return resize_rgb(img, size)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ProxybenchError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc


def decode_images(paths: Sequence[Path], size: int) -> np.ndarray:
    """uint8 (len(paths), size, size, 3)."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = decode_image(path, size)
    return out


def class_of(path: Path, root: Path) -> str | None:
    """The class folder of a file in ``root/{class}/{image}``; None for a file at any other depth (unlabeled)."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) == 2 else None
