"""Black-box audit of a sampler's real device program, whether or not the plugin opted in.

1. Run the sampler's selection in a real run (harness, cloud and device processes) and
   keep the requests it actually sent to the device.
2. Replay each request, ``trials`` times with fresh device randomness, in the device
   process on D (the client's data) and on D' (D plus a copy of its record 0, or D without
   it): the same installed program, the same message, only the data and the noise differ.
3. Attack the numeric reply fields (all requests' replies, concatenated) with the
   likelihood-ratio statistic for isotropic Gaussian noise: the projection onto the
   difference of the mean replies, the direction estimated on the first third of the
   trials and the bound made on the other two thirds (split-half thresholds, Clopper-
   Pearson, ``privacy.bounds.lower_bounds``).

The epsilon audited is the device runtime's (its mechanisms' events); a selection that
declares a DP event while some of its calls answered raw, outside the mechanisms, is
flagged. A selection whose replies do not vary between trials sends exact values: that
alone is flagged, whatever the bound says; so is a single reply number that never varies
(one round of several without noise): the runtime's mechanisms noise every number they release,
so an exact number is a raw release even where this neighbour happens not to move it. The audit's power is
limited by ``trials`` (about ln(trials/10) at most), so it catches missing or grossly
short noise, not a slightly low sigma; the exact path of ``audit_mechanism()`` with 1e5+
trials is the sharper tool where a plugin offers it.
"""

from __future__ import annotations

import time

import numpy as np

from ..privacy.attack import AuditResult
from ..privacy.bounds import auroc, lower_bounds, tpr_at_fpr
from ..run.resolved import ResolvedRun
from ..run.runner import declared_epsilon, runtime_privacy
from ..run.select_only import selecting
from ..run.spec import RunSpec
from ..util.cache import Cache
from ..util.errors import ProxybenchError


def projection_scores(d: np.ndarray, d_prime: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the held-out trials on the mean-difference direction learnt from the first third of each side."""
    k0, k1 = len(d) // 3, len(d_prime) // 3
    direction = d_prime[:k1].mean(0) - d[:k0].mean(0)
    norm = float(np.linalg.norm(direction))
    if norm > 0:
        direction = direction / norm
    return d[k0:] @ direction, d_prime[k1:] @ direction


def audit_selection(spec: RunSpec | ResolvedRun, cache: Cache, trials: int = 1000, neighbour: str = "add", seed: int = 0,
                    confidence: float = 0.95) -> AuditResult:
    """Run ``spec``'s selection, replay its device requests on D and D', bound epsilon from below."""
    if trials < 150:
        raise ProxybenchError(f"a black-box audit needs at least 150 trials per side, got {trials}")
    if neighbour not in ("add", "remove"):
        raise ProxybenchError(f"unknown neighbour {neighbour!r}; choose add (a copy of a record) or remove")
    start = time.perf_counter()
    with selecting(spec, cache) as run:
        spec, selection, calls = run.spec, run.selection, run.calls
        claim = runtime_privacy(calls, spec.delta)
        declared = declared_epsilon("selection", bool(calls), selection.privacy, selection.adjacency, spec.delta)
        replies = {side: [run.replay(c, trials, side, seed + i) for i, c in enumerate(calls)]
                   for side in ("none", neighbour)}
    name = f"{spec.sampler} device program{'s' if len(calls) != 1 else ''} " + \
           (", ".join(sorted({c.program for c in calls})) or "(none: no device call)")
    d = np.hstack(replies["none"]) if calls else np.zeros((trials, 0))
    d_prime = np.hstack(replies[neighbour]) if calls else np.zeros((trials, 0))
    exact = bool(d.shape[1]) and bool(np.all(np.ptp(d, axis=0) == 0))
    # A reply number that never varies was released without noise (a round that omits its noise among
    # noisy ones); one that also differs between D and D' tells them apart by itself: attack that alone.
    fixed = (np.ptp(d, axis=0) == 0) & (np.ptp(d_prime, axis=0) == 0) if calls else np.zeros(0, dtype=bool)
    telling = np.flatnonzero(fixed & (d[0] != d_prime[0])) if calls else []
    if len(telling):
        s0, s1 = d[:, telling[0]], d_prime[:, telling[0]]
    else:
        s0, s1 = projection_scores(d, d_prime) if d.shape[1] else (np.zeros(trials), np.zeros(trials))
    bounds = lower_bounds(s0, s1, spec.delta, confidence)
    eps = claim["epsilon"]
    raw = sum(c.raw for c in calls)
    # Exact numbers contradict any DP event, the runtime's or only the plugin's declared one.
    dp_event = eps is not None or declared is not None
    flagged = ((dp_event and (exact or fixed.any())) or (eps is not None and max(bounds.eps_lb, bounds.eps_lb_gdp) > eps)
               or (raw > 0 and declared is not None))
    description = (f"black box: {len(calls)} request(s) replayed {trials}x on D and on D' ({neighbour} unit 0); "
                   f"guarantee: {claim['guarantee']}")
    if raw and declared is not None:
        description += (f"; FLAGGED: declares epsilon {declared:.3g}, but {raw} call(s) answered raw, outside the "
                        "runtime's release mechanisms (runs record no guarantee)")
    if exact and dp_event:
        description += "; FLAGGED: the replies are exact (identical in every trial) under a declared DP event"
    elif fixed.any() and dp_event:
        description += (f"; FLAGGED: {int(fixed.sum())} reply number(s) are exact, a release without noise "
                        f"({len(telling)} of them differ between D and D')")
    return AuditResult(
        mechanism=name, plugin=spec.sampler, kind="sampler", control=None, sigma=float("nan"),
        sensitivity=float("nan"), neighbour_distance=float(np.linalg.norm(d_prime.mean(0) - d.mean(0))),
        adjacency=str(claim["adjacency"] or selection.adjacency), delta=spec.delta, confidence=confidence,
        trials=int(trials), threshold_selection="split-half (direction on the first third)",
        epsilon_pld=eps, epsilon_rdp=None, auroc=auroc(s0, s1), tpr_at_fpr_1e_3=tpr_at_fpr(s0, s1, 1e-3),
        eps_lb=bounds.eps_lb, eps_lb_gdp=bounds.eps_lb_gdp, mu_lb_gdp=bounds.mu_lb,
        tightness=bounds.eps_lb / eps if eps else None, tightness_gdp=bounds.eps_lb_gdp / eps if eps else None,
        flagged=flagged, seconds=time.perf_counter() - start,
        bounds={"exact_replies": float(exact), "exact_numbers": float(fixed.sum()),
                "exact_telling_numbers": float(len(telling)), "raw_calls": float(raw),
                "reply_numbers": float(d.shape[1]), "device_calls": float(len(calls))},
        description=description,
    )
