"""``ecos-rounds``: ECOS in several rounds, each refining only where the client was found.

Round 1 is ECOS's coverage round with ``R`` centroids. Round k >= 2 splits every cluster
of the previous level whose noisy coverage is positive into ``sub_R`` sub-clusters
(faiss k-means on that cluster's pool points) and asks the device for noisy counts of
its points on those sub-centroids only. A device point counts for its nearest
sub-centroid when it lies within that sub-cluster's radius (the largest distance of
the sub-cluster's pool points to it), so points of clusters that were dropped count
nowhere. One record still moves one count by 1 per round (sensitivity 1 under
add/remove, sqrt(2) under replace-one), and each round is a Gaussian release.

Privacy budget. ``target_epsilon`` (or, without it, ``sigma``) is for the whole
protocol: it fixes the effective sigma of one Gaussian release, sigma_eff, and round k
gets a share w_k of 1/sigma_eff^2 (``first_share`` for round 1, the rest split equally),
so sigma_k = sigma_eff / sqrt(w_k). Gaussian releases compose exactly in their
1/sigma^2, so the rounds together cost what one release at sigma_eff costs; the
accountant (PLD) composes the rounds' events and reports that epsilon. ``ecos-rounds``
at ``sigma=5`` thus spends the same epsilon as ``ecos`` at ``sigma=5``.

Adaptive stop (``stop_tv`` > 0). After round k >= 2, the cloud sums the new noisy counts
per parent cluster; when that distribution moved less than ``stop_tv`` in total
variation from the previous round's, further rounds would not move the allocation, and
the protocol stops: the rounds not run cost neither bytes nor epsilon.

The final proximity and diversity steps are ECOS's, on the finest level: the positive
clusters' sub-clusters plus, with weight 0, every dropped cluster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from proxybench import (
    DEFAULT_DELTA,
    SELECT,
    AuditMechanism,
    CallMeter,
    CloudView,
    Device,
    DeviceContext,
    Message,
    ProxybenchError,
    Selection,
    composed,
    hookimpl,
    kmeans,
    nearest_centroid,
)

from .coverage import coverage_weights, reduce_on_device
from .ecos import Ecos
from .split_budget import SplitBudget


def refine_bins(feats: np.ndarray, msg: Message, meter: CallMeter) -> np.ndarray:
    """Each device point's nearest sub-centroid when it lies inside that one's radius, else -1 (counted nowhere)."""
    feats = np.ascontiguousarray(reduce_on_device(feats, msg, meter), dtype=np.float32)
    centroids = msg["centroids"].astype(np.float32)
    assign, dist = nearest_centroid(feats, centroids)
    meter.add_flops(2 * len(feats) * centroids.shape[0] * centroids.shape[1])
    inside = dist <= msg["radius"].astype(np.float32)[assign] ** 2
    return np.where(inside, assign, -1).astype(np.int64)


def refine_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """On the device: each row's radius-gated sub-centroid; the runtime counts by unit, clips and adds the noise."""
    return refine_bins(ctx.features(), msg, ctx.meter)


@dataclass
class Level:
    """One level of the cluster tree, as the cloud holds it: a partition of the pool and its noisy weights."""

    centroids: np.ndarray  # (M, d')
    assign: np.ndarray  # (N,) cluster of each pool point
    weights: np.ndarray  # (M,) max(noisy count, 0), thresholded
    parent: np.ndarray  # (M,) cluster of the previous level each cluster came from


