"""Empirical lower bounds on epsilon from an attack's scores on D and D'.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats


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
