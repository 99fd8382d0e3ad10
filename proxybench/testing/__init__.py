"""The plugin author's kit: conformance checks in the spirit of scikit-learn's ``check_estimator``.

``check_sampler``, ``check_task`` and ``check_dataset`` run a plugin class on tiny scenarios
and hold it to the contract of docs/plugins.md; a broken rule raises ``ContractError``,
which names the rule (``RULES``) and how to fix it. The checks run the plugin's cloud side on
``tiny_pool`` and its device in another process (``KitDevice``), whose client rows nothing in
the checking process holds. ``tiny_scenario`` adds client rows in this process, for a plugin's
own unit tests; ``proxybench.testing.pytest_plugin`` offers it as pytest fixtures.
"""

from .dataset import check_dataset
from .kit_device import KitDevice
from .rules import RULES, ContractError
from .sampler import check_sampler
from .scenario import DeviceLink, TinyPool, TinyScenario, tiny_pool, tiny_scenario
from .task import check_task

__all__ = ["RULES", "ContractError", "DeviceLink", "KitDevice", "TinyPool", "TinyScenario", "check_dataset",
           "check_sampler", "check_task", "tiny_pool", "tiny_scenario"]
