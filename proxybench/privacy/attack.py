"""Privacy audit: attack a mechanism and put the empirical lower bound on epsilon beside every accountant's.

The exact outputs are computed once; only the noise is redrawn, ``trials`` times on D and
``trials`` times on D', from independent seeds (one SeedSequence child per chunk of
trials). The attack is the likelihood-ratio test (``privacy.bounds``). A bound above the
accountant's epsilon is a violation: wrong sensitivity, missing noise, or a broken
accountant. The result is a plain dataclass (``AuditResult.to_dict()``) that a
leaderboard can read.
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from dp_accounting import DpEvent

from ..util.errors import ProxybenchError
from .accounting import DEFAULT_DELTA, rdp_epsilon
from .accounting import epsilon as pld_epsilon
from .bounds import auroc, lower_bounds, tpr_at_fpr
from .mechanism import AuditMechanism


def accountant_epsilons(event: DpEvent, delta: float) -> tuple[float | None, float | None]:
    """(PLD epsilon, RDP epsilon) of one release; None where there is no guarantee or no support."""
    pld = pld_epsilon(event, delta)
    return pld, (rdp_epsilon(event, delta) if pld is not None else None)


def attack_scores(mech: AuditMechanism, trials: int, seed: int, chunk_numbers: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``trials`` noisy releases on D and on D' (independent seeds per dataset and chunk)."""
    if trials < 100:
        raise ProxybenchError(f"audit needs at least 100 trials, got {trials}")
    diff = (mech.values_d_prime - mech.values_d).ravel()
    norm = float(np.linalg.norm(diff))
    if mech.score is None and norm == 0:
        raise ProxybenchError(f"audit mechanism {mech.name!r}: D and D' give the same exact output; "
                              "the neighbour must move the output")
    direction = diff / norm if norm > 0 else diff
    offset = float(mech.values_d.ravel() @ direction)
    chunk = max(1, chunk_numbers // max(1, mech.values_d.size))
    root = np.random.SeedSequence([seed, zlib.crc32(mech.name.encode())])
    out = []
    for values, ss in zip((mech.values_d, mech.values_d_prime), root.spawn(2), strict=True):
        scores = np.empty(trials)
        starts = range(0, trials, chunk)
        for start, child in zip(starts, ss.spawn(len(starts)), strict=True):
            m = min(chunk, trials - start)
            noisy = np.asarray(mech.privatize(values, np.random.default_rng(child), m), dtype=np.float64)
            if noisy.shape != (m, *values.shape):
                raise ProxybenchError(f"audit mechanism {mech.name!r}: privatize returned shape {noisy.shape}, "
                                      f"expected {(m, *values.shape)}")
            flat = noisy.reshape(m, -1)
            scores[start:start + m] = mech.score(flat) if mech.score is not None else flat @ direction - offset
        out.append(scores)
    return out[0], out[1]


@dataclass
class AuditResult:
    """One audited mechanism: the accountant's claim beside the empirical lower bound."""

    mechanism: str
    plugin: str
    kind: str
    control: str | None  # None for the plugin's own mechanism, else which positive control
    sigma: float
    sensitivity: float
    neighbour_distance: float
    adjacency: str
    delta: float
    confidence: float
    trials: int
    threshold_selection: str
    epsilon_pld: float | None
    epsilon_rdp: float | None
    auroc: float
    tpr_at_fpr_1e_3: float
    eps_lb: float
    eps_lb_gdp: float
    mu_lb_gdp: float
    tightness: float | None
    tightness_gdp: float | None
    flagged: bool
    seconds: float
    bounds: dict[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def epsilon_accountant(self) -> float | None:
        return self.epsilon_pld if self.epsilon_pld is not None else self.epsilon_rdp

    @property
    def ok(self) -> bool:
        """A real mechanism is ok when not flagged; a positive control is ok when flagged."""
        return self.flagged if self.control else not self.flagged

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["epsilon_accountant"] = self.epsilon_accountant
        d["ok"] = self.ok
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def run_audit(mech: AuditMechanism, trials: int = 100_000, seed: int = 0, delta: float = DEFAULT_DELTA,
              confidence: float = 0.95, plugin: str = "", kind: str = "", control: str | None = None) -> AuditResult:
    """Attack ``mech`` with ``trials`` releases per neighbouring dataset and bound its epsilon from below."""
    if not 0.5 <= confidence < 1.0:
        raise ProxybenchError(f"confidence must be in [0.5, 1), got {confidence}")
    if not 0.0 < delta < 1.0:
        raise ProxybenchError(f"delta must be in (0, 1), got {delta}")
    start = time.perf_counter()
    s0, s1 = attack_scores(mech, trials, seed)
    b = lower_bounds(s0, s1, delta, confidence)
    pld, rdp = accountant_epsilons(mech.event, delta)
    claim = pld if pld is not None else rdp

    def tight(x: float) -> float | None:
        return x / claim if claim else None

    return AuditResult(
        mechanism=mech.name, plugin=plugin, kind=kind, control=control, sigma=float(mech.sigma),
        sensitivity=float(mech.sensitivity), neighbour_distance=mech.neighbour_distance, adjacency=mech.adjacency,
        delta=delta, confidence=confidence, trials=int(trials), threshold_selection="split-half",
        epsilon_pld=pld, epsilon_rdp=rdp, auroc=auroc(s0, s1), tpr_at_fpr_1e_3=tpr_at_fpr(s0, s1, 1e-3),
        eps_lb=b.eps_lb, eps_lb_gdp=b.eps_lb_gdp, mu_lb_gdp=b.mu_lb, tightness=tight(b.eps_lb),
        tightness_gdp=tight(b.eps_lb_gdp),
        flagged=claim is not None and max(b.eps_lb, b.eps_lb_gdp) > claim,
        seconds=time.perf_counter() - start,
        bounds={k: v for k, v in dataclasses.asdict(b).items() if k not in ("eps_lb", "eps_lb_gdp", "mu_lb")},
        description=mech.description,
    )
