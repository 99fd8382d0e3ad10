"""Pools are read lazily: indexing semantics of ImageRows, and a whole run that never copies the pool."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from proxybench import Cache, ImageData, ImageRows, ImageTensors, create_dataset, to_tensor
from proxybench.cli import main


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 255, (50, 4, 4, 3), dtype=np.uint8)


@pytest.mark.parametrize("key", [
    7, np.int64(3), slice(5, 20, 3), np.array([9, 2, 2, 24]), np.array([], dtype=np.int64),
    np.arange(25) % 3 == 0,
])
def test_rows_index_like_the_array_they_view(images, key):
    rows = np.random.default_rng(1).permutation(50)[:25]
    view = ImageRows(images, rows)
    np.testing.assert_array_equal(view[key], images[rows][key])
    assert view.shape == (25, 4, 4, 3) and len(view) == 25 and view.dtype == np.uint8


def test_take_narrows_without_reading(images):
    view = ImageRows(images, np.arange(10, 40))
    narrow = view.take(np.array([5, 1, 5]))
    assert isinstance(narrow, ImageRows)
    np.testing.assert_array_equal(narrow[:], images[[15, 11, 15]])
    np.testing.assert_array_equal(view.take(np.arange(30) < 4)[:], images[10:14])


def test_image_tensors_match_to_tensor(images):
    lazy = ImageTensors(ImageRows(images, np.arange(50)[::-1]), image_size=8)
    idx = torch.tensor([3, 0, 49])
    assert len(lazy) == 50
    assert torch.equal(lazy[idx], to_tensor(images[::-1][idx.numpy()], 8))


class ReadCounter(np.ndarray):
    """An image array that remembers the most rows one copying read (fancy index) took from it."""

    largest = 0

    def __getitem__(self, key):
        out = super().__getitem__(key)
        if not isinstance(key, (slice, int, np.integer)) and getattr(out, "ndim", 0) == 4:
            ReadCounter.largest = max(ReadCounter.largest, len(out))
        return out


def test_a_run_never_reads_the_whole_pool_at_once(tmp_path, monkeypatch):
    """Features, BatchNorm statistics, selection and the task read the memory-mapped pool in batches."""
    root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for d in ("a", "b", "c"):
        for c in ("x", "y", "z"):
            (root / d / c).mkdir(parents=True)
            for i in range(120):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / d / c / f"{i}.png")
    cache = Cache(tmp_path / "cache")
    assert isinstance(create_dataset("imagefolder", root=str(root), image_size=32).load(cache).images, np.memmap)
    from_arrays = ImageData.from_arrays.__func__
    monkeypatch.setattr(ImageData, "from_arrays", classmethod(
        lambda cls, a: from_arrays(cls, {**a, "images": a["images"].view(ReadCounter)})))
    ReadCounter.largest = 0
    results = tmp_path / "results"
    assert main(["run", "--dataset", "imagefolder", "--data-root", str(root), "--client-domain", "a",
                 "--sampler", "ecos", "--task", "compress", "--backbone", "resnet10t", "--weights", "random",
                 "--budget", "40", "--param", "epochs=1", "--param", "teacher_epochs=1", "--param", "R=5",
                 "--param", "image_size=32", "--results-dir", str(results), "--cache-dir", str(cache.root)]) == 0
    (path,) = results.glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["selection"]["pool_size"] == 3 * 3 * 48  # every public part: 96 train, half public
    assert 0 < ReadCounter.largest <= 256, ReadCounter.largest  # one extraction or training batch at most
