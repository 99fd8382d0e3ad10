"""The HTML leaderboard: sortable tables that fit a 1400 px screen.

The sampler column is frozen (CSS ``position: sticky``) and the header row stays on top,
so a wide table scrolls under them. The columns are grouped by the benchmark's four
axes (accuracy | bytes | device compute | privacy) under group headers that carry the
units, so the column headers are short; an interval sits on a second line under its
mean. A column's full name is its header's tooltip, and the legend lists them.
"""

from __future__ import annotations

import html

import pandas as pd

from .cells import display_columns, fmt, interval_text, legend, marks
from .leaderboard import AUDIT_COLUMN, SHARE, VS_PRIVATE, VS_RANDOM, Board

#: The groups of columns, in order: key, header (with the units of its cells).
GROUPS = (
    ("accuracy", "accuracy on the device test set: mean [95% interval]"),
    ("bytes", "bytes (B; k = 10³, M = 10⁶)"),
    ("compute", "device FLOPs (G = 10⁹)"),
    ("privacy", "privacy (ε)"),
)
#: Table column -> (group, short header). Columns not listed stand alone, under their own name.
SHORT = {
    VS_RANDOM: ("accuracy", "Δ random"),
    VS_PRIVATE: ("accuracy", "Δ best private"),
    SHARE: ("accuracy", "in-domain share"),
    "select bytes up": ("bytes", "select ↑"),
    "select bytes down": ("bytes", "select ↓"),
    "total bytes up": ("bytes", "total ↑"),
    "total bytes down": ("bytes", "total ↓"),
    "select rounds": ("bytes", "rounds"),
    "phi install bytes": ("bytes", "phi install"),
    "select device FLOPs": ("compute", "select"),
    "total device FLOPs": ("compute", "total"),
    "phi FLOPs/image": ("compute", "phi / image"),
    "phi params": ("compute", "phi params"),
    "ε select": ("privacy", "select"),
    "ε total": ("privacy", "total"),
    AUDIT_COLUMN: ("privacy", "audit ε_LB"),
}


def grouped(cols: list[str]) -> list[str]:
    """The columns with each group's together, groups in GROUPS' order, ungrouped columns (runs) last."""
    order = {key: i for i, (key, _) in enumerate(GROUPS)}
    return sorted(cols, key=lambda c: order.get(column_header(c)[0] or "", len(order)))  # stable within a group


def column_header(col: str) -> tuple[str | None, str]:
    """(group key or None, short header) of a table column."""
    if col.startswith("acc "):
        return "accuracy", col.removeprefix("acc ")
    return SHORT.get(col, (None, col))


SORT_JS = """<script>
document.querySelectorAll("table.lb th[data-col]").forEach(th => th.addEventListener("click", () => {
  const i = +th.dataset.col, body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
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
body { font-family: system-ui, sans-serif; margin: 1em; }
table.lb { border-collapse: separate; border-spacing: 0; font-size: 12px; margin-bottom: 0.5em; }
table.lb th, table.lb td { border: solid #ccc; border-width: 0 1px 1px 0; padding: 2px 3px; text-align: right;
  white-space: nowrap; background: #fff; }
table.lb tr > :first-child { border-left-width: 1px; }
table.lb thead tr:first-child th { border-top-width: 1px; }
table.lb thead { position: sticky; top: 0; z-index: 2; }
table.lb thead th { background: #f0f0f0; white-space: normal; vertical-align: bottom; }
table.lb th[data-col] { cursor: pointer; }
table.lb th[data-col]:hover { background: #e0e0ff; }
table.lb th.group { text-align: center; font-weight: 600; }
table.lb th.axis-start, table.lb td.axis-start { border-left: 2px solid #888; }
table.lb .sampler { position: sticky; left: 0; z-index: 1; text-align: left; border-right: 2px solid #888;
  white-space: normal; min-width: 8.5em; max-width: 13em; }
table.lb thead .sampler { z-index: 3; background: #f0f0f0; }
table.lb td.sampler .kind { display: block; color: #777; font-size: 10px; }
table.lb .ci { display: block; color: #666; font-size: 9.5px; letter-spacing: -0.02em; }
tr.oracle td, tr.privacy-free td { color: #777; font-style: italic; }
table.lb td.best { font-weight: bold; background: #d9f2d9; }
table.lb td.chance { background: #fff3cd; }
p.caption, p.legend { color: #555; font-size: 13px; max-width: 1350px; }
</style>"""


