"""Readers of the files real benchmarks ship in (IDX, LIBSVM, MATLAB), and one-line errors for files that cannot be read."""

from __future__ import annotations

import bz2
import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from proxybench import ProxybenchError

#: What a truncated, corrupt, unreadable or misformatted data file raises while it is read or parsed.
UNREADABLE = (OSError, EOFError, ValueError, IndexError, KeyError, zlib.error)


@contextmanager
def reading(path: Path, errors: tuple[type[Exception], ...] = UNREADABLE) -> Iterator[None]:
    """Report a file that cannot be read or parsed in one line that names it, instead of a library traceback.

    ``errors``: what counts as unreadable here; a folder scan passes ``(OSError,)``, so that
    only the file system, never a parsing bug, is blamed on the folder.
    """
    try:
        yield
    except ProxybenchError:
        raise
    except errors as exc:
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise ProxybenchError(f"cannot read {path}: {type(exc).__name__}: {detail}") from exc


def read_text(path: Path) -> str:
    """A split list or label file."""
    with reading(path):
        return path.read_text()


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (MNIST), gzipped or not."""
    with reading(path):
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ProxybenchError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ProxybenchError(f"{path}: IDX header says {shape}, file holds {data.size} values (truncated?)")
    return data.reshape(shape)


def read_libsvm_bz2(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """USPS from the LIBSVM site: 'label idx:value ...', labels 1-10 (10 = digit 0), values in [-1, 1], 256 pixels."""
    labels, images = [], []
    with reading(path):
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
    if not images:
        raise ProxybenchError(f"{path} holds no LIBSVM rows")
    pixels = np.clip((np.stack(images) + 1) * 127.5, 0, 255).astype(np.uint8).reshape(-1, 16, 16)
    return pixels, np.array(labels, np.int64)


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's or SynNumbers' ``.mat``: X (32x32x3xN) and y (N; 10 = digit 0)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    with reading(path, (*UNREADABLE, MatReadError)):
        mat = loadmat(path)
    if "X" not in mat or "y" not in mat:
        raise ProxybenchError(f"{path}: expected variables X (32x32x3xN) and y (N), found {sorted(mat)}")
    return np.ascontiguousarray(np.transpose(mat["X"], (3, 0, 1, 2))).astype(np.uint8), mat["y"].ravel().astype(np.int64) % 10
