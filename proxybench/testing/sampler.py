"""``check_sampler``: run a sampler class on the tiny pool, its device in another process, and hold it to every rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..contract.sampler import Sampler, Selection
from ..run.runner import runtime_privacy
from ..wire.device import Device
from .crossing import replayed
from .kit_device import KitDevice
from .privacy import check_kind, check_mechanism, check_privacy, check_released
from .rules import KINDS, ContractError, check_class, make_plugin
from .scenario import TinyPool, tiny_pool

#: budgets tried by default: one point, a few, a quarter of the tiny pool
BUDGETS = (1, 7, 60)


def _indices(label: str, selection: Any, budget: int, pool_size: int) -> np.ndarray:
    """The rules ``budget-exact`` and ``unique-indices`` on what select() returned."""
    if not isinstance(selection, Selection):
        raise ContractError(label, "budget-exact", f"select() returned {type(selection).__name__}, not a Selection",
                            "return proxybench.Selection(indices=...)")
    idx = np.asarray(selection.indices)
    if idx.ndim != 1 or len(idx) != budget:
        raise ContractError(label, "budget-exact", f"select() returned indices of shape {idx.shape} for budget {budget}",
                            f"return exactly `budget` pool positions (here {budget}); if the method finds fewer, "
                            "fill the rest from the unchosen points with the rng given")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ContractError(label, "unique-indices", f"the indices have dtype {idx.dtype}",
                            "return integer pool positions (np.int64), not a mask or scores")
    if len(idx) and (idx.min() < 0 or idx.max() >= pool_size):
        raise ContractError(label, "unique-indices", f"indices {idx.min()}..{idx.max()} leave the pool 0..{pool_size - 1}",
                            "index the pool by position (0 .. cloud.size - 1)")
    values, counts = np.unique(idx, return_counts=True)
    if len(values) != budget:
        raise ContractError(label, "unique-indices", f"{budget - len(values)} repeated indices, e.g. {values[counts > 1][:5]}",
                            "pick without replacement (rng.choice(..., replace=False)); skip points already chosen")
    return idx


def _selector(sampler: Sampler, pool: TinyPool, budget: int, seed: int) -> Callable[[Device], Selection]:
    """The work of one selection, given a device: the cloud view the sampler may see and an rng from ``seed``."""
    cloud = pool.cloud_view(labels=sampler.needs_pool_labels, oracle=sampler.kind == "oracle")
    return lambda device: sampler.select(cloud, device, budget, np.random.default_rng(seed))


def check_sampler(cls: type[Sampler], params: dict[str, Any] | None = None, budgets: tuple[int, ...] = BUDGETS,
                  seed: int = 0, audit_trials: int = 300) -> None:
    """Hold a sampler class to the contract on the tiny scenario; a broken rule raises ``ContractError``.

    ``params`` are passed as ``--param`` would pass them; ``budgets`` are the selections tried;
    ``audit_trials`` replays per neighbour in the black-box audit (at least 150).
    """
    label = check_class(cls, Sampler, "sampler")
    if cls.kind not in KINDS:
        raise ContractError(label, "plugin-class", f"kind {cls.kind!r} is not one of {', '.join(KINDS)}",
                            "set `kind: ClassVar[str]` to what the sampler claims; runs derive the real one")
    sampler = make_plugin(cls, label, params)
    pool = tiny_pool()
    delta = pool.cloud_view().delta
    with KitDevice(delta=delta, seed=seed) as device:
        for budget in budgets:
            select = _selector(sampler, pool, budget, seed)
            selection, crossing = device.live(select, label)
            idx = _indices(label, selection, budget, pool.pool_size)
            again = _indices(label, device.live(select, label)[0], budget, pool.pool_size)
            if not np.array_equal(idx, again):
                raise ContractError(label, "deterministic", f"two selections of budget {budget} with seed {seed} "
                                    f"differ in {int(np.sum(np.sort(idx) != np.sort(again)))} positions",
                                    "draw every random number from the rng select() gets (seed libraries from it: "
                                    "kmeans(..., seed=int(rng.integers(2**31))))")
            used = bool(crossing.calls)
            declared = check_privacy(label, "selection", used, selection.privacy, selection.adjacency, delta)
            claim = runtime_privacy(crossing.calls, delta)
            check_released(label, declared, claim)
            check_kind(label, sampler.kind, used, claim)
            if not np.array_equal(idx, np.asarray(replayed(select, crossing, label).indices)):
                raise ContractError(label, "link-only", "given the same replies but no device data anywhere in the "
                                    "process, it chose other points: it learnt about the device outside the link",
                                    "use only the cloud view, the rng and the replies of device.call")
        if claim["epsilon"]:
            if callable(getattr(sampler, "audit_mechanism", None)):
                check_mechanism(sampler, label, selection.adjacency)
            device.audit_replies(label, claim["epsilon"], audit_trials, seed)
