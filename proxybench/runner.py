"""One RunSpec -> one RunRecord.

The runner wires scenario, extractor, device and link, then hands the sampler only the
cloud view and the task only its context; it never gives either the device's data.
"""

from __future__ import annotations

import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .cache import Cache
from .dataset import OUTSIDE_LABEL_SPACE, ImageRows
from .device import Device, DeviceContext, Meter
from .features import Extractor, PoolData, build_extractor, cached_features
from .link import Link
from .privacy import compose, epsilon
from .registry import registry
from .results import SCHEMA_VERSION, environment, write_record
from .sampler import CloudView, Sampler, Selection, run_sampler
from .scenario import Scenario, make_scenario
from .spec import RunSpec
from .task import Task, TaskContext
from .training import accuracy, to_tensor

# Independent random streams of one run, derived from its seed.
STREAM_SAMPLER, STREAM_DEVICE, STREAM_TASK = 1, 2, 3


class Timings(dict):
    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - start, 3)


@dataclass
class RunSetup:
    """A run up to selection: the scenario, phi, the cloud view and the device handle."""

    scenario: Scenario
    extractor: Extractor
    pool_features: np.ndarray
    cloud: CloudView
    device: Device
    sampler: Sampler
    task: Task
    data_key: dict


def set_up(spec: RunSpec, cache: Cache, timings: Timings | None = None) -> RunSetup:
    """Build everything a spec needs before its sampler runs (datasets and features come from the cache)."""
    reg = registry()
    timings = timings if timings is not None else Timings()
    sampler = reg.get("sampler", spec.sampler).build(**spec.sampler_params)
    task = reg.get("task", spec.task).build(**spec.task_params)
    dataset = reg.get("dataset", spec.dataset).build(**spec.dataset_params)

    with timings.stage("data"):
        data = dataset.load(cache)
        scenario = make_scenario(data, spec.client_domain, spec.client_fraction, spec.seed,
                                 spec.pool_has_client_domain, data_key=dataset.cache_key())
    with timings.stage("extractor"):
        pool = PoolData(scenario.pool_images, scenario.pool_labels, key=scenario.key)
        extractor = build_extractor(spec.backbone, spec.weights, pool, cache, seed=spec.seed,
                                    layer=spec.feature_layer)
    with timings.stage("pool_features"):
        if extractor.key["pool"] is None:  # phi does not depend on the pool: one cache entry per dataset
            train_idx = np.flatnonzero(~data.is_test)
            all_feats = cached_features(extractor, ImageRows(data.images, train_idx), {"data": dataset.cache_key()},
                                        cache)
            position = np.full(len(data.images), -1)
            position[train_idx] = np.arange(len(train_idx))
            pool_features = all_feats[position[scenario.pool_idx]]
        else:
            pool_features = cached_features(extractor, scenario.pool_images, {"pool": scenario.key}, cache)

    device = Device(
        DeviceContext(
            images=ImageRows(data.images, scenario.client_train_idx),
            labels=data.labels[scenario.client_train_idx] if task.device_has_labels else None,
            test_images=data.images[scenario.client_test_idx],
            test_labels=data.labels[scenario.client_test_idx],
            extractor=extractor,
            rng=np.random.default_rng([spec.seed, STREAM_DEVICE]),
            meter=Meter(),
        ),
        Link(),
    )
    cloud = CloudView(
        features=pool_features,
        images=scenario.pool_images,
        labels=scenario.pool_labels if task.pool_labels_visible else None,
        extractor=extractor,
        oracle_in_domain=(scenario.pool_domains == scenario.client_domain_id) if sampler.kind == "oracle" else None,
    )
    return RunSetup(scenario, extractor, pool_features, cloud, device, sampler, task, dataset.cache_key())


def select_only(spec: RunSpec, cache: Cache, timings: Timings | None = None) -> tuple[RunSetup, Selection]:
    """Set up a run and let its sampler choose, without the task: for calibrations and ablations of selection."""
    timings = timings if timings is not None else Timings()
    setup = set_up(spec, cache, timings)
    with timings.stage("select"):
        rng = np.random.default_rng([spec.seed, STREAM_SAMPLER])
        selection = run_sampler(setup.sampler, setup.cloud, setup.device, spec.budget, rng)
    return setup, selection


def execute(spec: RunSpec, cache: Cache) -> dict[str, Any]:
    """Run one spec and return the parts of its record that the run produces."""
    timings = Timings()
    setup, selection = select_only(spec, cache, timings)
    scenario, sampler, task, device = setup.scenario, setup.sampler, setup.task, setup.device
    data = scenario.data
    chosen = selection.indices
    with timings.stage("task"):
        result = task.run(
            TaskContext(
                selection=selection,
                images=scenario.pool_images[chosen],
                features=setup.pool_features[chosen],
                pool_true_labels=scenario.pool_labels[chosen],
                pool_images=scenario.pool_images,
                pool_labels=scenario.pool_labels,
                num_classes=len(data.class_names),
                device=device,
                extractor=setup.extractor,
                seed=spec.seed,
                rng=np.random.default_rng([spec.seed, STREAM_TASK]),
                cache=cache,
                pool_key=scenario.key,
                reference_accuracy=lambda model: accuracy(
                    model, to_tensor(data.images[scenario.client_test_idx]), data.labels[scenario.client_test_idx]
                ),
            )
        )
    eps_total = epsilon(compose(selection.privacy, result.privacy), spec.delta)
    return {
        "metrics": result.metrics,
        "selection": {
            "size": int(len(chosen)),
            "in_domain_share": scenario.in_domain_share(chosen),
            "outside_label_space_share": float((scenario.pool_labels[chosen] == OUTSIDE_LABEL_SPACE).mean()),
            "pool_size": int(len(scenario.pool_idx)),
            "pool_in_domain_share": scenario.in_domain_share(np.arange(len(scenario.pool_idx))),
            "client_train_size": int(len(scenario.client_train_idx)),
            "client_test_size": int(len(scenario.client_test_idx)),
            "indices_hash": _hash_indices(chosen),
            "info": selection.info,
        },
        "ledger": device.link.ledger.to_record(),
        "device": device.meter.to_record(),
        "privacy": {
            "epsilon": eps_total,
            "delta": spec.delta,
            "epsilon_select": epsilon(selection.privacy, spec.delta),
            "epsilon_task": epsilon(result.privacy, spec.delta),
            "adjacency": {"select": selection.adjacency, "task": result.adjacency},
        },
        "sampler_kind": sampler.kind,
        "timings": dict(timings),
    }


def _hash_indices(idx: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.sort(idx).astype(np.int64).tobytes()).hexdigest()[:16]


def run(spec: RunSpec, results_dir: Path | str, cache: Cache | None = None) -> tuple[dict[str, Any], Path]:
    """Run a spec and store its record; a failure is stored too (status "failed"), then re-raised."""
    spec = spec.resolved()
    cache = cache or Cache()
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "proxybench_version": __version__,
        "spec": spec.to_dict(),
        "status": "ok",
        "error": None,
        "metrics": {},
        "selection": {},
        "ledger": {},
        "device": {},
        "privacy": {},
        "timings": {},
        "environment": environment(),
    }
    start = time.perf_counter()
    try:
        record.update(execute(spec, cache))
    except BaseException as exc:
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        record["timings"]["total"] = round(time.perf_counter() - start, 3)
        write_record(record, results_dir)
        raise
    record["timings"]["total"] = round(time.perf_counter() - start, 3)
    path = write_record(record, results_dir)
    registry().pm.hook.proxybench_run_finished(record=record)
    return record, path
