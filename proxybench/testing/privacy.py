"""The privacy rules: what a stage that used the device declares, whether the class's kind matches, and the audits.

``check_privacy`` reads a declaration (kept in records as ``declared``); ``check_kind``
holds the class's kind to what the device runtime did (``run.runner.runtime_privacy``);
``check_mechanism`` holds ``audit_mechanism()`` to the declaration and attacks it;
``check_replies`` replays the requests a stage really sent on D and on D' (D plus a copy
of its unit 0) with fresh runtime noise, as ``proxybench audit``'s black-box path does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audit.blackbox import projection_scores
from ..harness.local import NO_GRID
from ..harness.relay import Call
from ..privacy.accounting import check_one_adjacency, is_no_release
from ..privacy.attack import run_audit
from ..privacy.bounds import lower_bounds
from ..privacy.mechanism import AuditMechanism
from ..run.runner import derived_kind, stage_privacy
from ..util.errors import ProxybenchError
from ..wire.link import as_field, deserialize, serialize
from ..wire.runtime import DeviceRuntime, Programs
from .rules import ContractError

#: (class kind, kind derived from the run) pairs where the class claims more privacy than the run had
OVERCLAIMS = {("client-free", "private"), ("client-free", "privacy-free"), ("private", "privacy-free")}
#: releases per neighbour in the attack on ``audit_mechanism()``
MECHANISM_TRIALS = 20_000


def check_privacy(label: str, stage: str, used: bool, event: Any, adjacency: str | None,
                  delta: float) -> dict[str, Any]:
    """The rule ``privacy-declared`` for one stage; returns the stage's privacy as a run records it."""
    if used and is_no_release(event):
        raise ContractError(label, "privacy-declared", f"the {stage} called the device but declares no DP event, so "
                            "a run records epsilon null (no guarantee) and marks it privacy-free",
                            "return privacy=gaussian_event(sigma, sensitivity) with adjacency='add_remove' (or "
                            "'replace_one') for a noisy release, or privacy=non_private() to say it has no guarantee")
    try:
        check_one_adjacency({stage: adjacency})
        return stage_privacy(stage, used, event, adjacency, delta)
    except ProxybenchError as exc:
        raise ContractError(label, "privacy-declared", str(exc),
                            "set adjacency to 'add_remove' or 'replace_one', the neighbouring relation the noise "
                            "is calibrated to") from exc


def check_released(label: str, declared: dict[str, Any], released: dict[str, Any]) -> None:
    """The rule ``audit-consistent``, by construction: a declared DP event needs every call to go through a mechanism."""
    if declared["epsilon"] is not None and released["epsilon"] is None:
        raise ContractError(label, "audit-consistent", f"it declares epsilon {declared['epsilon']:.3g}, but the device "
                            f"runtime released with {released['guarantee']}, so runs record no guarantee",
                            "name a release mechanism in each device.call (release=GaussianHistogram(...), "
                            "GaussianSum(...) or KnnVote(...)) and return its contributions from the program")


def check_kind(label: str, kind: str, used: bool, claim: dict[str, Any]) -> None:
    """The rule ``kind-consistent``: the class's ``kind`` against the one a run derives from what it did."""
    derived = derived_kind(kind == "oracle", used, claim["epsilon"])
    if (kind, derived) in OVERCLAIMS:
        raise ContractError(label, "kind-consistent", f"the class says kind={kind!r} but the selection is "
                            f"{derived} ({claim['guarantee']})",
                            f"set kind = {derived!r}, or change what the sampler does so that the claim holds")


def check_mechanism(plugin: Any, label: str, adjacency: str | None) -> None:
    """The fast path of ``audit-consistent``: ``audit_mechanism()`` matches the declaration and survives the attack."""
    mech = plugin.audit_mechanism()
    if not isinstance(mech, AuditMechanism):
        raise ContractError(label, "audit-consistent", f"audit_mechanism() returned {type(mech).__name__}",
                            "return proxybench.AuditMechanism(...)")
    if mech.adjacency != adjacency:
        raise ContractError(label, "audit-consistent", f"audit_mechanism() assumes adjacency {mech.adjacency!r}, "
                            f"the release declares {adjacency!r}", "build both from the same parameter")
    if mech.neighbour_distance > mech.sensitivity * (1 + 1e-6):
        raise ContractError(label, "audit-consistent", f"the worst neighbour moves the release by "
                            f"{mech.neighbour_distance:.4g}, more than the declared sensitivity {mech.sensitivity:.4g}",
                            "declare the sensitivity the release really has (count_sensitivity(adjacency))")
    result = run_audit(mech, trials=MECHANISM_TRIALS, plugin=plugin.name)
    if result.flagged:
        raise ContractError(label, "audit-consistent", f"audit_mechanism(): empirical epsilon >= "
                            f"{max(result.eps_lb, result.eps_lb_gdp):.3f} exceeds the declared {result.epsilon_pld}",
                            "privatize with the sigma the DP event states, on values of the declared sensitivity")


def check_replies(label: str, calls: list[Call], programs: Programs, epsilon: float,
                  delta: float, trials: int, seed: int = 0) -> None:
    """The black-box path of ``audit-consistent``: replay the real requests on D and D', attack the replies.

    ``programs`` runs them where the device's rows are (the kit device's worker); the auditor's
    runtime draws its own noise from ``seed``, which the plugin never sees.
    """
    runtime = DeviceRuntime(programs, np.random.default_rng(seed), delta, grid=NO_GRID)
    sides = []
    for side in ("none", "add"):
        replies = []
        for i, call in enumerate(calls):
            answer = deserialize(runtime.handle(serialize({"op": "replay", "program": call.program, "neighbour": side,
                                                            "payload": as_field(call.payload), "release": call.release,
                                                            "trials": trials, "seed": seed + i})))
            if not answer.get("ok"):
                raise ContractError(label, "audit-consistent", f"replaying {call.program} failed: {answer.get('error')}",
                                    "a program must run again on the same message (keep no state between calls)")
            replies.append(answer["replies"])
        sides.append(np.hstack(replies))
    d, d_prime = sides
    never_varies = (np.ptp(d, axis=0) == 0) & (np.ptp(d_prime, axis=0) == 0)
    if d.shape[1] and (never_varies.all() or (never_varies & (d[0] != d_prime[0])).any()):
        raise ContractError(label, "audit-consistent", f"it declares epsilon {epsilon:.3g}, but reply numbers that "
                            "depend on the device's data are identical in every replay: they are sent exact",
                            "name a release mechanism in the request (device.call(..., release=GaussianSum(...))): "
                            "the device runtime then adds the noise")
    bounds = lower_bounds(*projection_scores(d, d_prime), delta, 0.95)
    if max(bounds.eps_lb, bounds.eps_lb_gdp) > epsilon:
        raise ContractError(label, "audit-consistent", f"replaying its requests, an attack tells D from D' with "
                            f"epsilon >= {max(bounds.eps_lb, bounds.eps_lb_gdp):.3f} > the declared {epsilon:.3f}",
                            "add as much noise as the DP event states, calibrated to the true sensitivity")
