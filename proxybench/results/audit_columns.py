"""The columns of the privacy audit's table (``proxybench audit``), as people read them.

:data:`AUDIT_COLUMNS_HELP` explains every column (for ``proxybench audit --help`` and
docs/results.md); :data:`AUDIT_COLUMNS` names them, with each header's two lines; the
short :data:`AUDIT_TABLE_FOOTER` goes under the printed table. The help's lines are at most
100 characters wide, as is the table.
"""

from __future__ import annotations

import math
from typing import Any

#: The audit table's width: it fits a 100-column terminal or log.
AUDIT_TABLE_WIDTH = 100

#: Header of each column: (first line, second line); a cell has the same two lines where it has two values.
AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mechanism", "[control]"),
    ("σ", "adjacency"),
    ("ε PLD", "ε RDP"),
    ("trials", ""),
    ("AUROC", "TPR@1e-3"),
    ("ε_LB", "GDP (μ_LB)"),
    ("tightness", "(GDP)"),
    ("verdict", ""),
)

AUDIT_COLUMNS_HELP = """\
the audit table, column by column (one row per audited mechanism, two lines per row):
  mechanism   the plugin audited (sampler or task), or "runtime" and the device runtime's mechanism.
  [control]   Second line: "black box" for the replay of a real run's device requests; [half-noise],
              [replace-one] or [per-row-clip] for a positive control, a deliberately broken copy
              the audit must flag: half the noise while the accountant keeps the full sigma,
              replace-one neighbours while the accountant assumes add/remove, or a unit of 8 rows
              counted row by row while the accountant assumes one row.
  σ           the noise sigma the plugin uses ("-" for a black-box row: the device chose it).
  adjacency   the neighbouring datasets: add_remove (D' = D plus one record), replace_one.
  ε PLD       the epsilon the accountant claims for one release at the table's delta:
  ε RDP       dp-accounting's PLD accountant, below it the RDP accountant ("-": none applies).
  trials      noisy releases drawn on D, and as many on D'.
  AUROC       how well the likelihood-ratio attack tells D from D': the area under its ROC curve
  TPR@1e-3    (0.5: a coin flip), and its true-positive rate at a false-positive rate of 0.001.
  ε_LB        empirical lower bound on epsilon, from upper confidence bounds on the attack's
              false-positive and false-negative rates (Clopper-Pearson, threshold chosen on one
              half of the trials and evaluated on the other); it assumes nothing on the mechanism.
  GDP (μ_LB)  the lower bound through Gaussian DP: the attack's rates give mu_LB (in brackets),
              converted to epsilon at delta; valid for Gaussian mechanisms, usually tighter.
  tightness   ε_LB / the accountant's epsilon, and the GDP bound's ratio in brackets: near 1 the
  (GDP)       accountant's claim is what an attacker reaches; near 0 the audit shows little (too
              few trials, or a loose accountant); above 1 is a violation.
  verdict     ok: every bound is below the accountant's epsilon. VIOLATION: a bound is above it
              (wrong sensitivity, missing noise or a broken accountant; exit code 1). control
              flagged: a positive control was caught, as it must be. CONTROL MISSED: the audit is
              too weak to catch a broken mechanism (raise --trials; exit code 3).
every bound holds with the stated confidence; delta is printed under the table.
"""

AUDIT_TABLE_FOOTER = ("ε_LB, GDP: empirical lower bounds on ε (the second through Gaussian DP, μ_LB in brackets); "
                      "tightness: bound / accountant's ε. Every column: proxybench audit --help, docs/results.md.")


def _fmt(x: float | None, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "inf" if not math.isfinite(x) else format(x, spec)


def verdict(r: Any) -> str:
    """ok or VIOLATION for a mechanism, control flagged or CONTROL MISSED for a positive control."""
    if r.control is None:
        return "VIOLATION" if r.flagged else "ok"
    return "control flagged" if r.flagged else "CONTROL MISSED"


def audit_cells(r: Any) -> tuple[str, ...]:
    """The cells of one audit result (``privacy.attack.AuditResult``), two lines each where the header has two."""
    second = f"[{r.control}]" if r.control else ("black box" if r.description.startswith("black box") else "")
    return (f"{r.kind} {r.plugin}" + (f"\n{second}" if second else ""),
            f"{_fmt(r.sigma, '.4g')}\n{r.adjacency}",
            f"{_fmt(r.epsilon_pld)}\n{_fmt(r.epsilon_rdp)}",
            f"{r.trials:,}",
            f"{_fmt(r.auroc, '.4f')}\n{_fmt(r.tpr_at_fpr_1e_3, '.4f')}",
            f"{_fmt(r.eps_lb)}\n{_fmt(r.eps_lb_gdp)} ({_fmt(r.mu_lb_gdp)})",
            f"{_fmt(r.tightness, '.2f')}\n({_fmt(r.tightness_gdp, '.2f')})",
            verdict(r))
