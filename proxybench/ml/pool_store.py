"""A pool folder's features as a sharded store: which image each row is, and which phi made it.

``proxybench features extract`` writes, beside the store's shards and manifest
(``sharded_store``), ``files.txt`` (row i is the image ``root / files[i]``: selection indices
map back to file names; nothing about labels, the pool may have none) and ``pool.json``, the
store's ``PoolIdentity``: the pool (its folder, the files' count and the SHA-256 of
``files.txt``), how images were decoded and stored, and phi's key. A later command checks the
identity before it trusts the rows: a store made by another phi, or over another file list,
is refused instead of silently mis-mapped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..util.errors import ProxybenchError
from .sharded_store import MANIFEST, ShardedStore, open_store

IDENTITY = "pool.json"
FILES = "files.txt"
FORMAT = "proxybench-pool-store"
VERSION = 1
#: Rows per shard unless told: a multiple of every ``nearest_centroid`` chunk; at 32 px a dask image shard is 200 MB.
ROWS_PER_SHARD = 1 << 16


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class PoolIdentity:
    """What a store's rows depend on: the pool's files, the decoding and layout, and phi (``Extractor.key``)."""

    root: str  # the pool folder, absolute, as extracted
    files: int  # how many images (rows)
    files_sha256: str  # SHA-256 of files.txt: the ordered relative paths
    image_size: int  # side the images were decoded to before phi
    dtype: str
    rows_per_shard: int
    extractor: dict[str, Any]  # phi's key: backbone, weights, weights_params, image_size, layer, pool

    def __post_init__(self) -> None:
        """phi's key as pool.json holds it (tuples become lists), so a key compares equal to its stored copy."""
        object.__setattr__(self, "extractor", json.loads(json.dumps(self.extractor)))

    def differences(self, other: PoolIdentity) -> list[str]:
        """``field: stored X, asked Y`` for each field (each phi key entry) that differs from ``other``'s."""
        out = []
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "extractor":
                out += [f"phi {k}: stored {_short(mine.get(k))}, asked {_short(theirs.get(k))}"
                        for k in sorted(mine.keys() | theirs.keys()) if mine.get(k) != theirs.get(k)]
            elif mine != theirs:
                out.append(f"{f.name}: stored {_short(mine)}, asked {_short(theirs)}")
        return out

    def same_pool(self, other: PoolIdentity) -> bool:
        return (self.root, self.files, self.files_sha256) == (other.root, other.files, other.files_sha256)


@dataclass(frozen=True)
class PoolStore:
    """An opened pool store: the features, the file of each row, and the identity they were made under."""

    store: ShardedStore
    files: tuple[str, ...]  # row i is the image root / files[i] (relative POSIX paths)
    identity: PoolIdentity

    @property
    def root(self) -> Path:
        return Path(self.identity.root)

    def check_extractor(self, key: dict[str, Any]) -> None:
        """Refuse a phi (its ``Extractor.key``) other than the one that made the rows, naming what differs."""
        if key != self.identity.extractor:
            asked = dataclasses.replace(self.identity, extractor=key)
            raise ProxybenchError(f"the pool store {self.store.folder} was made by another phi ("
                                  + "; ".join(self.identity.differences(asked))
                                  + "): use the phi it was made with, or extract the pool again with this one")


def files_text(names: Sequence[str]) -> bytes:
    """``files.txt``'s bytes: one relative path a line, UTF-8; a name that cannot be one line is refused."""
    for name in names:
        if "\n" in name or "\r" in name:
            raise ProxybenchError(f"image file name {name!r} holds a line break; rename it (files.txt is one name a line)")
    try:
        return "".join(f"{name}\n" for name in names).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[max(exc.start - 40, 0) : exc.end + 40]
        raise ProxybenchError(f"an image file name is not valid UTF-8 (near {bad!r}); rename it") from exc


def text_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bad(folder: Path, what: str) -> ProxybenchError:
    return ProxybenchError(f"pool store {folder}: {what}")


