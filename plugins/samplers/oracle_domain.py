"""``oracle-domain``: a uniform draw from the pool points of the client's own domain.

It reads the pool's hidden domain ids, which no real sampler can, so it is an upper
reference for calibration, marked as an oracle in every record and table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, ProxybenchError, Sampler, Selection, hookimpl


@dataclass
class OracleDomain(Sampler):
    name: ClassVar[str] = "oracle-domain"
    description: ClassVar[str] = "ORACLE: uniform draw from the client's domain, using hidden domain ids"
    kind: ClassVar[str] = "oracle"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        if cloud.oracle_in_domain is None:
            raise ProxybenchError("oracle-domain needs the runner's ground truth (oracle_in_domain)")
        in_domain = np.flatnonzero(cloud.oracle_in_domain)
        if budget > len(in_domain):
            raise ProxybenchError(
                f"oracle-domain: budget {budget} exceeds the {len(in_domain)} in-domain pool points; "
                f"choose a budget <= {len(in_domain)}"
            )
        return Selection(indices=np.sort(rng.choice(in_domain, size=budget, replace=False)))


@hookimpl
def proxybench_samplers():
    return [OracleDomain]
