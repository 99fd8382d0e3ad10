"""``dp-mean``: the pool points nearest the device's differentially private mean feature.

The simple private baseline beside ECOS (issue 13): one noisy mean instead of a noisy
histogram over R centroids.

- *Device.* Each phi(x) is clipped to L2 norm C; the device releases the clipped sum in
  units of C and its count, each coordinate plus N(0, sigma^2): the Gaussian mechanism on
  the (d + 1)-vector (sum / C, n).
- *Sensitivity, by the run's adjacency.* add/remove-one moves the sum by at most 1 (in
  units of C) and the count by 1; replace-one moves the sum by at most 2 and the count
  not at all. The DP event is the composition of the two Gaussian releases with those
  sensitivities (a count with sensitivity 0 adds nothing); PLD composes them, and
  ``target_epsilon`` finds the sigma that reaches it at the run's delta.
- *C.* ``clip=0`` (default) lets the cloud set C to the median L2 norm of phi over the
  pool: public data, so the choice costs no privacy; C is sent down (counted).
- *Cloud.* mean = C * noisy_sum / max(noisy_count, 1); the pool points nearest to it,
  compared after the same clipping, or with ``diversity=True`` ECOS's greedy k-center
  over the ``rho * budget`` nearest, started from the mean.

The default sigma, 5 * sqrt(2), spends ECOS's default epsilon (0.73 at delta 1e-5): two
releases of noise multiplier 5 sqrt(2) compose to one of multiplier 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from proxybench import (
    DEFAULT_DELTA,
    SELECT,
    AuditMechanism,
    CloudView,
    Device,
    DeviceContext,
    GaussianSum,
    Message,
    ProxybenchError,
    Selection,
    gaussian_noise,
    hookimpl,
    sigma_for_epsilon,
)

from .mean_nearest import NearestToCenter, clip_rows

if TYPE_CHECKING:  # dp-accounting loads on first use: listing samplers does not pay for it
    from proxybench import DpEvent

#: (sum, count) sensitivities in units of the clip norm, by adjacency (the declared event's)
SENSITIVITIES = {"add_remove": (1.0, 1.0), "replace_one": (2.0, 0.0)}
#: The L2 norm of one row's (sum, count) contribution: the unit's clip in the device runtime
UNIT_BOUND = math.sqrt(2.0)


def mean_contributions(feats: np.ndarray, clip: float) -> np.ndarray:
    """Each row's (d + 1)-vector: its feature clipped to ``clip``, in units of ``clip``, then 1 for the count."""
    rows = clip_rows(np.asarray(feats, dtype=np.float64), clip)
    return np.hstack([rows / clip, np.ones((len(rows), 1))])


def clipped_release(feats: np.ndarray, clip: float) -> np.ndarray:
    """The exact (d + 1)-vector before noise, one row one unit: the clipped sum in units of ``clip``, then the count."""
    return mean_contributions(feats, clip).sum(0)