def write_identity(folder: Path, identity: PoolIdentity, files: bytes) -> None:
    """``files.txt`` and ``pool.json``, each written whole (temporary file, then renamed), before any shard."""
    folder.mkdir(parents=True, exist_ok=True)
    if text_sha256(files) != identity.files_sha256:
        raise ValueError("files.txt's bytes do not hash to identity.files_sha256")
    for name, data in ((FILES, files),
                       (IDENTITY, json.dumps({"format": FORMAT, "version": VERSION, **dataclasses.asdict(identity)},
                                             indent=1).encode())):
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(folder / name)


def read_identity(folder: Path) -> PoolIdentity | None:
    """The identity ``pool.json`` records; None when the folder has none (a new store)."""
    path = folder / IDENTITY
    if not path.is_file():
        return None
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _bad(folder, f"{IDENTITY} is not JSON: {exc}") from exc
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise _bad(folder, f"{IDENTITY} format is {m.get('format') if isinstance(m, dict) else m!r}, expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise _bad(folder, f"{IDENTITY} version {m.get('version')!r} is not supported (this proxybench reads {VERSION})")
    names = [f.name for f in dataclasses.fields(PoolIdentity)]
    missing = [n for n in names if n not in m]
    if missing:
        raise _bad(folder, f"{IDENTITY} lacks {', '.join(missing)}")
    return PoolIdentity(**{n: m[n] for n in names})


def is_pool_store(folder: Path | str) -> bool:
    """Whether ``folder`` is a pool store (it holds ``pool.json``) rather than a folder of images."""
    return (Path(folder) / IDENTITY).is_file()


def open_pool_store(folder: Path | str, verify: bool = False) -> PoolStore:
    """A complete pool store, checked: the manifest's shards (their bytes too with ``verify``), files.txt against
    its hash, and one file per row. An unfinished extraction (no manifest yet) says how to finish it.

    Without ``verify`` an opening is remembered while the store's three index files are unchanged: one run asks
    for its store several times, and at 10^6 images each opening hashes and splits a 40 MB file list.
    """
    folder = Path(folder)
    if verify:
        return _open_pool_store(folder, verify=True)
    return _remembered_opening(folder, _stamp(folder))


def _stamp(folder: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """(inode, size, mtime) of pool.json, the manifest and files.txt: any rewrite changes it."""
    out = []
    for name in (IDENTITY, MANIFEST, FILES):
        try:
            st = os.stat(folder / name)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _remembered_opening(folder: Path, stamp: tuple) -> PoolStore:
    return _open_pool_store(folder, verify=False)


def _open_pool_store(folder: Path, verify: bool) -> PoolStore:
    identity = read_identity(folder)
    if identity is None:
        raise _bad(folder, f"no {IDENTITY} (a pool store is written by `proxybench features extract --out {folder}`)")
    if not (folder / MANIFEST).is_file():
        raise _bad(folder, f"the extraction did not finish (no {MANIFEST}); run `proxybench features extract "
                           f"--pool {identity.root} --out {folder}` again with the same options to finish it")
    store = open_store(folder, verify=verify)
    data = (folder / FILES).read_bytes() if (folder / FILES).is_file() else None
    if data is None or text_sha256(data) != identity.files_sha256:
        raise _bad(folder, f"{FILES} is missing or does not hash to {IDENTITY}'s files_sha256 {identity.files_sha256}")
    files = tuple(data.decode("utf-8").splitlines())
    if len(files) != identity.files or store.rows != len(files):
        raise _bad(folder, f"{FILES} names {len(files)} images, {IDENTITY} says {identity.files}, "
                           f"the shards hold {store.rows} rows")
    if store.dtype != identity.dtype:
        raise _bad(folder, f"the shards are {store.dtype}, {IDENTITY} says {identity.dtype}")
    return PoolStore(store, files, identity)
