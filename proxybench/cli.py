"""The ``proxybench`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from . import __version__
from .audit import add_audit_command
from .cache import Cache, default_cache_dir
from .errors import ProxybenchError
from .harness import TRANSPORTS
from .params import describe_params, split_param
from .registry import registry
from .spec import RunSpec

EPILOG_RUN = """\
examples:
  proxybench run --sampler ecos --task autolabel
  proxybench run --sampler random --client-domain photo --budget 500 --seed 1
  proxybench run --sampler ecos --param sigma=20 --param R=200
  proxybench run --sampler ecos --param task.k=30          (prefix when sampler and task share a name)

Parameters of the chosen sampler, task and dataset are listed by
`proxybench list samplers|tasks|datasets`. Each run writes one JSON RunRecord,
named by the hash of its full spec, into --results-dir.
"""

DESCRIPTION = """\
Benchmark proxy-data selection: pick, from an open-source pool, the subset that best
stands in for a device's private data, and score it on accuracy, bytes, device compute
and privacy at once. With no options, `run` uses the embedded digits benchmark
(generated offline) and the shipped EfficientNet-Lite0 selection extractor.
"""


def _parse_params(items: list[str], spec_kwargs: dict[str, Any]) -> None:
    """Route ``key=value`` pairs to the sampler, task or dataset that declares ``key``."""
    reg = registry()
    owners = {
        "sampler": reg.get("sampler", spec_kwargs["sampler"]),
        "task": reg.get("task", spec_kwargs["task"]),
        "dataset": reg.get("dataset", spec_kwargs["dataset"]),
    }
    for item in items:
        prefix, key, value = split_param(item)
        if prefix in owners:
            targets = [prefix]
        else:
            key = f"{prefix}.{key}" if prefix else key
            targets = [kind for kind, cls in owners.items() if key in cls.param_fields()]
        if not targets:
            known = {kind: sorted(cls.param_fields()) for kind, cls in owners.items()}
            listing = "; ".join(f"{kind} {owners[kind].name}: {', '.join(v) or '(none)'}" for kind, v in known.items())
            raise ProxybenchError(f"unknown parameter {key!r}. Known parameters: {listing}")
        if len(targets) > 1:
            raise ProxybenchError(
                f"parameter {key!r} belongs to several plugins ({', '.join(targets)}); "
                f"write it as {targets[0]}.{key}=... or {targets[1]}.{key}=..."
            )
        spec_kwargs[f"{targets[0]}_params"][key] = value


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _fmt_eps(eps: float | None) -> str:
    return "none (privacy-free)" if eps is None else f"{eps:.3g}"


def summary_table(record: dict[str, Any]) -> Table:
    spec, m, sel, led, dev, priv = (record[k] for k in ("spec", "metrics", "selection", "ledger", "device", "privacy"))
    t = Table(title=f"{spec['sampler']} -> {spec['task']} on {spec['dataset']}/{spec['client_domain']}, "
                    f"budget {spec['budget']}, seed {spec['seed']}", show_header=True)
    t.add_column("axis")
    t.add_column("value", justify="right")
    t.add_row("accuracy (device test set)", f"{m['accuracy']:.4f}")
    for key, value in m.items():
        if key != "accuracy" and isinstance(value, float):
            t.add_row(f"  {key}", f"{value:.4f}")
    t.add_row("selection in-domain share", f"{sel['in_domain_share']:.3f} (pool: {sel['pool_in_domain_share']:.3f})")
    t.add_row("selection outside label space", f"{sel['outside_label_space_share']:.3f}")
    for phase, v in led["by_phase"].items():
        if v["up"] or v["down"]:
            t.add_row(f"bytes {phase} (up / down)", f"{_fmt_bytes(v['up'])} / {_fmt_bytes(v['down'])}")
    t.add_row("bytes total (up / down)", f"{_fmt_bytes(led['bytes_up'])} / {_fmt_bytes(led['bytes_down'])}")
    t.add_row("sampler kind (from what it did)", f"{record['sampler_kind']} (declares {record['sampler_kind_declared']})")
    t.add_row("device FLOPs (selection / total)",
              f"{dev['by_phase'].get('select', {}).get('flops', 0):.3g} / {dev['flops']:.3g}")
    t.add_row("device CPU seconds", f"{dev['cpu_seconds']:.2f}")
    t.add_row("epsilon (select / task / total)",
              f"{_fmt_eps(priv['epsilon_select'])} / {_fmt_eps(priv['epsilon_task'])} / {_fmt_eps(priv['epsilon'])}")
    t.add_row("delta", f"{priv['delta']:g}")
    t.add_row("wall time per stage (s)", ", ".join(f"{k} {v:.1f}" for k, v in record["timings"].items()))
    return t


def cmd_run(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {
        "sampler": args.sampler, "task": args.task, "dataset": args.dataset, "client_domain": args.client_domain,
        "backbone": args.backbone, "weights": args.weights, "feature_layer": args.feature_layer,
        "budget": args.budget, "seed": args.seed,
        "client_fraction": args.client_fraction, "pool_has_client_domain": not args.exclude_client_domain,
        "sampler_params": {}, "task_params": {}, "dataset_params": {},
    }
    _parse_params(args.param or [], kwargs)
    if args.data_root is not None:
        dataset_cls = registry().get("dataset", args.dataset)
        if "root" not in dataset_cls.param_fields():
            raise ProxybenchError(f"dataset {args.dataset!r} reads no local folder, so --data-root does not apply")
        kwargs["dataset_params"]["root"] = str(Path(args.data_root).expanduser().resolve())
    spec = RunSpec(**kwargs).validate()
    from .runner import run

    console = Console(stderr=False)
    console.print(f"[bold]proxybench run[/bold] {spec.run_id}: sampler={spec.sampler} task={spec.task} "
                  f"client={spec.client_domain} backbone={spec.backbone} weights={spec.weights}")
    record, path = run(spec, args.results_dir, Cache(args.cache_dir), transport=args.device_transport,
                       device_address=args.device_address)
    console.print(summary_table(record))
    console.print(f"RunRecord: {path}")
    return 0


def cmd_device_serve(args: argparse.Namespace) -> int:
    from .device_process import serve
    from .harness import device_authkey

    serve(args.host, args.port, device_authkey(), sessions=args.sessions)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    kind = args.kind.rstrip("s") if args.kind != "weights" else "weights"
    reg = registry()
    console = Console()
    t = Table(title=f"{kind} plugins", show_lines=False)
    t.add_column("name")
    t.add_column("description")
    t.add_column("parameters (type = default)")
    for name in reg.names(kind):
        cls = reg.get(kind, name)
        t.add_row(name, cls.description, describe_params(cls))
    console.print(t)
    return 0


def cmd_datasets_info(args: argparse.Namespace) -> int:
    cls = registry().get("dataset", args.name)
    lines = [f"{cls.name}: {cls.description}", "", getattr(cls, "info", "") or "(no download needed)"]
    layout = getattr(cls, "layout", "")
    if layout:
        lines += ["", "expected layout:", layout]
    if "root" in cls.param_fields():
        env_var = getattr(cls, "env_var", "")
        where = f" (or set {env_var}=PATH)" if env_var else ""
        lines += ["", f"data root: proxybench run --dataset {cls.name} --data-root PATH{where}"]
    lines += ["", f"parameters: {describe_params(cls) or '(none)'}"]
    print("\n".join(lines))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = registry()
    console = Console()
    t = Table(title="proxybench plugins")
    for col in ("plugin", "distribution", "version", "provides"):
        t.add_column(col)
    for p in reg.loaded:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.provides.items())
        t.add_row(p.name, p.distribution, p.version, provides)
    for f in reg.failures:
        t.add_row(f.name, f.distribution, "", f"[red]FAILED: {f.error}[/red]")
    console.print(t)
    return 0


EPILOG_SWEEP = """\
examples:
  proxybench sweep leaderboards/smoke.toml                       (about a minute)
  proxybench sweep leaderboards/default.toml --jobs 2
  proxybench sweep leaderboards/budget.toml --where seed=0 --where task=outsource   (part of a grid)
  proxybench sweep leaderboards/budget.toml --executor dask --scheduler tcp://10.0.0.5:8786

