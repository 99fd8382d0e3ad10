"""``check_task``: run a task class on a selection of the tiny pool, its device in another process, and check it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..contract.images import ImageRows
from ..contract.sampler import Selection
from ..contract.task import PickedData, PoolView, Task, TaskContext, TaskResult
from ..harness.cloud import STREAM_TASK
from ..results.store import jsonable
from ..run.runner import runtime_privacy
from ..util.cache import Cache
from ..wire.device import Device
from ..wire.phases import TASK
from .crossing import replayed
from .kit_device import KitDevice
from .privacy import check_mechanism, check_privacy, check_released
from .rules import ContractError, check_class, make_plugin
from .scenario import TinyPool, tiny_pool


def _runner(task: Task, scenario: TinyPool, budget: int, seed: int, cache: str) -> Callable[[Device], Any]:
    """The work of one task run, given a device: a seeded selection of ``budget`` pool points, a cache of its own."""
    pick = np.sort(np.random.default_rng(seed).choice(scenario.pool_size, budget, replace=False))
    picked = PickedData(images=scenario.pool_images[pick], features=np.asarray(scenario.pool_features[pick]),
                        true_labels=scenario.pool_labels[pick])
    pool = PoolView(images=ImageRows(scenario.pool_images, np.arange(scenario.pool_size)), labels=scenario.pool_labels,
                    key={"tiny-scenario": seed})

    def run(device: Device) -> Any:
        with tempfile.TemporaryDirectory(dir=cache) as folder:  # each run its own cache: no run reuses another's models
            return task.run(TaskContext(selection=Selection(indices=pick), picked=picked, pool=pool,
                                        num_classes=scenario.num_classes, device=device, extractor=scenario.phi,
                                        seed=seed, rng=np.random.default_rng([seed, STREAM_TASK]), cache=Cache(folder)))

    return run


def _metrics(label: str, result: Any) -> str:
    """The rule ``task-result``; the metrics as canonical JSON, to compare runs."""
    if not isinstance(result, TaskResult):
        raise ContractError(label, "task-result", f"run() returned {type(result).__name__}, not a TaskResult",
                            "return proxybench.TaskResult(metrics={'accuracy': ...}, privacy=..., adjacency=...)")
    try:
        text = json.dumps(result.metrics, default=jsonable, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ContractError(label, "task-result", f"the metrics cannot be written to a RunRecord: {exc}",
                            "report numbers, strings, lists and dicts of them (no NaN)") from exc
    accuracy = result.metrics.get("accuracy") if isinstance(result.metrics, dict) else None
    if not isinstance(accuracy, (float, int)) or isinstance(accuracy, bool) or not 0.0 <= accuracy <= 1.0:
        raise ContractError(label, "task-result", f"metrics['accuracy'] is {accuracy!r}",
                            "report the accuracy on the device's test set, a number in [0, 1]")
    return text


def check_task(cls: type[Task], params: dict[str, Any] | None = None, budget: int = 40, seed: int = 0) -> None:
    """Hold a task class to the contract on the tiny scenario; a broken rule raises ``ContractError``.

    ``params`` are passed as ``--param`` would pass them (pass small ones: ``{"epochs": 1}``).
    The task runs three times: twice with the device (the same metrics), once on the replies alone.
    """
    label = check_class(cls, Task, "task")
    task = make_plugin(cls, label, params)
    pool = tiny_pool()
    delta = pool.cloud_view().delta
    with tempfile.TemporaryDirectory(prefix="proxybench-check-") as cache, \
            KitDevice(labels=cls.device_has_labels, stage=TASK, delta=delta, seed=seed) as device:
        run = _runner(task, pool, budget, seed, cache)
        result, crossing = device.live(run, label)
        metrics = _metrics(label, result)
        if not crossing.scoring_calls and not crossing.calls:
            raise ContractError(label, "task-result", "the accuracy was not scored on the device: run() made no "
                                "device call", "score the model with self.score(ctx, model) (SupervisedTask) or "
                                "evaluate_on_device(ctx.device, model, ...)")
        if _metrics(label, device.live(run, label)[0]) != metrics:
            raise ContractError(label, "deterministic", f"two runs with seed {seed} gave different metrics",
                                "draw randomness from ctx.rng and ctx.seed (torch too: SupervisedTask.fit seeds it)")
        declared = check_privacy(label, "task", bool(crossing.calls), result.privacy, result.adjacency, delta)
        claim = runtime_privacy(crossing.calls, delta)
        check_released(label, declared, claim)
        if _metrics(label, replayed(run, crossing, label)) != metrics:
            raise ContractError(label, "link-only", "given the same replies but no device data anywhere in the "
                                "process, it reported other metrics", "use only the TaskContext and device replies")
    if claim["epsilon"] and callable(getattr(task, "audit_mechanism", None)):
        check_mechanism(task, label, result.adjacency)
