"""``oracle-domain``: a uniform draw from the pool points of the client's own domain.

It reads the pool's hidden domain ids, which no real sampler can, so it is an upper
reference for calibration, marked as an oracle in every record and table.

When the budget exceeds the client domain's pool points (budget 4000 against 3000 on the
embedded benchmark), it takes all of them and draws the rest uniformly from the other pool
points: the largest in-domain share any selection of that size can have. ``info["filled"]``
counts the out-of-domain fill.

A mixed-domain client (``street:0.7,photo:0.3``) gets the budget split over its domains
by the mixture's shares (largest remainder; a domain with too few pool points passes its
rest to the others), each part a uniform draw from that domain's pool points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, ProxybenchError, Sampler, Selection, hookimpl, largest_remainder


@dataclass
class OracleDomain(Sampler):
    name: ClassVar[str] = "oracle-domain"
    description: ClassVar[str] = "ORACLE: uniform draw from the client's domain(s), using hidden domain ids"
    kind: ClassVar[str] = "oracle"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        if cloud.oracle_in_domain is None:
            raise ProxybenchError("oracle-domain needs the runner's ground truth (oracle_in_domain)")
        in_domain = np.flatnonzero(cloud.oracle_in_domain)
        shares = cloud.oracle_shares or (1.0,)
        if budget <= len(in_domain) and len(shares) > 1:
            parts = [np.flatnonzero(cloud.oracle_client_domain == k) for k in range(len(shares))]
            quota = largest_remainder(np.array(shares), budget, np.array([len(p) for p in parts]))
            picked = [rng.choice(p, size=int(q), replace=False) for p, q in zip(parts, quota, strict=True)]
            return Selection(indices=np.sort(np.concatenate(picked)), info={"filled": 0})
        if budget <= len(in_domain):
            return Selection(indices=np.sort(rng.choice(in_domain, size=budget, replace=False)), info={"filled": 0})
        rest = np.flatnonzero(~cloud.oracle_in_domain)
        fill = rng.choice(rest, size=budget - len(in_domain), replace=False)
        return Selection(indices=np.sort(np.concatenate([in_domain, fill])), info={"filled": int(len(fill))})


@hookimpl
def proxybench_samplers():
    return [OracleDomain]
