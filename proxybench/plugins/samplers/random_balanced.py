"""``random-balanced``: a uniform draw with equal numbers per pool label (class-balanced random).

The usual class-balanced random baseline of the coreset literature (e.g. DeepCore's
"balance" option); it needs the pool's labels, so it runs only under tasks whose pool is
labeled (``compress``); elsewhere the run fails saying so and sweeps leave it out.

Choices where the definition is open:
- Pool points labelled OUTSIDE_LABEL_SPACE (-1, distractors) are excluded by default
  (``outside="exclude"``): a balanced set is about the task's classes, and under
  ``outsource`` such picks are wasted budget. They are used only to fill the budget
  when it exceeds the labelled points. ``outside="group"`` counts them as one more label.
- Equal shares: the budget is split evenly over labels; a label smaller than its share
  gives its overflow to the others (largest remainder, capped by label size), and the
  labels that get the one-point remainders are chosen at random.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from proxybench import (
    OUTSIDE_LABEL_SPACE,
    CloudView,
    Device,
    Sampler,
    Selection,
    hookimpl,
    largest_remainder,
)


@dataclass
class RandomBalanced(Sampler):
    name: ClassVar[str] = "random-balanced"
    description: ClassVar[str] = "uniform draw with equal numbers per pool label (client-free; needs pool labels)"
    kind: ClassVar[str] = "client-free"
    needs_pool_labels: ClassVar[bool] = True

    outside: Literal["exclude", "group"] = "exclude"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        labels = np.asarray(cloud.labels)
        usable = np.ones(len(labels), bool) if self.outside == "group" else labels != OUTSIDE_LABEL_SPACE
        groups = rng.permutation(np.unique(labels[usable]))  # random order: who gets the remainders
        members = [np.flatnonzero(labels == g) for g in groups]
        sizes = np.array([len(m) for m in members], dtype=np.int64)
        alloc = largest_remainder(np.ones(len(groups)), budget, sizes)
        picked = [rng.choice(m, size=a, replace=False) for m, a in zip(members, alloc, strict=True) if a]
        short = budget - int(alloc.sum())
        if short > 0:  # budget beyond the labelled points: fill from the excluded ones
            picked.append(rng.choice(np.flatnonzero(~usable), size=short, replace=False))
        return Selection(
            indices=np.sort(np.concatenate(picked)),
            info={"per_label": {int(g): int(a) for g, a in zip(groups, alloc, strict=True)}, "outside_fill": short},
        )


@hookimpl
def proxybench_samplers():
    return [RandomBalanced]
