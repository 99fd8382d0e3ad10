"""``autolabel``: automated client labeling (DESIGN §7).

The device holds labels; the selected pool images are unlabeled. The device labels
them by *private kNN* (in the style of Zhu et al., "Private-kNN", CVPR 2020): for
each query it Poisson-subsamples its private set with rate ``sample_rate``, takes the
``k`` nearest private points in phi-space, adds N(0, sigma^2) to the 10-bin vote
histogram and releases only the noisy argmax. One private record changes at most
two bins of one query's histogram by 1 (it enters the k nearest and pushes one
out), so the L2 sensitivity is sqrt(2); the B queries compose as B Poisson-subsampled
Gaussian mechanisms, accounted with dp-accounting's PLD accountant.
The cloud trains the task model from scratch on the pseudo-labels and ships it to
the device, which scores it on its test data.

Not done here: Private-kNN's optional sparse-vector confidence filter (every query is
answered and its label used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import dp_accounting
import numpy as np

from proxybench import DeviceContext, Message, ProxybenchError, SupervisedTask, TaskContext, TaskResult, hookimpl

KNN_SENSITIVITY = math.sqrt(2.0)


def private_knn_program(ctx: DeviceContext, msg: Message) -> Message:
    """On the device: noisy kNN votes for each query feature; only the noisy argmax leaves."""
    if ctx.labels is None:
        raise ProxybenchError("private kNN needs a device that holds labels")
    priv = ctx.features().astype(np.float32)
    queries = msg["queries"].astype(np.float32)
    k, rate, sigma, n_classes = int(msg["k"]), float(msg["sample_rate"]), float(msg["sigma"]), int(msg["num_classes"])
    n, d = priv.shape
    priv_sq = (priv * priv).sum(1)
    labels = np.empty(len(queries), dtype=np.int16)
    chunk = 256
    for s in range(0, len(queries), chunk):
        q = queries[s : s + chunk]
        dist = priv_sq[None, :] - 2.0 * q @ priv.T  # + |q|^2, constant per row
        sampled = ctx.rng.random(dist.shape) < rate
        dist = np.where(sampled, dist, np.inf)
        kk = min(k, n)
        nearest = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        valid = np.isfinite(np.take_along_axis(dist, nearest, axis=1))
        votes = np.zeros((len(q), n_classes))
        rows = np.repeat(np.arange(len(q)), kk).reshape(len(q), kk)
        np.add.at(votes, (rows[valid], ctx.labels[nearest][valid]), 1.0)
        noisy = votes + ctx.rng.normal(0.0, sigma, size=votes.shape) if sigma > 0 else votes
        labels[s : s + chunk] = noisy.argmax(1)
    ctx.meter.add_flops(2 * len(queries) * n * d)
    return {"labels": labels}


@dataclass
class AutoLabel(SupervisedTask):
    name: ClassVar[str] = "autolabel"
    description: ClassVar[str] = "device labels the selection by private kNN; cloud trains on the pseudo-labels"
    pool_labels_visible: ClassVar[bool] = False
    device_has_labels: ClassVar[bool] = True

    k: int = 300
    sigma: float = 40.0
    sample_rate: float = 1.0
    query_dtype: Literal["float16", "float32"] = "float16"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise ProxybenchError(f"autolabel: k must be >= 1, got {self.k}")
        if not 0.0 < self.sample_rate <= 1.0:
            raise ProxybenchError(f"autolabel: sample_rate must be in (0, 1], got {self.sample_rate}")
        if self.sigma < 0:
            raise ProxybenchError(f"autolabel: sigma must be >= 0, got {self.sigma}")

    def privacy_event(self, queries: int) -> dp_accounting.DpEvent:
        if self.sigma == 0:
            return dp_accounting.NonPrivateDpEvent()
        per_query = dp_accounting.GaussianDpEvent(self.sigma / KNN_SENSITIVITY)
        if self.sample_rate < 1.0:
            per_query = dp_accounting.PoissonSampledDpEvent(self.sample_rate, per_query)
        return dp_accounting.SelfComposedDpEvent(per_query, queries)

    def run(self, ctx: TaskContext) -> TaskResult:
        msg = {
            "queries": ctx.features.astype(self.query_dtype),
            "k": self.k,
            "sample_rate": self.sample_rate,
            "sigma": self.sigma,
            "num_classes": ctx.num_classes,
        }
        pseudo = ctx.device.call(private_knn_program, msg, phase="task", label="private-knn")["labels"].astype(np.int64)
        metrics = self.score(ctx, self.fit(ctx, ctx.images, pseudo))
        metrics.update(pseudo_label_accuracy=float((pseudo == ctx.pool_true_labels).mean()), queries=int(len(pseudo)))
        return TaskResult(
            metrics=metrics,
            privacy=self.privacy_event(len(pseudo)),
            adjacency="add_remove",
        )


@hookimpl
def proxybench_tasks():
    return [AutoLabel]
