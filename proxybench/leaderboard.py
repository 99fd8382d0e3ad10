"""Aggregation and rendering of leaderboards: markdown, CSV and a sortable HTML table per dataset and task.

A row is one sampler variant (its parameters that differ from the defaults are in its
name); a cell is a mean with its 95% bootstrap interval (proxybench.stats). Two paired
columns say whether a sampler really differs from random and from the best private
sampler. Oracles and privacy-free references are marked and never highlighted: the
best *private or client-free* value of each column is, because that is the comparison
a deployable method has to win. Tables are a pure function of the records, so a
committed ``records.jsonl.gz`` regenerates them byte for byte.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ProxybenchError
from .registry import registry
from .results import read_record, records_frame, write_records_file
from .stats import METHOD, Interval, bootstrap_mean, paired
from .units import human

#: Spec fields that identify a row or a cell; every other field is part of a table's setting.
ROW_FIELDS = ("dataset", "task", "sampler", "sampler_params", "client_domain", "seed")
#: Kinds that may be highlighted as best.
DEPLOYABLE = ("private", "client-free")
MARKS = {"oracle": "†", "privacy-free": "‡"}
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
#: Paired accuracy columns: header -> how the reference row is chosen (its label, or None).
VS_RANDOM = "Δ acc vs random"
VS_PRIVATE = "Δ acc vs best private"
AUDIT_COLUMN = "audit ε_LB select"


def legend(audit: bool) -> str:
    """What the marks, bold cells, intervals and paired columns mean (printed under every table)."""
    text = ("† oracle (uses the hidden ground-truth domain ids); ‡ privacy-free reference (no privacy guarantee). "
            "Bold: best private or client-free sampler in the column. ε none = no guarantee. "
            f"[lo, hi]: {METHOD}. {VS_RANDOM} / {VS_PRIVATE}: mean paired difference in accuracy (same seed and domain) "
            f"with its interval; {TIE} a statistical tie (the interval contains 0); ref: the reference row itself.")
    if audit:
        text += (f" {AUDIT_COLUMN}: an empirical lower bound on the selection's ε from the proxybench audit report "
                 "given to the leaderboard; above ε select would mean the accountant overclaims.")
    return text


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


def non_default(kind: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that differ from the plugin's defaults (all of them if the plugin is not installed)."""
    reg = registry()
    defaults = reg.get(kind, name).defaults() if name in reg.names(kind) else {}
    return {k: v for k, v in sorted(params.items()) if k not in defaults or defaults[k] != v}


def variant_label(sampler: str, params: dict[str, Any], kind: str | None = None) -> str:
    """``ecos (sigma=20)``: the name, the non-default parameters, and the mark of its kind."""
    changed = non_default("sampler", sampler, params)
    label = f"{sampler} ({', '.join(f'{k}={v}' for k, v in changed.items())})" if changed else sampler
    return f"{label} {MARKS[kind]}" if kind in MARKS else label


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
        for kind, key in (("task", self.task), ("dataset", self.dataset)):
            changed = non_default(kind, key, s.get(f"{kind}_params", {}))
            if changed:
                parts.append(f"{kind} " + ", ".join(f"{k}={v}" for k, v in changed.items()))
        if VS_PRIVATE in self.references:
            parts.append(f"best private sampler: {self.references[VS_PRIVATE]}")
        return "; ".join(parts)


def _set_intervals(out: pd.DataFrame, col: str, intervals: dict[str, Interval]) -> None:
    """Set ``col`` (mean), ``col lo`` and ``col hi`` from each row's interval."""
    out[col] = pd.Series({r: i.mean for r, i in intervals.items()})
    out[f"{col} lo"] = pd.Series({r: i.lo for r, i in intervals.items()})
    out[f"{col} hi"] = pd.Series({r: i.hi for r, i in intervals.items()})


