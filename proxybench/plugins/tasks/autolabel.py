"""``autolabel``: automated client labeling.

The device holds labels; the selected pool images are unlabeled. The device labels
them by *private kNN* (in the style of Zhu et al., "Private-kNN", CVPR 2020), as the
device runtime's ``KnnVote`` mechanism: the device program gives phi of each private
image; for each query the runtime Poisson-subsamples the private *records* (an image
and its augmentations vote once) with rate ``sample_rate``, takes the ``k`` nearest,
adds N(0, sigma^2) to the 10-bin vote histogram and releases only the noisy argmax. One
record changes at most two bins of one query's histogram by 1 (it enters the k nearest
and pushes one out), so the L2 sensitivity is sqrt(2); the B queries compose as B
Poisson-subsampled Gaussian mechanisms, accounted with dp-accounting's PLD accountant.
The cloud trains the task model from scratch on the pseudo-labels and ships it to
the device, which scores it on its test data.

Not done here: Private-kNN's optional sparse-vector confidence filter (every query is
answered and its label used).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from proxybench import (
    TASK,
    AuditMechanism,
    DeviceContext,
    KnnVote,
    Message,
    ProxybenchError,
    SupervisedTask,
    TaskContext,
    TaskResult,
    gaussian_event,
    hookimpl,
    poisson_sampled,
    self_composed,
)

if TYPE_CHECKING:  # dp-accounting loads on first use: listing samplers does not pay for it
    from proxybench import DpEvent

KNN_SENSITIVITY = math.sqrt(2.0)


def knn_votes(priv: np.ndarray, priv_sq: np.ndarray, labels: np.ndarray, q: np.ndarray, k: int, rate: float,
              n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Exact kNN vote histograms (len(q), n_classes) over a Poisson subsample (rate) of the private set."""
    n = len(priv)
    dist = priv_sq[None, :] - 2.0 * q @ priv.T  # + |q|^2, constant per row
    sampled = rng.random(dist.shape) < rate
    dist = np.where(sampled, dist, np.inf)
    kk = min(k, n)
    nearest = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
    valid = np.isfinite(np.take_along_axis(dist, nearest, axis=1))
    votes = np.zeros((len(q), n_classes))
    rows = np.repeat(np.arange(len(q)), kk).reshape(len(q), kk)
    np.add.at(votes, (rows[valid], labels[nearest][valid]), 1.0)
    return votes


def privatize_votes(votes: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism on vote histograms, votes + N(0, sigma^2) per bin: the audit's model of ``KnnVote``."""
    return votes + rng.normal(0.0, sigma, size=votes.shape) if sigma > 0 else votes


def private_knn_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """On the device: the keys the runtime's kNN vote compares with the queries, phi of each private row.

    The runtime finds each query's k nearest privacy units, counts their labels, adds the
    noise and releases the noisy argmax (``KnnVote``).
    """
    return ctx.features().astype(np.float32)


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
        if not self.sigma > 0:
            raise ProxybenchError(f"autolabel: sigma must be > 0 (the device runtime's kNN vote always adds noise), "
                                  f"got {self.sigma}")

    def privacy_event(self, queries: int) -> DpEvent:
        per_query = gaussian_event(self.sigma, KNN_SENSITIVITY)
        if self.sample_rate < 1.0:
            per_query = poisson_sampled(self.sample_rate, per_query)
        return self_composed(per_query, queries)

    def audit_mechanism(self) -> AuditMechanism:
        """One query's noisy vote histogram (before argmax) on D and on D' = D plus one record.

        D: synthetic private points on a line from the query, the k nearest split evenly
        between classes 0 and 1 (class 1 gets the extra vote when k is odd) with the k-th
        nearest of class 1, plus 20 farther points. D' adds a class-0 record nearest to
        the query: it enters the k nearest and pushes the class-1 point out, so the
        tied vote flips and two bins move by 1 (distance sqrt(2), the claimed
        sensitivity). Exact votes come from ``knn_votes``, noise from ``privatize_votes``.
        Poisson subsampling (sample_rate < 1) is not audited: the event is for rate 1.
        """
        k, n_classes = self.k, 10
        dists = np.arange(1, k + 21, dtype=np.float32)
        labels = np.empty(k + 20, dtype=np.int64)
        labels[:k] = np.where(np.arange(k) % 2 == (k - 1) % 2, 1, 0)  # the k-th nearest (index k-1) is class 1
        labels[k:] = np.arange(20) % n_classes
        query = np.zeros((1, 4), np.float32)

        def exact(points: np.ndarray, point_labels: np.ndarray) -> np.ndarray:
            priv = np.zeros((len(points), 4), np.float32)
            priv[:, 0] = points
            return knn_votes(priv, (priv * priv).sum(1), point_labels, query, k, 1.0, n_classes,
                             np.random.default_rng(0))[0]

        votes_d = exact(dists, labels)
        votes_d_prime = exact(np.concatenate([[0.5], dists]).astype(np.float32), np.concatenate([[0], labels]))
        sigma = self.sigma

        def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
            return privatize_votes(np.broadcast_to(values, (trials, *values.shape)), sigma, rng)

        return AuditMechanism(
            name=f"autolabel private kNN vote (k={k}, sigma={sigma:g})", sigma=sigma, sensitivity=KNN_SENSITIVITY,
            adjacency="add_remove", event=dataclasses.replace(self, sample_rate=1.0).privacy_event(1),
            values_d=votes_d, values_d_prime=votes_d_prime, privatize=privatize,
            description="one query's noisy 10-bin vote histogram; D' adds one record that flips a tied vote",
            info={"sample_rate_audited": 1.0, "sample_rate": self.sample_rate},
        )

    def release(self, num_classes: int) -> KnnVote:
        """The runtime's private kNN vote: noise sigma on each vote count (sensitivity sqrt(2) a query)."""
        return KnnVote(noise_multiplier=self.sigma / KNN_SENSITIVITY, k=self.k, num_classes=num_classes,
                       sample_rate=self.sample_rate)

    def run(self, ctx: TaskContext) -> TaskResult:
        msg = {"queries": ctx.features.astype(self.query_dtype)}
        pseudo = ctx.device.call(private_knn_program, msg, phase=TASK, label="private-knn",
                                 release=self.release(ctx.num_classes))["release"].astype(np.int64)
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
