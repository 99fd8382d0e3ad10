"""Aggregation of leaderboards: one table per dataset, task and setting, from the records (rendering: results.render).

A row is one sampler variant (the parameters its records name non-default are in its
name: results.variants); a cell is a mean with its 95% bootstrap interval
(proxybench.results.stats). Two paired columns say whether a sampler really differs from
random and from the best private sampler. Oracles and privacy-free references are marked
and never highlighted: the best *private or client-free* value of each column is, because
that is the comparison a deployable method has to win, and in a column of estimates
(accuracy, in-domain share) only where its interval lies wholly above the second's. A cell
whose accuracy cannot be told from chance is marked (results.chance). Tables are a pure
function of the records, so a committed ``records.jsonl.gz`` regenerates them byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..util.errors import ProxybenchError
from .chance import chance_accuracy
from .frame import records_frame
from .highlights import SHARE, best_cells, chance_cells
from .stats import Interval, bootstrap_mean, paired
from .store import read_record
from .variants import changed_params, marked

#: Spec fields that identify a row or a cell; every other field is part of a table's setting.
ROW_FIELDS = ("dataset", "task", "sampler", "sampler_params", "client_domain", "seed")
TIE = "≈"
#: The records a committed leaderboard keeps beside its tables.
RECORDS_FILE = "records.jsonl.gz"

#: Cost columns: frame column, header, which direction is better.
COSTS = (
    ("in_domain_share", "in-domain share", "max"),
    ("select_bytes_up", "select bytes up", "min"),
    ("select_bytes_down", "select bytes down", "min"),
    ("bytes_up", "total bytes up", "min"),
    ("bytes_down", "total bytes down", "min"),
    ("select_rounds", "select rounds", "min"),
    ("select_device_flops", "select device FLOPs", "min"),
    ("device_flops", "total device FLOPs", "min"),
    ("epsilon_select", "ε select", "min"),
    ("epsilon", "ε total", "min"),
)
#: phi's cost to the device, shown where a task's tables differ in phi (one phi per table, so never highlighted).
PHI_COSTS = (
    ("phi_flops_per_image", "phi FLOPs/image", "min"),
    ("phi_params", "phi params", "min"),
    ("phi_install_bytes", "phi install bytes", "min"),
)
#: Spec fields that make phi.
PHI_FIELDS = ("backbone", "weights", "feature_layer")
#: Paired accuracy columns: header -> how the reference row is chosen (its label, or None).
VS_RANDOM = "Δ acc vs random"
VS_PRIVATE = "Δ acc vs best private"
AUDIT_COLUMN = "audit ε_LB select"


def _sources(r: dict[str, Any]) -> dict[str, str]:
    """Distribution -> source hash of a record; records made before code identity know only their version."""
    code = r.get("code")
    if not code:
        return {"proxybench": f"unknown (proxybench {r.get('proxybench_version')})"}
    return {d["name"]: str(d.get("source_hash")) for d in code.get("distributions", [])}


def select_code(records: list[dict[str, Any]], version: str | None = None, schema: int | None = None,
                code: str | None = None, mix_code: bool = False) -> list[dict[str, Any]]:
    """Keep records of one code: one schema, one proxybench version, one source hash per distribution that ran.

    Two runs that used different plugin distributions are not a conflict; two sources of
    one distribution are, and raise unless ``mix_code`` asks to tabulate them together.
    ``code`` keeps the records whose proxybench source hash starts with it.
    """
    if version is not None:
        records = [r for r in records if r.get("proxybench_version") == version]
    if schema is not None:
        records = [r for r in records if r.get("schema") == schema]
    if code is not None:
        records = [r for r in records if _sources(r).get("proxybench", "").startswith(code)]
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        for what, value in [("schema", str(r.get("schema"))), ("proxybench version", str(r.get("proxybench_version"))),
                            *((f"{name} source", h) for name, h in _sources(r).items())]:
            counts.setdefault(what, {}).setdefault(value, 0)
            counts[what][value] += 1
    conflicts = {what: seen for what, seen in counts.items() if len(seen) > 1}
    if conflicts and not mix_code:
        listing = "; ".join(f"{what} " + ", ".join(f"{v} ({n} runs)" for v, n in sorted(seen.items()))
                            for what, seen in sorted(conflicts.items()))
        raise ProxybenchError(f"results mix code ({listing}); keep one with --proxybench-version, --schema or "
                              "--code PROXYBENCH_SOURCE_HASH, or pass --mix-code to tabulate them together")
    return records


def code_summary(records: list[dict[str, Any]]) -> str:
    """Which code made the records, for the leaderboard's header: versions, source hashes and commits."""
    groups: dict[str, int] = {}
    for r in records:
        git = (r.get("code") or {}).get("git")
        commit = f"commit {git['commit'][:10]}{' dirty' if git['dirty'] else ''}" if git else "no git commit"
        sources = ", ".join(f"{n} {h}" for n, h in sorted(_sources(r).items()))
        key = f"proxybench {r.get('proxybench_version')} ({sources}; {commit})"
        groups[key] = groups.get(key, 0) + 1
    return "; ".join(f"{k}: {n} runs" if len(groups) > 1 else k for k, n in sorted(groups.items()))


