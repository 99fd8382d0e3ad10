"""``proxybench audit``: its arguments, the audits it runs, and the table it prints.

The audit machinery (dp-accounting, scipy) is imported when an audit runs, after the
arguments, the plugins' names and parameters and the folders are checked.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contract.registry import plugin_class
from ..util.cache import default_cache_dir
from ..util.errors import ProxybenchError
from .parsing import check_writable_dir, open_interval, positive_int, route_params
from .run import use_torch_device

if TYPE_CHECKING:
    from ..audit.report import AuditReport
    from ..privacy.attack import AuditResult
    from ..run.spec import RunSpec

#: ``proxybench.privacy.accounting.DEFAULT_DELTA``, named here so --help needs no dp-accounting (a test keeps them equal).
DEFAULT_DELTA = 1e-5


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else ("inf" if not math.isfinite(x) else format(x, spec))


def render(report: AuditReport, console=None) -> None:
    """The audit table in at most 100 columns, two lines per row; AUDIT_COLUMNS_HELP explains each column."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..results.audit_columns import AUDIT_COLUMNS, AUDIT_TABLE_FOOTER, AUDIT_TABLE_WIDTH, audit_cells

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or logged: the width the table is made for, not 80 columns
            console = Console(width=AUDIT_TABLE_WIDTH)
    t = Table(title="proxybench privacy audit: empirical lower bounds on epsilon", box=box.SIMPLE_HEAD,
              show_lines=True, show_edge=False, collapse_padding=True)
    for first, second in AUDIT_COLUMNS:
        t.add_column(f"{first}\n{second}" if second else first,
                     justify="left" if first in ("mechanism", "verdict") else "right")
    colours = {"ok": "green", "control flagged": "green", "VIOLATION": "bold red", "CONTROL MISSED": "bold red"}
    for r in report.results:
        *cells, verdict = audit_cells(r)
        t.add_row(*map(escape, cells), f"[{colours[verdict]}]{verdict}[/{colours[verdict]}]", style=None if r.ok else "red")
    console.print(t)
    deltas = ", ".join(sorted({f"{r.delta:g}" for r in report.results}))
    console.print(f"delta {deltas}. {AUDIT_TABLE_FOOTER}", highlight=False)
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


def cmd_audit(args: argparse.Namespace) -> int:
    for folder, option in ((getattr(args, "results_dir", None), "--results-dir"), (getattr(args, "out", None), "--out")):
        if folder is not None:
            check_writable_dir(folder if option == "--results-dir" else Path(folder).parent, option)
    cache_dir = getattr(args, "cache_dir", None)
    check_writable_dir(cache_dir if cache_dir is not None else default_cache_dir(), "--cache-dir")
    targets = [("sampler", n) for n in args.sampler or []] + [("task", n) for n in args.task or []]
    for kind, name in targets:
        plugin_class(kind, name)  # an unknown name fails now, before the audit machinery is imported
    from ..audit.declared import all_auditable, audit_plugin, auditable
    from ..audit.report import AuditReport

    if args.all:
        targets += [(k, n) for k in ("sampler", "task") for n in auditable(k) if (k, n) not in targets]
    if not targets and not args.runtime:
        raise ProxybenchError("choose what to audit: --runtime, --sampler NAME, --task NAME or --all; "
                              f"auditable: {all_auditable()}")
    routed = route_params(args.param or [], [(kind, plugin_class(kind, name)) for kind, name in targets])
    params = dict(zip(targets, routed, strict=True))
    black_box = {name: _black_box_spec(name, params[(kind, name)], args)
                 for kind, name in targets if kind == "sampler" and not args.no_black_box}  # checked before any audit
    use_torch_device(getattr(args, "torch_device", None))
    start = time.perf_counter()
    results: list[AuditResult] = []
    if args.runtime or args.all:
        from ..audit.runtime import certify_runtime

        results += certify_runtime(trials=min(args.trials, RUNTIME_TRIALS), delta=args.delta, seed=args.seed,
                                   confidence=args.confidence, controls=not args.no_controls)
    for kind, name in targets:
        if name not in black_box or hasattr(plugin_class(kind, name), "audit_mechanism"):
            results += audit_plugin(kind, name, params[(kind, name)], trials=args.trials, seed=args.seed,
                                    delta=args.delta, confidence=args.confidence, controls=not args.no_controls)
        if kind == "sampler" and name in black_box:
            results.append(_black_box(black_box[name], args))
    report = AuditReport(results, seconds=time.perf_counter() - start)
    render(report)
    if args.out:
        print(f"audit result: {report.save(args.out)}")
    if getattr(args, "results_dir", None) is not None:
        names = "-".join(f"{k}-{n}" for k, n in targets) if len(targets) <= 3 else f"{len(targets)}-plugins"
        print(f"audit result: {report.save(Path(args.results_dir) / f'audit-{names}.json')}")
    return report.exit_code


