"""Content-addressed on-disk cache for generated datasets, trained backbones and features.

An entry's address is a hash of everything that went into it, so a changed input is
a different entry, never a stale hit. Each entry is stored with a SHA-256 of its
bytes; a corrupt or truncated entry fails the check and is rebuilt. Processes that
share the folder (a sweep's workers) build a missing entry once: the builder holds a
per-entry file lock, the others wait for it and then read its result.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from .settings import current


def canonical_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-able object that ignores dict ordering."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def default_cache_dir() -> Path:
    given = current().cache_dir
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "proxybench"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Cache:
    """A folder of checksummed entries, one file per (kind, key)."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, kind: str, key: Any, suffix: str) -> Path:
        return self.root / kind / f"{canonical_hash(key)}{suffix}"

    def _read_verified(self, path: Path) -> bytes | None:
        digest_path = path.with_name(path.name + ".sha256")
        if not path.exists() or not digest_path.exists():
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest_path.read_text().strip():
            return None
        return data

    def _write_verified(self, path: Path, data: bytes) -> None:
        # Data first, digest last: an interrupted write leaves no digest and reads as a miss.
        atomic_write_bytes(path, data)
        atomic_write_bytes(path.with_name(path.name + ".sha256"), hashlib.sha256(data).hexdigest().encode())

    def blob(self, kind: str, key: Any, build: Callable[[], bytes], suffix: str = ".bin") -> bytes:
        path = self.path(kind, key, suffix)
        data = self._read_verified(path)
        if data is not None:
            return data
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(f".{path.name}.lock")):
            data = self._read_verified(path)  # another process may have built it while we waited
            if data is None:
                data = build()
                self._write_verified(path, data)
        return data

    def arrays(
        self, kind: str, key: Any, build: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Named numpy arrays, built once per key."""

        def build_bytes() -> bytes:
            buf = io.BytesIO()
            np.savez(buf, **build())
            return buf.getvalue()

        data = self.blob(kind, key, build_bytes, suffix=".npz")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    # ---------------------------------------------------------------- folder entries

    #: Files up to this size are SHA-256-checked on every read. Larger ones (memory-mapped image or
    #: feature arrays of gigabytes, which a full hash would read whole on every open) are checked by
    #: size and by a SHA-256 of their first and last FOLDER_EDGE_BYTES, both recorded at build time:
    #: that catches truncation, a partial write and a damaged .npy header, but not bit rot in between.
    FOLDER_HASH_LIMIT = 64 << 20
    FOLDER_EDGE_BYTES = 1 << 20

    @staticmethod
    def _sha256(path: Path) -> str:
        """Streamed, so verifying a large entry never reads it into memory at once."""
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    @classmethod
    def _edge_digest(cls, path: Path) -> str:
        with open(path, "rb") as f:
            head = f.read(cls.FOLDER_EDGE_BYTES)
            f.seek(max(0, path.stat().st_size - cls.FOLDER_EDGE_BYTES))
            return hashlib.sha256(head + f.read()).hexdigest()

    @classmethod
    def _file_meta(cls, path: Path) -> dict[str, Any]:
        size = path.stat().st_size
        if size <= cls.FOLDER_HASH_LIMIT:
            return {"size": size, "sha256": cls._sha256(path)}
        return {"size": size, "sha256": None, "edge_sha256": cls._edge_digest(path)}

    def _folder_ok(self, path: Path) -> bool:
        manifest = path / "MANIFEST.json"
        if not manifest.is_file():
            return False
        try:
            files = json.loads(manifest.read_text())
            for name, meta in files.items():
                f = path / name
                if not f.is_file() or f.stat().st_size != meta["size"]:
                    return False
                if meta.get("sha256") and self._sha256(f) != meta["sha256"]:
                    return False
                if meta.get("edge_sha256") and self._edge_digest(f) != meta["edge_sha256"]:
                    return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True

    def folder(self, kind: str, key: Any, build: Callable[[Path], None]) -> Path:
        """A folder entry (for arrays too large for one in-memory blob, such as memory-mapped images).

        ``build(tmp)`` fills a temporary folder; a MANIFEST.json of file sizes and digests (see
        FOLDER_HASH_LIMIT for what is verified on large files) is written last and the folder renamed
        into place, so a partial or corrupt entry reads as a miss and is rebuilt.
        """
        path = self.path(kind, key, "")
        if self._folder_ok(path):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(f".{path.name}.lock")):
            if self._folder_ok(path):
                return path
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
            try:
                build(tmp)
                files = {f.name: self._file_meta(f) for f in sorted(tmp.iterdir())}
                (tmp / "MANIFEST.json").write_text(json.dumps(files, indent=1))
                if path.exists():
                    shutil.rmtree(path)
                os.replace(tmp, path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return path
