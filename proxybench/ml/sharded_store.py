"""A feature store split into ``.npy`` shards plus a ``manifest.json``: one shard per worker-sized chunk.

A pool too large for one machine's disk or one process's pass is kept as shards that dask
workers read where they are (``pieces``), each a plain ``.npy`` (memory-mappable). The
manifest names each shard's file, rows and SHA-256, the dtype and width shared by all, and a
content hash over the shards' hashes, so a store is identified by what it holds and a
shard that was swapped, truncated or rewritten is caught on opening.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..util.errors import ProxybenchError

MANIFEST = "manifest.json"
FORMAT = "proxybench-sharded-store"
VERSION = 1
DTYPES = ("float16", "float32")
#: Default rows per shard: a multiple of every ``nearest_centroid`` chunk, so shard edges are chunk edges.
ROWS_PER_SHARD = 1 << 20
_HASH_BLOCK = 1 << 24


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def content_hash(shard_hashes: Iterable[str]) -> str:
    """The store's identity: SHA-256 over its shards' hashes, in order."""
    return hashlib.sha256("\n".join(shard_hashes).encode()).hexdigest()


@dataclass(frozen=True)
class Shard:
    """One shard: its file (relative to the store's folder), its rows, its file's SHA-256."""

    file: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class ShardedStore:
    """An opened store: its folder and manifest. Rows are numbered across shards, in manifest order."""

    folder: Path
    d: int
    dtype: str
    shards: tuple[Shard, ...]
    content_hash: str

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.d

    @property
    def offsets(self) -> np.ndarray:
        """First row of each shard, plus the total: shard i holds rows ``offsets[i]:offsets[i + 1]``."""
        return np.concatenate([[0], np.cumsum([s.rows for s in self.shards])]).astype(np.int64)

    def shard(self, i: int) -> np.ndarray:
        """Shard ``i`` as a read-only memory map."""
        return np.load(self.folder / self.shards[i].file, mmap_mode="r")

    def pieces(self) -> list[tuple[str, int, int]]:
        """(absolute path, first row, stop row) within each file: what a worker reads for each block."""
        return [(str((self.folder / s.file).resolve()), 0, s.rows) for s in self.shards]

    def take_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows (ascending global positions) as float32, read shard by shard from the memory maps."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.d), dtype=np.float32)
        offsets = self.offsets
        bounds = np.searchsorted(rows, offsets)
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if hi > lo:
                out[lo:hi] = self.shard(i)[rows[lo:hi] - offsets[i]]
        return out

    def to_dask(self) -> object:
        """The store as one dask.array of (rows, d), one block per shard, each read on its worker."""
        from .cluster_pool import dask_array_of

        return dask_array_of(self.pieces(), self.d, self.dtype)


def _bad(folder: Path, what: str) -> ProxybenchError:
    return ProxybenchError(f"sharded store {folder}: {what}")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


def write_shard(folder: Path, index: int, rows: np.ndarray) -> Shard:
    """``rows`` (N x d, float16 or float32) as the store's shard ``index``; returns its manifest entry."""
    if rows.ndim != 2 or str(rows.dtype) not in DTYPES:
        raise ProxybenchError(f"a shard is a 2-D {' or '.join(DTYPES)} array, got {rows.ndim}-D {rows.dtype}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / shard_name(index)
    np.save(path, rows)
    return Shard(path.name, int(len(rows)), file_sha256(path))


def write_manifest(folder: Path, shards: Iterable[Shard], d: int, dtype: str) -> ShardedStore:
    """The manifest over shards already written into ``folder``; returns the store, checked as ``open_store`` checks it."""
    shards = tuple(shards)
    manifest = {"format": FORMAT, "version": VERSION, "d": int(d), "dtype": dtype, "rows": sum(s.rows for s in shards),
                "shards": [{"file": s.file, "rows": s.rows, "sha256": s.sha256} for s in shards],
                "content_hash": content_hash(s.sha256 for s in shards)}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(folder / MANIFEST)
    return open_store(folder)


def write_sharded_store(folder: Path, x: np.ndarray, rows_per_shard: int = ROWS_PER_SHARD) -> ShardedStore:
    """``x`` (an array or memory map) split into shards of ``rows_per_shard`` rows (the last one shorter)."""
    if rows_per_shard < 1:
        raise ProxybenchError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    folder = Path(folder)
    shards = [write_shard(folder, i, np.asarray(x[s : s + rows_per_shard]))
              for i, s in enumerate(range(0, len(x), rows_per_shard))]
    return write_manifest(folder, shards, x.shape[1], str(x.dtype))


def open_store(folder: Path | str, verify: bool = False) -> ShardedStore:
    """Open and check a store: the manifest's fields, each shard's file, shape and dtype (and, with ``verify``, its bytes).

    Every mismatch is a ProxybenchError that names the field or shard and the bad value.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise _bad(folder, f"no {MANIFEST} (a sharded store is a folder of .npy shards plus {MANIFEST})")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _bad(folder, f"{MANIFEST} is not JSON: {exc}") from exc
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise _bad(folder, f"format is {m.get('format') if isinstance(m, dict) else m!r}, expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise _bad(folder, f"version {m.get('version')!r} is not supported (this proxybench reads version {VERSION})")
    d, dtype, entries = m.get("d"), m.get("dtype"), m.get("shards")
    if not isinstance(d, int) or isinstance(d, bool) or d < 1:
        raise _bad(folder, f"d must be a positive integer, got {d!r}")
    if dtype not in DTYPES:
        raise _bad(folder, f"dtype must be one of {DTYPES}, got {dtype!r}")
    if not isinstance(entries, list) or not entries:
        raise _bad(folder, f"shards must be a non-empty list, got {entries!r}")
    shards = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not {"file", "rows", "sha256"} <= e.keys():
            raise _bad(folder, f"shard {i} needs file, rows and sha256, got {e!r}")
        shard = Shard(str(e["file"]), e["rows"], str(e["sha256"]))
        file = folder / shard.file
        if Path(shard.file).is_absolute() or ".." in Path(shard.file).parts:
            raise _bad(folder, f"shard {i} file {shard.file!r} must be a name inside the store's folder")
        if not isinstance(shard.rows, int) or shard.rows < 1:
            raise _bad(folder, f"shard {i} ({shard.file}) rows must be a positive integer, got {shard.rows!r}")
        if not file.is_file():
            raise _bad(folder, f"shard {i} file {shard.file!r} is missing")
        try:
            array = np.load(file, mmap_mode="r")
        except ValueError as exc:
            raise _bad(folder, f"shard {i} ({shard.file}) is not a .npy array: {exc}") from exc
        if array.shape != (shard.rows, d) or str(array.dtype) != dtype:
            raise _bad(folder, f"shard {i} ({shard.file}) holds {array.shape} {array.dtype}, "
                               f"the manifest says ({shard.rows}, {d}) {dtype}")
        if verify and file_sha256(file) != shard.sha256:
            raise _bad(folder, f"shard {i} ({shard.file}) SHA-256 {file_sha256(file)} != manifest {shard.sha256}")
        shards.append(shard)
    if m.get("rows") != sum(s.rows for s in shards):
        raise _bad(folder, f"rows is {m.get('rows')!r}, but the shards hold {sum(s.rows for s in shards)}")
    expected = content_hash(s.sha256 for s in shards)
    if m.get("content_hash") != expected:
        raise _bad(folder, f"content_hash {m.get('content_hash')!r} != {expected} (the hash of the shards' hashes)")
    return ShardedStore(folder, d, dtype, tuple(shards), expected)
