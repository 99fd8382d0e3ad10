"""What a selection was, by the ground truth only the harness holds (domains, the client's split)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..contract.images import OUTSIDE_LABEL_SPACE
from .scenario import Scenario


def scenario_truth(scenario: Scenario, chosen: np.ndarray) -> dict[str, Any]:
    """The record's ``selection``: sizes and domain shares of the chosen pool rows, the pool and the client."""
    return {
        "size": int(len(chosen)),
        "in_domain_share": scenario.in_domain_share(chosen),
        "domain_shares": scenario.domain_shares(chosen),
        "client_domain_shares": scenario.client_shares(scenario.client_train_idx),
        "outside_label_space_share": float((scenario.pool_labels[chosen] == OUTSIDE_LABEL_SPACE).mean()),
        "pool_size": int(len(scenario.pool_idx)),
        "pool_in_domain_share": scenario.in_domain_share(np.arange(len(scenario.pool_idx))),
        "client_train_size": int(len(scenario.client_train_idx)),
        "client_test_size": int(len(scenario.client_test_idx)),
    }
