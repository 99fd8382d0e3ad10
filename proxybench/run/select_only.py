"""Selection only: a sampler's selection made in the harness, without the task, and what the relay saw of it.

The studies in ``tools/`` and the black-box audit ask many specs the same question: what
did the sampler pick, by the ground truth only the harness holds, and what crossed the
relay to pick it. No task model is trained, so each answer costs one selection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..contract.sampler import Selection
from ..harness.relay import Call
from ..ml.extractor import Extractor
from ..privacy.accounting import epsilon
from ..util.cache import Cache
from ..wire.phases import SELECT
from .resolved import ResolvedRun
from .scenario import Scenario
from .session import RunSession
from .spec import RunSpec


@dataclass
class SelectionRun:
    """One selection with the harness's view of it: the scenario's ground truth, phi, and the relay's record."""

    spec: RunSpec  # resolved
    selection: Selection
    scenario: Scenario
    extractor: Extractor
    calls: list[Call]  # the selection's device requests in order, as the relay forwarded them
    bytes_down: int  # the selection phase's bytes on the ledger, requests included
    bytes_up: int
    session: RunSession = field(repr=False)

    @property
    def in_domain_share(self) -> float:
        return self.scenario.in_domain_share(self.selection.indices)

    @property
    def declared_epsilon(self) -> float | None:
        """Epsilon of the DP event the sampler declared, at the spec's delta (None: not private)."""
        return epsilon(self.selection.privacy, self.spec.delta)

    def replay(self, call: Call, trials: int, neighbour: str, seed: int) -> np.ndarray:
        """``RunSession.replay``: only inside ``selecting``'s ``with``, while the device process lives."""
        return self.session.replay(call, trials, neighbour, seed)


@contextmanager
def selecting(run: RunSpec | ResolvedRun, cache: Cache) -> Iterator[SelectionRun]:
    """Run the selection (a bare spec is resolved by the session); it stays open inside the ``with``.

    The black-box audit replays the selection's requests there, while the device process lives.
    """
    with RunSession(run, cache) as session:
        selection = session.select()
        ledger = session.relay.ledger
        yield SelectionRun(spec=session.spec, selection=selection, scenario=session.scenario, extractor=session.extractor,
                           calls=[c for c in session.relay.transcript if c.stage == SELECT],
                           bytes_down=ledger.total("down", SELECT), bytes_up=ledger.total("up", SELECT),
                           session=session)


def select_only(run: RunSpec | ResolvedRun, cache: Cache) -> SelectionRun:
    """Run the selection in the harness (cloud and device processes) and close it; no task runs."""
    with selecting(run, cache) as selected:
        return selected
