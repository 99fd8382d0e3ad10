"""Running a sweep of RunSpecs with resume, failure records and live progress.

Each run is one RunRecord named by its spec hash: a finished run of the same code is never
run twice (``--reuse``), and a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ..contract.registry import plugin_class
from ..results.identity import code_differences, package_version
from ..results.schema import SCHEMA_VERSION
from ..results.store import ensure_writable_dir, read_record, record_path, write_record
from ..util.errors import ProxybenchError
from .executors import Executor, Outcome
from .spec import RunSpec

#: How ``sweep`` decides a recorded run can stand for a run of the current code.
REUSE = {
    "same-code": "its distributions' sources are unchanged",
    "same-version": "its distributions' versions are unchanged",
    "any": "any ok record of this schema",
}


def reuse_verdict(record: dict[str, Any] | None, reuse: str = "same-code") -> str | None:
    """None when a recorded run may be reused under ``reuse``, else why it is run again."""
    if reuse not in REUSE:
        raise ProxybenchError(f"--reuse {reuse!r}: expected one of {', '.join(REUSE)}")
    if record is None:
        return "not run yet"
    if record.get("status") != "ok":
        return "failed before"
    if record.get("schema") != SCHEMA_VERSION:
        return f"record schema {record.get('schema')}, not {SCHEMA_VERSION}"
    if reuse == "any":
        return None
    if record.get("proxybench_version") != package_version():
        return f"made by proxybench {record.get('proxybench_version')}, not {package_version()}"
    if reuse == "same-version" and not record.get("code"):
        return None  # before code identity, the version was all a record said
    reasons = code_differences(record.get("code"), by="source_hash" if reuse == "same-code" else "version")
    return "; ".join(reasons) or None


def _stored(results_dir: Path | str, spec: RunSpec) -> dict[str, Any] | None:
    try:
        return read_record(record_path(results_dir, spec.run_id))
    except (OSError, ValueError):  # missing, or truncated by a non-atomic copy
        return None


def is_done(results_dir: Path | str, spec: RunSpec, reuse: str = "same-code") -> bool:
    """A run counts as done when its record is readable, ok, and reusable under ``reuse`` (see :data:`REUSE`).

    A record that is not is redone (and overwritten) rather than mixed into the tables.
    """
    return reuse_verdict(_stored(results_dir, spec), reuse) is None


def reuse_line(verdicts: dict[str, str | None], reuse: str) -> str:
    """One line: how many records were reused and why the others are run again."""
    reasons: dict[str, int] = {}
    for v in verdicts.values():
        if v is not None:
            reasons[v] = reasons.get(v, 0) + 1
    reused = len(verdicts) - sum(reasons.values())
    line = f"reuse {reuse}: {reused} of {len(verdicts)} runs already recorded"
    if reasons:
        line += f"; running {sum(reasons.values())}: " + ", ".join(
            f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return line


def describe(spec: RunSpec) -> str:
    """A short human label of a spec for progress lines."""
    params = ",".join(f"{k}={v}" for k, v in sorted(spec.sampler_params.items()) if v != _default(spec.sampler, k))
    sampler = f"{spec.sampler}({params})" if params else spec.sampler
    return f"{sampler} {spec.task} {spec.dataset}/{spec.client_domain} B={spec.budget} s={spec.seed}"


def _default(sampler: str, key: str) -> Any:
    return plugin_class("sampler", sampler).defaults().get(key)


@dataclass
class SweepState:
    """Counts, runs in progress and recent outcomes of a running sweep; renders itself as the live progress table.

    ``queue`` holds the runs not finished yet, (run id, label) in submission order. The executors
    hand runs out in that order (a local pool exactly, dask roughly), so the runs in progress are
    the first ``slots`` of it; each is timed from when it entered that window.
    """

    total: int
    skipped: int
    slots: int
    ok: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    recent: list[tuple[Outcome, str]] = field(default_factory=list)
    failures: list[tuple[Outcome, str]] = field(default_factory=list)
    queue: list[tuple[str, str]] = field(default_factory=list)
    since: dict[str, float] = field(default_factory=dict)

    def running(self) -> list[tuple[str, float]]:
        """(label, seconds since it started) of each run in progress, oldest first."""
        now = time.monotonic()
        window = self.queue[: max(1, self.slots)]
        for run_id, _ in window:
            self.since.setdefault(run_id, now)
        return [(label, now - self.since[run_id]) for run_id, label in window]

    @property
    def finished(self) -> int:
        return self.ok + self.failed

    @property
    def todo(self) -> int:
        return self.total - self.skipped

    def eta(self) -> float | None:
        """Seconds left, from the mean wall time per finished run so far (None before the first one)."""
        if not self.finished:
            return None
        return (time.monotonic() - self.started) / self.finished * (self.todo - self.finished)

    def add(self, outcome: Outcome, label: str) -> None:
        self.queue = [entry for entry in self.queue if entry[0] != outcome.run_id]
        self.since.pop(outcome.run_id, None)
        self.running()  # the next runs in the window start now
        if outcome.status == "ok":
            self.ok += 1
        else:
            self.failed += 1
            self.failures.append((outcome, label))
        self.recent = [*self.recent[-4:], (outcome, label)]

    def __rich__(self) -> Group:
        running = min(self.slots, self.todo - self.finished)
        eta = self.eta()
        t = Table(title="proxybench sweep", show_header=True)
        for col in ("runs", "already done", "done", "running", "failed", "pending", "elapsed", "ETA"):
            t.add_column(col, justify="right")
        t.add_row(str(self.total), str(self.skipped), f"[green]{self.ok}[/green]", str(running),
                  f"[red]{self.failed}[/red]" if self.failed else "0", str(self.todo - self.finished - running),
                  _clock(time.monotonic() - self.started), "?" if eta is None else _clock(eta))
        lines = Table.grid(padding=(0, 1))
        for label, seconds in self.running():
            lines.add_row(f"[cyan]running[/cyan] {label} ({_clock(seconds)})")
        for outcome, label in self.recent:
            lines.add_row(outcome_line(outcome, label))
        return Group(t, lines)


def outcome_line(outcome: Outcome, label: str) -> str:
    if outcome.status == "ok":
        return f"[green]ok[/green]     {label}: accuracy {outcome.accuracy:.3f} ({outcome.seconds:.0f} s)"
    return f"[red]FAILED[/red] {label}: {outcome.error}"


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run_sweep(
    specs: Iterable[RunSpec],
    results_dir: Path | str,
    executor: Executor,
    fail_fast: bool = False,
    console: Console | None = None,
    reuse: str = "same-code",
) -> SweepState:
    """Run the specs not done yet through an executor; failures are recorded and (unless fail_fast) do not stop others.

    Which recorded runs count as done is ``reuse`` (:data:`REUSE`); a line says how many
    were reused and why the others run. Records the executor's workers return are also
    written here, so a remote cluster without a shared results folder still fills the local one.
    """
    specs = list(specs)
    results_dir = ensure_writable_dir(results_dir)
    verdicts = {s.run_id: reuse_verdict(_stored(results_dir, s), reuse) for s in specs}
    todo = [s for s in specs if verdicts[s.run_id] is not None]
    console = console or Console()
    console.print(reuse_line(verdicts, reuse), highlight=False)
    labels = {s.run_id: describe(s) for s in todo}
    state = SweepState(total=len(specs), skipped=len(specs) - len(todo), slots=executor.slots,
                       queue=list(labels.items()))
    with Live(state, console=console, refresh_per_second=2, transient=False, redirect_stderr=False) as live:
        for outcome in executor.map(todo, results_dir, stop_on_failure=fail_fast):
            if outcome.record is not None:  # a remote worker's record replaces a stale local one
                write_record(outcome.record, results_dir)
            state.slots = executor.slots  # a remote cluster's size is known once connected
            state.add(outcome, labels[outcome.run_id])
            if not console.is_terminal:
                console.print(outcome_line(outcome, labels[outcome.run_id]), highlight=False)
            live.refresh()
    return state