def privatize_release(values: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism on the release (the audit's stand-in for the runtime's noise)."""
    return gaussian_noise(values, sigma, rng)


def noisy_mean_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """On the device: each row's clipped feature (units of C) and a 1; the runtime sums by unit, clips, adds noise."""
    feats = ctx.features()
    ctx.meter.add_flops(4 * feats.size)
    return mean_contributions(feats, float(msg["clip"]))


def mean_release(dim: int, sigma: float, adjacency: str) -> GaussianSum:
    """The runtime's mechanism for a (sum, count) release of a ``dim``-feature at noise ``sigma`` per number.

    One row's vector has norm at most sqrt(2) (clipped feature, count 1): each original
    record's total is clipped to that, so an image's augmentations together count as one.
    """
    return GaussianSum(noise_multiplier=sigma / UNIT_BOUND, adjacency=adjacency, dim=dim + 1, bound=UNIT_BOUND)


def noisy_mean(reply: Message, clip: float) -> tuple[np.ndarray, float]:
    """The cloud's estimate from a (sum, count) release: C * noisy_sum / max(noisy_count, 1), and the count."""
    values = np.asarray(reply["release"], dtype=np.float64)
    count = float(values[-1])
    return clip * values[:-1] / max(count, 1.0), count


def median_norm(x: np.ndarray, sample: int = 100_000) -> float:
    """The median L2 norm of the pool's rows (every k-th row above ``sample`` rows: no randomness spent)."""
    rows = x[:: max(1, len(x) // sample)]
    return float(np.median(np.linalg.norm(np.asarray(rows, dtype=np.float64), axis=1)))


@dataclass
class DpMean(NearestToCenter):
    name: ClassVar[str] = "dp-mean"
    description: ClassVar[str] = "DP mean: clipped noisy sum and count from the device, pool points nearest the mean (DP)"
    kind: ClassVar[str] = "private"

    clip: float = 0.0  # C; 0 = the pool's median phi norm
    sigma: float = 5.0 * math.sqrt(2.0)
    target_epsilon: float | None = None
    adjacency: Literal["add_remove", "replace_one"] = "add_remove"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.clip < 0:
            raise ProxybenchError(f"dp-mean: clip must be >= 0 (0: the pool's median norm), got {self.clip}")
        if self.sigma <= 0 and self.target_epsilon is None:
            raise ProxybenchError(f"dp-mean: sigma must be > 0, got {self.sigma} (mean-nearest is the noise-free one)")
        if self.adjacency not in SENSITIVITIES:
            raise ProxybenchError(f"dp-mean: adjacency must be one of {sorted(SENSITIVITIES)}, got {self.adjacency!r}")

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity of the whole (d + 1)-vector release, in units of C."""
        return math.hypot(*SENSITIVITIES[self.adjacency])

    def noise_sigma(self, delta: float = DEFAULT_DELTA) -> float:
        """sigma, or the sigma at which the composed release reaches ``target_epsilon`` at ``delta``."""
        if self.target_epsilon is not None:
            # The runtime's one Gaussian release of the (sum, count) vector, at its sensitivity under the adjacency.
            return sigma_for_epsilon(self.target_epsilon, mean_release(1, 1.0, self.adjacency).sensitivity, delta)
        return self.sigma

    def privacy_event(self, sigma: float) -> DpEvent:
        """The runtime's (sum, count) release at ``sigma``, as declared (the record's epsilon is the runtime's)."""
        return self.release(1, sigma).event()

    def release(self, dim: int, sigma: float, round_: int = 0) -> GaussianSum | None:
        """The device runtime's mechanism for a (sum, count) release of ``dim`` features at noise ``sigma`` (any round)."""
        return mean_release(dim, sigma, self.adjacency)

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigma = self.noise_sigma(cloud.delta)
        clip = self.clip or median_norm(cloud.features)
        reply = device.call(noisy_mean_program, {"clip": clip}, phase=SELECT, label="dp-mean-release",
                            release=self.release(cloud.features.shape[1], sigma))
        center, count = noisy_mean(reply, clip)
        picked = self.nearest(cloud.features, center, budget, clip=clip)
        return Selection(indices=np.sort(picked), privacy=self.privacy_event(sigma), adjacency=self.adjacency,
                         info={"clip": clip, "sigma": sigma, "noisy_count": round(count, 3)})

    def audit_mechanism(self, delta: float = DEFAULT_DELTA) -> AuditMechanism:
        """One release on a device set D and its worst-case neighbour D' (``proxybench audit``).

        D: 40 points in 8 dimensions (seed 0), half of them beyond the clip norm C = 1.
        Under add/remove D' adds one point of norm 3 (clipped to 1: the sum moves by 1,
        the count by 1); under replace-one D' replaces a point of norm beyond C by its
        negation (the sum moves by 2, the count stays). Counted by ``clipped_release``,
        noised by ``privatize_release``, as on the device.
        """
        sigma, rng, clip = self.noise_sigma(delta), np.random.default_rng(0), 1.0
        points = rng.normal(0.0, 1.0, (40, 8))
        points[:20] *= 3.0 / np.linalg.norm(points[:20], axis=1, keepdims=True)
        if self.adjacency == "add_remove":
            neighbour = np.concatenate([points, points[:1]])
        else:
            neighbour = points.copy()
            neighbour[0] = -points[0]

        def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
            return privatize_release(np.broadcast_to(values, (trials, *values.shape)), sigma, rng)

        return AuditMechanism(
            name=f"dp-mean release (d=8, sigma={sigma:.4g})", sigma=sigma, sensitivity=self.sensitivity,
            adjacency=self.adjacency, event=self.privacy_event(sigma), values_d=clipped_release(points, clip),
            values_d_prime=clipped_release(neighbour, clip), privatize=privatize,
            description="the noisy clipped sum (units of C) and count; D' adds or flips one point beyond C",
        )


@hookimpl
def proxybench_samplers():
    return [DpMean]
