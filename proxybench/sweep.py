"""Grid files -> RunSpecs, and running a sweep of them with resume, failure records and live progress.

A grid (``leaderboards/NAME.toml``) names every axis of a comparison, so the leaderboard
generated from it (``leaderboards/NAME/``) can always be regenerated or extended. Each
run is one RunRecord named by its spec hash: a finished run of the same code is never
run twice (``--reuse``), and a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import __version__
from .cache import Cache
from .errors import ProxybenchError
from .executors import Executor, Outcome
from .identity import code_differences
from .registry import registry
from .results import SCHEMA_VERSION, ensure_writable_dir, read_record, record_path, write_record
from .spec import RunSpec

#: Grid keys that are axes (lists crossed with each other).
AXES = ("datasets", "client_domains", "backbones", "samplers", "tasks", "budgets", "seeds")
#: RunSpec fields a grid may fix for every run under [spec].
FIXED_FIELDS = ("client_fraction", "pool_has_client_domain", "delta")
BACKBONE_FIELDS = ("backbone", "weights", "feature_layer")


@dataclass(frozen=True)
class Choice:
    """One plugin with one set of parameters (a variant)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Grid:
    """A parsed grid file: its name (the file stem), description and the specs it expands to."""

    name: str
    path: Path
    description: str
    specs: list[RunSpec]
    #: sampler x task pairs the grid names but that cannot run together, with the reason
    left_out: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def leaderboard_dir(self) -> Path:
        """Tables live beside the grid that defines them: leaderboards/NAME.toml -> leaderboards/NAME/."""
        return self.path.with_suffix("")


