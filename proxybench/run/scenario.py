"""A scenario: one client domain's device data and the cloud's open-source pool, cut from a dataset.

The client gets ``client_fraction`` of its domain's training *groups* (originals, so
no augmentation of a client image sits in the pool) and its domain's test split as
held-out test data. The pool gets everything else that is training data: the
client domain's remainder (unless excluded), every other domain, the distractors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.images import ImageData, ImageRows
from ..util.errors import ProxybenchError, unknown_name


@dataclass
class Scenario:
    data: ImageData
    client_domain: str
    pool_idx: np.ndarray  # indices into data, sorted
    client_train_idx: np.ndarray
    client_test_idx: np.ndarray
    key: dict  # identifies the split, for caching pool-dependent artefacts

    @property
    def client_domain_id(self) -> int:
        return self.data.domain_names.index(self.client_domain)

    @property
    def pool_images(self) -> ImageRows:
        """Read lazily: a folder dataset's pool is a memory map too large to copy."""
        return ImageRows(self.data.images, self.pool_idx)

    @property
    def pool_labels(self) -> np.ndarray:
        return self.data.labels[self.pool_idx]

    @property
    def pool_domains(self) -> np.ndarray:
        """Ground truth for analysis only; samplers never see it."""
        return self.data.domains[self.pool_idx]

    def in_domain_share(self, selected_pool_positions: np.ndarray) -> float:
        if len(selected_pool_positions) == 0:
            return 0.0
        return float((self.pool_domains[selected_pool_positions] == self.client_domain_id).mean())


def make_scenario(
    data: ImageData,
    client_domain: str,
    client_fraction: float,
    seed: int,
    pool_has_client_domain: bool = True,
    data_key: dict | None = None,
) -> Scenario:
    if client_domain not in data.client_domains:
        raise unknown_name("client domain", client_domain, data.client_domains)
    if not 0.0 < client_fraction <= 1.0:
        raise ProxybenchError(f"client_fraction must be in (0, 1], got {client_fraction}")
    dom = data.domain_names.index(client_domain)
    in_dom_train = np.flatnonzero((data.domains == dom) & ~data.is_test)
    groups = np.unique(data.groups[in_dom_train])
    rng = np.random.default_rng([seed, dom, 7919])
    n_client_groups = max(1, int(round(client_fraction * len(groups))))
    client_groups = rng.permutation(groups)[:n_client_groups]
    is_client = np.isin(data.groups, client_groups) & (data.domains == dom) & ~data.is_test
    client_train = np.flatnonzero(is_client)
    client_test = np.flatnonzero((data.domains == dom) & data.is_test)
    pool_mask = ~data.is_test & ~is_client
    if not pool_has_client_domain:
        pool_mask &= data.domains != dom
    pool = np.flatnonzero(pool_mask)
    if len(client_test) == 0:
        raise ProxybenchError(f"client domain {client_domain!r} has no test images")
    key = {
        "data": data_key,
        "client_domain": client_domain,
        "client_fraction": client_fraction,
        "seed": seed,
        "pool_has_client_domain": pool_has_client_domain,
    }
    return Scenario(data, client_domain, pool, client_train, client_test, key)
