"""``proxybench sweep``, ``leaderboard``, ``report`` and ``compare``: many runs, and the tables and figures of their records."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..run.grid import WHERE_FIELDS
from ..run.sweep import REUSE
from ..util.cache import Cache, default_cache_dir
from .parsing import check_writable_dir, positive_int
from .run import add_torch_device_arg, use_torch_device

EPILOG_SWEEP = """\
examples:
  proxybench sweep leaderboards/smoke.toml --jobs 2     (96 tiny runs: about 8 minutes of run time, see below)
  proxybench sweep leaderboards/default.toml --jobs 2
  proxybench sweep leaderboards/default.toml --out leaderboards/default   (regenerate the committed leaderboard)
  proxybench sweep leaderboards/budget.toml --where seed=0 --where task=outsource   (part of a grid)
  proxybench sweep leaderboards/budget.toml --executor dask --scheduler tcp://10.0.0.5:8786

Runs already recorded by the same code (status ok; --reuse) are skipped, so re-running
a killed sweep resumes it; failed runs are recorded and run again next time. At the
end the grid's leaderboard is written into --out (default: RESULTS_DIR/leaderboards/GRIDNAME,
e.g. results/smoke/leaderboards/smoke/), with the records behind it in OUT/records.jsonl.gz. A sweep
never writes beside its grid file unless --out says so: the leaderboards under
leaderboards/ are committed.

The smoke grid is 2 client domains x 6 sampler variants x 2 tasks x 2 budgets x 2 seeds
= 96 runs on a tiny dataset; its committed records (leaderboards/smoke/) took 2.0 to 12.2 s
each, 340 s in all, on a 2-core machine, plus each run's process start and, once, the
dataset and a random-init phi.
"""
EPILOG_RESULTS = """\
--results is a folder of RunRecords or a records file (.jsonl or .jsonl.gz), e.g.
  proxybench leaderboard --results leaderboards/default/records.jsonl.gz
regenerates leaderboards/default/ from its committed records, byte for byte.
"""
EPILOG_REPORT = """\
examples:
  proxybench report --results leaderboards/default/records.jsonl.gz --out reports/default
  proxybench report --results leaderboards/default/records.jsonl.gz \\
                    --results leaderboards/privacy/records.jsonl.gz --out reports/default
  proxybench report --results results/smoke --out reports/smoke --grid leaderboards/smoke.toml