@dataclass
class EcosRounds(Ecos, SplitBudget):
    name: ClassVar[str] = "ecos-rounds"
    description: ClassVar[str] = "ECOS in rounds: coverage, then noisy counts on sub-clusters of covered clusters (DP)"

    #: The device program of rounds 2+ (a class attribute, so a variant can install another one).
    round_program: ClassVar = staticmethod(refine_program)

    rounds: int = 2
    sub_R: int = 5
    first_share: float = 0.5
    stop_tv: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sub_R < 2:
            raise ProxybenchError(f"ecos-rounds: sub_R must be >= 2 (a split), got {self.sub_R}")
        self.check_split()
        if not 0.0 <= self.stop_tv < 1.0:
            raise ProxybenchError(f"ecos-rounds: stop_tv must be in [0, 1), got {self.stop_tv}")

    def coverage_sigma(self, delta: float = DEFAULT_DELTA) -> float:
        """Round 1's share of the budget: its counts carry more noise than one release at ``sigma`` would."""
        return self.round_sigmas(delta)[0]

    def refine(self, x: np.ndarray, level: Level, rng: np.random.Generator) -> tuple[Level, np.ndarray, np.ndarray]:
        """Split each positive cluster into sub-clusters; keep the others whole. Also each new cluster's radius."""
        centroids, parent, radius = [], [], []
        assign = np.empty(len(x), dtype=np.int64)
        refined = np.zeros(0, dtype=bool)
        for r in range(len(level.centroids)):
            pts = np.flatnonzero(level.assign == r)
            k = min(self.sub_R, len(pts)) if level.weights[r] > 0 else 1
            if k > 1:
                sub, sub_assign = kmeans(np.ascontiguousarray(x[pts]), k, seed=int(rng.integers(2**31)),
                                         niter=self.kmeans_iters, spherical=self.spherical)
            else:
                sub, sub_assign = level.centroids[r : r + 1], np.zeros(len(pts), dtype=np.int64)
            assign[pts] = len(centroids) + sub_assign
            for j in range(len(sub)):
                members = pts[sub_assign == j]
                radius.append(float(np.sqrt(((x[members] - sub[j]) ** 2).sum(1).max())) if len(members) else 0.0)
            centroids += list(sub)
            parent += [r] * len(sub)
            refined = np.r_[refined, np.full(len(sub), k > 1)]
        new = Level(np.asarray(centroids, dtype=np.float32), assign, np.zeros(len(centroids)), np.asarray(parent))
        return new, np.asarray(radius, dtype=np.float32), refined

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigmas = self.round_sigmas(cloud.delta)
        cov = self.coverage(cloud, device, rng, sigmas[0])
        x = cov.x
        level = Level(cov.centroids, cov.assign, coverage_weights(cov.scores, self.tau, sigmas[0]), np.arange(cov.R))
        rounds: list[dict[str, Any]] = [{"clusters": cov.R, "positive": int((level.weights > 0).sum()),
                                         "sigma": sigmas[0]}]
        for k in range(1, self.rounds):
            if not (level.weights > 0).any():
                break
            new, radius, refined = self.refine(x, level, rng)
            ask = np.flatnonzero(refined)
            msg = {**cov.reduction, "centroids": new.centroids[ask].astype(self.dtype), "radius": radius[ask]}
            scores = device.call(self.round_program, msg, phase=SELECT, label=f"{self.name}-round{k + 1}",
                                 release=self.release(len(ask), sigmas[k], round_=k))["release"].astype(np.float64)
            new.weights[ask] = coverage_weights(scores, self.tau, sigmas[k])
            moved = total_variation(np.bincount(new.parent, new.weights, len(level.centroids)), level.weights)
            rounds.append({"clusters": int(len(ask)), "positive": int((new.weights > 0).sum()), "sigma": sigmas[k],
                           "tv_moved": round(moved, 4)})
            level = new
            if moved < self.stop_tv:
                break
        picked, n_cand = self.near_and_diverse(x, level.centroids, level.assign, level.weights, budget, rng, cov.times)
        done = sigmas[: len(rounds)]
        sel = self.selection(picked, cov, sigmas[0], positive_clusters=int((level.weights > 0).sum()),
                             candidates=n_cand, rounds=rounds)
        sel.privacy = composed(*[self.privacy_event(s) for s in done])
        return sel

    def audit_mechanism(self, delta: float = DEFAULT_DELTA) -> AuditMechanism:
        """Round 1's release at its own sigma (later rounds count the same way; the black box replays them all)."""
        return Ecos.audit_mechanism(dataclasses.replace(self, sigma=self.round_sigmas(delta)[0], target_epsilon=None),
                                    delta)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance of two weight vectors, each normalised (1.0 when one of them is all zero)."""
    if p.sum() <= 0 or q.sum() <= 0:
        return 1.0
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


@hookimpl
def proxybench_samplers():
    return [EcosRounds]
