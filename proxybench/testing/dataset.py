"""``check_dataset``: build a dataset class (small parameters) twice and hold its content to the contract."""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import Any

import numpy as np

from ..contract.dataset import Dataset, DomainSize
from ..contract.images import OUTSIDE_LABEL_SPACE, ImageData
from ..run.scenario import make_scenario, pool_size_bound
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .rules import ContractError, check_class, make_plugin


def _fingerprint(data: ImageData) -> str:
    """A hash of every array and name of the data, read a block of rows at a time (images may be a memory map)."""
    h = hashlib.sha256()
    for start in range(0, len(data.images), 1024):
        h.update(np.ascontiguousarray(data.images[start : start + 1024]).tobytes())
    for name in ("labels", "domains", "is_test", "groups"):
        h.update(np.ascontiguousarray(getattr(data, name)).tobytes())
    h.update(json.dumps([data.domain_names, data.class_names, data.distractor_domains]).encode())
    return h.hexdigest()


def _check_content(label: str, data: ImageData, declared: tuple[str, ...] | None) -> None:
    """The rule ``dataset-content``: labels, domains, splits and the declared client domains agree."""
    def broken(problem: str, fix: str) -> ContractError:
        return ContractError(label, "dataset-content", problem, fix)

    if not data.client_domains:
        raise broken("no domain inside the label space", "list domains in domain_names; distractors apart")
    if declared is not None and tuple(declared) != data.client_domains:
        raise broken(f"client_domains() declares {tuple(declared)}, the data has {data.client_domains}",
                     "return the domains a client may hold, distractors excluded, in domain_names order")
    if data.domains.min() < 0 or data.domains.max() >= len(data.domain_names):
        raise broken("domain ids outside 0..len(domain_names) - 1", "index domain_names with the domain ids")
    outside = np.isin(data.domains, [data.domain_names.index(d) for d in data.distractor_domains])
    labels = data.labels
    if np.any(labels[outside] != OUTSIDE_LABEL_SPACE) or np.any((labels[~outside] < 0)
                                                                   | (labels[~outside] >= len(data.class_names))):
        raise broken(f"labels must be 0..{len(data.class_names) - 1} in client domains and "
                     f"{OUTSIDE_LABEL_SPACE} (OUTSIDE_LABEL_SPACE) in distractor domains",
                     "label distractors OUTSIDE_LABEL_SPACE and every other image by its class_names index")
    for d in data.client_domains:
        mine = data.domains == data.domain_names.index(d)
        if not (mine & data.is_test).any() or not (mine & ~data.is_test).any():
            raise broken(f"client domain {d!r} lacks a train or a test split", "mark held-out rows with is_test")
    mixed = np.intersect1d(data.groups[data.is_test], data.groups[~data.is_test])
    if len(mixed):
        raise broken(f"{len(mixed)} groups have images in both train and test (e.g. {mixed[:3]})",
                     "give every augmentation of one original the same group, and put a group on one side")


def _check_sizes(label: str, data: ImageData, declared: dict[str, DomainSize] | None) -> None:
    """The rule ``dataset-content``: the training sizes a dataset declares are those it builds."""
    if declared is None:
        return
    built = {}
    for d, name in enumerate(data.domain_names):
        train = (data.domains == d) & ~data.is_test & ~data.is_private
        built[name] = DomainSize(int(train.sum()), len(np.unique(data.groups[train])))
    wrong = [f"{name}: declared {declared.get(name)}, built {size}" for name, size in built.items()
             if declared.get(name) is None or declared[name].images != size.images
             or declared[name].groups not in (None, size.groups)]
    if wrong or set(declared) != set(built):
        raise ContractError(label, "dataset-content", "training_sizes() differs from the data: " + "; ".join(wrong or [
            f"declares domains {sorted(declared)}, the data has {sorted(built)}"]),
            "declare each domain's training images and groups (None where only the data can tell), or return None")


def check_dataset(cls: type[Dataset], params: dict[str, Any] | None = None) -> None:
    """Hold a dataset class to the contract: build it twice in fresh caches (the same bytes), check its content,
    and cut a scenario for its first client domain. Pass small ``params`` (``{"train_per_domain": 40}``)."""
    label = check_class(cls, Dataset, "dataset")
    first, second = make_plugin(cls, label, params), make_plugin(cls, label, params)
    try:
        key = json.dumps(first.cache_key(), sort_keys=True)
    except TypeError as exc:
        raise ContractError(label, "typed-parameters", f"cache_key() is not JSON: {exc}",
                            "keep cache_key() to the name, version and parameters (Dataset's default)") from exc
    if key != json.dumps(second.cache_key(), sort_keys=True):
        raise ContractError(label, "deterministic", "two instances with the same parameters give different cache "
                            "keys", "derive cache_key() from the parameters only")
    with tempfile.TemporaryDirectory(prefix="proxybench-check-") as folder:
        data = first.load(Cache(f"{folder}/a"))
        if not isinstance(data, ImageData):
            raise ContractError(label, "dataset-content", f"load() returned {type(data).__name__}",
                                "return proxybench.ImageData from generate()")
        _check_content(label, data, first.client_domains())
        _check_sizes(label, data, first.training_sizes())
        if _fingerprint(data) != _fingerprint(second.load(Cache(f"{folder}/b"))):
            raise ContractError(label, "deterministic", "two builds with the same parameters differ",
                                "draw every random number from a generator seeded by the parameters")
        domain = data.client_domains[0]
        try:
            scenario = make_scenario(data, domain, 0.5, seed=0, data_key=first.cache_key())
        except ProxybenchError as exc:
            raise ContractError(label, "dataset-content", f"no scenario for client domain {domain!r}: {exc}",
                                "give each client domain enough train originals (groups) for a client split") from exc
        sizes = first.training_sizes()
        for other in data.client_domains if sizes is not None else ():
            cut = scenario if other == domain else make_scenario(data, other, 0.5, seed=0)
            if len(cut.pool_idx) > pool_size_bound(sizes, cut.mix):
                raise ContractError(label, "dataset-content", f"the pool of client domain {other!r} holds "
                                    f"{len(cut.pool_idx)} images, more than training_sizes() allows",
                                    "declare each domain's public training images (private part and test split excluded) "
                                    "and groups")
        if not (len(scenario.pool_idx) and len(scenario.client_train_idx) and len(scenario.client_test_idx)):
            raise ContractError(label, "dataset-content", f"client domain {domain!r} gives an empty pool, client "
                                "train or client test split", "give each client domain more train and test rows")
