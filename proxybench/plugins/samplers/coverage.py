"""ECOS's noisy centroid coverage (steps 0-3 of ``ecos``'s docstring), shared by ``ecos``, ``dsir`` and ``cluster-filter``.

The three samplers differ only in what the cloud does with the noisy histogram, so the
part that touches the device (reduction, cloud k-means, the device program, the
Gaussian mechanism) lives here once and costs the same bytes, FLOPs and epsilon in all
of them. Not a plugin by itself: it registers no sampler.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from proxybench import (
    DEFAULT_DELTA,
    SELECT,
    AuditMechanism,
    CallMeter,
    CloudView,
    Device,
    DeviceContext,
    GaussianHistogram,
    Message,
    ProxybenchError,
    ProxybenchWarning,
    Sampler,
    Selection,
    count_sensitivity,
    gaussian_event,
    gaussian_noise,
    kmeans,
    nearest_centroid,
    pool_on_cluster,
    sigma_for_epsilon,
)

if TYPE_CHECKING:  # dp-accounting loads on first use: listing samplers does not pay for it
    from proxybench import DpEvent


def random_projection(d_in: int, d_out: int, seed: int) -> np.ndarray:
    """The seeded Gaussian projection both sides regenerate from the seed alone."""
    return (np.random.default_rng(seed).standard_normal((d_in, d_out)) / np.sqrt(d_out)).astype(np.float32)


def privatize_counts(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism on coverage counts, counts + N(0, sigma^2) each: the audit's model of the runtime's release."""
    return gaussian_noise(counts, sigma, rng)


#: Rows per chunk where the cloud computes over its pool (a float16 store is never converted whole).
CHUNK = 1 << 15

#: A cluster's expected count (device records over R) below this many noise sds, and the counts are mostly noise:
#: the measured curve behind it is docs/sizing-ecos.md.
COUNT_PER_NOISE_SD = 0.5


