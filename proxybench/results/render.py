"""Leaderboard tables as people read them: markdown, CSV and sortable HTML, and the folder they are written to."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..util.errors import ProxybenchError
from .leaderboard import AUDIT_COLUMN, RECORDS_FILE, TIE, VS_PRIVATE, VS_RANDOM, Board, build_boards, code_summary
from .records import write_records_file
from .stats import METHOD
from .units import human


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
    return ([f"acc {d}" for d in [*board.domains, "average"]] + paired_cols + [h for _, h, _ in board.costs]
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
