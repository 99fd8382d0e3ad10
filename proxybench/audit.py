"""Privacy audit: an empirical lower bound on epsilon beside every accountant's epsilon.

The audit attacks a plugin's real privatizing code path. A plugin with a private device
program offers it through an optional method on its class (part of the plugin contract)::

    def audit_mechanism(self) -> AuditMechanism: ...

returning the exact (noise-free) outputs of ONE release on two neighbouring device
datasets D and D' (the worst-case neighbour), the accountant's ``DpEvent`` for that one
release, and ``privatize(values, rng, trials)``: the plugin's own noise-adding function,
drawing ``trials`` independent noisy copies of ``values``.

How the bound is made (all from the formulas, with numpy/scipy and dp-accounting):

1. The exact outputs are computed once; only the noise is redrawn, ``trials`` times on
   D and ``trials`` times on D', from independent seeds (one SeedSequence child per
   chunk of trials).
2. Attack: the likelihood-ratio test. For additive isotropic Gaussian noise the
   optimal statistic is the projection of the output onto the difference of the exact
   outputs, ``s = <y - f(D), f(D') - f(D)> / |f(D') - f(D)|``; the test says "D'" when
   ``s > t``. A mechanism that is not Gaussian can bring its own ``score``.
3. Threshold choice: **split-half**. The threshold is chosen on the first half of the
   trials (each dataset) and the bound is evaluated only on the second half, so the
   choice costs no multiple-testing correction.
4. Clopper-Pearson upper bounds FPR_hi and FNR_hi (scipy.stats.beta), each at
   confidence ``1 - alpha/2``, so that the pair, and so each bound below, holds with
   probability at least ``confidence = 1 - alpha`` (default 95%).
5. (eps, delta) directly: ``eps_LB = max(ln((1 - delta - FNR_hi) / FPR_hi), ln((1 - delta - FPR_hi) / FNR_hi), 0)``.
   Gaussian DP: ``mu_LB = Phi^-1(1 - FPR_hi) - Phi^-1(FNR_hi)``, converted to epsilon at
   ``delta`` with the exact GDP curve ``delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)``.
   (The GDP conversion assumes the trade-off curve is Gaussian, which holds for the
   Gaussian mechanisms audited here; the direct bound assumes nothing.)

A bound above the accountant's epsilon is a violation: wrong sensitivity, missing noise,
or a broken accountant. Positive controls, run by default, must be flagged: the same
mechanism with half the noise while the accountant keeps the full sigma, and (for
plugins with an ``adjacency`` parameter) the replace-one neighbour while the accountant
assumes add/remove. A control that is not flagged means the audit is too weak to trust.

The result is a plain dataclass (``AuditResult.to_dict()``) that a leaderboard can read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dp_accounting
import numpy as np
from dp_accounting import DpEvent
from scipy import optimize, special, stats

from .errors import ProxybenchError
from .params import split_param
from .privacy import DEFAULT_DELTA
from .privacy import epsilon as pld_epsilon

#: exit codes of ``proxybench audit``
EXIT_OK, EXIT_VIOLATION, EXIT_CONTROL_MISSED = 0, 1, 3

Privatize = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]
Score = Callable[[np.ndarray], np.ndarray]


@dataclass
class AuditMechanism:
    """One private release of a plugin, ready to be attacked.

    ``privatize(values, rng, trials)`` must return ``trials`` independent noisy copies of
    ``values`` (shape ``(trials, *values.shape)``) and must go through the plugin's own
    noise-adding function, the one its device program uses.
    """

    name: str
    sigma: float
    sensitivity: float
    adjacency: str
    event: DpEvent  # the accountant's event for ONE release
    values_d: np.ndarray  # exact output on D
    values_d_prime: np.ndarray  # exact output on D' (the worst-case neighbour)
    privatize: Privatize
    description: str = ""
    #: a general attack statistic (trials, m) -> (trials,), larger means "D'"; None: the Gaussian LR test
    score: Score | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values_d = np.asarray(self.values_d, dtype=np.float64)
        self.values_d_prime = np.asarray(self.values_d_prime, dtype=np.float64)
        if self.values_d.shape != self.values_d_prime.shape:
            raise ProxybenchError(
                f"audit mechanism {self.name!r}: D and D' give outputs of different shapes "
                f"{self.values_d.shape} and {self.values_d_prime.shape}"
            )
        if self.sigma < 0 or self.sensitivity <= 0:
            raise ProxybenchError(f"audit mechanism {self.name!r}: need sigma >= 0 and sensitivity > 0")

    @property
    def neighbour_distance(self) -> float:
        """|f(D') - f(D)|_2: should equal the claimed sensitivity for a worst-case neighbour."""
        return float(np.linalg.norm(self.values_d_prime - self.values_d))


# ---------------------------------------------------------------- bounds


def clopper_pearson_upper(errors: np.ndarray | int, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson upper bound on a rate from ``errors`` out of ``n``."""
    k = np.asarray(errors, dtype=np.float64)
    safe = np.minimum(k, n - 1)
    upper = stats.beta.ppf(1.0 - alpha, safe + 1.0, n - safe)
    return np.where(k >= n, 1.0, upper)


def epsilon_from_rates(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """eps_LB = max(ln((1 - delta - FNR) / FPR), ln((1 - delta - FPR) / FNR), 0) from upper bounds on the rates."""
    fpr, fnr = np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(1 - delta - fnr > 0, np.log(np.maximum(1 - delta - fnr, 1e-300) / fpr), -np.inf)
        b = np.where(1 - delta - fpr > 0, np.log(np.maximum(1 - delta - fpr, 1e-300) / fnr), -np.inf)
    return np.maximum(np.maximum(a, b), 0.0)


def gdp_mu_from_rates(fpr: np.ndarray, fnr: np.ndarray) -> np.ndarray:
    """mu_LB = Phi^-1(1 - FPR) - Phi^-1(FNR), at least 0."""
    with np.errstate(invalid="ignore"):
        mu = stats.norm.isf(np.asarray(fpr, dtype=np.float64)) - stats.norm.ppf(np.asarray(fnr, dtype=np.float64))
    return np.maximum(np.nan_to_num(mu, nan=0.0, neginf=0.0, posinf=np.inf), 0.0)


def gdp_delta(eps: float, mu: float) -> float:
    """delta(eps) of mu-GDP: Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)."""
    if mu <= 0:
        return 0.0
    return float(special.ndtr(-eps / mu + mu / 2) - math.exp(eps + special.log_ndtr(-eps / mu - mu / 2)))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The epsilon of mu-GDP at ``delta``: the root of delta(eps) = delta (0 if delta(0) <= delta)."""
    if not mu > 0 or gdp_delta(0.0, mu) <= delta:
        return 0.0
    if not math.isfinite(mu):
        return math.inf
    hi = max(1.0, mu * mu)
    while gdp_delta(hi, mu) > delta:
        hi *= 2.0
    return float(optimize.brentq(lambda e: gdp_delta(e, mu) - delta, 0.0, hi, xtol=1e-12, rtol=1e-10))


def gaussian_mechanism_epsilon(sigma: float, sensitivity: float, delta: float) -> float:
    """The exact epsilon of one Gaussian release (mu = sensitivity / sigma is tight GDP)."""
    return gdp_epsilon(sensitivity / sigma, delta) if sigma > 0 else math.inf


def _rates(s0_sorted: np.ndarray, s1_sorted: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False positives (D scored > t) and false negatives (D' scored <= t) per threshold."""
    fp = len(s0_sorted) - np.searchsorted(s0_sorted, thresholds, side="right")
    fn = np.searchsorted(s1_sorted, thresholds, side="right")
    return fp, fn


def _candidate_thresholds(s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    n = min(len(s0), len(s1))
    levels = np.unique(np.concatenate([np.logspace(np.log10(1.0 / n), np.log10(0.5), 200), np.linspace(0.01, 0.99, 99)]))
    return np.unique(np.concatenate([np.quantile(s0, 1.0 - levels), np.quantile(s1, levels)]))


def auroc(s0: np.ndarray, s1: np.ndarray) -> float:
    """P(score on D' > score on D) + half the ties (Mann-Whitney)."""
    s0 = np.sort(s0)
    lo = np.searchsorted(s0, s1, side="left").astype(np.float64)
    hi = np.searchsorted(s0, s1, side="right").astype(np.float64)
    return float((lo + 0.5 * (hi - lo)).sum() / (len(s0) * len(s1)))


def tpr_at_fpr(s0: np.ndarray, s1: np.ndarray, fpr: float) -> float:
    """Empirical TPR of the test "D' if s > t" with t the smallest threshold whose empirical FPR <= ``fpr``."""
    s0 = np.sort(s0)
    allowed = int(math.floor(fpr * len(s0)))
    t = s0[len(s0) - allowed - 1] if allowed < len(s0) else -np.inf
    return float((s1 > t).mean())


@dataclass
class Bounds:
    eps_lb: float
    eps_lb_gdp: float
    mu_lb: float
    threshold_eps: float
    fpr_hi_eps: float
    fnr_hi_eps: float
    threshold_gdp: float
    fpr_hi_gdp: float
    fnr_hi_gdp: float


def lower_bounds(s0: np.ndarray, s1: np.ndarray, delta: float, confidence: float) -> Bounds:
    """Split-half bounds: thresholds chosen on the first half of each score array, evaluated on the second.

    On the selection half each candidate's bound is computed at the Bonferroni level
    alpha / (2 * candidates): this only steers the choice away from tail thresholds whose
    estimates are noisy (picking the luckiest of many noisy tails would not hold up on
    the evaluation half). The reported bound is evaluated once, at alpha / 2 per rate.
    """
    alpha = 1.0 - confidence
    h0, h1 = len(s0) // 2, len(s1) // 2
    sel0, sel1 = np.sort(s0[:h0]), np.sort(s1[:h1])
    ev0, ev1 = np.sort(s0[h0:]), np.sort(s1[h1:])
    cands = _candidate_thresholds(sel0, sel1)
    fp, fn = _rates(sel0, sel1, cands)
    a_sel = alpha / (2 * len(cands))
    fpr_sel, fnr_sel = clopper_pearson_upper(fp, len(sel0), a_sel), clopper_pearson_upper(fn, len(sel1), a_sel)
    t_eps = float(cands[int(np.argmax(epsilon_from_rates(fpr_sel, fnr_sel, delta)))])
    t_gdp = float(cands[int(np.argmax(gdp_mu_from_rates(fpr_sel, fnr_sel)))])

    fp, fn = _rates(ev0, ev1, np.array([t_eps, t_gdp]))
    fpr_hi, fnr_hi = clopper_pearson_upper(fp, len(ev0), alpha / 2), clopper_pearson_upper(fn, len(ev1), alpha / 2)
    eps_lb = float(epsilon_from_rates(fpr_hi[:1], fnr_hi[:1], delta)[0])
    mu_lb = float(gdp_mu_from_rates(fpr_hi[1:], fnr_hi[1:])[0])
    return Bounds(eps_lb, gdp_epsilon(mu_lb, delta), mu_lb, t_eps, float(fpr_hi[0]), float(fnr_hi[0]),
                  t_gdp, float(fpr_hi[1]), float(fnr_hi[1]))


# ---------------------------------------------------------------- attack and runner


def accountant_epsilons(event: DpEvent, delta: float) -> tuple[float | None, float | None]:
    """(PLD epsilon, RDP epsilon) of one release; None where there is no guarantee or no support."""
    pld = pld_epsilon(event, delta)
    rdp: float | None = None
    if pld is not None:
        try:
            acc = dp_accounting.rdp.RdpAccountant()
            acc.compose(event)
            rdp = float(acc.get_epsilon(delta))
        except Exception:  # an event the RDP accountant does not support
            rdp = None
    return pld, rdp


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


def gaussian_reference(sigma: float, sensitivity: float = 1.0, dim: int = 10, adjacency: str = "add_remove") -> AuditMechanism:
    """The exact Gaussian mechanism on a ``dim``-bin histogram (known epsilon), through ``privacy.gaussian_noise``."""
    from .privacy import gaussian_event, gaussian_noise

    d = np.arange(dim, dtype=np.float64) * 3.0
    d_prime = d.copy()
    d_prime[0] += sensitivity

    def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
        return gaussian_noise(np.broadcast_to(values, (trials, *values.shape)), sigma, rng)

    return AuditMechanism(name=f"gaussian(sigma={sigma:g})", sigma=sigma, sensitivity=sensitivity, adjacency=adjacency,
                          event=gaussian_event(sigma, sensitivity), values_d=d, values_d_prime=d_prime,
                          privatize=privatize, description="reference: the exact Gaussian mechanism")


# ---------------------------------------------------------------- positive controls and plugins


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
    from .registry import registry

    reg = registry()
    return [n for n in reg.names(kind) if callable(getattr(reg.get(kind, n), "audit_mechanism", None))]


def _all_auditable() -> str:
    listing = [f"{k} {n}" for k in ("sampler", "task") for n in auditable(k)]
    return ", ".join(listing) or "(none)"


def plugin_mechanism(kind: str, name: str, params: dict[str, Any] | None = None) -> AuditMechanism:
    """Build plugin ``name`` of ``kind`` with ``params`` and ask it for its audit mechanism."""
    from .registry import registry

    cls = registry().get(kind, name)
    if not callable(getattr(cls, "audit_mechanism", None)):
        raise ProxybenchError(
            f"{kind} {name!r} declares no audit_mechanism(), so it cannot be audited; "
            f"plugins that can: {_all_auditable()}"
        )
    mech = cls.build(**(params or {})).audit_mechanism()
    if not isinstance(mech, AuditMechanism):
        raise ProxybenchError(f"{kind} {name!r}: audit_mechanism() returned {type(mech).__name__}, not AuditMechanism")
    return mech


def _replace_one_control(kind: str, name: str, params: dict[str, Any], mech: AuditMechanism) -> AuditMechanism | None:
    """Replace-one neighbours (from the plugin) released with the add/remove mechanism and its accountant."""
    from .registry import registry

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


# ---------------------------------------------------------------- command line


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else ("inf" if not math.isfinite(x) else format(x, spec))


def render(report: AuditReport, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or logged: do not squeeze the table to 80 columns
            console = Console(width=200)
    t = Table(title="proxybench privacy audit: empirical lower bounds on epsilon (split-half thresholds)")
    for col in ("plugin [control]", "sigma", "adjacency", "delta", "eps PLD / RDP", "trials", "AUROC", "TPR@FPR=1e-3",
                "eps_LB", "eps_LB GDP (mu_LB)", "tightness (GDP)", "verdict"):
        t.add_column(col)
    for r in report.results:
        if r.control is None:
            verdict = "[bold red]VIOLATION: eps_LB > accountant[/bold red]" if r.flagged else "[green]ok[/green]"
        else:
            verdict = "[green]control flagged (expected)[/green]" if r.flagged else "[bold red]CONTROL MISSED[/bold red]"
        style = "red" if not r.ok else None
        label = escape(f"{r.kind} {r.plugin}" + (f" [{r.control}]" if r.control else ""))
        t.add_row(label, _fmt(r.sigma, ".4g"), r.adjacency, f"{r.delta:g}", f"{_fmt(r.epsilon_pld)} / {_fmt(r.epsilon_rdp)}",
                  f"{r.trials:,}", _fmt(r.auroc, ".4f"), _fmt(r.tpr_at_fpr_1e_3, ".4f"),
                  _fmt(r.eps_lb), f"{_fmt(r.eps_lb_gdp)} ({_fmt(r.mu_lb_gdp, '.4f')})",
                  f"{_fmt(r.tightness, '.2f')} ({_fmt(r.tightness_gdp, '.2f')})", verdict, style=style)
    console.print(t)
    conf = report.results[0].confidence if report.results else 0.95
    console.print(f"bounds hold with confidence {conf:.0%} each (Clopper-Pearson, FPR and FNR at {1 - (1 - conf) / 2:.1%}); "
                  f"audit time {report.seconds:.1f} s")
    for r in report.violations:
        console.print(f"[bold red]PRIVACY VIOLATION[/bold red] {escape(r.mechanism)}: empirical epsilon >= "
                      f"{max(r.eps_lb, r.eps_lb_gdp):.3f} exceeds the accountant's {_fmt(r.epsilon_accountant)} "
                      "(wrong sensitivity, missing noise or broken accountant)")
    for r in report.missed_controls:
        console.print(f"[bold red]CONTROL MISSED[/bold red] {escape(r.mechanism)}: the audit could not flag a broken "
                      "mechanism; raise --trials before trusting it")


def _route_params(items: list[str], targets: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """``key=value`` to the chosen plugins that declare ``key``; ``sampler.key``/``task.key``/``NAME.key`` to pick one."""
    from .registry import registry

    reg = registry()
    out: dict[tuple[str, str], dict[str, str]] = {t: {} for t in targets}
    for item in items:
        prefix, key, value = split_param(item)
        chosen = [t for t in targets if prefix in t] if prefix else list(targets)
        if prefix and not chosen:
            key = f"{prefix}.{key}"
        owners = [t for t in chosen if key in reg.get(*t).param_fields()]
        if not owners:
            listing = "; ".join(f"{k} {n}: {', '.join(reg.get(k, n).param_fields()) or '(none)'}" for k, n in targets)
            raise ProxybenchError(f"unknown parameter {key!r}. Known parameters: {listing}")
        for t in owners:
            out[t][key] = value
    return out


def cmd_audit(args: argparse.Namespace) -> int:
    from .registry import registry

    targets = [("sampler", n) for n in args.sampler or []] + [("task", n) for n in args.task or []]
    if args.all:
        targets += [(k, n) for k in ("sampler", "task") for n in auditable(k) if (k, n) not in targets]
    if not targets:
        raise ProxybenchError(f"choose what to audit: --sampler NAME, --task NAME or --all; auditable: {_all_auditable()}")
    params = _route_params(args.param or [], targets)
    start = time.perf_counter()
    results: list[AuditResult] = []
    for kind, name in targets:
        black_box = kind == "sampler" and not args.no_black_box
        if not black_box or hasattr(registry().get(kind, name), "audit_mechanism"):
            results += audit_plugin(kind, name, params[(kind, name)], trials=args.trials, seed=args.seed,
                                    delta=args.delta, confidence=args.confidence, controls=not args.no_controls)
        if black_box:
            results.append(_black_box(name, params[(kind, name)], args))
    report = AuditReport(results, seconds=time.perf_counter() - start)
    render(report)
    if args.out:
        print(f"audit result: {report.save(args.out)}")
    return report.exit_code


def _black_box(sampler: str, params: dict[str, Any], args: argparse.Namespace) -> AuditResult:
    """The black-box audit of ``sampler``'s real device program, in the scenario ``--spec`` describes."""
    from .blackbox import audit_selection
    from .cache import Cache
    from .spec import RunSpec

    fields: dict[str, Any] = {"sampler": sampler, "sampler_params": params, "delta": args.delta}
    for item in args.spec or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ProxybenchError(f"--spec takes FIELD=VALUE, got {item!r}")
        if key == "dataset_params" or key.startswith("dataset."):
            fields.setdefault("dataset_params", {})[key.removeprefix("dataset.")] = _literal(value)
        else:
            fields[key] = _literal(value)
    spec = RunSpec.from_dict(fields)
    return audit_selection(spec, Cache(), trials=args.black_box_trials, neighbour=args.neighbour, seed=args.seed,
                           confidence=args.confidence)


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


AUDIT_EPILOG = """\
examples:
  proxybench audit --sampler ecos
  proxybench audit --sampler my-sampler --spec client_domain=photo --black-box-trials 2000
  proxybench audit --sampler ecos --param target_epsilon=1 --trials 1000000
  proxybench audit --task autolabel --param sigma=5.3 --out audit.json
  proxybench audit --all

A sampler is audited two ways: the black-box path runs its selection in a real run,
records the requests it sent to the device, and replays that device program on D and
on D' (D plus a copy of one record) with fresh device noise; plugins that offer
audit_mechanism() also get the exact fast path. A selection that declares a DP event
but sends exact replies is flagged.

exit codes: 0 all bounds below the accountants and every positive control flagged;
1 an empirical lower bound exceeds an accountant's epsilon (privacy violation);
3 a positive control was not flagged (the audit is too weak; raise --trials);
2 usage or plugin error.
"""


def add_audit_command(subparsers) -> argparse.ArgumentParser:
    """Register ``proxybench audit`` on an argparse subparsers object; its handler is ``args.func``."""
    p = subparsers.add_parser(
        "audit", help="attack the private device mechanisms: empirical lower bound on epsilon vs the accountant",
        description="Draw the plugin's own noise on two neighbouring device datasets, run the likelihood-ratio "
                    "test, and bound epsilon from below (Clopper-Pearson; direct and Gaussian-DP). A bound above "
                    "the accountant's epsilon is flagged red with exit code 1.",
        epilog=AUDIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sampler", action="append", metavar="NAME", help="a sampler to audit; repeatable")
    p.add_argument("--task", action="append", metavar="NAME", help="a task to audit; repeatable")
    p.add_argument("--all", action="store_true", help="audit every plugin that offers audit_mechanism()")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a plugin parameter, e.g. sigma=5; prefix sampler./task./NAME. to pick one plugin")
    p.add_argument("--trials", type=int, default=100_000, help="noisy releases per neighbouring dataset (default 1e5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draws")
    p.add_argument("--delta", type=float, default=DEFAULT_DELTA, help=f"delta (default {DEFAULT_DELTA:g})")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence of the bounds (default 0.95)")
    p.add_argument("--no-controls", action="store_true", help="skip the positive controls (half noise, replace-one)")
    p.add_argument("--no-black-box", action="store_true",
                   help="skip the black-box audit of the sampler's real device program (it runs a selection)")
    p.add_argument("--black-box-trials", type=int, default=1000,
                   help="replays of each recorded device request per neighbouring dataset (default 1000)")
    p.add_argument("--neighbour", choices=("add", "remove"), default="add",
                   help="D' for the black-box audit: D plus a copy of record 0 (add) or D without it (remove)")
    p.add_argument("--spec", action="append", metavar="FIELD=VALUE",
                   help="the black-box run's scenario, as RunSpec fields (client_domain=photo, backbone=resnet10t, "
                        "dataset.train_per_domain=120); repeatable")
    p.add_argument("--out", type=Path, default=None, help="also write the result as JSON to this file")
    p.set_defaults(func=cmd_audit)
    return p
