"""Pools that do not fit twice in memory: float16 memory-mapped stores, chunked passes, one-argsort membership,
chunked PCA, the IVF index of upload-features, and the folder datasets' remembered tree."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench import Cache, CloudView, ProxybenchError, create_dataset, create_sampler, nearest_centroid
from proxybench.ml.extractor import save_rows
from proxybench.ml.geometry import kmeans, release_pages, take_rows
from proxybench.plugins.samplers.coverage import pca_axes, project
from proxybench.plugins.samplers.ecos import cluster_members
from proxybench.plugins.samplers.upload_features import pool_index, round_robin_nearest

from .conftest import gaussian_mixture, make_device


def _store(tmp_path, x: np.ndarray, name: str = "x.npy") -> np.ndarray:
    np.save(tmp_path / name, x)
    return np.load(tmp_path / name, mmap_mode="r")


def _resident_kib(x: np.ndarray) -> int:
    """KiB of ``x``'s mapped file resident in this process (the mapping's Rss in /proc/self/smaps)."""
    name = str(x.filename)
    lines = open("/proc/self/smaps").read().splitlines()
    for i, line in enumerate(lines):
        if line.endswith(name):
            return next(int(v.split()[1]) for v in lines[i + 1 :] if v.startswith("Rss:"))
    raise AssertionError(f"{name} is not mapped")


def test_chunked_passes_release_a_read_only_map(tmp_path):
    x16 = _store(tmp_path, np.random.default_rng(0).standard_normal((300_000, 32)).astype(np.float16))
    centroids = np.random.default_rng(1).standard_normal((10, 32)).astype(np.float32)
    a16, d16 = nearest_centroid(x16, centroids)
    assert _resident_kib(x16) < x16.nbytes / 1024 / 8  # the pass left (almost) nothing resident
    np.asarray(x16[:200_000]).sum()  # an ordinary read leaves the pages resident ...
    assert _resident_kib(x16) > x16.nbytes / 1024 / 2
    release_pages(x16, 0, len(x16))  # ... until they are released
    assert _resident_kib(x16) < 64
    a32, d32 = nearest_centroid(np.asarray(x16, dtype=np.float32), centroids)
    assert np.array_equal(a16, a32) and np.array_equal(d16, d32)  # the same numbers as the float32 matrix
    rows = np.sort(np.random.default_rng(2).choice(len(x16), 5000, replace=False))
    assert np.array_equal(take_rows(x16, rows, block=4096), np.asarray(x16[rows], dtype=np.float32))


def test_release_pages_leaves_arrays_and_writable_maps_alone(tmp_path):
    x = np.arange(12.0).reshape(4, 3)
    release_pages(x, 0, 4)
    w = np.lib.format.open_memmap(tmp_path / "w.npy", mode="w+", dtype=np.float32, shape=(4, 3))
    w[:] = 7
    release_pages(w, 0, 4)
    assert (x == np.arange(12.0).reshape(4, 3)).all() and (w == 7).all()


def test_kmeans_on_a_float16_map_equals_kmeans_on_its_float32_values(tmp_path):
    x, _ = gaussian_mixture(400, 5, 8, seed=3)
    x16 = _store(tmp_path, x.astype(np.float16))
    for max_points in (0, 900):
        c16, a16 = kmeans(x16, 5, seed=4, max_points=max_points)
        c32, a32 = kmeans(x16.astype(np.float32), 5, seed=4, max_points=max_points)
        assert np.array_equal(c16, c32) and np.array_equal(a16, a32)


def test_ecos_selects_the_same_from_a_float16_store_as_from_its_float32_values(tmp_path):
    x, comp = gaussian_mixture(300, 8, 16, seed=5)
    x16 = _store(tmp_path, x.astype(np.float16))
    client = x[comp < 2][::3]
    picks = {}
    for name, feats in (("map", x16), ("ram", np.asarray(x16, dtype=np.float32))):
        cloud = CloudView(features=feats, images=None, labels=None, extractor=None)
        sampler = create_sampler("ecos", R=16, kmeans_max_points=1200)
        picks[name] = sampler.select(cloud, make_device(client), 100, np.random.default_rng(0)).indices
    assert np.array_equal(picks["map"], picks["ram"])
    assert (comp[picks["map"]] < 2).mean() > 0.8


def test_cluster_members_by_one_argsort_equal_one_scan_per_cluster():
    rng = np.random.default_rng(6)
    for R in (1, 7, 300):
        assign = rng.integers(0, R, 5000)
        assign[assign == R // 2] = 0  # an empty cluster
        sizes = np.bincount(assign, minlength=R)
        order, ends = cluster_members(assign, sizes)
        for r in range(R):
            assert np.array_equal(order[ends[r] - sizes[r] : ends[r]], np.flatnonzero(assign == r))


def test_pca_axes_span_what_the_full_svd_spans(tmp_path):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((5000, 20)) * np.linspace(5, 0.1, 20) @ np.linalg.qr(rng.normal(size=(20, 20)))[0]
         + 100.0).astype(np.float32)  # a large offset: the shifted scatter keeps it from cancelling
    mean, axes = pca_axes(_store(tmp_path, x), 6)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    assert np.allclose(mean, x.mean(0), atol=1e-3)
    assert np.allclose(np.abs(axes.T @ vt[:6].T), np.eye(6), atol=1e-3)  # the same axes, up to sign
    assert (axes[np.abs(axes).argmax(0), np.arange(6)] > 0).all()  # signs fixed
    projected = project(_store(tmp_path, x.astype(np.float16), "h.npy"), axes, mean)
    assert np.allclose(projected, (x - mean) @ axes, atol=0.1)


def test_ecos_pca_reduction_runs_on_a_map_and_finds_the_client(tmp_path):
    x, comp = gaussian_mixture(300, 6, 24, seed=8)
    cloud = CloudView(features=_store(tmp_path, x.astype(np.float16)), images=None, labels=None, extractor=None)
    sel = create_sampler("ecos", R=12, reduction="pca", dim=8).select(cloud, make_device(x[comp == 1][::2]), 60,
                                                                       np.random.default_rng(0))
    assert sel.info["dim"] == 8 and (comp[sel.indices] == 1).mean() > 0.8


def test_upload_features_ivf_recall_against_flat_search():
    """Recall@10 of the IVF index against exact search on 60,000 clustered points (measured 0.99+, docs/scale.md)."""
    x, _ = gaussian_mixture(1500, 40, 32, seed=9, spread=3.0)
    queries = x[::200] + np.random.default_rng(10).normal(0, 0.5, (len(x[::200]), 32)).astype(np.float32)
    _, exact = pool_index(x, ivf=False).search(queries, 10)
    _, approx = pool_index(x, ivf=True).search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.95, recall
    order = np.arange(len(queries))
    flat, ivf = (round_robin_nearest(x, queries, 600, order, ivf=kind) for kind in (False, True))
    assert len(set(ivf)) == 600 and len(set(flat) & set(ivf)) / 600 > 0.9
    assert len(set(round_robin_nearest(x[:3000], queries[:5], 3000, np.arange(5), ivf=True))) == 3000  # all reachable


def test_save_rows_copies_the_chosen_rows_chunk_by_chunk(tmp_path):
    x = _store(tmp_path, np.random.default_rng(11).standard_normal((1000, 4)).astype(np.float16))
    rows = np.random.default_rng(12).permutation(1000)[:700]
    save_rows(x, rows, tmp_path / "out.npy")
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == np.float16 and np.array_equal(out, x[rows])


def test_a_folder_dataset_walks_its_tree_only_when_it_changed(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("PROXYBENCH_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "tree"
    for domain in ("a", "b"):
        for cls in ("x", "y"):
            (root / domain / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (8, 8), (i, 0, 0)).save(root / domain / cls / f"{i}.png")
    ds = create_dataset("imagefolder", root=str(root))
    key = ds.cache_key()
    walks = []
    real = type(ds).content_files
    monkeypatch.setattr(type(ds), "content_files", lambda self, r: walks.append(r) or real(self, r))
    assert ds.cache_key() == key and walks == []  # warm: stats only, no walk
    Image.new("RGB", (8, 8), (9, 9, 9)).save(root / "b" / "y" / "3.png")  # a new file: its folder changed
    added = ds.cache_key()
    assert added != key and len(walks) == 1
    assert ds.cache_key() == added and len(walks) == 1
    (root / "b" / "y" / "3.png").unlink()
    assert ds.cache_key() == key and len(walks) == 2  # the same tree again: the same fingerprint
    Image.new("RGB", (9, 9), (1, 2, 3)).save(root / "a" / "x" / "0.png")  # rewritten in place
    assert ds.cache_key() != key and len(walks) == 3
    (root / "a" / "x" / "0.png").unlink()
    with pytest.raises(ProxybenchError):
        create_dataset("imagefolder", root=str(root), domains="a,c").cache_key()
    assert len(ds.load(Cache(tmp_path / "data")).labels) == 11