--results is a folder of RunRecords or a records file (.jsonl or .jsonl.gz); repeated, the
records of all of them are joined, a run that two boards share counting once. The report is
PNG figures (accuracy against bytes, epsilon and device compute, per task) and an
index.html that shows them, written into --out.
"""


def _records(results: Path | list[Path], version: str | None = None, schema: int | None = None,
             run_ids: set[str] | None = None, code: str | None = None, mix_code: bool = False) -> list[dict[str, Any]]:
    """The records a leaderboard or report shows: one code (unless mixing is asked), only the given runs (a grid's) if any."""
    from ..results.leaderboard import select_code
    from ..results.store import join_records

    sources = results if isinstance(results, list) else [results]
    records = [r for r in join_records(sources) if run_ids is None or r["run_id"] in run_ids]
    return select_code(records, version, schema, code, mix_code)


def _selected(args: argparse.Namespace, results: Path | list[Path] | None = None) -> list[dict[str, Any]]:
    run_ids = None
    if args.grid is not None:
        from ..run.grid import load_grid

        run_ids = {s.run_id for s in load_grid(args.grid, Cache(args.cache_dir)).specs}
    return _records(results or args.results, args.proxybench_version, args.schema, run_ids, args.code, args.mix_code)


def sweep_folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """The results folder and the leaderboard's folder of a sweep, checked before the grid is read."""
    if not args.grid.is_file():
        from ..util.errors import ProxybenchError

        raise ProxybenchError(f"grid file {args.grid} does not exist" if not args.grid.exists()
                              else f"grid file {args.grid} is not a file")
    results_dir = args.results_dir or Path("results") / args.grid.stem
    out = args.out or results_dir / "leaderboards" / args.grid.stem  # the folder's name titles the tables
    check_writable_dir(results_dir, "--results-dir")
    check_writable_dir(args.cache_dir if args.cache_dir is not None else default_cache_dir(), "--cache-dir")
    if not args.no_leaderboard and not args.dry_run:
        check_writable_dir(out, "--out")
    return results_dir, out


def cmd_sweep(args: argparse.Namespace) -> int:
    results_dir, out = sweep_folders(args)
    from ..results.store import ensure_writable_dir
    from ..run.executors import make_executor
    from ..run.grid import load_grid
    from ..run.sweep import run_sweep

    console = Console()
    grid = load_grid(args.grid, Cache(args.cache_dir))
    ensure_writable_dir(results_dir)
    grid_run_ids = {s.run_id for s in grid.specs}  # the leaderboard shows every run of the grid recorded so far
    if args.where:
        from ..run.grid import restrict

        total = len(grid.specs)
        grid.specs = restrict(grid.specs, args.where)
        console.print(f"--where {' '.join(args.where)}: {len(grid.specs)} of the grid's {total} runs")
    console.print(f"[bold]proxybench sweep[/bold] {args.grid}: {len(grid.specs)} runs -> {results_dir}"
                  + (f"  ({grid.description})" if grid.description else ""))
    for reason in sorted(set(grid.left_out.values())):
        console.print(f"[yellow]left out[/yellow] {reason}", highlight=False)
    if args.dry_run:
        from ..run.sweep import describe, is_done

        for spec in grid.specs:
            done = is_done(results_dir, spec, args.reuse)
            console.print(f"{spec.run_id}  {'done' if done else 'todo'}  {describe(spec)}", highlight=False)
        return 0
    use_torch_device(args.torch_device)
    executor = make_executor(args.executor, args.jobs, args.scheduler, args.cache_dir)
    state = run_sweep(grid.specs, results_dir, executor, fail_fast=args.fail_fast, console=console, reuse=args.reuse)
    for outcome, label in state.failures:
        console.print(f"[red]failed[/red] {label}: {outcome.error} (record: {results_dir / (outcome.run_id + '.json')})",
                      highlight=False)
    if not args.no_leaderboard and state.ok + state.skipped:
        # --reuse other than same-code keeps records of other code on purpose; the tables then say so in their header
        records = _records(results_dir, run_ids=grid_run_ids, mix_code=args.reuse != "same-code")
        from ..results.render import write_leaderboard

        written = write_leaderboard(records, out, keep_records=not args.no_records)
        console.print(f"leaderboard: {out}/ ({len(written)} files)")
    return 1 if state.failed else 0


def _audit_report(path: Path | None) -> dict[str, Any] | None:
    from ..results.leaderboard import read_audit

    return None if path is None else read_audit(path)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from ..results.render import write_leaderboard
    from ..results.store import is_records_file

    records = _selected(args)
    if args.out is not None:
        out = args.out
    elif args.grid is not None:
        out = args.grid.with_suffix("")
    else:  # a records file regenerates the tables beside it
        out = args.results.parent if is_records_file(args.results) else Path("leaderboards") / args.results.name
    # A BANNER.md beside the records goes at the top of the README (a stale board says so, and keeps saying so).
    banner_file = (args.results.parent if is_records_file(args.results) else args.results) / "BANNER.md"
    banner = banner_file.read_text() if banner_file.is_file() else ""
    written = write_leaderboard(records, out, audit=_audit_report(args.audit), keep_records=args.keep_records,
                                banner=banner)
    Console().print(f"{len(records)} records -> {out}/: " + ", ".join(p.name for p in written), highlight=False)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..results.report import write_report

    sources = args.results or [Path("results")]  # append's default would be appended to, not replaced
    records = _selected(args, sources)
    figures = write_report(records, args.out, sources=sources)
    Console().print(f"{len(records)} records -> {args.out}/index.html: " + ", ".join(f.file for f in figures),
                    highlight=False)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..results.compare import compare_records

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


def add_code_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", type=Path, default=None, help="only the runs of this grid file")
    p.add_argument("--proxybench-version", default=None, help="only records of this proxybench version")
    p.add_argument("--schema", type=int, default=None, help="only records of this RunRecord schema version")
    p.add_argument("--code", default=None, metavar="HASH",
                   help="only records whose proxybench source hash starts with HASH (see the leaderboard's header)")
    p.add_argument("--mix-code", action="store_true",
                   help="tabulate records made by different code together (refused by default)")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR", help="cache (used to expand --grid)")


def add_selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"), metavar="PATH",
                   help="folder of RunRecords or records file .jsonl(.gz)")
    add_code_args(p)


