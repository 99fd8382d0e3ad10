"""One RunSpec (resolved: ``ResolvedRun``) -> one RunRecord.

The run itself happens in a ``RunSession`` (``run/session.py``): the sampler and the task
run in a cloud process, the client's data lives in a device process, and the harness
relays and counts. What goes into the record is measured there: bytes from the relay's
ledger, device compute from its meter, privacy from what the device runtime released
(each call's mechanism event, or raw), with what the plugins declared kept beside; the
sampler's kind from what the run did.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from dp_accounting import DpEvent

from ..contract.registry import registry
from ..harness.options import HarnessOptions
from ..harness.relay import Call
from ..harness.remote_error import RemoteError
from ..ml.backbone import install_footprint
from ..privacy.accounting import check_one_adjacency, compose, epsilon, event_from_json, is_no_release
from ..privacy.release import Release
from ..results.environment import environment
from ..results.identity import code_identity, package_version
from ..results.schema import SCHEMA_VERSION
from ..results.store import ensure_writable_dir, write_record
from ..results.variants import non_default_names
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..util.settings import using
from ..wire.phases import SELECT, TASK
from .ground_truth import scenario_truth
from .resolved import ResolvedRun
from .session import RunSession
from .spec import RunSpec
from .timings import Timings


def stage_privacy(stage: str, used: bool, event: DpEvent, adjacency: str | None, delta: float) -> dict[str, Any]:
    """What a stage *declares*: epsilon 0 without a device call; no guarantee (None) for calls without a DP event.

    Kept beside the record's privacy as ``declared``, never used for it: the record's comes from the runtime.
    """
    if not used:
        return {"epsilon": 0.0, "guarantee": "no device use", "event": None, "adjacency": None}
    if is_no_release(event):
        return {"epsilon": None, "guarantee": "none: used the device and declared no DP event", "event": None,
                "adjacency": None}
    eps = epsilon(event, delta)
    if eps is None:
        return {"epsilon": None, "guarantee": "none: declared a non-private release", "event": None, "adjacency": None}
    if adjacency is None:
        raise ProxybenchError(f"the {stage} declares a DP event but no adjacency; set it to add_remove or replace_one")
    return {"epsilon": eps, "guarantee": "dp", "event": event, "adjacency": adjacency}


def declared_epsilon(stage: str, used: bool, event: DpEvent, adjacency: str | None, delta: float) -> float | None:
    """The epsilon a stage claims, for the record's ``declared`` (None where the claim is none or incomplete)."""
    try:
        return stage_privacy(stage, used, event, adjacency, delta)["epsilon"]
    except ProxybenchError:
        return None


def runtime_privacy(calls: list[Call], delta: float) -> dict[str, Any]:
    """A stage's epsilon from what the device runtime did: 0 without a call, None if any call was raw."""
    if not calls:
        return {"epsilon": 0.0, "guarantee": "no device use", "event": None, "adjacency": None}
    raw = [c.label for c in calls if c.raw]
    if raw:
        return {"epsilon": None, "guarantee": f"none: raw reply in {', '.join(sorted(set(raw)))} (no release mechanism)",
                "event": None, "adjacency": None}
    releases = [Release.from_json(c.release) for c in calls]
    adjacency = check_one_adjacency({f"call {i}": r.adjacency for i, r in enumerate(releases)})
    event = compose(*(event_from_json(c.event) for c in calls))
    return {"epsilon": epsilon(event, delta), "guarantee": "dp: device runtime mechanisms", "event": event,
            "adjacency": adjacency}


def privacy_record(select: dict[str, Any], task: dict[str, Any], delta: float) -> dict[str, Any]:
    """The run's (epsilon, delta): the stages' DP events composed under one adjacency, None if a stage has no guarantee."""
    run_adjacency = check_one_adjacency({"selection": select["adjacency"], "task": task["adjacency"]})
    if select["epsilon"] is None or task["epsilon"] is None:
        total = None
    else:
        events = [s["event"] for s in (select, task) if s["event"] is not None]
        total = epsilon(compose(*events), delta) if events else 0.0
    return {
        "epsilon": total,
        "delta": delta,
        "epsilon_select": select["epsilon"],
        "epsilon_task": task["epsilon"],
        "guarantee": {"select": select["guarantee"], "task": task["guarantee"]},
        "adjacency": {"select": select["adjacency"], "task": task["adjacency"]},
        "run_adjacency": run_adjacency,
    }


def derived_kind(oracle: bool, used_device: bool, epsilon_select: float | None) -> str:
    """How the selection treated the device, from what it did: the mark a table shows."""
    if oracle:
        return "oracle"
    if not used_device:
        return "client-free"
    return "private" if epsilon_select is not None else "privacy-free"


