"""Aggregation and rendering of leaderboards: markdown, CSV and a sortable HTML table per dataset and task.

A row is one sampler variant (its parameters that differ from the defaults are in its
name); a cell is the mean ± std over seeds. Oracles and privacy-free references are
marked and never highlighted: the best *private or client-free* value of each column
is, because that is the comparison a deployable method has to win.
"""

from __future__ import annotations

import functools
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ProxybenchError
from .registry import registry
from .results import records_frame

#: Spec fields that identify a row or a cell; every other field is part of a table's setting.
ROW_FIELDS = ("dataset", "task", "sampler", "sampler_params", "client_domain", "seed")
#: Kinds that may be highlighted as best.
DEPLOYABLE = ("private", "client-free")
MARKS = {"oracle": "†", "privacy-free": "‡"}
LEGEND = ("† oracle (uses the hidden ground-truth domain ids); ‡ privacy-free reference (no privacy guarantee). "
          "Bold: best private or client-free sampler in the column. ε none = no guarantee. "
          "audit ε_LB select: an empirical lower bound on the selection's ε (Gaussian-DP, 95%, 1e5 trials of "
          "proxybench audit); above ε select would mean the accountant overclaims.")

#: Cost columns: frame column, header, which direction is better.
COSTS = (
    ("in_domain_share", "in-domain share", "max"),
    ("select_bytes_up", "select bytes up", "min"),
    ("select_bytes_down", "select bytes down", "min"),
    ("bytes_up", "total bytes up", "min"),
    ("bytes_down", "total bytes down", "min"),
    ("device_flops", "device FLOPs", "min"),
    ("epsilon_select", "ε select", "min"),
    ("epsilon", "ε total", "min"),
)


def select_version(records: list[dict[str, Any]], version: str | None = None, schema: int | None = None) -> list[dict]:
    """Keep the records of one proxybench version and schema; several found and none chosen is an error."""
    if version is not None:
        records = [r for r in records if r.get("proxybench_version") == version]
    if schema is not None:
        records = [r for r in records if r.get("schema") == schema]
    found: dict[tuple, int] = {}
    for r in records:
        key = (r.get("proxybench_version"), r.get("schema"))
        found[key] = found.get(key, 0) + 1
    if len(found) > 1:
        listing = ", ".join(f"proxybench {v} schema {s}: {n} runs" for (v, s), n in sorted(found.items(), key=str))
        raise ProxybenchError(f"results mix versions ({listing}); choose one with --proxybench-version and --schema")
    return records


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
        return "; ".join(parts)


def aggregate(frame: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """Rows: sampler variants. Accuracy mean/std over seeds per domain and of the per-seed domain average; costs are means."""
    frame = frame.assign(row=[variant_label(s, json.loads(p), k)
                              for s, p, k in zip(frame.sampler, frame.sampler_params, frame.sampler_kind, strict=True)])
    per_cell = frame.groupby(["row", "client_domain", "seed"]).accuracy.mean()
    by_domain = per_cell.groupby(["row", "client_domain"]).agg(["mean", "std"]).unstack("client_domain")
    by_seed = per_cell.groupby(["row", "seed"]).mean().groupby("row").agg(["mean", "std"])
    out = pd.DataFrame(index=sorted(frame.row.unique()))
    out["sampler"] = frame.groupby("row").sampler.first()
    out["kind"] = frame.groupby("row").sampler_kind.first()
    for d in domains:
        out[f"acc {d}"] = by_domain.get(("mean", d))
        out[f"acc {d} std"] = by_domain.get(("std", d))
    out["acc average"] = by_seed["mean"]
    out["acc average std"] = by_seed["std"]
    costs = frame.groupby("row")[[c for c, _, _ in COSTS]].mean()
    for col, header, _ in COSTS:
        out[header] = costs[col]
    out["runs"] = frame.groupby("row").size()
    out.index.name = "row"
    return out.sort_values("acc average", ascending=False, na_position="last")


AUDIT_COLUMN = "audit ε_LB select"
AUDIT_TRIALS = 100_000


@functools.cache
def _audited_lower_bound(sampler: str, params_json: str) -> float | None:
    """Gaussian-DP empirical lower bound on the selection's epsilon (fast audit, 95%), for auditable samplers."""
    from .audit import audit_plugin

    cls = registry().get("sampler", sampler)
    if not hasattr(cls, "audit_mechanism"):
        return None
    (result,) = audit_plugin("sampler", sampler, json.loads(params_json), trials=AUDIT_TRIALS, controls=False)
    return result.eps_lb_gdp


def add_audit_column(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Beside the accountant's ε select, what an attacker on the real device messages provably reaches."""
    params = frame.assign(row=[variant_label(s, json.loads(p), k) for s, p, k in
                               zip(frame.sampler, frame.sampler_params, frame.sampler_kind, strict=True)])
    first = params.groupby("row")[["sampler", "sampler_params"]].first()
    table[AUDIT_COLUMN] = [
        _audited_lower_bound(first.at[row, "sampler"], first.at[row, "sampler_params"])
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


def build_boards(records: list[dict[str, Any]]) -> list[Board]:
    """Group ok records into tables per dataset, task and setting."""
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
            table = add_audit_column(aggregate(sub, domains), sub)
            boards.append(Board(dataset, task, setting, {k: setting.get(k) for k in varying_keys},
                                sorted(int(s) for s in sub.seed.unique()), domains, table, best_cells(table, domains)))
    return boards


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none" if col.startswith("ε") else "–"
    if col.startswith("acc") or col == "in-domain share":
        return f"{value:.3f}"
    if col == "runs":
        return str(int(value))
    return f"{value:.3g}"


def display_columns(board: Board) -> list[str]:
    return [f"acc {d}" for d in [*board.domains, "average"]] + [h for _, h, _ in COSTS] + [AUDIT_COLUMN, "runs"]


def cell_text(board: Board, row: str, col: str) -> str:
    t = board.table
    text = _fmt(t.at[row, col], col)
    std_col = f"{col} std"
    if std_col in t.columns and not pd.isna(t.at[row, std_col]):
        text += f" ± {t.at[row, std_col]:.3f}"
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
    return f"### {board.title}\n\n{board.caption()}\n\n{to_markdown(frame, index=False)}\n\n{LEGEND}\n"


def board_csv(board: Board) -> pd.DataFrame:
    """Numbers only (mean and std columns), with the table's setting spelled out, for other tools."""
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


def html_page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n{STYLE}</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n{body}"
            f"<p class=\"legend\">{html.escape(LEGEND)}</p>\n{SORT_JS}\n</body></html>\n")


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path | str, title: str = "proxybench leaderboard") -> list[Path]:
    """Write per dataset and task ``DATASET-TASK.{md,csv,html}``, plus ``README.md`` and ``index.html`` with every table."""
    boards = build_boards(records)
    if not boards:
        raise ProxybenchError("no finished (status ok) runs to tabulate")
    out = Path(out_dir)
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
        written[-1].write_text(html_page(f"{title}: {name}", "".join(board_html(b) for b in group)))
    written.append(out / "README.md")
    written[-1].write_text(f"# {title}\n\n" + "\n".join(board_markdown(b) for b in boards))
    written.append(out / "index.html")
    written[-1].write_text(html_page(title, "".join(board_html(b) for b in boards)))
    return written


def to_markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub markdown table (no extra dependency); values are printed as they are."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)