def add_result_commands(sub: argparse._SubParsersAction) -> None:
    """``sweep``, ``leaderboard``, ``report`` and ``compare``."""
    p = sub.add_parser("sweep", help="run every spec of a grid file (resumable), then write its leaderboard",
                       epilog=EPILOG_SWEEP)
    p.add_argument("grid", type=Path, help="grid file, e.g. leaderboards/default.toml")
    p.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                   help="where RunRecords go (default: results/GRIDNAME)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where the leaderboard is written (default: RESULTS_DIR/leaderboards/GRIDNAME)")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help=f"cache shared by all workers (default: $PROXYBENCH_CACHE_DIR or {default_cache_dir()})")
    p.add_argument("--executor", choices=["local", "dask"], default="local", help="where runs execute")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="concurrent runs: local processes, or LocalCluster workers for dask (cores are split among them)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="dask scheduler address (default: a LocalCluster on 127.0.0.1)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each is done, run nothing")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE[,VALUE]",
                   help="run only part of the grid, e.g. --where seed=0 --where task=outsource,compress "
                        f"(fields: {' '.join(WHERE_FIELDS)}); the leaderboard then shows the part that has run")
    p.add_argument("--reuse", choices=list(REUSE), default="same-code",
                   help="which recorded runs count as done: " + "; ".join(f"{k}: {v}" for k, v in REUSE.items()))
    p.add_argument("--no-leaderboard", action="store_true", help="do not write the grid's leaderboard at the end")
    p.add_argument("--no-records", action="store_true",
                   help="do not write the records behind the leaderboard (OUT/records.jsonl.gz)")
    add_torch_device_arg(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("leaderboard", help="write markdown, CSV and sortable HTML tables from results",
                       epilog=EPILOG_RESULTS)
    add_selection_args(p)
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: beside --grid, else the records file's folder, else leaderboards/RESULTSNAME)")
    p.add_argument("--audit", type=Path, default=None, metavar="FILE",
                   help="an audit report (proxybench audit --out FILE) whose sampler bounds fill an audit column")
    p.add_argument("--keep-records", action="store_true",
                   help="also write the records behind the tables as OUT/records.jsonl.gz")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="write PNG figures and an index.html from results", epilog=EPILOG_REPORT)
    p.add_argument("--results", type=Path, action="append", default=None, metavar="PATH",
                   help="folder of RunRecords or records file .jsonl(.gz); repeat it to join several "
                        "(a run in two of them counts once) (default: results)")
    add_code_args(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder, e.g. reports/NAME")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="list the leaderboard cells whose means moved beyond their intervals",
                       description="Compare two sets of results cell by cell (accuracy per domain and on average); "
                                   "exit status 1 when a cell moved.")
    p.add_argument("results_a", type=Path, metavar="RESULTS_A", help="results folder or records file (e.g. the committed one)")
    p.add_argument("results_b", type=Path, metavar="RESULTS_B", help="results folder or records file to check against it")
    add_code_args(p)
    p.set_defaults(func=cmd_compare)
