"""The audit's view of a plugin's private release (part of the plugin contract).

A plugin with a private device program offers it through an optional method on its class::

    def audit_mechanism(self) -> AuditMechanism: ...

returning the exact (noise-free) outputs of ONE release on two neighbouring device
datasets D and D' (the worst-case neighbour), the accountant's ``DpEvent`` for that one
release, and ``privatize(values, rng, trials)``: the plugin's own noise-adding function,
drawing ``trials`` independent noisy copies of ``values``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..util.errors import ProxybenchError

if TYPE_CHECKING:  # dp-accounting loads on first use (privacy.accounting)
    from dp_accounting import DpEvent

Privatize = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]
Score = Callable[[np.ndarray], np.ndarray]


@dataclass
class AuditMechanism:
    """One private release of a plugin, ready to be attacked.

    ``privatize(values, rng, trials)`` must return ``trials`` independent noisy copies of
    ``values`` (shape ``(trials, *values.shape)``): the noise of the release the plugin
    names (the runtime's own mechanisms are audited through their code by ``audit.runtime``).
    """

    name: str
    sigma: float
    sensitivity: float
    adjacency: str
    event: DpEvent  # the accountant's event for ONE release
    values_d: np.ndarray  # exact output on D
    values_d_prime: np.ndarray  # exact output on D' (the worst-case neighbour)
    privatize: Privatize
    description: str = ""
    #: a general attack statistic (trials, m) -> (trials,), larger means "D'"; None: the Gaussian LR test
    score: Score | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values_d = np.asarray(self.values_d, dtype=np.float64)
        self.values_d_prime = np.asarray(self.values_d_prime, dtype=np.float64)
        if self.values_d.shape != self.values_d_prime.shape:
            raise ProxybenchError(
                f"audit mechanism {self.name!r}: D and D' give outputs of different shapes "
                f"{self.values_d.shape} and {self.values_d_prime.shape}"
            )
        if self.sigma < 0 or self.sensitivity <= 0:
            raise ProxybenchError(f"audit mechanism {self.name!r}: need sigma >= 0 and sensitivity > 0")

    @property
    def neighbour_distance(self) -> float:
        """|f(D') - f(D)|_2: should equal the claimed sensitivity for a worst-case neighbour."""
        return float(np.linalg.norm(self.values_d_prime - self.values_d))


def gaussian_reference(sigma: float, sensitivity: float = 1.0, dim: int = 10, adjacency: str = "add_remove") -> AuditMechanism:
    """The exact Gaussian mechanism on a ``dim``-bin histogram (known epsilon), through ``privacy.accounting.gaussian_noise``."""
    from .accounting import gaussian_event, gaussian_noise

    d = np.arange(dim, dtype=np.float64) * 3.0
    d_prime = d.copy()
    d_prime[0] += sensitivity

    def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
        return gaussian_noise(np.broadcast_to(values, (trials, *values.shape)), sigma, rng)

    return AuditMechanism(name=f"gaussian(sigma={sigma:g})", sigma=sigma, sensitivity=sensitivity, adjacency=adjacency,
                          event=gaussian_event(sigma, sensitivity), values_d=d, values_d_prime=d_prime,
                          privatize=privatize, description="reference: the exact Gaussian mechanism")