def _variants(entry: Any, kind: str, where: str) -> list[Choice]:
    """``"name"`` or ``{name = ..., params = {...}}``; list-valued params expand into their cross product."""
    if isinstance(entry, str):
        return [Choice(entry)]
    if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "params"}:
        raise ProxybenchError(f"{where}: a {kind} is a name or a table {{name = ..., params = {{...}}}}, got {entry!r}")
    params = entry.get("params", {})
    keys = sorted(params)
    values = [v if isinstance(v, list) else [v] for v in (params[k] for k in keys)]
    return [Choice(entry["name"], dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def _choices(value: Any, kind: str, where: str) -> list[Choice]:
    if value == "all":
        return [Choice(n) for n in registry().names(kind)]
    if not isinstance(value, list) or not value:
        raise ProxybenchError(f"{where}: expected \"all\" or a non-empty list of {kind}s, got {value!r}")
    return [c for entry in value for c in _variants(entry, kind, where)]


def _backbones(value: Any, where: str) -> list[dict[str, Any]]:
    out = []
    for entry in value:
        entry = {"backbone": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or set(entry) - set(BACKBONE_FIELDS):
            raise ProxybenchError(f"{where}: a backbone is a timm name or a table with keys {BACKBONE_FIELDS}, got {entry!r}")
        out.append(entry)
    return out


def _client_domains(value: Any, dataset: Choice, cache: Cache, where: str) -> list[str]:
    if value != "all":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProxybenchError(f"{where}: client_domains must be \"all\" or a list of names, got {value!r}")
        return value
    # Only the data knows its domains; loading it also warms the cache every run needs.
    return list(registry().get("dataset", dataset.name).build(**dataset.params).load(cache).client_domains)


def incompatibility(sampler: str, task: str) -> str | None:
    """Why a sampler cannot run under a task (None when it can): checked from the plugins' declarations."""
    reg = registry()
    if reg.get("sampler", sampler).needs_pool_labels and not reg.get("task", task).pool_labels_visible:
        return f"{sampler} needs pool labels; {task} keeps the pool unlabeled"
    return None


def expand(grid: dict[str, Any], where: str = "grid", cache: Cache | None = None,
           left_out: dict[tuple[str, str], str] | None = None) -> list[RunSpec]:
    """Cross every axis of a parsed grid into resolved RunSpecs, in a resumable order, without duplicates.

    Seeds vary slowest, so an interrupted sweep has complete tables for its first seeds.
    Sampler x task pairs that cannot run together are not expanded; they are collected in
    ``left_out`` (pair -> reason) so the caller can say so.
    """
    unknown = set(grid) - set(AXES) - {"description", "spec"}
    if unknown:
        raise ProxybenchError(f"{where}: unknown keys {sorted(unknown)}; a grid has {sorted(AXES)}, description and [spec]")
    if "samplers" not in grid:
        raise ProxybenchError(f"{where}: a grid needs samplers (\"all\" or a list)")
    fixed = grid.get("spec", {})
    if set(fixed) - set(FIXED_FIELDS):
        raise ProxybenchError(f"{where}: [spec] may set {FIXED_FIELDS}, got {sorted(fixed)}")
    defaults = RunSpec()
    datasets = _choices(grid.get("datasets", [defaults.dataset]), "dataset", f"{where}: datasets")
    backbones = _backbones(grid.get("backbones", [{}]), f"{where}: backbones")
    samplers = _choices(grid["samplers"], "sampler", f"{where}: samplers")
    tasks = _choices(grid.get("tasks", [defaults.task]), "task", f"{where}: tasks")
    budgets = grid.get("budgets", [defaults.budget])
    seeds = grid.get("seeds", [defaults.seed])
    cache = cache or Cache()

    specs: dict[str, RunSpec] = {}
    for dataset in datasets:
        domains = _client_domains(grid.get("client_domains", "all"), dataset, cache, f"{where}: client_domains")
        for backbone, seed, domain, task, sampler, budget in itertools.product(
            backbones, seeds, domains, tasks, samplers, budgets
        ):
            reason = incompatibility(sampler.name, task.name)
            if reason:
                if left_out is not None:
                    left_out[(sampler.name, task.name)] = reason
                continue
            spec = RunSpec(
                dataset=dataset.name, dataset_params=dataset.params, client_domain=domain, **backbone,
                sampler=sampler.name, sampler_params=sampler.params, task=task.name, task_params=task.params,
                budget=budget, seed=seed, **fixed,
            ).resolved()
            specs.setdefault(spec.run_id, spec)
    return list(specs.values())


#: RunSpec fields ``--where`` may filter on.
WHERE_FIELDS = ("dataset", "client_domain", "backbone", "weights", "sampler", "task", "budget", "seed")


def restrict(specs: list[RunSpec], where: list[str]) -> list[RunSpec]:
    """The specs matching every ``FIELD=VALUE`` (several values: ``FIELD=A,B``): part of a grid, same run ids."""
    wanted: dict[str, set[str]] = {}
    for item in where:
        name, sep, values = item.partition("=")
        if not sep or name not in WHERE_FIELDS or not values:
            raise ProxybenchError(f"--where {item!r}: expected FIELD=VALUE[,VALUE...] with FIELD one of {WHERE_FIELDS}")
        wanted.setdefault(name, set()).update(values.split(","))
    for name, values in wanted.items():
        present = sorted({str(getattr(s, name)) for s in specs})
        missing = sorted(values - set(present))
        if missing:
            raise ProxybenchError(f"--where {name}={','.join(missing)}: not in this grid; its {name} values are {present}")
    return [s for s in specs if all(str(getattr(s, k)) in v for k, v in wanted.items())]


def load_grid(path: Path | str, cache: Cache | None = None) -> Grid:
    """Read and expand a grid file; every spec is validated before anything runs."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProxybenchError(f"cannot read grid {path}: {exc}") from exc
    left_out: dict[tuple[str, str], str] = {}
    specs = expand(data, str(path), cache, left_out)
    return Grid(path.stem, path, data.get("description", ""), specs, left_out)


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
    if record.get("proxybench_version") != __version__:
        return f"made by proxybench {record.get('proxybench_version')}, not {__version__}"
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
    return registry().get("sampler", sampler).defaults().get(key)


@dataclass
class SweepState:
    """Counts and recent outcomes of a running sweep; renders itself as the live progress table."""

    total: int
    skipped: int
    slots: int
    ok: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    recent: list[tuple[Outcome, str]] = field(default_factory=list)
    failures: list[tuple[Outcome, str]] = field(default_factory=list)

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
    state = SweepState(total=len(specs), skipped=len(specs) - len(todo), slots=executor.slots)
    labels = {s.run_id: describe(s) for s in todo}
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