def _head(board: Board, cols: list[str]) -> str:
    """Two header rows: the axis groups over their columns, then the short column headers (sortable)."""
    top = ['<th class="sampler" rowspan="2" data-col="0" title="sampler variant and its kind">sampler</th>']
    bottom = []
    previous: str | None = None
    for i, col in enumerate(cols, start=1):
        group, short = column_header(col)
        start = group != previous
        cls = ' class="axis-start"' if start else ""
        attrs = f'data-col="{i}" title="{html.escape(col)}"'
        if group is None:
            top.append(f'<th{cls} rowspan="2" {attrs}>{html.escape(short)}</th>')
        else:
            if start:
                span = 1
                while i - 1 + span < len(cols) and column_header(cols[i - 1 + span])[0] == group:
                    span += 1
                title = dict(GROUPS)[group]
                top.append(f'<th class="group axis-start" colspan="{span}">{html.escape(title)}</th>')
            bottom.append(f'<th{cls} {attrs}>{html.escape(short).replace("+", "+<wbr>")}</th>')
        previous = group
    return f"<thead><tr>{''.join(top)}</tr>\n<tr>{''.join(bottom)}</tr></thead>"


def _cell(board: Board, row: str, col: str, start: bool) -> str:
    v = board.table.at[row, col]
    num = "" if pd.isna(v) else repr(float(v))
    classes = (["axis-start"] if start else []) + (["best"] if row in board.best.get(col, ()) else []) \
        + (["chance"] if row in board.at_chance.get(col, ()) else [])
    cls = f' class="{" ".join(classes)}"' if classes else ""
    if board.references.get(col) == row:
        return f'<td data-v="{num}"{cls}>ref</td>'
    unit = column_header(col)[0] not in ("bytes", "compute")  # their units are in the group header
    text = html.escape(" ".join(p for p in (fmt(v, col, unit), marks(board, row, col)) if p))
    interval = interval_text(board, row, col).replace(", ", ",")
    return f'<td data-v="{num}"{cls}>{text}' + (f'<span class="ci">{html.escape(interval)}</span>' if interval else "") + "</td>"


def board_html(board: Board) -> str:
    """One sortable table (click a header); values sort by their number, not their text."""
    cols = grouped(display_columns(board))
    starts = [column_header(c)[0] != (column_header(cols[i - 1])[0] if i else "") for i, c in enumerate(cols)]
    rows = []
    for row in board.table.index:
        kind = str(board.table.at[row, "kind"])
        cells = [f'<td class="sampler">{html.escape(row)}'
                 f'<span class="kind">{html.escape(kind)}</span></td>']
        cells += [_cell(board, row, c, s) for c, s in zip(cols, starts, strict=True)]
        rows.append(f'<tr class="{html.escape(kind)}">{"".join(cells)}</tr>')
    return (f"<h2>{html.escape(board.title)}</h2>\n<p class=\"caption\">{html.escape(board.caption())}</p>\n"
            f"<table class=\"lb\">{_head(board, cols)}\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n")


def headers_legend(boards: list[Board]) -> str:
    """The short headers spelled out, for the legend of a page."""
    seen: dict[str, str] = {}
    for b in boards:
        for col in display_columns(b):
            group, short = column_header(col)
            if group is not None and not col.startswith("acc "):
                seen.setdefault(f"{dict(GROUPS)[group].split(' (')[0]}: {short}", col)
    return "Short headers: " + "; ".join(f"{k} = {v}" for k, v in seen.items()) + "."


def html_page(title: str, body: str, boards: list[Board], header: str = "") -> str:
    intro = f"<p class=\"caption\">{html.escape(header)}</p>\n" if header else ""
    text = legend(any(b.audit for b in boards), [b.chance for b in boards]) + " " + headers_legend(boards)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n{STYLE}</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n{intro}{body}"
            f"<p class=\"legend\">{html.escape(text)}</p>\n{SORT_JS}\n</body></html>\n")