def aggregate(frame: pd.DataFrame, domains: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows: sampler variants; accuracy means with intervals per domain and on average, paired Δ columns, mean costs.

    Also returns each paired column's reference row (absent when the table has no such row).
    """
    frame = frame.assign(row=[variant_label(s, json.loads(p), k)
                              for s, p, k in zip(frame.sampler, frame.sampler_params, frame.sampler_kind, strict=True)])
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
    costs = frame[[c for c, _, _ in COSTS]].apply(pd.to_numeric).groupby(frame.row).mean()  # all-None columns too
    for col, header, _ in COSTS:
        out[header] = costs[col]
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
    labelled = frame.assign(row=[variant_label(s, json.loads(p), k) for s, p, k in
                                 zip(frame.sampler, frame.sampler_params, frame.sampler_kind, strict=True)])
    first = labelled.groupby("row")[["sampler", "sampler_params"]].first()
    table[AUDIT_COLUMN] = [
        audit_bounds(report, first.at[row, "sampler"], json.loads(first.at[row, "sampler_params"]))
        if table.at[row, "kind"] == "private" else None
        for row in table.index
    ]
    return table


def best_cells(table: pd.DataFrame, domains: list[str]) -> dict[str, set[str]]:
    """Per column, the deployable rows that reach the best value (ties all win)."""
    pool = table[table.kind.isin(DEPLOYABLE)]
    directions = {f"acc {d}": "max" for d in [*domains, "average"]} | {h: b for _, h, b in COSTS}
    best = {}
    for col, better in directions.items():
        values = pool[col].dropna()
        if values.empty:
            continue
        target = values.max() if better == "max" else values.min()
        best[col] = {str(r) for r, v in values.items() if math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12)}
    return best


def build_boards(records: list[dict[str, Any]], audit: dict[str, Any] | None = None) -> list[Board]:
    """Group ok records into tables per dataset, task and setting; ``audit`` (a report) adds the audit column."""
    records = [r for r in records if r.get("status") == "ok"]
    if not records:
        return []
    frame = records_frame(records)
    kinds = {name: getattr(registry().get("sampler", name), "kind", None) for name in registry().names("sampler")}
    frame["sampler_kind"] = [k if k else kinds.get(s) for k, s in zip(frame.sampler_kind, frame.sampler, strict=True)]
    frame["setting"] = [json.dumps(setting_of(r["spec"]), sort_keys=True) for r in records]
    boards = []
    for (dataset, task), part in frame.groupby(["dataset", "task"], sort=True):
        settings = {s: json.loads(s) for s in sorted(part.setting.unique())}
        varying_keys = sorted(k for k in set().union(*settings.values())
                              if len({json.dumps(v.get(k), sort_keys=True) for v in settings.values()}) > 1)
        for key, setting in settings.items():
            sub = part[part.setting == key]
            domains = sorted(sub.client_domain.unique())
            table, references = aggregate(sub, domains)
            if audit is not None:
                table = add_audit_column(table, sub, audit)
            boards.append(Board(dataset, task, setting, {k: setting.get(k) for k in varying_keys},
                                sorted(int(s) for s in sub.seed.unique()), domains, table, best_cells(table, domains),
                                references, audit is not None))
    return boards


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none" if col.startswith("ε") else "–"
    if col.startswith("acc") or col == "in-domain share":
        return f"{value:.3f}"
    if col.startswith("Δ"):
        return _signed(value)
    if col == "runs":
        return str(int(value))
    if "bytes" in col:
        return human(value, "B")
    if "FLOPs" in col:
        return human(value, "FLOP")
    return f"{value:.3g}"


def display_columns(board: Board) -> list[str]:
    paired_cols = [c for c in (VS_RANDOM, VS_PRIVATE) if c in board.references]
    return ([f"acc {d}" for d in [*board.domains, "average"]] + paired_cols + [h for _, h, _ in COSTS]
            + ([AUDIT_COLUMN] if board.audit else []) + ["runs"])


def cell_text(board: Board, row: str, col: str) -> str:
    """A cell as people read it: mean [lo, hi] for accuracy, the paired Δ with a tie mark, costs in units."""
    t = board.table
    if board.references.get(col) == row:
        return "ref"
    text = _fmt(t.at[row, col], col)
    lo, hi = f"{col} lo", f"{col} hi"
    if lo in t.columns and not (pd.isna(t.at[row, lo]) or pd.isna(t.at[row, hi])):
        show: Callable[[float], str] = _signed if col.startswith("Δ") else (lambda x: f"{x:.3f}")
        text += f" [{show(t.at[row, lo])}, {show(t.at[row, hi])}]"
        if col.startswith("Δ") and t.at[row, lo] <= 0 <= t.at[row, hi]:
            text += f" {TIE}"
    return text


def board_markdown(board: Board) -> str:
    """The board as a GitHub markdown table, best deployable cells in bold."""
    cols = display_columns(board)
    frame = pd.DataFrame(
        [[row, board.table.at[row, "kind"]] + [
            f"**{cell_text(board, row, c)}**" if row in board.best.get(c, ()) else cell_text(board, row, c) for c in cols
        ] for row in board.table.index],
        columns=["sampler", "kind", *cols],
    )
    return f"### {board.title}\n\n{board.caption()}\n\n{to_markdown(frame, index=False)}\n\n{legend(board.audit)}\n"


def board_csv(board: Board) -> pd.DataFrame:
    """Raw numbers only (mean, lo, hi and std columns), with the table's setting spelled out, for other tools."""
    out = board.table.reset_index().rename(columns={"row": "label"})
    out.insert(0, "task", board.task)
    out.insert(0, "dataset", board.dataset)
    out["setting"] = json.dumps(board.setting, sort_keys=True)
    return out


SORT_JS = """<script>
document.querySelectorAll("table.lb th").forEach((th, i) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
  th.dataset.dir = asc ? "asc" : "desc";
  const key = r => r.cells[i].dataset.v === undefined ? r.cells[i].textContent : parseFloat(r.cells[i].dataset.v);
  [...body.rows].sort((a, b) => {
    const x = key(a), y = key(b);
    if (typeof x === "string") return asc ? x.localeCompare(y) : y.localeCompare(x);
    if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);
    return asc ? x - y : y - x;
  }).forEach(r => body.appendChild(r));
}));
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table.lb { border-collapse: collapse; font-size: 13px; margin-bottom: 0.5em; }
table.lb th, table.lb td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; }
table.lb th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
table.lb th:hover { background: #e0e0ff; }
table.lb td:first-child, table.lb td:nth-child(2) { text-align: left; }
tr.oracle td, tr.privacy-free td { color: #777; font-style: italic; }
td.best { font-weight: bold; background: #d9f2d9; }
p.caption, p.legend { color: #555; font-size: 13px; }
</style>"""


def board_html(board: Board) -> str:
    """One sortable table (click a header); values sort by their number, not their text."""
    cols = display_columns(board)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["sampler", "kind", *cols])
    rows = []
    for row in board.table.index:
        kind = str(board.table.at[row, "kind"])
        cells = [f"<td>{html.escape(row)}</td>", f"<td>{html.escape(kind)}</td>"]
        for c in cols:
            v = board.table.at[row, c]
            num = "" if pd.isna(v) else repr(float(v))
            cls = ' class="best"' if row in board.best.get(c, ()) else ""
            cells.append(f'<td data-v="{num}"{cls}>{html.escape(cell_text(board, row, c))}</td>')
        rows.append(f'<tr class="{html.escape(kind)}">{"".join(cells)}</tr>')
    return (f"<h2>{html.escape(board.title)}</h2>\n<p class=\"caption\">{html.escape(board.caption())}</p>\n"
            f"<table class=\"lb\"><thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n")


