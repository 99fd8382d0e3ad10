"""``dp-mean-rounds``: dp-mean's privacy budget split over rounds that re-centre the clipping.

The budget-split variant of ``dp-mean`` (issue 17). One private mean has two errors: the
noise, sigma * C * sqrt(d) / n in norm, and the clipping bias (every feature longer than
C is shrunk to C, so the mean of clipped features is not the mean of the features). A
second round can shrink both, because the cloud now knows roughly where the client is:

- *Round 1* is dp-mean's release: the clipped sum (units of C) and count at sigma_1.
- *Round k >= 2.* The cloud sends the previous estimate c and a radius C_k; the device
  releases the sum of clip(phi(x) - c, C_k) in units of C_k, and the count, at sigma_k;
  the cloud's new estimate is c + C_k * noisy_sum / max(noisy_count, 1). C_k is public:
  the distance from c to its ``rho * budget``-th nearest pool point (the region the
  final step draws candidates from), never more than C_{k-1}, so a round never loosens
  the clip. Client points beyond C_k of c are still shrunk, so a strongly clipped first
  estimate moves at most C_k a round. Sensitivities are dp-mean's in units of C_k: each
  round is the same composed (sum, count) release.
- *Budget.* ``target_epsilon`` (or ``sigma``) is for the whole protocol: it fixes one
  effective sigma, and round k gets the share w_k of 1/sigma^2 (``first_share`` for round
  1, the rest equally), as in ``ecos-rounds``; PLD composes the rounds' events.
- *Cloud.* After one round the pool is compared clipped to C (dp-mean's space, where its
  mean lives). After re-centred rounds the estimate is of the unclipped mean (within
  C_k of c), so the pool is compared unclipped. ``diversity`` as in dp-mean.

With ``rounds=1`` this is dp-mean exactly (same release, same selection).
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
    CloudView,
    Device,
    DeviceContext,
    Message,
    Selection,
    composed,
    hookimpl,
)

from .dp_mean import DpMean, mean_contributions, median_norm, noisy_mean, noisy_mean_program
from .mean_nearest import squared_distances
from .split_budget import SplitBudget


def recentred_mean_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """On the device: each row's clip(phi - c, radius) in units of the radius, and a 1 (the runtime adds the noise)."""
    feats = ctx.features()
    ctx.meter.add_flops(5 * feats.size)
    return mean_contributions(np.asarray(feats, dtype=np.float64) - np.asarray(msg["center"], dtype=np.float64),
                              float(msg["radius"]))


@dataclass
class DpMeanRounds(DpMean, SplitBudget):
    name: ClassVar[str] = "dp-mean-rounds"
    description: ClassVar[str] = "DP mean in rounds: dp-mean, then noisy means re-clipped around the last estimate (DP)"

    #: The device program of rounds 2+ (a class attribute, so a variant can install another one).
    round_program: ClassVar = staticmethod(recentred_mean_program)

    rounds: int = 2
    first_share: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_split()

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigmas = self.round_sigmas(cloud.delta)
        x = cloud.features
        clip = self.clip or median_norm(x)
        dim = x.shape[1]
        reply = device.call(noisy_mean_program, {"clip": clip}, phase=SELECT, label=f"{self.name}-round1",
                            release=self.release(dim, sigmas[0]))
        center, count = noisy_mean(reply, clip)
        radius = clip
        rounds: list[dict[str, Any]] = [{"radius": clip, "sigma": sigmas[0], "noisy_count": round(count, 3),
                                         "center_norm": round(float(np.linalg.norm(center)), 6)}]
        for k in range(1, self.rounds):
            kth = min(len(x), max(budget, int(round(self.rho * budget)))) - 1
            kth_distance = float(np.sqrt(np.partition(squared_distances(x, center), kth)[kth]))
            radius = min(radius, max(kth_distance, 1e-6 * clip))  # > 0: the device divides by it
            msg = {"center": center.astype(np.float32), "radius": radius}
            reply = device.call(self.round_program, msg, phase=SELECT, label=f"{self.name}-round{k + 1}",
                                release=self.release(dim, sigmas[k], round_=k))
            step, count = noisy_mean(reply, radius)
            center = msg["center"].astype(np.float64) + step
            rounds.append({"radius": round(radius, 6), "sigma": sigmas[k], "noisy_count": round(count, 3),
                           "moved": round(float(np.linalg.norm(step)), 6),
                           "center_norm": round(float(np.linalg.norm(center)), 6)})
        picked = self.nearest(x, center, budget, clip=clip if self.rounds == 1 else None)
        privacy = composed(*[self.privacy_event(s) for s in sigmas])
        return Selection(indices=np.sort(picked), privacy=privacy, adjacency=self.adjacency,
                         info={"clip": clip, "rounds": rounds})

    def audit_mechanism(self, delta: float = DEFAULT_DELTA) -> AuditMechanism:
        """Round 1's release at its own sigma (later rounds are the same release; the black box replays them all)."""
        return DpMean.audit_mechanism(dataclasses.replace(self, sigma=self.round_sigmas(delta)[0],
                                                          target_epsilon=None), delta)


@hookimpl
def proxybench_samplers():
    return [DpMeanRounds]
