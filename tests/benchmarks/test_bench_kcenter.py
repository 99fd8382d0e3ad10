"""Greedy k-center: per-step time vs one read of the candidate matrix, and vs a straightforward numpy version.

Full form: 1e5 candidates x 512, B = 1e4. The reference is slow (several full passes per
step), so it runs ``ref_steps`` steps; greedy selection is prefix-stable (the first k
picks of budget B are the picks of budget k), so its picks are compared on that prefix.
"""

from __future__ import annotations

import numpy as np

from proxybench import greedy_kcenter

from .conftest import best_seconds, sizes

N, D, BUDGET, REF_STEPS = sizes((4000, 256, 300, 300), (100_000, 512, 10_000, 100))


def reference_kcenter(x: np.ndarray, budget: int, first: int) -> np.ndarray:
    """The straightforward numpy farthest-first traversal: broadcast subtraction per step."""
    chosen = [first]
    min_d = ((x - x[first]) ** 2).sum(1)
    taken = np.zeros(len(x), dtype=bool)
    taken[first] = True
    while len(chosen) < budget:
        j = int(np.where(taken, -np.inf, min_d).argmax())
        chosen.append(j)
        taken[j] = True
        min_d = np.minimum(min_d, ((x - x[j]) ** 2).sum(1))
    return np.array(chosen)


def test_kcenter_step(benchmark):
    x = np.random.default_rng(0).normal(size=(N, D)).astype(np.float32)
    picked = benchmark.pedantic(greedy_kcenter, args=(x, BUDGET), kwargs={"first": 0}, rounds=sizes(3, 1))
    ref = reference_kcenter(x, REF_STEPS, 0)
    assert np.array_equal(picked[:REF_STEPS], ref)  # exact mode: same picks as the reference
    assert len(set(picked.tolist())) == BUDGET
    if benchmark.disabled:
        return
    rounds = sizes(5, 2)
    step = benchmark.stats.stats.min / BUDGET
    floor = best_seconds(lambda: [x @ x[j] for j in range(200)], rounds) / 200
    ref_step = best_seconds(lambda: reference_kcenter(x, REF_STEPS, 0), rounds) / REF_STEPS
    benchmark.extra_info.update(
        size=f"{N}x{D}, B={BUDGET}", step_ms=round(step * 1e3, 4), matvec_floor_ms=round(floor * 1e3, 4),
        reference_step_ms=round(ref_step * 1e3, 4), step_over_floor=round(step / floor, 2),
        reference_over_step=round(ref_step / step, 2),
    )
