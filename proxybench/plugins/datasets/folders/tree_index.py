"""The remembered file list of a folder dataset: a warm run stats what it lists instead of walking the tree.

A fingerprint needs every content file (a listing of each domain and class folder, or the
split lists read and every listed file checked). The first call does that walk once and
keeps, in the proxybench cache (``folder-index/``), the files' relative paths, the folders
that hold them (up to the data root), and the size and modification time of each. A later
call stats those entries only: unchanged, the stored fingerprint is the answer and nothing
is listed or parsed; any change (a folder gained or lost an entry, a split list or an image
was rewritten, something vanished) walks again. The fingerprint is the same hash whether it
was walked or remembered, so cache entries made before the index existed stay valid.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from proxybench import Cache


def stat_rows(root: Path, relative: list[str]) -> np.ndarray | None:
    """(size, mtime_ns) of each ``root/rel``, int64 (n x 2); None when one is gone.

    Paths are resolved against an open descriptor of the root (no walk from / per file); at
    1e5 files the stats are most of a warm call.
    """
    fd = os.open(root, os.O_RDONLY)
    try:
        sizes, mtimes = [], []
        for rel in relative:
            st = os.stat(rel or ".", dir_fd=fd)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)
    return np.array([sizes, mtimes], dtype=np.int64).T.reshape(len(relative), 2)


def fingerprint_of(relative: list[str], stats: np.ndarray) -> str:
    """Hash of the relative paths, sizes and modification times, in order (as ``fingerprint`` always hashed)."""
    text = "".join(f"{rel}\t{size}\t{mtime}\n" for rel, (size, mtime) in zip(relative, stats.tolist(), strict=True))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def folders_of(relative: list[str]) -> list[str]:
    """Every folder that holds a listed file, and its parents up to the root ("" is the root), sorted."""
    found = {""}
    for rel in relative:
        parent = rel.rpartition("/")[0]
        while parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return sorted(found)


def remembered_fingerprint(root: Path, identity: dict[str, Any], list_files: Callable[[], list[Path]]) -> str:
    """The fingerprint of ``list_files()`` under ``root``, walking only when the remembered tree changed.

    ``identity`` names the listing (dataset, version, the parameters that choose files); the
    index is kept per identity and resolved root, in the default cache (``$PROXYBENCH_CACHE_DIR``):
    ``cache_key`` is given no cache, and the index holds names and stats only, never content.
    """
    path = Cache().path("folder-index", {**identity, "root": str(root.resolve())}, ".npz")
    stored = read_index(path)
    if stored is not None:
        relative = stored["entries"].tolist()
        stats = stat_rows(root, relative)
        if stats is not None and np.array_equal(stats, stored["stats"]):
            return str(stored["content"])
    files = [f.relative_to(root).as_posix() for f in list_files()]
    entries = folders_of(files) + files
    stats = stat_rows(root, entries)
    if stats is None:
        raise FileNotFoundError(f"a listed file vanished under {root} while it was indexed")
    content = fingerprint_of(files, stats[len(entries) - len(files) :])
    write_index(path, np.array(entries, dtype=str), stats, content)
    return content


def read_index(path: Path) -> dict[str, np.ndarray] | None:
    """A stored index, or None when it is missing or unreadable (then the tree is walked)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in ("entries", "stats", "content")}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def write_index(path: Path, entries: np.ndarray, stats: np.ndarray, content: str) -> None:
    """Write to a temporary file, then rename: a reader sees the old index or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, entries=entries, stats=stats, content=np.array(content))
    os.replace(tmp, path)
