"""A scenario: the device's data and the cloud's open-source pool, cut from a dataset.

The pool is the same for every client: each domain's public training part (the dataset
splits every domain once into a public and a private part, ``ImageData.is_private``), the
distractors included. A client's rows come from its domains' private parts, which no pool
holds, so the pool says nothing of which domain the client has (docs/threat-model.md).

The device's domain is one domain or a mixture (``street+photo``, ``street:0.7,photo:0.3``;
``client_mix``). Its training data are whole *groups* (originals): ``client_fraction`` of
its domain's private part, or, for a mixture, as many images as that fraction of the mean
private part would hold, split over the domains by their shares (in whole groups, nearest
each domain's quota). Its test data are its domain's test split, or the same mixture of the
domains' test splits (as large as the shares allow). With ``pool_has_client_domain`` off, the
pool also leaves out the client's domains' public parts: that pool names the client's domain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..contract.dataset import DomainSize
from ..contract.images import ImageData, ImageRows
from ..ml.geometry import largest_remainder
from ..util.errors import ProxybenchError
from .client_mix import ClientMix, parse_client_domain


@dataclass
class Scenario:
    data: ImageData
    client_domain: str  # as the run names it: one domain or a mixture
    pool_idx: np.ndarray  # indices into data, sorted
    client_train_idx: np.ndarray
    client_test_idx: np.ndarray
    key: dict  # identifies the pool (never the client), for caching pool-dependent artefacts
    mix: ClientMix = field(default_factory=lambda: ClientMix(()))

    @property
    def public_idx(self) -> np.ndarray:
        """Every public training row: the pool of every client, before a client domain is left out."""
        return np.flatnonzero(_public(self.data))

    @property
    def client_domain_ids(self) -> np.ndarray:
        return np.array([self.data.domain_names.index(n) for n in self.mix.names], dtype=np.int64)

    @property
    def client_records(self) -> int:
        """The device's training records: its originals, each with its augmentations (the unit its releases count)."""
        return len(np.unique(self.data.groups[self.client_train_idx]))

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

    @property
    def pool_client_domain(self) -> np.ndarray:
        """Per pool point: the position of its domain in the mixture, -1 outside the client's domains."""
        out = np.full(len(self.pool_idx), -1, dtype=np.int64)
        for k, dom in enumerate(self.client_domain_ids):
            out[self.pool_domains == dom] = k
        return out

    def in_domain_share(self, selected_pool_positions: np.ndarray) -> float:
        """Share of the picks from any of the client's domains."""
        if len(selected_pool_positions) == 0:
            return 0.0
        return float(np.isin(self.pool_domains[selected_pool_positions], self.client_domain_ids).mean())

    def domain_shares(self, selected_pool_positions: np.ndarray) -> dict[str, float]:
        """Share of the picks from each of the dataset's domains (all of them, 0 included)."""
        n = max(1, len(selected_pool_positions))
        counts = np.bincount(self.pool_domains[selected_pool_positions], minlength=len(self.data.domain_names))
        return {name: round(float(c) / n, 4) for name, c in zip(self.data.domain_names, counts, strict=True)}

    def client_shares(self, data_idx: np.ndarray) -> dict[str, float]:
        """Each client domain's share of the device rows ``data_idx`` (train or test)."""
        doms = self.data.domains[data_idx]
        n = max(1, len(data_idx))
        return {name: round(float((doms == d).sum()) / n, 4)
                for name, d in zip(self.mix.names, self.client_domain_ids, strict=True)}


def _client_train_groups(data: ImageData, mix: ClientMix, client_fraction: float, seed: int) -> list[np.ndarray]:
    """The group ids the device holds in each client domain: a seeded draw of whole groups of its private part.

    A mixture is measured in images, not groups: a domain of augmented originals (about
    7 images a group) and a domain of one image a group give the shares asked for.
    """
    ids = [data.domain_names.index(n) for n in mix.names]
    private = [(data.domains == d) & data.is_private for d in ids]
    for name, rows in zip(mix.names, private, strict=True):
        if not rows.any():
            raise ProxybenchError(f"client domain {name!r} has no private rows (ImageData.is_private): the device "
                                  "draws its rows from its domain's private part, which no pool holds; give the "
                                  "dataset one (docs/datasets.md)")
    groups = [np.unique(data.groups[m], return_counts=True) for m in private]  # (group ids, images per group)
    perms = [np.random.default_rng([seed, d, 7919]).permutation(g) for d, (g, _) in zip(ids, groups, strict=True)]
    if mix.is_single:
        return [perms[0][: max(1, int(round(client_fraction * len(groups[0][0]))))]]
    target = client_fraction * np.mean([m.sum() for m in private])
    picked = []
    for (gids, sizes), perm, share in zip(groups, perms, mix.weights, strict=True):
        filled = np.cumsum(sizes[np.searchsorted(gids, perm)])
        k = int(np.argmin(np.abs(filled - share * target))) + 1  # whole groups, nearest the domain's image quota
        picked.append(perm[:k])
    return picked


