"""``proxybench audit``: its arguments, the audits it runs, and the table it prints."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from ..audit.plugins import AuditReport, _all_auditable, audit_plugin, auditable
from ..contract.params import split_param
from ..privacy.accounting import DEFAULT_DELTA
from ..privacy.attack import AuditResult
from ..util.errors import ProxybenchError


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
    from ..contract.registry import registry

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
    from ..contract.registry import registry

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
    from ..audit.blackbox import audit_selection
    from ..run.spec import RunSpec
    from ..util.cache import Cache

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