def html_page(title: str, body: str, audit: bool = False, header: str = "") -> str:
    intro = f"<p class=\"caption\">{html.escape(header)}</p>\n" if header else ""
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n{STYLE}</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n{intro}{body}"
            f"<p class=\"legend\">{html.escape(legend(audit))}</p>\n{SORT_JS}\n</body></html>\n")


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path | str, title: str | None = None,
                      audit: dict[str, Any] | None = None, keep_records: bool = False) -> list[Path]:
    """Write per dataset and task ``DATASET-TASK.{md,csv,html}``, plus ``README.md`` and ``index.html`` with every table.

    The title defaults to ``proxybench leaderboard: FOLDERNAME``, so tables regenerated into
    the same folder are the same. ``keep_records`` also writes the ok records behind the
    tables as ``records.jsonl.gz``, from which ``proxybench leaderboard --results`` rebuilds them.
    """
    boards = build_boards(records, audit)
    if not boards:
        raise ProxybenchError("no finished (status ok) runs to tabulate")
    out = Path(out_dir)
    title = title or f"proxybench leaderboard: {out.resolve().name}"
    ok = [r for r in records if r.get("status") == "ok"]
    header = f"{len(ok)} runs; {code_summary(ok)}."
    has_audit = audit is not None
    out.mkdir(parents=True, exist_ok=True)
    written = []
    by_slug: dict[str, list[Board]] = {}
    for b in boards:
        by_slug.setdefault(b.slug, []).append(b)
    for slug, group in by_slug.items():
        name = f"{group[0].dataset} / {group[0].task}"
        written.append(out / f"{slug}.md")
        written[-1].write_text(f"# {name}\n\n" + "\n".join(board_markdown(b) for b in group))
        written.append(out / f"{slug}.csv")
        pd.concat([board_csv(b) for b in group]).to_csv(written[-1], index=False)
        written.append(out / f"{slug}.html")
        written[-1].write_text(html_page(f"{title}: {name}", "".join(board_html(b) for b in group), has_audit))
    written.append(out / "README.md")
    written[-1].write_text(f"# {title}\n\n{header}\n\n" + "\n".join(board_markdown(b) for b in boards))
    written.append(out / "index.html")
    written[-1].write_text(html_page(title, "".join(board_html(b) for b in boards), has_audit, header))
    if keep_records:
        written.append(write_records_file(ok, out / RECORDS_FILE))
    return written


def to_markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub markdown table (no extra dependency); values are printed as they are."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)