def execute(resolved: ResolvedRun, cache: Cache, timings: Timings | None = None) -> dict[str, Any]:
    """Run one resolved spec and return the parts of its record that the run produces (``timings`` filled)."""
    spec, options = resolved.spec, resolved.options
    timings = Timings() if timings is None else timings
    with RunSession(resolved, cache, timings) as session:
        selection = session.select()
        outcome = session.run_task()
        relay, scenario = session.relay, session.scenario
        chosen = selection.indices
        by_stage = {stage: [c for c in relay.transcript if c.stage == stage] for stage in (SELECT, TASK)}
        select = runtime_privacy(by_stage[SELECT], spec.delta)
        task = runtime_privacy(by_stage[TASK], spec.delta)
        declared_select = declared_epsilon("selection", bool(by_stage[SELECT]), selection.privacy, selection.adjacency,
                                           spec.delta)
        declared_task = declared_epsilon("task", bool(by_stage[TASK]), outcome.privacy, outcome.adjacency, spec.delta)
        result = {
            "metrics": outcome.metrics,
            "selection": {**scenario_truth(scenario, chosen), "indices_hash": _hash_indices(chosen),
                          "info": selection.info},
            "ledger": relay.ledger.to_record(),
            # Each device call of the protocol (scoring excluded): a round of a multi-round sampler is one entry.
            "device": {**relay.meter.to_record(), "calls": [c.to_record() for c in relay.transcript],
                       "select_rounds": relay.calls[SELECT]},
            "privacy": {**privacy_record(select, task, spec.delta),
                        "unit": "original record (an image and its augmentations)",
                        "declared": {"select": declared_select, "task": declared_task},
                        "device_odometer": {"epsilon_spent": relay.epsilon_spent, "budget": options.device_epsilon}
                        if options.device_epsilon is not None else None,
                        "secret_hash": session.secret_hash,
                        "timing_bits_per_call": None if session.timing_bits is None else round(session.timing_bits, 2),
                        "device_calls": {**relay.calls, "scoring": relay.scoring_calls,
                                         "reference": relay.reference_calls}},
            "sampler_kind": derived_kind(session.oracle, relay.calls[SELECT] > 0, select["epsilon"]),
            "sampler_kind_declared": resolved.sampler.kind,
            "harness": {"cloud": options.isolation, "device": "remote" if options.device_address else options.isolation,
                        "transport": "tcp" if options.device_address else options.transport,
                        "sandbox": session.sandbox},
            # phi's cost to the device that must install and run it, beside what the run measured.
            "extractor": {"flops_per_image": session.extractor.flops_per_image,
                          **install_footprint(session.extractor.model)},
        }
    timings.close("record")  # the accounting, and the children's shutdown
    return {**result, "timings": timings}


def _hash_indices(idx: np.ndarray) -> str:
    return hashlib.sha256(np.sort(idx).astype(np.int64).tobytes()).hexdigest()[:16]


def run(spec: RunSpec | ResolvedRun, results_dir: Path | str, cache: Cache | None = None,
        options: HarnessOptions | None = None, started: float | None = None) -> tuple[dict[str, Any], Path]:
    """Run a spec and store its record; a failure is stored too (status "failed"), then re-raised.

    ``spec``: resolved already (the command line's ``ResolvedRun``, which carries its options), or a
    ``RunSpec`` resolved here under ``options`` (else those of the settings in use). The run's
    settings are in use until it ends, in this process as in its children. ``started``: when the
    run's command started (``time.perf_counter``); the time until its work is its ``start-up``.
    """
    started = time.perf_counter() if started is None else started
    if isinstance(spec, ResolvedRun) and options is not None:
        raise ValueError("a ResolvedRun carries its harness options; pass options only with a RunSpec")
    options = spec.options if isinstance(spec, ResolvedRun) else options or HarnessOptions.from_settings()
    with using(options.settings):
        # Names checked against what the dataset declares, before any data is built.
        return _run(spec if isinstance(spec, ResolvedRun) else ResolvedRun.of(spec, options), results_dir, cache,
                    started)


def _run(resolved: ResolvedRun, results_dir: Path | str, cache: Cache | None,
         started: float) -> tuple[dict[str, Any], Path]:
    spec = resolved.spec
    registry()  # every plugin imported, before any work: two providers of one name fail here
    ensure_writable_dir(results_dir)  # before any work: a run whose record cannot be written is lost
    cache = cache or Cache()
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "proxybench_version": package_version(),
        "spec": spec.to_dict(),
        "non_default": non_default_names(spec.to_dict(), resolved.plugin_classes),  # tables never ask later plugins
        "status": "ok",
        "error": None,
        "metrics": {},
        "selection": {},
        "ledger": {},
        "device": {},
        "privacy": {},
        "timings": {},
        "environment": environment(),
        "code": code_identity(resolved.plugin_classes.values()),
    }
    timings = Timings({"start-up": round(time.perf_counter() - started, 3)})
    record["timings"] = timings
    try:
        record.update(execute(resolved, cache, timings))
    except BaseException as exc:
        record["status"] = "failed"
        record["error"] = exc.message if isinstance(exc, RemoteError) else f"{type(exc).__name__}: {exc}"
        record["traceback"] = getattr(exc, "remote_traceback", "") or traceback.format_exc()
        timings["total"] = round(time.perf_counter() - started, 3)
        write_record(record, results_dir)
        raise
    timings["total"] = round(timings.mark - started, 3)  # to the end of the last stage: the stages' sum
    path = write_record(record, results_dir)
    registry().run_finished(record)
    return record, path
