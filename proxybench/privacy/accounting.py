"""Differential-privacy mechanisms and accounting (via Google's dp-accounting).

The device runtime's mechanisms (``privacy.release``) give each release's ``DpEvent``;
the runner composes the events of one run and reports (epsilon, delta): epsilon 0 for
no client information, None when a release has no guarantee at all. What a sampler or
task declares is composed the same way and recorded beside, as its claim.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..util.errors import ProxybenchError
from ..util.lazy import lazy_import

if TYPE_CHECKING:
    from dp_accounting import DpEvent

dp_accounting = lazy_import("dp_accounting")

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


def poisson_sampled(rate: float, event: DpEvent) -> DpEvent:
    """``event`` run on a Poisson subsample of the device's records, each kept with probability ``rate``."""
    return dp_accounting.PoissonSampledDpEvent(rate, event)


def self_composed(event: DpEvent, count: int) -> DpEvent:
    """``count`` releases of ``event`` (one per query, say), composed."""
    return dp_accounting.SelfComposedDpEvent(event, count)


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


#: The PLD accountant's grid of privacy-loss values: dp-accounting's own below ``_FINE_UP_TO``; above it, this
#: share of an RDP upper bound on epsilon, so a large epsilon costs no more than a small one (the PLD's work
#: grows with epsilon over the grid step: about 28 s at epsilon 1000 on the default step, 2026-12-06).
_FINE_STEP = 1e-4
_FINE_UP_TO = 10.0
_RELATIVE_STEP = 1e-5


def rdp_epsilon(event: DpEvent, delta: float = DEFAULT_DELTA) -> float | None:
    """Epsilon at ``delta`` from the RDP accountant (looser than the PLD's, and quick); None for an event it does
    not support."""
    accountant = dp_accounting.rdp.RdpAccountant()
    if not accountant.supports(event):
        return None
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def _discretization(event: DpEvent, delta: float) -> float:
    bound = rdp_epsilon(event, delta)
    return _FINE_STEP if bound is None or bound <= _FINE_UP_TO else bound * _RELATIVE_STEP


def epsilon(event: DpEvent, delta: float = DEFAULT_DELTA) -> float | None:
    """Epsilon at ``delta`` from the PLD accountant: 0 for no release, None for a non-private one.

    The PLD rounds pessimistically, so a coarser grid step for a large epsilon only raises it (by about the
    step), never lowers it.
    """
    if _is_noop(event):
        return 0.0
    if _has_non_private(event):
        return None
    accountant = dp_accounting.pld.PLDAccountant(value_discretization_interval=_discretization(event, delta))
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def sigma_for_epsilon(target_epsilon: float, sensitivity: float, delta: float = DEFAULT_DELTA) -> float:
    """The Gaussian noise that gives ``target_epsilon`` for one release at ``delta``."""
    if not target_epsilon > 0:
        raise ProxybenchError(f"target epsilon must be > 0, got {target_epsilon}")
    return float(dp_accounting.get_sigma_gaussian(target_epsilon, delta)) * sensitivity


def split_sigmas(effective_sigma: float, first_share: float, rounds: int) -> list[float]:
    """One Gaussian budget split over rounds: round k gets the share w_k of 1 / sigma^2.

    Gaussian releases compose exactly in 1 / sigma^2, so releases at sigma_eff / sqrt(w_k)
    with shares summing to 1 cost together what one release at sigma_eff costs. Round 1
    gets ``first_share``, the later rounds the rest in equal parts; a single round gets it all.
    """
    if rounds < 1:
        raise ProxybenchError(f"rounds must be >= 1, got {rounds}")
    if not 0.0 < first_share < 1.0:
        raise ProxybenchError(f"first_share must be in (0, 1), got {first_share}")
    if rounds == 1:
        return [effective_sigma]
    shares = [first_share] + [(1.0 - first_share) / (rounds - 1)] * (rounds - 1)
    return [effective_sigma / math.sqrt(w) for w in shares]


def gaussian_noise(values: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism: values plus N(0, sigma^2) per coordinate."""
    values = np.asarray(values, dtype=np.float64)
    if sigma == 0:
        return values.copy()
    return values + rng.normal(0.0, sigma, size=values.shape)


# DpEvents cross from the cloud process to the harness as JSON, never as pickles: a
# pickle from a process that runs third-party code could run code in the harness.
@functools.cache
def _event_classes() -> dict[str, type]:
    return {cls.__name__: cls for cls in vars(dp_accounting.dp_event).values()
            if isinstance(cls, type) and issubclass(cls, dp_accounting.DpEvent) and cls is not dp_accounting.DpEvent}


def event_to_json(event: DpEvent) -> dict:
    """A DpEvent as plain JSON: its class name and its attrs fields, nested events included."""
    import attr

    if type(event).__name__ not in _event_classes():
        raise ProxybenchError(f"privacy event {type(event).__name__} is not a dp_accounting DpEvent")

    def field(value):
        if isinstance(value, dp_accounting.DpEvent):
            return event_to_json(value)
        if isinstance(value, (list, tuple)):
            return [field(v) for v in value]
        return value

    return {"dp_event": type(event).__name__,
            **{name: field(getattr(event, name)) for name in attr.fields_dict(type(event))}}


def event_from_json(data: dict) -> DpEvent:
    def field(value):
        if isinstance(value, dict) and "dp_event" in value:
            return event_from_json(value)
        if isinstance(value, list):
            return [field(v) for v in value]
        return value

    name = data.get("dp_event")
    if name not in _event_classes():
        raise ProxybenchError(f"unknown privacy event {name!r}; events are dp_accounting's: "
                              f"{', '.join(sorted(_event_classes()))}")
    return _event_classes()[name](**{k: field(v) for k, v in data.items() if k != "dp_event"})


def is_no_release(event: DpEvent) -> bool:
    """True for the event a plugin gets by default: it claims to have released nothing."""
    return _is_noop(event)


def check_one_adjacency(adjacencies: dict[str, str | None]) -> str | None:
    """The run's one adjacency, given each stage's (None: the stage declared no DP event); two differ: an error."""
    named = {stage: a for stage, a in adjacencies.items() if a is not None}
    for stage, a in named.items():
        if a not in ("add_remove", "replace_one"):
            raise ProxybenchError(f"{stage}: unknown adjacency {a!r}; choose add_remove or replace_one")
    if len(set(named.values())) > 1:
        listing = " and ".join(f"{stage} assumes {a}" for stage, a in named.items())
        raise ProxybenchError(f"one run composes one adjacency, but {listing}; "
                              "set the same adjacency parameter on the sampler and the task")
    return next(iter(named.values()), None)
