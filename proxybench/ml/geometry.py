"""Distance work shared by samplers: k-means, nearest centroids, greedy k-center.

None of it materialises an N x N matrix: distances are taken in row chunks against
a small set (centroids, one new center). A pool may be a read-only memory map (float32
or float16): passes over it read one chunk at a time and hand the chunk's pages back
(``release_pages``), so the resident set stays at a chunk, not at the file.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator

import numpy as np

from ..util.errors import ProxybenchError

#: Pools of at least this many rows get larger distance chunks (``nearest_centroid``).
LARGE_POOL = 100_000


def release_pages(x: np.ndarray, start: int, stop: int) -> None:
    """Drop rows ``[start, stop)`` of a read-only memory map from this process's resident set.

    The pages stay in the OS page cache (a later read is a minor fault, not disk), but they no
    longer count toward this process's RSS: one pass over a 2.2 GB float16 pool then peaks at
    one chunk. Anything else (an in-RAM array, a writable or copy-on-write map, whose pages
    MADV_DONTNEED would discard) is left alone.
    """
    mapped = x
    while mapped is not None and not isinstance(mapped, np.memmap):  # a plain view of a map keeps it as .base
        mapped = getattr(mapped, "base", None)
    mm = getattr(mapped, "_mmap", None)
    if mm is None or mapped.mode != "r" or stop <= start or not hasattr(mm, "madvise"):
        return
    base = np.frombuffer(mm, np.uint8).__array_interface__["data"][0]
    rows = x[start:stop]
    begin = rows.__array_interface__["data"][0] - base
    end = begin + rows.nbytes
    begin -= begin % mmap.PAGESIZE
    mm.madvise(mmap.MADV_DONTNEED, begin, min(end, len(mm)) - begin)


def row_chunks(x: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, float32 rows) of ``x``, ``chunk`` rows at a time; a memory map's pages are released after each."""
    for s in range(0, len(x), chunk):
        yield s, np.ascontiguousarray(x[s : s + chunk], dtype=np.float32)
        release_pages(x, s, s + chunk)


