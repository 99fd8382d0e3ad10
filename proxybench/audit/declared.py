"""Auditing what plugins declare: the mechanisms they offer (``audit_mechanism()``), with positive controls.

Positive controls, run by default, must be flagged: the same mechanism with half the
noise while the accountant keeps the full sigma, and (for plugins with an ``adjacency``
parameter) the replace-one neighbour while the accountant assumes add/remove. A control
that is not flagged means the audit is too weak to trust. The attack and the bounds are
``proxybench.privacy.attack`` and ``proxybench.privacy.bounds``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..privacy.accounting import DEFAULT_DELTA
from ..privacy.attack import AuditResult, run_audit
from ..privacy.mechanism import AuditMechanism
from ..util.errors import ProxybenchError


def half_noise_control(mech: AuditMechanism) -> AuditMechanism:
    """The same mechanism with half its noise (the plugin's own draw, scaled by 1/2); the accountant keeps sigma."""
    inner = mech.privatize

    def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
        return values + 0.5 * (inner(values, rng, trials) - values)

    return dataclasses.replace(mech, name=f"{mech.name} [half noise]", sigma=mech.sigma / 2, privatize=privatize,
                               description=f"control: noise sigma {mech.sigma / 2:g}, accountant still claims sigma "
                                           f"{mech.sigma:g}")


def auditable(kind: str) -> list[str]:
    """Names of the registered plugins of ``kind`` that offer ``audit_mechanism``."""
    from ..contract.registry import registry

    reg = registry()
    return [n for n in reg.names(kind) if callable(getattr(reg.get(kind, n), "audit_mechanism", None))]


def all_auditable() -> str:
    """Every auditable plugin as ``kind name``, for the messages that say what can be audited."""
    listing = [f"{k} {n}" for k in ("sampler", "task") for n in auditable(k)]
    return ", ".join(listing) or "(none)"


def plugin_mechanism(kind: str, name: str, params: dict[str, Any] | None = None) -> AuditMechanism:
    """Build plugin ``name`` of ``kind`` with ``params`` and ask it for its audit mechanism."""
    from ..contract.registry import registry

    cls = registry().get(kind, name)
    if not callable(getattr(cls, "audit_mechanism", None)):
        raise ProxybenchError(
            f"{kind} {name!r} declares no audit_mechanism(), so it cannot be audited; "
            f"plugins that can: {all_auditable()}"
        )
    mech = registry().create(kind, name, **(params or {})).audit_mechanism()
    if not isinstance(mech, AuditMechanism):
        raise ProxybenchError(f"{kind} {name!r}: audit_mechanism() returned {type(mech).__name__}, not AuditMechanism")
    return mech


def _replace_one_control(kind: str, name: str, params: dict[str, Any], mech: AuditMechanism) -> AuditMechanism | None:
    """Replace-one neighbours (from the plugin) released with the add/remove mechanism and its accountant."""
    from ..contract.registry import registry

    cls = registry().get(kind, name)
    if "adjacency" not in cls.param_fields() or mech.adjacency != "add_remove":
        return None
    try:
        other = plugin_mechanism(kind, name, {**params, "adjacency": "replace_one"})
    except ProxybenchError:
        return None
    return dataclasses.replace(mech, name=f"{mech.name} [replace-one, accountant add/remove]",
                               values_d=other.values_d, values_d_prime=other.values_d_prime, adjacency="replace_one",
                               description="control: replace-one neighbour (distance "
                                           f"{other.neighbour_distance:.3g}) while the accountant assumes add/remove "
                                           f"(sensitivity {mech.sensitivity:.3g})")


def audit_plugin(kind: str, name: str, params: dict[str, Any] | None = None, trials: int = 100_000, seed: int = 0,
                 delta: float = DEFAULT_DELTA, confidence: float = 0.95, controls: bool = True) -> list[AuditResult]:
    """Audit one plugin's mechanism, plus its positive controls (which must be flagged)."""
    params = dict(params or {})
    mech = plugin_mechanism(kind, name, params)
    todo: list[tuple[AuditMechanism, str | None]] = [(mech, None)]
    if controls and mech.sigma > 0:
        todo.append((half_noise_control(mech), "half-noise"))
        ro = _replace_one_control(kind, name, params, mech)
        if ro is not None:
            todo.append((ro, "replace-one"))
    return [run_audit(m, trials, seed, delta, confidence, plugin=name, kind=kind, control=c) for m, c in todo]
