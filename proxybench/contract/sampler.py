"""The Sampler plugin base, what a sampler sees (CloudView) and what it returns (Selection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..privacy.accounting import DEFAULT_DELTA, no_client_information
from ..util.errors import ProxybenchError
from ..wire.device import Device
from .images import ImageRows
from .params import Plugin

if TYPE_CHECKING:
    from dp_accounting import DpEvent

    # phi's class only names a type here: loading a sampler's class must not load torch
    from ..ml.extractor import Extractor

#: How a run treated the device's data, for marking tables; derived from what the run did (a
#: sampler's own ``kind`` is only its claim, recorded beside).
PrivacyKind = Literal["client-free", "private", "privacy-free", "oracle"]


@dataclass
class CloudView:
    """Everything a sampler may look at on the cloud: never device data, never pool domain ids.

    ``labels`` is None when the task keeps the pool unlabeled. The ``oracle_*`` fields are
    filled only for samplers that declare themselves oracles (and the run is then marked
    as an oracle): ``oracle_in_domain`` marks the pool points of any client domain,
    ``oracle_client_domain`` gives each point's position in the client's mixture (-1
    outside it) and ``oracle_shares`` the mixture's shares. ``delta`` is the run's delta: calibrate noise to a
    target epsilon at it.
    The view lives in the cloud process, whose memory holds pool rows only.
    """

    features: np.ndarray  # (N, d) float32: phi of the pool
    images: ImageRows | None  # (N, H, W, 3) uint8, read lazily (index it for the rows you need); None: a pool
    # given as features alone (proxybench select --pool STORE), whose images are files the cloud does not read
    labels: np.ndarray | None
    extractor: Extractor
    oracle_in_domain: np.ndarray | None = None
    oracle_client_domain: np.ndarray | None = None
    oracle_shares: tuple[float, ...] | None = None
    delta: float = DEFAULT_DELTA

    @property
    def size(self) -> int:
        return len(self.features)


@dataclass
class Selection:
    """Pool positions chosen, optional importance weights, and the privacy cost of choosing them."""

    indices: np.ndarray
    privacy: DpEvent = field(default_factory=no_client_information)
    weights: np.ndarray | None = None
    adjacency: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Sampler(Plugin):
    """A proxy-data sampler: a dataclass of parameters with a ``select`` method."""

    kind: ClassVar[PrivacyKind] = "client-free"
    #: True for samplers that read ``CloudView.labels``: they run only under tasks whose pool is labeled.
    needs_pool_labels: ClassVar[bool] = False

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        raise NotImplementedError

    def check_sizes(self, budget: int, pool_size: int, device_size: int | None = None,
                    delta: float = DEFAULT_DELTA) -> None:
        """Refuse parameters that cannot work on data of these sizes (``ProxybenchError``), and warn of ones that
        measure little there (``ProxybenchWarning``), before phi is built or a feature extracted.

        Called after the budget was checked against the pool (``check_sizes`` below). ``device_size``:
        the device's records (an image with its augmentations counts once), where known: the harness
        that provisions a benchmark's device knows it; for a real device it is an estimate, or None.
        Only the harness passes it, never the cloud. The default checks nothing.
        """


def check_sizes(sampler: Sampler, budget: int, pool_size: int, device_size: int | None = None,
                delta: float = DEFAULT_DELTA) -> None:
    """The budget against the pool, then the sampler's own ``check_sizes``: what a run checks before any heavy work."""
    check_budget(budget, pool_size)
    sampler.check_sizes(budget, pool_size, device_size, delta)


def check_budget(budget: int, pool_size: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ProxybenchError(f"budget must be an integer, got {budget!r}")
    if budget <= 0:
        raise ProxybenchError(f"budget must be > 0, got {budget}")
    if budget > pool_size:
        raise ProxybenchError(f"budget {budget} is larger than the pool ({pool_size} images); choose 1..{pool_size}")


def run_sampler(
    sampler: Sampler, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator
) -> Selection:
    """Call ``select`` and hold it to the contract: sizes it can work with, then exactly ``budget`` unique in-range indices."""
    check_sizes(sampler, budget, cloud.size, delta=cloud.delta)
    if sampler.needs_pool_labels and cloud.labels is None:
        raise ProxybenchError(
            f"sampler {sampler.name!r} needs pool labels, but this task keeps the pool unlabeled; "
            "use a sampler that does not read labels (e.g. 'random') or a task with a labeled pool"
        )
    sel = sampler.select(cloud, device, budget, rng)
    idx = np.asarray(sel.indices)
    if idx.ndim != 1 or len(idx) != budget:
        raise ProxybenchError(f"sampler {sampler.name!r} returned {idx.shape} indices for budget {budget}")
    if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= cloud.size:
        raise ProxybenchError(f"sampler {sampler.name!r} returned indices outside 0..{cloud.size - 1}")
    if len(np.unique(idx)) != budget:
        raise ProxybenchError(f"sampler {sampler.name!r} returned repeated indices")
    sel.indices = idx.astype(np.int64)
    return sel