def setting_of(spec: dict[str, Any]) -> dict[str, Any]:
    """What a table holds fixed: every spec field that is not a row, column or seed."""
    return {k: v for k, v in spec.items() if k not in ROW_FIELDS}


@dataclass
class Board:
    """One table: a dataset, a task and a setting (budget, backbone, task parameters...)."""

    dataset: str
    task: str
    setting: dict[str, Any]
    varying: dict[str, Any]  # the part of the setting that differs between this task's tables
    seeds: list[int]
    domains: list[str]
    table: pd.DataFrame  # numeric, one row per sampler variant; see aggregate()
    best: dict[str, set[str]]  # column -> row labels highlighted
    references: dict[str, str] = field(default_factory=dict)  # paired column -> its reference row
    audit: bool = False  # whether the table has the audit column
    costs: tuple[tuple[str, str, str], ...] = COSTS  # cost columns: frame column, header, better direction
    chance: float | None = None  # chance accuracy (1 / classes); None: unknown
    at_chance: dict[str, set[str]] = field(default_factory=dict)  # accuracy column -> rows at chance
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # task, dataset -> its non-default parameters

    @property
    def title(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.varying.items())
        return f"{self.dataset} / {self.task}" + (f" ({extra})" if extra else "")

    @property
    def slug(self) -> str:
        return f"{self.dataset}-{self.task}"

    def caption(self) -> str:
        s = self.setting
        parts = [f"budget {s.get('budget')}",
                 f"phi {s.get('backbone')} ({s.get('weights')} weights, layer {s.get('feature_layer')})",
                 f"seeds {', '.join(map(str, self.seeds))}"]
        parts += [f"{kind} " + ", ".join(f"{k}={v}" for k, v in changed.items())
                  for kind, changed in self.changed.items() if changed]
        if VS_PRIVATE in self.references:
            parts.append(f"best private sampler: {self.references[VS_PRIVATE]}")
        return "; ".join(parts)


def _set_intervals(out: pd.DataFrame, col: str, intervals: dict[str, Interval]) -> None:
    """Set ``col`` (mean), ``col lo`` and ``col hi`` from each row's interval."""
    out[col] = pd.Series({r: i.mean for r, i in intervals.items()})
    out[f"{col} lo"] = pd.Series({r: i.lo for r, i in intervals.items()})
    out[f"{col} hi"] = pd.Series({r: i.hi for r, i in intervals.items()})


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a ``row`` column: each run's sampler variant, marked by its kind."""
    return frame.assign(row=[marked(v, k) for v, k in zip(frame.sampler_variant, frame.sampler_kind, strict=True)])


def aggregate(frame: pd.DataFrame, domains: list[str],
              costs: tuple[tuple[str, str, str], ...] = COSTS) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows: sampler variants; accuracy means with intervals per domain and on average, paired Δ columns, mean costs.

    Also returns each paired column's reference row (absent when the table has no such row).
    """
    frame = labelled(frame)
    per_cell = frame.groupby(["row", "client_domain", "seed"]).accuracy.mean()
    cells = {row: part.droplevel("row").to_dict() for row, part in per_cell.groupby("row")}
    rows = sorted(frame.row.unique())
    out = pd.DataFrame(index=rows)
    out["sampler"] = frame.groupby("row").sampler.first()
    out["kind"] = frame.groupby("row").sampler_kind.first()
    for d in domains:
        _set_intervals(out, f"acc {d}", {r: bootstrap_mean([v for (dom, _), v in cells[r].items() if dom == d]) for r in rows})
        out[f"acc {d} std"] = per_cell.xs(d, level="client_domain").groupby("row").std()
    _set_intervals(out, "acc average", {r: bootstrap_mean(list(cells[r].values()), [dom for dom, _ in cells[r]])
                                        for r in rows})
    out["acc average std"] = per_cell.groupby(["row", "seed"]).mean().groupby("row").std()
    references = {}
    if "random" in out.index:
        references[VS_RANDOM] = "random"
    private = out[out.kind == "private"]["acc average"].dropna()
    if not private.empty:
        references[VS_PRIVATE] = str(private.sort_index().idxmax())
    for col, ref in references.items():
        _set_intervals(out, col, {r: paired(cells[r], cells[ref]).diff for r in rows})  # the ref row: 0 [0, 0]
    means = frame[[c for c, _, _ in costs]].apply(pd.to_numeric).groupby(frame.row).mean()  # all-None columns too
    for col, header, _ in costs:
        out[header] = means[col]
    if "in_domain_share" in [c for c, _, _ in costs]:  # an estimate: its interval decides its bold cell
        share = frame.assign(share=pd.to_numeric(frame.in_domain_share)).groupby(["row", "client_domain", "seed"]).share.mean()
        _set_intervals(out, SHARE, {r: bootstrap_mean(part.to_numpy(float), part.index.get_level_values("client_domain"))
                                    for r, part in share.groupby("row")})
    out["runs"] = frame.groupby("row").size()
    out.index.name = "row"
    return out.sort_values("acc average", ascending=False, na_position="last", kind="mergesort"), references


def read_audit(path: Path | str) -> dict[str, Any]:
    """An audit report written by ``proxybench audit --out FILE``; its sampler results fill the audit column."""
    try:
        report = read_record(path)
    except (OSError, ValueError) as exc:
        raise ProxybenchError(f"audit report {path}: cannot read it as JSON ({exc})") from exc
    if report.get("kind") != "privacy-audit" or not isinstance(report.get("results"), list):
        raise ProxybenchError(f"audit report {path}: not a proxybench audit report (write one with proxybench audit --out FILE)")
    return report


def audit_bounds(report: dict[str, Any], sampler: str, params: dict[str, Any]) -> float | None:
    """The audited Gaussian-DP lower bound of a sampler variant: the result for its name (and parameters, if recorded)."""
    found = [r for r in report["results"] if r.get("kind") == "sampler" and r.get("plugin") == sampler
             and r.get("control") is None and r.get("params", params) == params]
    return found[0].get("eps_lb_gdp") if len(found) == 1 else None


def add_audit_column(table: pd.DataFrame, frame: pd.DataFrame, report: dict[str, Any]) -> pd.DataFrame:
    """Beside the accountant's ε select, what the audit report says an attacker provably reaches (private rows only)."""
    first = labelled(frame).groupby("row")[["sampler", "sampler_params"]].first()
    table[AUDIT_COLUMN] = [
        audit_bounds(report, first.at[row, "sampler"], json.loads(first.at[row, "sampler_params"]))
        if table.at[row, "kind"] == "private" else None
        for row in table.index
    ]
    return table


