"""ECOS's noisy centroid coverage (DESIGN §5, steps 0-3), shared by ``ecos``, ``dsir`` and ``cluster-filter``.

The three samplers differ only in what the cloud does with the noisy histogram, so the
part that touches the device (reduction, cloud k-means, the device program, the
Gaussian mechanism) lives here once and costs the same bytes, FLOPs and epsilon in all
of them. Not a plugin by itself: it registers no sampler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from proxybench import (
    CloudView,
    Device,
    DeviceContext,
    Message,
    ProxybenchError,
    Sampler,
    count_sensitivity,
    gaussian_noise,
    kmeans,
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
class Coverage:
    """What the cloud holds after one coverage round."""

    x: np.ndarray  # (N, d') pool features in the clustering space
    centroids: np.ndarray  # (R, d')
    assign: np.ndarray  # (N,) cluster of each pool point
    scores: np.ndarray  # (R,) noisy coverage counts from the device
    times: dict[str, float] = field(default_factory=dict)

    @property
    def R(self) -> int:
        return len(self.centroids)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.assign, minlength=self.R)


def noisy_coverage(
    cloud: CloudView,
    device: Device,
    rng: np.random.Generator,
    R: int,
    dim: int,
    reduction: str,
    sigma: float,
    dtype: str,
    spherical: bool,
    kmeans_iters: int,
    label: str = "ecos-coverage",
) -> Coverage:
    """Steps 0-3 of ECOS: reduce, cluster the pool into R centroids, ask the device for noisy counts.

    Randomness is drawn from ``rng`` in a fixed order (projection seed, then k-means
    seed), so a sampler built on it stays deterministic per seed.
    """
    times: dict[str, float] = {}
    t = time.perf_counter()
    n, d = cloud.features.shape
    R = min(R, n)
    msg: Message = {"reduction": reduction}
    if reduction == "random":
        seed = int(rng.integers(2**31))
        x = cloud.features @ random_projection(d, dim, seed)
        msg.update(dim=dim, projection_seed=seed)
    elif reduction == "pca":
        mean = cloud.features.mean(0)
        # Principal axes from the SVD of the centred pool (top ``dim``).
        _, _, vt = np.linalg.svd(cloud.features - mean, full_matrices=False)
        matrix = vt[:dim].T.astype(np.float32)
        x = (cloud.features - mean) @ matrix
        msg.update(pca_mean=mean.astype(np.float32), pca_matrix=matrix)
    else:
        x = cloud.features
    x = np.ascontiguousarray(x, dtype=np.float32)
    times["reduce"] = time.perf_counter() - t

    t = time.perf_counter()
    centroids, assign = kmeans(x, R, seed=int(rng.integers(2**31)), niter=kmeans_iters, spherical=spherical)
    times["kmeans"] = time.perf_counter() - t

    t = time.perf_counter()
    msg.update(centroids=centroids.astype(dtype), sigma=sigma)
    reply = device.call(coverage_program, msg, phase="select", label=label)
    times["device"] = time.perf_counter() - t
    return Coverage(x, centroids, assign, reply["scores"].astype(np.float64), times)


def coverage_weights(scores: np.ndarray, tau: float, sigma: float) -> np.ndarray:
    """w_r = max(v~_r, 0), zeroed where v~_r < tau * sigma (tau > 0 discards counts noise alone could make)."""
    weights = np.maximum(scores, 0.0)
    if tau > 0:
        weights[scores < tau * sigma] = 0.0
    return weights


@dataclass
class CoverageSampler(Sampler):
    """Base of the samplers that spend one noisy-coverage round: its parameters and its privacy."""

    kind: ClassVar[str] = "private"

    R: int = 100
    dim: int = 64
    reduction: Literal["random", "pca", "none"] = "random"
    sigma: float = 5.0
    target_epsilon: float | None = None
    adjacency: Literal["add_remove", "replace_one"] = "add_remove"
    tau: float = 0.0
    dtype: Literal["float32", "float16"] = "float32"
    spherical: bool = False
    kmeans_iters: int = 20

    def __post_init__(self) -> None:
        if self.R < 1:
            raise ProxybenchError(f"{self.name}: R must be >= 1, got {self.R}")
        if self.sigma < 0:
            raise ProxybenchError(f"{self.name}: sigma must be >= 0, got {self.sigma}")
        if self.reduction != "none" and self.dim < 1:
            raise ProxybenchError(f"{self.name}: dim must be >= 1 with reduction {self.reduction!r}, got {self.dim}")

    @property
    def sensitivity(self) -> float:
        return count_sensitivity(self.adjacency)

    def noise_sigma(self, delta: float = 1e-5) -> float:
        if self.target_epsilon is not None:
            return sigma_for_epsilon(self.target_epsilon, self.sensitivity, delta)
        return self.sigma

    def coverage(self, cloud: CloudView, device: Device, rng: np.random.Generator, sigma: float) -> Coverage:
        return noisy_coverage(cloud, device, rng, self.R, self.dim, self.reduction, sigma, self.dtype,
                              self.spherical, self.kmeans_iters, label=f"{self.name}-coverage")