def _black_box_spec(sampler: str, params: dict[str, Any], args: argparse.Namespace) -> RunSpec:
    """The scenario ``--spec`` describes for ``sampler``'s black-box audit, checked (names, client domain, budget)."""
    from ..run.spec import RunSpec

    fields: dict[str, Any] = {"sampler": sampler, "sampler_params": params, "delta": args.delta}
    for item in args.spec or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ProxybenchError(f"--spec takes FIELD=VALUE, got {item!r}")
        if key == "dataset_params" or key.startswith("dataset."):
            fields.setdefault("dataset_params", {})[key.removeprefix("dataset.")] = _literal(value)
        else:
            fields[key] = _literal(value)
    spec = RunSpec.from_dict(fields).checked()
    largest = spec.largest_pool()
    if largest is not None and spec.budget > largest:
        raise ProxybenchError(f"--spec budget={spec.budget} is larger than the pool (at most {largest} images); "
                              f"choose 1..{largest}")
    return spec


def _black_box(spec: RunSpec, args: argparse.Namespace) -> AuditResult:
    """The black-box audit of the spec's sampler's real device program."""
    from ..audit.blackbox import audit_selection
    from ..util.cache import Cache

    return audit_selection(spec, Cache(getattr(args, "cache_dir", None)), trials=args.black_box_trials,
                           neighbour=args.neighbour, seed=args.seed, confidence=args.confidence)


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


#: Releases per side when certifying the runtime (each goes through the mechanism's own code, so they cost more).
RUNTIME_TRIALS = 20_000

AUDIT_EPILOG = """\
examples:
  proxybench audit --runtime
  proxybench audit --sampler ecos
  proxybench audit --sampler my-sampler --spec client_domain=photo --black-box-trials 2000
  proxybench audit --sampler ecos --param target_epsilon=1 --trials 1000000
  proxybench audit --task autolabel --param sigma=5.3 --out audit.json
  proxybench audit --all

--runtime certifies the device runtime's release mechanisms (histogram, sum, kNN vote)
through their own code against the accountant, with positive controls (per-row clipping,
half the noise, replace-one told add/remove) that must be flagged; the record's epsilon
is theirs. A sampler is audited two ways: the black-box path runs its selection in a
real run, records the requests it sent to the device, and replays them on D and on D'
(D plus a copy of one original record and its augmentations) with fresh runtime noise;
plugins that offer audit_mechanism() also get the exact fast path of what they declare.
A selection that declares a DP event while its device calls were raw (no mechanism) is
flagged.

exit codes: 0 all bounds below the accountants and every positive control flagged;
1 an empirical lower bound exceeds an accountant's epsilon (privacy violation);
3 a positive control was not flagged (the audit is too weak; raise --trials);
2 usage or plugin error.
"""


def add_audit_command(subparsers) -> argparse.ArgumentParser:
    """Register ``proxybench audit`` on an argparse subparsers object; its handler is ``args.func``."""
    from ..results.audit_columns import AUDIT_COLUMNS_HELP
    from .parsing import HelpFormatter

    p = subparsers.add_parser(
        "audit", help="attack the private device mechanisms: empirical lower bound on epsilon vs the accountant",
        description="Draw a release's noise on two neighbouring device datasets, run the likelihood-ratio "
                    "test, and bound epsilon from below (Clopper-Pearson; direct and Gaussian-DP). A bound above "
                    "the accountant's epsilon is flagged red with exit code 1.",
        epilog=f"{AUDIT_EPILOG}\n{AUDIT_COLUMNS_HELP}", formatter_class=HelpFormatter)
    p.add_argument("--sampler", action="append", metavar="NAME", help="a sampler to audit; repeatable")
    p.add_argument("--task", action="append", metavar="NAME", help="a task to audit; repeatable")
    p.add_argument("--runtime", action="store_true",
                   help="certify the device runtime's release mechanisms against the accountant (at most "
                        f"{RUNTIME_TRIALS:,} trials a side)")
    p.add_argument("--all", action="store_true",
                   help="the runtime, and every plugin that offers audit_mechanism()")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a plugin parameter, e.g. sigma=5; prefix sampler./task./NAME. to pick one plugin")
    p.add_argument("--trials", type=positive_int, default=100_000, help="noisy releases per neighbouring dataset")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draws")
    p.add_argument("--delta", type=open_interval, default=DEFAULT_DELTA, help="delta")
    p.add_argument("--confidence", type=open_interval, default=0.95, help="confidence of the bounds")
    p.add_argument("--no-controls", action="store_true", help="skip the positive controls (half noise, replace-one)")
    p.add_argument("--no-black-box", action="store_true",
                   help="skip the black-box audit of the sampler's real device program (it runs a selection)")
    p.add_argument("--black-box-trials", type=positive_int, default=1000,
                   help="replays of each recorded device request per neighbouring dataset")
    p.add_argument("--neighbour", choices=("add", "remove"), default="add",
                   help="D' for the black-box audit: D plus a copy of record 0 (add) or D without it (remove)")
    p.add_argument("--spec", action="append", metavar="FIELD=VALUE",
                   help="the black-box run's scenario, as RunSpec fields (client_domain=photo, backbone=resnet10t, "
                        "dataset.train_per_domain=120); repeatable")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the result as JSON to this file")
    p.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                   help="also write the result there, as audit-KIND-NAME.json (run writes its RunRecords there)")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="cache for the black-box run's dataset, backbone and features "
                        f"(default: $PROXYBENCH_CACHE_DIR or {default_cache_dir()})")
    p.set_defaults(func=cmd_audit)
    return p
