"""Auditing plugins: the mechanisms they offer (``audit_mechanism()``), with positive controls, as a report.

Positive controls, run by default, must be flagged: the same mechanism with half the
noise while the accountant keeps the full sigma, and (for plugins with an ``adjacency``
parameter) the replace-one neighbour while the accountant assumes add/remove. A control
that is not flagged means the audit is too weak to trust. The attack and the bounds are
``proxybench.privacy.attack`` and ``proxybench.privacy.bounds``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..privacy.accounting import DEFAULT_DELTA
from ..privacy.attack import AuditResult, run_audit
from ..privacy.mechanism import AuditMechanism
from ..util.errors import ProxybenchError

#: exit codes of ``proxybench audit``
EXIT_OK, EXIT_VIOLATION, EXIT_CONTROL_MISSED = 0, 1, 3


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


def _all_auditable() -> str:
    listing = [f"{k} {n}" for k in ("sampler", "task") for n in auditable(k)]
    return ", ".join(listing) or "(none)"


def plugin_mechanism(kind: str, name: str, params: dict[str, Any] | None = None) -> AuditMechanism:
    """Build plugin ``name`` of ``kind`` with ``params`` and ask it for its audit mechanism."""
    from ..contract.registry import registry

    cls = registry().get(kind, name)
    if not callable(getattr(cls, "audit_mechanism", None)):
        raise ProxybenchError(
            f"{kind} {name!r} declares no audit_mechanism(), so it cannot be audited; "
            f"plugins that can: {_all_auditable()}"
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


@dataclass
class AuditReport:
    results: list[AuditResult]
    seconds: float = 0.0

    @property
    def violations(self) -> list[AuditResult]:
        return [r for r in self.results if r.control is None and r.flagged]

    @property
    def missed_controls(self) -> list[AuditResult]:
        return [r for r in self.results if r.control is not None and not r.flagged]

    @property
    def exit_code(self) -> int:
        if self.violations:
            return EXIT_VIOLATION
        return EXIT_CONTROL_MISSED if self.missed_controls else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "kind": "privacy-audit", "seconds": round(self.seconds, 3), "exit_code": self.exit_code,
                "results": [r.to_dict() for r in self.results]}

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        tmp.replace(path)
        return path


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