Runs already recorded by the same code (status ok; --reuse) are skipped, so re-running
a killed sweep resumes it; failed runs are recorded and run again next time. At the
end the grid's leaderboard is written beside it (leaderboards/NAME.toml -> leaderboards/NAME/),
with the records behind it in leaderboards/NAME/records.jsonl.gz.
"""

EPILOG_RESULTS = """\
--results is a folder of RunRecords or a records file (.jsonl or .jsonl.gz), e.g.
  proxybench leaderboard --results leaderboards/default/records.jsonl.gz
regenerates leaderboards/default/ from its committed records, byte for byte.
"""


def _records(results: Path, version: str | None = None, schema: int | None = None, run_ids: set[str] | None = None,
             code: str | None = None, mix_code: bool = False) -> list[dict[str, Any]]:
    """The records a leaderboard or report shows: one code (unless mixing is asked), only the given runs (a grid's) if any."""
    from .leaderboard import select_code
    from .results import read_records

    records = [r for r in read_records(results) if run_ids is None or r["run_id"] in run_ids]
    return select_code(records, version, schema, code, mix_code)


def _selected(args: argparse.Namespace, results: Path | None = None) -> list[dict[str, Any]]:
    run_ids = None
    if args.grid is not None:
        from .sweep import load_grid

        run_ids = {s.run_id for s in load_grid(args.grid, Cache(args.cache_dir)).specs}
    return _records(results or args.results, args.proxybench_version, args.schema, run_ids, args.code, args.mix_code)


def cmd_sweep(args: argparse.Namespace) -> int:
    from .executors import make_executor
    from .leaderboard import write_leaderboard
    from .results import ensure_writable_dir
    from .sweep import load_grid, run_sweep

    console = Console()
    grid = load_grid(args.grid, Cache(args.cache_dir))
    results_dir = args.results_dir or Path("results") / grid.name
    ensure_writable_dir(results_dir)
    grid_run_ids = {s.run_id for s in grid.specs}  # the leaderboard shows every run of the grid recorded so far
    if args.where:
        from .sweep import restrict

        total = len(grid.specs)
        grid.specs = restrict(grid.specs, args.where)
        console.print(f"--where {' '.join(args.where)}: {len(grid.specs)} of the grid's {total} runs")
    console.print(f"[bold]proxybench sweep[/bold] {args.grid}: {len(grid.specs)} runs -> {results_dir}"
                  + (f"  ({grid.description})" if grid.description else ""))
    for reason in sorted(set(grid.left_out.values())):
        console.print(f"[yellow]left out[/yellow] {reason}", highlight=False)
    if args.dry_run:
        from .sweep import describe, is_done

        for spec in grid.specs:
            done = is_done(results_dir, spec, args.reuse)
            console.print(f"{spec.run_id}  {'done' if done else 'todo'}  {describe(spec)}", highlight=False)
        return 0
    executor = make_executor(args.executor, args.jobs, args.scheduler, args.cache_dir)
    state = run_sweep(grid.specs, results_dir, executor, fail_fast=args.fail_fast, console=console, reuse=args.reuse)
    for outcome, label in state.failures:
        console.print(f"[red]failed[/red] {label}: {outcome.error} (record: {results_dir / (outcome.run_id + '.json')})",
                      highlight=False)
    if not args.no_leaderboard and state.ok + state.skipped:
        # --reuse other than same-code keeps records of other code on purpose; the tables then say so in their header
        records = _records(results_dir, run_ids=grid_run_ids, mix_code=args.reuse != "same-code")
        written = write_leaderboard(records, grid.leaderboard_dir, keep_records=not args.no_records)
        console.print(f"leaderboard: {grid.leaderboard_dir}/ ({len(written)} files)")
    return 1 if state.failed else 0


def _audit_report(path: Path | None) -> dict[str, Any] | None:
    from .leaderboard import read_audit

    return None if path is None else read_audit(path)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import write_leaderboard
    from .results import is_records_file

    records = _selected(args)
    if args.out is not None:
        out = args.out
    elif args.grid is not None:
        out = args.grid.with_suffix("")
    else:  # a records file regenerates the tables beside it
        out = args.results.parent if is_records_file(args.results) else Path("leaderboards") / args.results.name
    written = write_leaderboard(records, out, audit=_audit_report(args.audit), keep_records=args.keep_records)
    Console().print(f"{len(records)} records -> {out}/: " + ", ".join(p.name for p in written), highlight=False)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    records = _selected(args)
    figures = write_report(records, args.out)
    Console().print(f"{len(records)} records -> {args.out}/index.html: " + ", ".join(f.file for f in figures),
                    highlight=False)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_records

    a, b = _selected(args, args.results_a), _selected(args, args.results_b)
    result = compare_records(a, b)
    console = Console()
    t = Table(title=f"cells that moved beyond their 95% intervals: {args.results_a} -> {args.results_b}")
    for col in ("cell", "A mean [interval]", "B mean [interval]", "Δ"):
        t.add_column(col, justify="left" if col == "cell" else "right")
    for m in result.moved:
        t.add_row(m.cell.label(m.varying), f"{m.a.mean:.3f} [{m.a.lo:.3f}, {m.a.hi:.3f}]",
                  f"{m.b.mean:.3f} [{m.b.lo:.3f}, {m.b.hi:.3f}]", f"{m.delta:+.3f}")
    if result.moved:
        console.print(t)
    console.print(f"{len(result.moved)} of {result.compared} common cells moved (each mean outside the other's interval); "
                  f"{result.undefined} without an interval (one seed); {result.only_a} only in A, {result.only_b} only in B",
                  highlight=False)
    return 1 if result.moved else 0


def _add_code_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", type=Path, default=None, help="only the runs of this grid file")
    p.add_argument("--proxybench-version", default=None, help="only records of this proxybench version")
    p.add_argument("--schema", type=int, default=None, help="only records of this RunRecord schema version")
    p.add_argument("--code", default=None, metavar="HASH",
                   help="only records whose proxybench source hash starts with HASH (see the leaderboard's header)")
    p.add_argument("--mix-code", action="store_true",
                   help="tabulate records made by different code together (refused by default)")
    p.add_argument("--cache-dir", type=Path, default=None, help="cache (used to expand --grid)")


def _add_selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder of RunRecords or records file .jsonl(.gz) (default: results)")
    _add_code_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxybench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"proxybench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    defaults = RunSpec()
    p = sub.add_parser("run", help="run one sampler + task and write its RunRecord", epilog=EPILOG_RUN,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run one spec: select a proxy set with a sampler, use it for a task, "
                                   "score it on the device's test data.")
    p.add_argument("--sampler", default=defaults.sampler, help="sampler name (proxybench list samplers)")
    p.add_argument("--task", default=defaults.task, help="task name (proxybench list tasks)")
    p.add_argument("--dataset", default=defaults.dataset, help="dataset name (proxybench list datasets)")
    p.add_argument("--client-domain", default=defaults.client_domain,
                   help="the domain the device's private data comes from")
    p.add_argument("--backbone", default=defaults.backbone, help="timm model name of the selection extractor phi")
    p.add_argument("--weights", default=defaults.weights,
                   help="phi's weight source: lite0, random, cloud, hub or file:PATH (proxybench list weights)")
    p.add_argument("--feature-layer", type=int, default=defaults.feature_layer,
                   help="phi's output: -1 the pooled head features, i >= 0 the pooled output of stage i")
    p.add_argument("--budget", type=int, default=defaults.budget, help="number of pool images to select")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the client split and all randomness")
    p.add_argument("--client-fraction", type=float, default=defaults.client_fraction,
                   help="share of the client domain's training originals the device holds")
    p.add_argument("--exclude-client-domain", action="store_true",
                   help="leave the client domain's remainder out of the pool")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a sampler, task or dataset parameter; repeatable; prefix sampler./task./dataset. "
                        "if a name is ambiguous")
    p.add_argument("--data-root", type=Path, default=None, metavar="PATH",
                   help="local folder of a dataset read from disk (fills its root parameter; "
                        "see proxybench datasets info NAME)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where RunRecords go (default: results)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help=f"cache for datasets, backbones, features (default: $PROXYBENCH_CACHE_DIR or {default_cache_dir()})")
    p.add_argument("--device-transport", choices=TRANSPORTS, default=None,
                   help="how the device process is reached: a pipe (default, or $PROXYBENCH_DEVICE_TRANSPORT) "
                        "or TCP on 127.0.0.1; results are the same")
    p.add_argument("--device-address", default=None, metavar="HOST:PORT",
                   help="use a device already serving there (proxybench device serve) instead of starting one")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("device", help="run a device on its own: `device serve` answers harness sessions over TCP",
                       description="A device process that waits for a harness (proxybench run --device-address) "
                                   "to provision it, then runs the device programs it is sent by reference. "
                                   "The connection is authenticated with $PROXYBENCH_DEVICE_AUTHKEY.")
    dsub = p.add_subparsers(dest="device_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("serve", help="listen for harness sessions (one at a time)")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: loopback only)")
    q.add_argument("--port", type=int, default=7340, help="port (default 7340; 0 picks a free one)")
    q.add_argument("--sessions", type=int, default=None, help="stop after this many sessions (default: serve forever)")
    q.set_defaults(func=cmd_device_serve)

    p = sub.add_parser("list", help="list samplers, tasks, datasets or weight sources with their parameters")
    p.add_argument("kind", choices=["samplers", "tasks", "datasets", "weights"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("datasets", help="about datasets: `datasets info NAME` says where to get one and its layout")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("info", help="where to get a dataset, the folder layout it expects, its parameters")
    q.add_argument("name", help="dataset name (proxybench list datasets)")
    q.set_defaults(func=cmd_datasets_info)

    p = sub.add_parser("plugins", help="list loaded plugins, their distributions and what they provide")
    p.set_defaults(func=cmd_plugins)

    from .sweep import REUSE

    p = sub.add_parser("sweep", help="run every spec of a grid file (resumable), then write its leaderboard",
                       epilog=EPILOG_SWEEP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", type=Path, help="grid file, e.g. leaderboards/default.toml")
    p.add_argument("--results-dir", type=Path, default=None, help="where RunRecords go (default: results/GRIDNAME)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache shared by all workers (default: $PROXYBENCH_CACHE_DIR or ~/.cache/proxybench)")
    p.add_argument("--executor", choices=["local", "dask"], default="local", help="where runs execute (default: local)")
    p.add_argument("--jobs", type=int, default=1,
                   help="concurrent runs: local processes, or LocalCluster workers for dask (cores are split among them)")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler address tcp://HOST:PORT (default: a LocalCluster on 127.0.0.1)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each is done, run nothing")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE[,VALUE]",
                   help="run only part of the grid, e.g. --where seed=0 --where task=outsource,compress "
                        "(fields: dataset client_domain backbone weights sampler task budget seed); "
                        "the leaderboard then shows the part that has run")
    p.add_argument("--reuse", choices=list(REUSE), default="same-code",
                   help="which recorded runs count as done: " + "; ".join(f"{k}: {v}" for k, v in REUSE.items())
                        + " (default: same-code)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not write the grid's leaderboard at the end")
    p.add_argument("--no-records", action="store_true",
                   help="do not write the records behind the leaderboard (leaderboards/NAME/records.jsonl.gz)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("leaderboard", help="write markdown, CSV and sortable HTML tables from results",
                       epilog=EPILOG_RESULTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_selection_args(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: beside --grid, else the records file's folder, else leaderboards/RESULTSNAME)")
    p.add_argument("--audit", type=Path, default=None, metavar="FILE",
                   help="an audit report (proxybench audit --out FILE) whose sampler bounds fill an audit column")
    p.add_argument("--keep-records", action="store_true",
                   help="also write the records behind the tables as OUT/records.jsonl.gz")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="write PNG figures and an index.html from results",
                       epilog=EPILOG_RESULTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_selection_args(p)
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. reports/NAME")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="list the leaderboard cells whose means moved beyond their intervals",
                       description="Compare two sets of results cell by cell (accuracy per domain and on average); "
                                   "exit status 1 when a cell moved.")
    p.add_argument("results_a", type=Path, metavar="RESULTS_A", help="results folder or records file (e.g. the committed one)")
    p.add_argument("results_b", type=Path, metavar="RESULTS_B", help="results folder or records file to check against it")
    _add_code_args(p)
    p.set_defaults(func=cmd_compare)

    add_audit_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ProxybenchError as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("proxybench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
