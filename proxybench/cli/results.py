"""``proxybench sweep``, ``leaderboard``, ``report`` and ``compare``: many runs, and the tables and figures of their records."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..util.cache import Cache

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
    from ..results.leaderboard import select_code
    from ..results.records import read_records

    records = [r for r in read_records(results) if run_ids is None or r["run_id"] in run_ids]
    return select_code(records, version, schema, code, mix_code)


def _selected(args: argparse.Namespace, results: Path | None = None) -> list[dict[str, Any]]:
    run_ids = None
    if args.grid is not None:
        from ..run.grid import load_grid

        run_ids = {s.run_id for s in load_grid(args.grid, Cache(args.cache_dir)).specs}
    return _records(results or args.results, args.proxybench_version, args.schema, run_ids, args.code, args.mix_code)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..results.records import ensure_writable_dir
    from ..results.render import write_leaderboard
    from ..run.executors import make_executor
    from ..run.grid import load_grid
    from ..run.sweep import run_sweep

    console = Console()
    grid = load_grid(args.grid, Cache(args.cache_dir))
    results_dir = args.results_dir or Path("results") / grid.name
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
    from ..results.leaderboard import read_audit

    return None if path is None else read_audit(path)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from ..results.records import is_records_file
    from ..results.render import write_leaderboard

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
    from ..results.report import write_report

    records = _selected(args)
    figures = write_report(records, args.out)
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
    p.add_argument("--cache-dir", type=Path, default=None, help="cache (used to expand --grid)")


def add_selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder of RunRecords or records file .jsonl(.gz) (default: results)")
    add_code_args(p)