def take_rows(x: np.ndarray, rows: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """``x[rows]`` as contiguous float32 for ascending ``rows``, gathered one block of ``x`` at a time.

    A sample of every tenth row touches every page of a memory map; gathering block by block
    and releasing each block keeps the resident set at the sample plus one block.
    """
    out = np.empty((len(rows), x.shape[1]), dtype=np.float32)
    bounds = np.searchsorted(rows, np.arange(0, len(x) + block, block))
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if hi > lo:
            out[lo:hi] = x[rows[lo:hi]]
            release_pages(x, b * block, (b + 1) * block)
    return out


def distance_chunk(n: int, d: int, k: int) -> int:
    """Rows per chunk of ``nearest_centroid`` over an n x d pool against k centroids (its docstring says why)."""
    k = max(k, 1)
    cap = 2048 if n < LARGE_POOL else max(256, min(16384, (1 << 21) // k))
    return int(np.clip(n * d / 8 / k, 256, cap))


def nearest_centroid(x: np.ndarray, centroids: np.ndarray, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of and squared distance to the nearest centroid for each row of ``x``.

    ``|x|^2 - 2 x.c + |c|^2`` per row chunk, evaluated in place in one (chunk x R) buffer
    (at R = 1000, chunks of 1024-4096 rows measured alike and 8192 about 20% slower);
    ``x`` may be a memory map, converted to float32 one chunk at a time (``row_chunks``). By default a
    chunk is 2048 rows, fewer when its buffer would exceed 1/8 of ``x`` (a small pool
    with many centroids: at N = 1e4, R = 1000 a full chunk put peak memory at 2x the pool).
    From ``LARGE_POOL`` rows on, the cap is 16384 rows and 2^21 distances per buffer instead of
    2048 rows: on a float16 map at 1e6 x 112, R = 100 that pass took 1.7-1.9 s against 3.2-6.7 s
    in 2048-row chunks. Smaller pools keep 2048 because chunk boundaries move float rounding,
    and recorded selections (pools of 29,000) must not move.
    """
    if chunk is None:
        chunk = distance_chunk(x.shape[0], x.shape[1], len(centroids))
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    c_sq = (c * c).sum(1)
    assign = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for s, xb in row_chunks(x, chunk):
        d = xb @ c.T
        d *= -2.0
        d += (xb * xb).sum(1, keepdims=True)
        d += c_sq
        a = d.argmin(1)
        assign[s : s + chunk] = a
        dist[s : s + chunk] = np.maximum(np.take_along_axis(d, a[:, None], 1)[:, 0], 0.0)
    return assign, dist


def kmeans_sample(n: int, k: int, seed: int, max_points: int = 0) -> np.ndarray | None:
    """The ascending rows k-means trains on: a uniform draw of ``max_points`` from ``seed``, or None (all rows)."""
    if not 1 <= k <= n:
        raise ProxybenchError(f"k-means needs 1 <= k <= number of points ({n}), got k={k}")
    if max_points < 0:
        raise ProxybenchError(f"k-means max_points must be >= 0 (0: all points), got {max_points}")
    if 0 < max_points < n:
        if max_points < k:
            raise ProxybenchError(f"k-means max_points ({max_points}) must be >= k ({k})")
        return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    return None


def train_kmeans(train: np.ndarray, k: int, seed: int, niter: int = 20, spherical: bool = False) -> np.ndarray:
    """faiss k-means centroids of the float32 rows ``train``, on all of them (faiss's 256-per-centroid cap off)."""
    import faiss  # here, not at the top: the command line checks a spec without loading faiss

    km = faiss.Kmeans(
        train.shape[1], k, niter=niter, seed=int(seed), spherical=spherical, verbose=False,
        max_points_per_centroid=math.ceil(len(train) / k) + 1,  # faiss otherwise samples 256*k points
        min_points_per_centroid=1,
    )
    km.train(train)
    return km.centroids.copy()


def kmeans(
    x: np.ndarray, k: int, seed: int, niter: int = 20, spherical: bool = False, max_points: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """faiss k-means; returns centroids and the assignment of every point.

    Trains on *all* points (faiss's silent 256-points-per-centroid subsample is switched
    off) unless ``max_points`` > 0 caps the training set: then a uniform sample of
    ``max_points`` rows, drawn from ``seed`` (``kmeans_sample``), trains the centroids, and every row is
    still assigned. ``x`` may be a read-only memory map: a float32 one trained on whole
    is not copied; a capped sample is gathered block by block (``take_rows``), so only the
    sample is held in RAM; training a float16 map on all points needs its float32 copy.
    """
    rows = kmeans_sample(x.shape[0], k, seed, max_points)
    train = np.ascontiguousarray(x, dtype=np.float32) if rows is None else take_rows(x, rows)
    centroids = train_kmeans(train, k, seed, niter, spherical)
    assign, _ = nearest_centroid(x, centroids)
    return centroids, assign


def greedy_kcenter(
    x: np.ndarray,
    budget: int,
    covered: np.ndarray | None = None,
    first: int | None = None,
    subset: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy k-center (farthest-first traversal) over the rows of ``x``, or over ``x[subset]``.

    Starts from the points in ``covered`` (not selectable, e.g. centroids) or, when
    none are given, from row ``first``, which then counts toward the budget. ``subset``
    (ascending rows of ``x``) runs over those rows only, gathered block by block
    (``take_rows``): on a memory map, ``x[subset]`` would leave about 64 KiB of the file
    resident per row read (the kernel maps the pages around each fault), 1.3 GB for 2e4
    candidates of a 1e7-row store. Positions returned are then positions in ``subset``.

    Each step is one read of the candidate rows (the float32 matvec ``x @ x[j]``) plus
    O(N) in-place work on preallocated buffers: chosen points keep min_d = -1 (distances
    are >= 0), so the argmax never returns them and, on ties, picks the first farthest
    point. Once a sixteenth of the rows are chosen they are dropped from the matrix (an
    order-preserving copy of the rest), so a selection that takes half its candidates,
    as ECOS's diversity step does, reads about a quarter less; the picks are unchanged.
    """
    x = np.ascontiguousarray(x, dtype=np.float32) if subset is None else take_rows(x, subset)
    n = len(x)
    if not 1 <= budget <= n:
        raise ProxybenchError(f"k-center budget must be in 1..{n}, got {budget}")
    x_sq = (x * x).sum(1)
    rows = np.arange(n)  # the original index of each row still in ``x``
    chosen = np.empty(budget, dtype=np.int64)
    buf = np.empty(n, dtype=np.float32)

    def distances_to(k: int) -> np.ndarray:
        """max(|x|^2 - 2 x.x_k + |x_k|^2, 0) for the rows still in ``x``, written into ``buf``."""
        d = np.matmul(x, x[k], out=buf[: len(x)])
        d *= -2.0
        d += x_sq
        d += x_sq[k]
        return np.maximum(d, 0.0, out=d)

    start = 0
    if covered is not None and len(covered):
        _, min_d = nearest_centroid(x, covered)
    else:
        if first is None:
            raise ProxybenchError("greedy_kcenter needs covered points or a first center")
        chosen[0] = first
        start = 1
        min_d = distances_to(first).copy()
        min_d[first] = -1.0
    spent = start  # chosen rows still in ``x``
    for i in range(start, budget):
        k = int(min_d.argmax())
        chosen[i] = rows[k]
        np.minimum(min_d, distances_to(k), out=min_d)
        min_d[k] = -1.0
        spent += 1
        if 16 * spent >= len(x) and i + 1 < budget:
            keep = min_d >= 0
            x, x_sq, rows, min_d = x[keep], x_sq[keep], rows[keep], min_d[keep]
            spent = 0
    return chosen


def largest_remainder(weights: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights``, none above its cap.

    Largest-remainder rounding; what a capped bin cannot take is redistributed over
    the bins with room, in proportion to their weights, until nothing is left or no
    positive-weight bin has room.
    """
    weights = np.asarray(weights, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    alloc = np.zeros(len(weights), dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        open_ = (alloc < caps) & (weights > 0)
        if not open_.any():
            break
        w = np.where(open_, weights, 0.0)
        share = w / w.sum() * remaining
        base = np.floor(share).astype(np.int64)
        rest = remaining - int(base.sum())
        order = np.argsort(-(share - base), kind="stable")
        base[order[:rest]] += 1
        base = np.minimum(base, caps - alloc)
        if base.sum() == 0:
            break
        alloc += base
        remaining -= int(base.sum())
    return alloc
