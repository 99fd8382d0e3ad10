"""pytest fixtures for plugin tests (registered through the ``pytest11`` entry point, so any suite has them).

``tiny_scenario`` is the scenario the conformance checks use; ``tiny_cloud`` its cloud view
(no pool labels), ``tiny_link`` a device over its client data behind the counting relay
(``tiny_link.relay.ledger``, ``.calls``) and ``tiny_device`` that link's device handle.
proxybench is imported only when a fixture is used, so loading the plugin costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from proxybench.contract.sampler import CloudView
    from proxybench.testing.scenario import DeviceLink, TinyScenario
    from proxybench.wire.device import Device


@pytest.fixture
def tiny_scenario() -> TinyScenario:
    """Pool, client and phi of the conformance checks (built once per process, read-only arrays)."""
    from proxybench.testing import tiny_scenario as build

    return build()


@pytest.fixture
def tiny_cloud(tiny_scenario: TinyScenario) -> CloudView:
    """What a sampler sees of the tiny scenario (pool features and images, no labels)."""
    return tiny_scenario.cloud_view()


@pytest.fixture
def tiny_link(tiny_scenario: TinyScenario) -> DeviceLink:
    """A fresh device over the tiny client data (noise seed 1), with the relay that counts what crosses."""
    return tiny_scenario.connect(seed=1)


@pytest.fixture
def tiny_device(tiny_link: DeviceLink) -> Device:
    """The cloud's handle on ``tiny_link``'s device."""
    return tiny_link.device
