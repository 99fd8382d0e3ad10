"""``ecos``: Efficient Collaborative Open-source Sampling (Hong, Lyu, Zhou, Spranger, NeurIPS 2022).

How each step maps to the paper, and what this implementation chooses where the paper
leaves it open (DESIGN §5):

0. *Low-dimensional centroid features.* The paper sends "compressed" centroids. Here:
   ``reduction="random"`` projects phi to ``dim`` dimensions with a Gaussian matrix
   generated from a seed that is sent down (8 bytes, the device regenerates the
   matrix); ``"pca"`` fits PCA on the pool and sends its matrix and mean (counted);
   ``"none"`` keeps phi's full width.
1. *Cloud clustering.* faiss k-means with ``R`` centroids over every pool point
   (faiss's default 256-points-per-centroid subsample is switched off); optional
   spherical k-means.
2. *Downlink.* The R centroids, float32 or float16 (``dtype``).
3. *Device: centroid coverage.* v_r = number of private points whose nearest centroid
   is c_r, plus N(0, sigma^2) per count (Gaussian mechanism). One private record moves
   one count by 1: L2 sensitivity 1 under add/remove-one adjacency, sqrt(2) under
   replace-one (``adjacency``). ``target_epsilon`` converts to sigma with dp-accounting.
   Uplink: R float32 numbers.
4. *Cloud: proximity.* w_r = max(v~_r, 0), zeroed below ``tau * sigma``. A candidate
   quota M = rho * B is split over clusters in proportion to w_r (largest remainder,
   capped by cluster size, overflow redistributed). Choices the paper leaves open:
   candidates inside a cluster are a uniform draw (``candidates="uniform"``) or the
   m_r points nearest the centroid (``"nearest"``); when positive clusters cannot hold
   M points, or every weight is zero (all counts drowned in noise), the rest of the
   quota is spread uniformly over the other clusters, so the budget is always met.
5. *Cloud: diversity.* Greedy k-center over the candidates, in the clustering space,
   with the already-covered set initialised to the centroids of w_r > 0 (a
   privacy-safe stand-in for the private data): proximity plus diversity, as in the
   paper's objective. ``diversity=False`` skips it (then M = B).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from proxybench import (
    CloudView,
    Device,
    DeviceContext,
    Message,
    ProxybenchError,
    Sampler,
    Selection,
    count_sensitivity,
    gaussian_event,
    gaussian_noise,
    greedy_kcenter,
    hookimpl,
    kmeans,
    largest_remainder,
    nearest_centroid,
    sigma_for_epsilon,
)


def random_projection(d_in: int, d_out: int, seed: int) -> np.ndarray:
    """The seeded Gaussian projection both sides regenerate from the seed alone."""
    return (np.random.default_rng(seed).standard_normal((d_in, d_out)) / np.sqrt(d_out)).astype(np.float32)


def coverage_program(ctx: DeviceContext, msg: Message) -> Message:
    """On the device: project phi(D_p), count nearest centroids, add Gaussian noise."""
    feats = ctx.features()
    n, d = feats.shape
    if msg["reduction"] == "random":
        proj = random_projection(d, int(msg["dim"]), int(msg["projection_seed"]))
        feats = feats @ proj
        ctx.meter.add_flops(2 * n * d * proj.shape[1])
    elif msg["reduction"] == "pca":
        feats = (feats - msg["pca_mean"]) @ msg["pca_matrix"]
        ctx.meter.add_flops(2 * n * d * msg["pca_matrix"].shape[1])
    centroids = msg["centroids"].astype(np.float32)
    assign, _ = nearest_centroid(feats, centroids)
    ctx.meter.add_flops(2 * n * centroids.shape[0] * centroids.shape[1])
    counts = np.bincount(assign, minlength=len(centroids)).astype(np.float64)
    noisy = gaussian_noise(counts, float(msg["sigma"]), ctx.rng)
    return {"scores": noisy.astype(np.float32)}


@dataclass
class Ecos(Sampler):
    name: ClassVar[str] = "ecos"
    description: ClassVar[str] = "ECOS: noisy centroid coverage from the device, then near-and-diverse sampling (DP)"
    kind: ClassVar[str] = "private"

    R: int = 100
    dim: int = 64
    reduction: Literal["random", "pca", "none"] = "random"
    sigma: float = 5.0
    target_epsilon: float | None = None
    adjacency: Literal["add_remove", "replace_one"] = "add_remove"
    tau: float = 0.0
    rho: float = 2.0
    candidates: Literal["uniform", "nearest"] = "uniform"
    diversity: bool = True
    dtype: Literal["float32", "float16"] = "float32"
    spherical: bool = False
    kmeans_iters: int = 20

    def __post_init__(self) -> None:
        if self.R < 1:
            raise ProxybenchError(f"ecos: R must be >= 1, got {self.R}")
        if self.sigma < 0:
            raise ProxybenchError(f"ecos: sigma must be >= 0, got {self.sigma}")
        if self.rho < 1:
            raise ProxybenchError(f"ecos: rho must be >= 1 (candidates >= budget), got {self.rho}")
        if self.reduction != "none" and self.dim < 1:
            raise ProxybenchError(f"ecos: dim must be >= 1 with reduction {self.reduction!r}, got {self.dim}")

    @property
    def sensitivity(self) -> float:
        return count_sensitivity(self.adjacency)

    def noise_sigma(self, delta: float = 1e-5) -> float:
        if self.target_epsilon is not None:
            return sigma_for_epsilon(self.target_epsilon, self.sensitivity, delta)
        return self.sigma

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        times: dict[str, float] = {}
        t = time.perf_counter()
        n, d = cloud.features.shape
        R = min(self.R, n)
        msg: Message = {"reduction": self.reduction}
        if self.reduction == "random":
            seed = int(rng.integers(2**31))
            x = cloud.features @ random_projection(d, self.dim, seed)
            msg.update(dim=self.dim, projection_seed=seed)
        elif self.reduction == "pca":
            mean = cloud.features.mean(0)
            # Principal axes from the SVD of the centred pool (top ``dim``).
            _, _, vt = np.linalg.svd(cloud.features - mean, full_matrices=False)
            matrix = vt[: self.dim].T.astype(np.float32)
            x = (cloud.features - mean) @ matrix
            msg.update(pca_mean=mean.astype(np.float32), pca_matrix=matrix)
        else:
            x = cloud.features
        x = np.ascontiguousarray(x, dtype=np.float32)
        times["reduce"] = time.perf_counter() - t

        t = time.perf_counter()
        centroids, assign = kmeans(x, R, seed=int(rng.integers(2**31)), niter=self.kmeans_iters,
                                   spherical=self.spherical)
        times["kmeans"] = time.perf_counter() - t

        t = time.perf_counter()
        sigma = self.noise_sigma()
        msg.update(centroids=centroids.astype(self.dtype), sigma=sigma)
        reply = device.call(coverage_program, msg, phase="select", label="ecos-coverage")
        scores = reply["scores"].astype(np.float64)
        times["device"] = time.perf_counter() - t

        t = time.perf_counter()
        weights = np.maximum(scores, 0.0)
        if self.tau > 0:
            weights[scores < self.tau * sigma] = 0.0
        sizes = np.bincount(assign, minlength=R)
        quota = budget if not self.diversity else min(n, max(budget, int(round(self.rho * budget))))
        alloc = largest_remainder(weights, quota, sizes)
        short = quota - int(alloc.sum())
        if short > 0:  # positive clusters are full or all scores are zero: spread the rest uniformly
            alloc += largest_remainder(np.where(alloc < sizes, 1.0, 0.0), short, sizes - alloc)
        members = [np.flatnonzero(assign == r) for r in range(R)]
        cands = []
        for r in np.flatnonzero(alloc):
            pts = members[r]
            if self.candidates == "nearest":
                dist = ((x[pts] - centroids[r]) ** 2).sum(1)
                cands.append(pts[np.argsort(dist, kind="stable")[: alloc[r]]])
            else:
                cands.append(rng.choice(pts, size=alloc[r], replace=False))
        cand = np.sort(np.concatenate(cands))
        times["proximity"] = time.perf_counter() - t

        t = time.perf_counter()
        if self.diversity and len(cand) > budget:
            covered = centroids[weights > 0]
            if len(covered):
                picked = cand[greedy_kcenter(x[cand], budget, covered=covered)]
            else:
                picked = cand[greedy_kcenter(x[cand], budget, first=int(rng.integers(len(cand))))]
        else:
            picked = cand[:budget] if len(cand) > budget else cand
        times["diversity"] = time.perf_counter() - t

        return Selection(
            indices=np.sort(picked),
            privacy=gaussian_event(sigma, self.sensitivity),
            adjacency=self.adjacency,
            info={
                "R": R,
                "dim": int(x.shape[1]),
                "sigma": sigma,
                "scores": [round(float(s), 3) for s in scores],
                "cluster_sizes": sizes.tolist(),
                "positive_clusters": int((weights > 0).sum()),
                "candidates": int(len(cand)),
                "step_seconds": {k: round(v, 4) for k, v in times.items()},
            },
        )


@hookimpl
def proxybench_samplers():
    return [Ecos]