def project(x: np.ndarray, matrix: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """``(x - mean) @ matrix`` as float32.

    An uncentred float32 pool is one product, as it always was (chunked products may round
    differently, and recorded selections must not move); anything else is computed chunk by
    chunk, so neither a float32 copy of a float16 store nor a centred copy of the pool is made.
    """
    if mean is None and x.dtype == np.float32:
        return x @ matrix
    out = np.empty((len(x), matrix.shape[1]), dtype=np.float32)
    for s in range(0, len(x), CHUNK):
        rows = np.asarray(x[s : s + CHUNK], dtype=np.float32)
        out[s : s + len(rows)] = (rows if mean is None else rows - mean) @ matrix
    return out


def pca_axes(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool's mean and its top-``dim`` principal axes (d x dim), both float32, in one chunked read.

    The d x d scatter matrix is accumulated over row chunks in float64 (shifted by the first
    row, against cancellation) and eigendecomposed: exact PCA in O(N d^2) FLOPs with nothing
    N-sized allocated, where the full SVD needed the centred N x d copy and O(N d^2) more work.
    (A randomized SVD would still need that copy; sklearn's IncrementalPCA runs an SVD per
    batch.) Each axis's sign is fixed (largest entry positive), so the result is deterministic.
    """
    n, d = x.shape
    shift = np.asarray(x[0], dtype=np.float64)
    total, scatter = np.zeros(d), np.zeros((d, d))
    for s in range(0, n, CHUNK):
        rows = np.asarray(x[s : s + CHUNK], dtype=np.float64) - shift
        total += rows.sum(0)
        scatter += rows.T @ rows
    centred_mean = total / n
    values, vectors = np.linalg.eigh(scatter / n - np.outer(centred_mean, centred_mean))
    axes = vectors[:, ::-1][:, : min(dim, d)]
    axes *= np.sign(axes[np.abs(axes).argmax(0), np.arange(axes.shape[1])])
    return (centred_mean + shift).astype(np.float32), axes.astype(np.float32)


def reduce_on_device(feats: np.ndarray, msg: Message, meter: CallMeter) -> np.ndarray:
    """The device features in the clustering space the message names (step 0: none, random or pca)."""
    n, d = feats.shape
    if msg["reduction"] == "random":
        proj = random_projection(d, int(msg["dim"]), int(msg["projection_seed"]))
        feats = feats @ proj
        meter.add_flops(2 * n * d * proj.shape[1])
    elif msg["reduction"] == "pca":
        feats = (feats - msg["pca_mean"]) @ msg["pca_matrix"]
        meter.add_flops(2 * n * d * msg["pca_matrix"].shape[1])
    return feats


def nearest_centroids(feats: np.ndarray, msg: Message, meter: CallMeter) -> np.ndarray:
    """Each device row's nearest centroid, in the clustering space the message names."""
    feats = reduce_on_device(feats, msg, meter)
    centroids = msg["centroids"].astype(np.float32)
    assign, _ = nearest_centroid(feats, centroids)
    meter.add_flops(2 * len(feats) * centroids.shape[0] * centroids.shape[1])
    return assign.astype(np.int64)


def coverage_counts(feats: np.ndarray, msg: Message, meter: CallMeter) -> np.ndarray:
    """The exact coverage counts, one row one unit (the audit's synthetic device sets)."""
    return np.bincount(nearest_centroids(feats, msg, meter), minlength=len(msg["centroids"])).astype(np.float64)


def coverage_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """On the device: each row's nearest centroid; the runtime counts them by unit, clips and adds the noise."""
    return nearest_centroids(ctx.features(), msg, ctx.meter)


def exact_coverage_program(ctx: DeviceContext, msg: Message) -> Message:
    """On the device, at sigma 0 only: the exact counts, a raw reply (the run records no guarantee)."""
    return {"release": np.bincount(coverage_program(ctx, msg), minlength=len(msg["centroids"])).astype(np.float32)}


@dataclass
class Coverage:
    """What the cloud holds after one coverage round."""

    x: np.ndarray  # (N, d') pool features in the clustering space
    centroids: np.ndarray  # (R, d')
    assign: np.ndarray  # (N,) cluster of each pool point
    scores: np.ndarray  # (R,) noisy coverage counts from the device
    times: dict[str, float] = field(default_factory=dict)
    reduction: Message = field(default_factory=dict)  # the step-0 fields the device needs to reduce again

    @property
    def R(self) -> int:
        return len(self.centroids)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.assign, minlength=self.R)


def noisy_coverage(sampler: CoverageSampler, cloud: CloudView, device: Device, rng: np.random.Generator,
                   sigma: float) -> Coverage:
    """Steps 0-3 of ECOS with ``sampler``'s parameters: reduce, cluster the pool into R centroids, ask for noisy counts.

    ``sigma`` is the noise the device adds (``sampler.noise_sigma`` at the run's delta).
    Randomness is drawn from ``rng`` in a fixed order (projection seed, then k-means
    seed), so a sampler built on it stays deterministic per seed. ``kmeans_max_points``
    > 0 trains k-means on that many uniformly drawn points (from the k-means seed) and
    still assigns every point; 0 trains on all of them. With ``$PROXYBENCH_SCHEDULER`` set
    (``proxybench run --scheduler``), the sample gather and the assignment pass run on that
    dask cluster (``pool_on_cluster``) and give the same centroids and labels; the device
    call is the same either way.
    """
    reduction, dim = sampler.reduction, sampler.dim
    times: dict[str, float] = {}
    t = time.perf_counter()
    n, d = cloud.features.shape
    R = min(sampler.R, n)
    msg: Message = {"reduction": reduction}
    if reduction == "random":
        seed = int(rng.integers(2**31))
        x = project(cloud.features, random_projection(d, dim, seed))
        msg.update(dim=dim, projection_seed=seed)
    elif reduction == "pca":
        mean, matrix = pca_axes(cloud.features, dim)
        x = project(cloud.features, matrix, mean)
        msg.update(pca_mean=mean, pca_matrix=matrix)
    elif cloud.features.dtype == np.float16:
        x = cloud.features  # a float16 store stays as it is: every pass over it converts one chunk at a time
    else:
        x = np.ascontiguousarray(cloud.features, dtype=np.float32)
    times["reduce"] = time.perf_counter() - t

    t = time.perf_counter()
    seed = int(rng.integers(2**31))
    with pool_on_cluster(cloud.features) as pool:
        if pool is not None and reduction != "none":  # the workers read the pool as stored, not its projection
            warnings.warn(ProxybenchWarning(f"{sampler.name}: reduction {reduction!r} projects the pool in the cloud "
                                            "process, so its k-means runs there too, not on the dask cluster"), stacklevel=2)
        if pool is None or reduction != "none":
            centroids, assign = kmeans(x, R, seed=seed, niter=sampler.kmeans_iters, spherical=sampler.spherical,
                                       max_points=sampler.kmeans_max_points)
        else:
            centroids, assign = pool.kmeans(R, seed=seed, niter=sampler.kmeans_iters, spherical=sampler.spherical,
                                            max_points=sampler.kmeans_max_points)
    times["kmeans"] = time.perf_counter() - t

    t = time.perf_counter()
    msg.update(centroids=centroids.astype(sampler.dtype))
    release = sampler.release(R, sigma)
    program = coverage_program if release is not None else exact_coverage_program
    reply = device.call(program, msg, phase=SELECT, label=f"{sampler.name}-coverage", release=release)
    times["device"] = time.perf_counter() - t
    reduction_fields = {k: v for k, v in msg.items() if k != "centroids"}
    return Coverage(x, centroids, assign, reply["release"].astype(np.float64), times, reduction_fields)


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
    # Measured on the embedded benchmark (docs/ecos-ablation.md): phi's 112 stage-3 dims
    # sent as float16 find the client's domain better (89% vs 84%) in fewer bytes (22 kB vs
    # 26 kB) than a random projection to 64 dims in float32.
    reduction: Literal["random", "pca", "none"] = "none"
    sigma: float = 5.0
    #: Each original record's counts (an image and its augmentations) are clipped to this L2 norm by the device
    #: runtime; the noise is sigma, so the epsilon is that of sigma / unit_bound.
    unit_bound: float = 1.0
    target_epsilon: float | None = None
    adjacency: Literal["add_remove", "replace_one"] = "add_remove"
    tau: float = 0.0
    dtype: Literal["float32", "float16"] = "float16"
    spherical: bool = False
    kmeans_iters: int = 20
    kmeans_max_points: int = 0  # k-means training-sample cap; 0 = train on every pool point

    def __post_init__(self) -> None:
        if self.R < 1:
            raise ProxybenchError(f"{self.name}: R must be >= 1, got {self.R}")
        if self.sigma < 0:
            raise ProxybenchError(f"{self.name}: sigma must be >= 0, got {self.sigma}")
        if not self.unit_bound > 0:
            raise ProxybenchError(f"{self.name}: unit_bound must be > 0, got {self.unit_bound}")
        if self.kmeans_max_points < 0:
            raise ProxybenchError(f"{self.name}: kmeans_max_points must be >= 0 (0: all points), got {self.kmeans_max_points}")
        if self.reduction != "none" and self.dim < 1:
            raise ProxybenchError(f"{self.name}: dim must be >= 1 with reduction {self.reduction!r}, got {self.dim}")

    def check_sizes(self, budget: int, pool_size: int, device_size: int | None = None,
                    delta: float = DEFAULT_DELTA) -> None:
        """R against the pool (more clusters than points is refused) and, where the device's size is known, the
        expected count of a cluster against the noise on it (a ``ProxybenchWarning`` below ``COUNT_PER_NOISE_SD``).

        A record adds at most min(1, unit_bound) to the counts, so D records spread over R clusters
        give about D / R per cluster; the noise sd is the coverage round's sigma. Below the bound
        the noisy counts rank clusters little better than chance (docs/sizing-ecos.md).
        """
        if self.R > pool_size:
            raise ProxybenchError(f"{self.name}: R={self.R} clusters is more than the pool's {pool_size} images; "
                                  f"choose R in 1..{pool_size} (docs/sizing-ecos.md)")
        if device_size is None:
            return
        sigma = self.coverage_sigma(delta)
        if sigma == 0:
            return
        signal = device_size * min(1.0, self.unit_bound)
        per_cluster = signal / self.R
        if per_cluster < COUNT_PER_NOISE_SD * sigma:
            largest_r = int(signal // (COUNT_PER_NOISE_SD * sigma))
            fewer = f"use R <= {largest_r}" if largest_r >= 1 else "no R is enough"
            warnings.warn(ProxybenchWarning(
                f"{self.name}: R={self.R} clusters over {device_size} device records is about {per_cluster:.2g} per "
                f"cluster against noise sd {sigma:.3g}: the counts are mostly noise; {fewer}, or less noise "
                f"(sigma <= {per_cluster / COUNT_PER_NOISE_SD:.2g}: a larger target_epsilon) (docs/sizing-ecos.md)"),
                stacklevel=2)

    def coverage_sigma(self, delta: float = DEFAULT_DELTA) -> float:
        """The noise sd on the coverage round's counts (``noise_sigma``: the round is the one release)."""
        return self.noise_sigma(delta)

    @property
    def sensitivity(self) -> float:
        return self.unit_bound * count_sensitivity(self.adjacency)

    def noise_sigma(self, delta: float = DEFAULT_DELTA) -> float:
        """sigma, or the sigma that reaches ``target_epsilon`` at the run's ``delta``."""
        if self.target_epsilon is not None:
            return sigma_for_epsilon(self.target_epsilon, self.release(1, 1.0).sensitivity, delta)
        return self.sigma

    def release(self, bins: int, sigma: float, round_: int = 0) -> GaussianHistogram | None:
        """The device runtime's mechanism for a round of counts at noise ``sigma``; None at sigma 0 (a raw reply)."""
        if sigma == 0:
            return None
        return GaussianHistogram(noise_multiplier=sigma / self.unit_bound, adjacency=self.adjacency, bins=bins,
                                 bound=self.unit_bound)

    def privacy_event(self, sigma: float) -> DpEvent:
        """The one Gaussian release a coverage round makes, as declared (the record's epsilon is the runtime's)."""
        release = self.release(1, sigma)
        return release.event() if release is not None else gaussian_event(0.0, 1.0)

    def selection(self, picked: np.ndarray, cov: Coverage, sigma: float, **info: Any) -> Selection:
        """The Selection of a coverage sampler: its privacy event, adjacency and the round's record, plus ``info``."""
        return Selection(
            indices=np.sort(picked),
            privacy=self.privacy_event(sigma),
            adjacency=self.adjacency,
            info={
                "R": cov.R,
                "dim": int(cov.x.shape[1]),
                "sigma": sigma,
                "scores": [round(float(s), 3) for s in cov.scores],
                "cluster_sizes": cov.sizes.tolist(),
                **info,
                "step_seconds": {k: round(v, 4) for k, v in cov.times.items()},
            },
        )

    def coverage(self, cloud: CloudView, device: Device, rng: np.random.Generator, sigma: float) -> Coverage:
        return noisy_coverage(self, cloud, device, rng, sigma)

    def audit_mechanism(self, delta: float = DEFAULT_DELTA) -> AuditMechanism:
        """One coverage release (``proxybench audit``) on a device set D and its worst-case neighbour D'.

        D: a synthetic device set, 0-19 points placed exactly on each of R random centroids
        (8 dimensions, seed 0), counted by ``coverage_counts``, the device program's own
        counting step. D' under add/remove: D plus one point on centroid 0 (one count +1);
        under replace-one: D with its point on centroid 1 moved onto centroid 0 (two
        counts move by 1). Noise: ``privatize_counts``, the runtime's histogram noise.
        """
        R, sigma, rng = self.R, self.noise_sigma(delta), np.random.default_rng(0)
        centroids = rng.normal(0.0, 10.0, (R, 8)).astype(np.float32)
        per = rng.integers(0, 20, R)
        per[min(1, R - 1)] = max(per[min(1, R - 1)], 1)
        points = np.repeat(centroids, per, axis=0)
        if self.adjacency == "add_remove":
            neighbour = np.concatenate([points, centroids[:1]])
        elif R < 2:
            raise ProxybenchError(f"{self.name}: a replace-one audit needs R >= 2 centroids")
        else:
            neighbour = points.copy()
            neighbour[int(per[0])] = centroids[0]  # the first point on centroid 1 moves onto centroid 0

        def exact(feats: np.ndarray) -> np.ndarray:
            return coverage_counts(feats, {"reduction": "none", "centroids": centroids}, CallMeter())

        def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
            return privatize_counts(np.broadcast_to(values, (trials, *values.shape)), sigma, rng)

        return AuditMechanism(
            name=f"{self.name} coverage (R={R}, sigma={sigma:.4g})", sigma=sigma, sensitivity=self.sensitivity,
            adjacency=self.adjacency, event=self.privacy_event(sigma), values_d=exact(points),
            values_d_prime=exact(neighbour), privatize=privatize,
            description="the R noisy centroid counts; D' moves one device point onto a centroid",
        )
