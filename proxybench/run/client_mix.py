"""The device's domain mixture, as a run names it: ``street``, ``street+photo`` or ``street:0.7,photo:0.3``.

One spelling in every place a client domain is given (the CLI, a spec, a grid's
``client_domains``), so a mixed-domain client is a string like a single domain and
records, run ids and leaderboard rows need no new field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..util.errors import ProxybenchError, unknown_name

SHARE_TOLERANCE = 1e-6

SYNTAX = "one domain (street), equal shares (street+photo) or given shares summing to 1 (street:0.7,photo:0.3)"


@dataclass(frozen=True)
class ClientMix:
    """Client domains and their shares of the device's data, in the order given."""

    shares: tuple[tuple[str, float], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.shares)

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(share for _, share in self.shares)

    @property
    def is_single(self) -> bool:
        return len(self.shares) == 1


def _share(text: str, part: str, value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise ProxybenchError(f"client domain {text!r}: share {value!r} of {part!r} is not a number; "
                              f"write {SYNTAX}") from None
    if not (math.isfinite(share) and 0.0 < share <= 1.0):
        raise ProxybenchError(f"client domain {text!r}: share {value!r} of {part!r} must be in (0, 1]")
    return share


def parse_client_domain(text: str, allowed: Sequence[str] | None = None) -> ClientMix:
    """``text`` as a ClientMix, each name checked against ``allowed`` (None: not checked)."""
    if not isinstance(text, str) or not text.strip():
        raise ProxybenchError(f"client domain {text!r} is empty; write {SYNTAX}")
    weighted = ":" in text or "," in text
    if weighted and "+" in text:
        raise ProxybenchError(f"client domain {text!r} mixes '+' and ':' shares; write {SYNTAX}")
    parts = [p.strip() for p in text.split("," if weighted else "+")]
    pairs: list[tuple[str, float | None]] = []
    for part in parts:
        if weighted:
            name, sep, value = part.partition(":")
            if not sep:
                raise ProxybenchError(f"client domain {text!r}: {part!r} has no share; write {SYNTAX}")
            pairs.append((name.strip(), _share(text, name.strip(), value.strip())))
        else:
            pairs.append((part, None))
    names = [name for name, _ in pairs]
    for name in names:
        if not name:
            raise ProxybenchError(f"client domain {text!r} has an empty domain name; write {SYNTAX}")
        if allowed is not None and name not in allowed:
            raise unknown_name("client domain", name, allowed)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ProxybenchError(f"client domain {text!r} lists {', '.join(map(repr, twice))} more than once")
    if not weighted:
        return ClientMix(tuple((name, 1.0 / len(names)) for name in names))
    total = sum(share for _, share in pairs)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ProxybenchError(f"client domain {text!r}: shares sum to {total:g}, not 1")
    return ClientMix(tuple((name, float(share)) for name, share in pairs))


def mixture_error(shares: dict[str, float], client: str) -> float:
    """How far a selection's split over the client's domains is from the client's own shares.

    Half the L1 distance between the in-domain picks' split (``shares``: each domain's share of
    the selection) and the mixture's weights: 0 is the client's proportions, 1 all picks
    from a domain the client lacks.
    """
    import numpy as np

    mix = parse_client_domain(client)
    inside = np.array([shares.get(n, 0.0) for n in mix.names])
    if inside.sum() == 0:
        return 1.0
    return float(0.5 * np.abs(inside / inside.sum() - np.array(mix.weights)).sum())