def test_images(frame: pd.DataFrame, domains: list[str]) -> dict[tuple[str, str], float]:
    """(row, accuracy column) -> the test images behind the cell's mean: summed over its runs (NaN where unknown)."""
    sizes = labelled(frame).groupby(["row", "client_domain"]).test_images.sum(min_count=1).to_dict()
    rows = labelled(frame).row.unique()
    out = {(str(r), f"acc {d}"): float(sizes.get((r, d), math.nan)) for r in rows for d in domains}
    for r in rows:
        out[(str(r), "acc average")] = float(sum(sizes.get((r, d), math.nan) for d in domains))
    return out


def differing(dicts: list[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in all ``dicts`` (a missing key counts as None)."""
    return sorted(k for k in set().union(*dicts) if len({json.dumps(d.get(k), sort_keys=True) for d in dicts}) > 1)


def varying_part(setting: dict[str, Any], settings: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """What tells a table from its task's others: plain fields, and of a parameter dict only the parameters
    that differ (``task.model``), so a title names the task model, not every task parameter."""
    out: dict[str, Any] = {}
    for k in keys:
        if k.endswith("_params") and isinstance(setting.get(k), dict):
            prefix = k.removesuffix("_params")
            out.update({f"{prefix}.{p}": setting[k].get(p) for p in differing([s.get(k) or {} for s in settings])})
        else:
            out[k] = setting.get(k)
    return out


def setting_changes(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The task's and the dataset's parameters a table's runs name non-default (one setting: the same values in each)."""
    return {kind: dict(sorted({k: v for r in records for k, v in changed_params(r, kind).items()}.items()))
            for kind in ("task", "dataset")}


def build_boards(records: list[dict[str, Any]], audit: dict[str, Any] | None = None) -> list[Board]:
    """Group ok records into tables per dataset, task and setting; ``audit`` (a report) adds the audit column."""
    records = [r for r in records if r.get("status") == "ok"]
    if not records:
        return []
    frame = records_frame(records)
    frame["setting"] = [json.dumps(setting_of(r["spec"]), sort_keys=True) for r in records]
    frame["chance"] = [chance_accuracy(r) for r in records]
    frame["test_images"] = [((r.get("selection") or {}).get("client_test_size")) for r in records]
    frame["test_images"] = frame.test_images.astype(float)
    boards = []
    for (dataset, task), part in frame.groupby(["dataset", "task"], sort=True):
        settings = {s: json.loads(s) for s in sorted(part.setting.unique())}
        varying_keys = differing(list(settings.values()))
        costs = COSTS + PHI_COSTS if set(varying_keys) & set(PHI_FIELDS) else COSTS
        for key, setting in settings.items():
            sub = part[part.setting == key]
            domains = sorted(sub.client_domain.unique())
            table, references = aggregate(sub, domains, costs)
            if audit is not None:
                table = add_audit_column(table, sub, audit)
            chances = set(sub.chance.dropna())
            chance = chances.pop() if len(chances) == 1 and sub.chance.notna().all() else None
            images = test_images(sub, domains)
            boards.append(Board(dataset, task, setting, varying_part(setting, list(settings.values()), varying_keys),
                                sorted(int(s) for s in sub.seed.unique()), domains, table,
                                best_cells(table, domains, COSTS, images), references, audit is not None, costs, chance,
                                chance_cells(table, domains, chance, images), setting_changes([records[i] for i in sub.index])))
    return boards
