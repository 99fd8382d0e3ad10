"""``herding``: feature-mean herding on the pool features phi(P).

Follows DeepCore's Herding (Guo, Zhao, Bai, "DeepCore", DEXA 2022), after Welling's
herding and iCaRL's exemplar selection: greedily add the pool point that brings the
mean of the selected features closest to the pool mean, i.e. at step t pick
argmin_j || t * mu - S_{t-1} - x_j || over the unselected j (S = sum of picks so far).

Choices where the definition is open:
- argmin, the objective as stated. DeepCore's released code takes the argmax of this
  distance (which picks outliers); we do not copy that.
- Linear kernel (the feature mean), Euclidean, on the unreduced phi; deterministic,
  ties go to the lowest index; ``rng`` is not used.
- Memory O(N): each step is one matrix-vector product over the pool, in row chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, Sampler, Selection, hookimpl


def feature_herding(x: np.ndarray, budget: int, chunk: int = 65536) -> np.ndarray:
    """Greedy mean matching; ||t - x_j||^2 = ||x_j||^2 - 2 t.x_j (+ const), never N x N."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    mu = x.mean(0, dtype=np.float64)
    x_sq = (x * x).sum(1, dtype=np.float64)
    taken = np.zeros(n, dtype=bool)
    total = np.zeros(x.shape[1])
    chosen = np.empty(budget, dtype=np.int64)
    dot = np.empty(n, dtype=np.float32)
    for i in range(budget):
        target = ((i + 1) * mu - total).astype(np.float32)
        for s in range(0, n, chunk):
            np.dot(x[s : s + chunk], target, out=dot[s : s + chunk])
        score = np.where(taken, np.inf, x_sq - 2.0 * dot)
        j = int(score.argmin())
        chosen[i] = j
        taken[j] = True
        total += x[j]
    return chosen


@dataclass
class Herding(Sampler):
    name: ClassVar[str] = "herding"
    description: ClassVar[str] = "feature-mean herding: picks whose running mean tracks the pool mean (client-free)"
    kind: ClassVar[str] = "client-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=np.sort(feature_herding(cloud.features, budget)))


@hookimpl
def proxybench_samplers():
    return [Herding]
