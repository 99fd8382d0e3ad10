"""Differential-privacy mechanisms and accounting (via Google's dp-accounting).

A sampler or task states what it released about the device's data as a ``DpEvent``;
the runner composes the events of one run and reports (epsilon, delta):
epsilon 0 for no client information, None when a release has no guarantee at all.
"""

from __future__ import annotations

import math
from typing import Literal

import dp_accounting
import numpy as np
from dp_accounting import DpEvent

from .errors import ProxybenchError

DEFAULT_DELTA = 1e-5

Adjacency = Literal["add_remove", "replace_one"]


def count_sensitivity(adjacency: Adjacency, changed_counts: int = 1) -> float:
    """L2 sensitivity of a count histogram where one record touches ``changed_counts`` bins.

    Under add/remove-one a record moves each of its bins by 1; under replace-one a
    record leaves one bin and enters another, so a one-bin histogram has sqrt(2).
    """
    if adjacency == "add_remove":
        return math.sqrt(changed_counts)
    if adjacency == "replace_one":
        return math.sqrt(2 * changed_counts)
    raise ProxybenchError(f"unknown adjacency {adjacency!r}; choose add_remove or replace_one")


def gaussian_event(sigma: float, sensitivity: float) -> DpEvent:
    """The DpEvent of one Gaussian release; sigma 0 releases the exact values."""
    if sigma < 0:
        raise ProxybenchError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return dp_accounting.NonPrivateDpEvent()
    return dp_accounting.GaussianDpEvent(noise_multiplier=sigma / sensitivity)


def no_client_information() -> DpEvent:
    return dp_accounting.NoOpDpEvent()


def non_private() -> DpEvent:
    return dp_accounting.NonPrivateDpEvent()


def _has_non_private(event: DpEvent) -> bool:
    if isinstance(event, dp_accounting.NonPrivateDpEvent):
        return True
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return any(_has_non_private(e) for e in event.events)
    inner = getattr(event, "event", None)
    return inner is not None and _has_non_private(inner)


def _is_noop(event: DpEvent) -> bool:
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return True
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return all(_is_noop(e) for e in event.events)
    return False


def compose(*events: DpEvent) -> DpEvent:
    return dp_accounting.ComposedDpEvent(list(events))


def epsilon(event: DpEvent, delta: float = DEFAULT_DELTA) -> float | None:
    """Epsilon at ``delta`` from the PLD accountant: 0 for no release, None for a non-private one."""
    if _is_noop(event):
        return 0.0
    if _has_non_private(event):
        return None
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def sigma_for_epsilon(target_epsilon: float, sensitivity: float, delta: float = DEFAULT_DELTA) -> float:
    """The Gaussian noise that gives ``target_epsilon`` for one release at ``delta``."""
    if not target_epsilon > 0:
        raise ProxybenchError(f"target epsilon must be > 0, got {target_epsilon}")
    return float(dp_accounting.get_sigma_gaussian(target_epsilon, delta)) * sensitivity


def gaussian_noise(values: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism: values plus N(0, sigma^2) per coordinate."""
    values = np.asarray(values, dtype=np.float64)
    if sigma == 0:
        return values.copy()
    return values + rng.normal(0.0, sigma, size=values.shape)
