"""Greedy k-center, k-means and quota allocation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from proxybench import greedy_kcenter, kmeans, largest_remainder


def brute_force_kcenter(x: np.ndarray, budget: int, first: int) -> list[int]:
    chosen = [first]
    while len(chosen) < budget:
        d = np.array([min(np.sum((p - x[c]) ** 2) for c in chosen) for p in x])
        d[chosen] = -1
        chosen.append(int(d.argmax()))
    return chosen


def test_kcenter_equals_brute_force_greedy():
    x = np.random.default_rng(3).normal(size=(60, 5)).astype(np.float32)
    assert greedy_kcenter(x, 12, first=7).tolist() == brute_force_kcenter(x, 12, 7)


def unpruned_kcenter(x: np.ndarray, budget: int, covered: np.ndarray, chosen: tuple = ()) -> list[int]:
    """Farthest-first from a covered set (and already ``chosen`` rows), with float64 broadcast distances."""
    x = x.astype(np.float64)
    min_d = ((x[:, None, :] - covered[None].astype(np.float64)) ** 2).sum(2).min(1)
    chosen = list(chosen)
    while len(chosen) < budget:
        j = int(np.where(np.isin(np.arange(len(x)), chosen), -1.0, min_d).argmax())
        chosen.append(j)
        min_d = np.minimum(min_d, ((x - x[j]) ** 2).sum(1))
    return chosen


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), blobs=st.integers(1, 12), spread=st.integers(0, 6))
def test_kcenter_equals_float64_traversal_on_clustered_data(seed, blobs, spread):
    """From covered centroids or a first row, ties included (first farthest point wins).

    Integer coordinates keep every float32 distance exact, so any difference from the float64
    traversal is a logic error, not rounding.
    """
    rng = np.random.default_rng(seed)
    mus = rng.integers(-40, 41, (blobs, 6))
    x = (mus[rng.integers(0, blobs, 400)] + rng.integers(-spread, spread + 1, (400, 6))).astype(np.float32)
    covered = mus[: max(1, blobs // 2)].astype(np.float32)
    assert greedy_kcenter(x, 150, covered=covered).tolist() == unpruned_kcenter(x, 150, covered)
    assert greedy_kcenter(x, 150, first=5).tolist() == unpruned_kcenter(x, 150, x[5:6], chosen=(5,))


def test_kcenter_from_covered_set_avoids_covered_region():
    x = np.concatenate([np.zeros((20, 2)), np.full((20, 2), 10.0)]).astype(np.float32)
    x += np.random.default_rng(0).normal(0, 0.1, x.shape).astype(np.float32)
    picked = greedy_kcenter(x, 1, covered=np.zeros((1, 2), np.float32))
    assert picked[0] >= 20


def test_kmeans_uses_all_points_and_is_seeded():
    x = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
    c1, a1 = kmeans(x, 5, seed=1)
    c2, a2 = kmeans(x, 5, seed=1)
    assert np.array_equal(c1, c2) and np.array_equal(a1, a2)
    assert len(a1) == 3000 and set(a1.tolist()) == set(range(5))


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.floats(0, 100), min_size=1, max_size=30),
    caps=st.lists(st.integers(0, 50), min_size=30, max_size=30),
    total=st.integers(0, 500),
)
def test_largest_remainder_respects_caps_and_total(weights, caps, total):
    w = np.array(weights)
    c = np.array(caps[: len(w)])
    alloc = largest_remainder(w, total, c)
    assert (alloc >= 0).all() and (alloc <= c).all()
    assert (alloc[w == 0] == 0).all()
    room = int(c[w > 0].sum())
    assert alloc.sum() == min(total, room)