def _client_test(data: ImageData, mix: ClientMix, seed: int) -> np.ndarray:
    """The device's test rows: its domain's test split, or the mixture's shares of the splits, as large as they allow."""
    ids = [data.domain_names.index(n) for n in mix.names]
    splits = [np.flatnonzero((data.domains == d) & data.is_test) for d in ids]
    for name, split in zip(mix.names, splits, strict=True):
        if len(split) == 0:
            raise ProxybenchError(f"client domain {name!r} has no test images")
    if mix.is_single:
        return splits[0]
    total = int(min(len(s) / w for s, w in zip(splits, mix.weights, strict=True)))
    sizes = largest_remainder(np.array(mix.weights), total, np.array([len(s) for s in splits]))
    return np.sort(np.concatenate([
        np.random.default_rng([seed, d, 104729]).choice(s, size=int(k), replace=False)
        for d, s, k in zip(ids, splits, sizes, strict=True)
    ]))


def _public(data: ImageData) -> np.ndarray:
    return ~data.is_test & ~data.is_private


def _check_groups(data: ImageData) -> None:
    """No group may straddle the public and the private part: an augmentation of a device original would sit in the pool."""
    train = ~data.is_test
    mixed = np.intersect1d(data.groups[train & data.is_private], data.groups[train & ~data.is_private])
    if len(mixed):
        raise ProxybenchError(f"{len(mixed)} groups have rows in both the public and the private part (e.g. "
                              f"{mixed[:3].tolist()}); a dataset must put every image of one original on one side")


def make_scenario(
    data: ImageData,
    client_domain: str,
    client_fraction: float,
    seed: int,
    pool_has_client_domain: bool = True,
    data_key: dict | None = None,
) -> Scenario:
    """Cut a run's scenario; ``data_key`` is the dataset's public identity (``Dataset.cache_key``), never its secret."""
    mix = parse_client_domain(client_domain, data.client_domains)
    if not 0.0 < client_fraction <= 1.0:
        raise ProxybenchError(f"client_fraction must be in (0, 1], got {client_fraction}")
    _check_groups(data)
    client_ids = [data.domain_names.index(n) for n in mix.names]
    is_client = np.zeros(len(data.domains), dtype=bool)
    for d, groups in zip(client_ids, _client_train_groups(data, mix, client_fraction, seed), strict=True):
        is_client |= np.isin(data.groups, groups) & (data.domains == d) & data.is_private
    client_test = _client_test(data, mix, seed)
    pool_mask = _public(data)
    if not pool_has_client_domain:
        pool_mask &= ~np.isin(data.domains, client_ids)
    pool = np.flatnonzero(pool_mask)
    # The pool's content, not a recipe: one key for every client, mixture and seed that share the pool (its
    # features, a cloud-trained phi, the compress teacher are built once), another for any other pool; and
    # nothing of the client in it, since the cloud's task reads it.
    content = hashlib.sha256(pool.astype(np.int64).tobytes()).hexdigest()[:16]
    key = {"data": data_key, "pool": content}
    return Scenario(data, client_domain, pool, np.flatnonzero(is_client), client_test, key, mix)


def pool_size_bound(sizes: dict[str, DomainSize], mix: ClientMix, pool_has_client_domain: bool = True) -> int:
    """The most images ``make_scenario`` can put in the pool, from a dataset's declared public sizes.

    Exact: the pool is every domain's public part, less the client's domains when they are left out.
    """
    return sum(size.images for name, size in sizes.items() if pool_has_client_domain or name not in mix.names)
