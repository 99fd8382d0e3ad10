"""The plugin author's kit: conformance checks in the spirit of scikit-learn's ``check_estimator``.

``check_sampler``, ``check_task`` and ``check_dataset`` run a plugin class on tiny scenarios
and hold it to the contract of docs/plugins.md; a broken rule raises ``ContractError``,
which names the rule (``RULES``) and how to fix it. ``tiny_scenario`` is the scenario the
checks use, and ``proxybench.testing.pytest_plugin`` offers it as pytest fixtures.
"""

from .dataset import check_dataset
from .rules import RULES, ContractError
from .sampler import check_sampler
from .scenario import DeviceLink, TinyScenario, tiny_scenario
from .task import check_task

__all__ = ["RULES", "ContractError", "DeviceLink", "TinyScenario", "check_dataset", "check_sampler", "check_task",
           "tiny_scenario"]
