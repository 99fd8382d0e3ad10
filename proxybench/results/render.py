"""Leaderboard tables as people read them: markdown, CSV and sortable HTML, and the folder they are written to.

How a cell reads is in results.cells, the HTML table in results.html_board.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..util.errors import ProxybenchError
from .cells import cell_text, display_columns, legend
from .html_board import board_html, html_page
from .leaderboard import RECORDS_FILE, Board, build_boards, code_summary
from .store import write_records_file

__all__ = ["board_csv", "board_html", "board_markdown", "display_columns", "to_markdown", "write_leaderboard"]


def board_markdown(board: Board) -> str:
    """The board as a GitHub markdown table, best deployable cells in bold."""
    cols = display_columns(board)
    frame = pd.DataFrame(
        [[row, board.table.at[row, "kind"]] + [
            f"**{cell_text(board, row, c)}**" if row in board.best.get(c, ()) else cell_text(board, row, c) for c in cols
        ] for row in board.table.index],
        columns=["sampler", "kind", *cols],
    )
    return (f"### {board.title}\n\n{board.caption()}\n\n{to_markdown(frame, index=False)}\n\n"
            f"{legend(board.audit, [board.chance])}\n")


def board_csv(board: Board) -> pd.DataFrame:
    """Raw numbers only (mean, lo, hi and std columns), with the table's setting spelled out, for other tools."""
    out = board.table.reset_index().rename(columns={"row": "label"})
    out.insert(0, "task", board.task)
    out.insert(0, "dataset", board.dataset)
    out["setting"] = json.dumps(board.setting, sort_keys=True)
    return out


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path | str, title: str | None = None,
                      audit: dict[str, Any] | None = None, keep_records: bool = False, banner: str = "") -> list[Path]:
    """Write per dataset and task ``DATASET-TASK.{md,csv,html}``, plus ``README.md`` and ``index.html`` with every table.

    The title defaults to ``proxybench leaderboard: FOLDERNAME``, so tables regenerated into
    the same folder are the same. ``keep_records`` also writes the ok records behind the
    tables as ``records.jsonl.gz``, from which ``proxybench leaderboard --results`` rebuilds them.
    ``banner`` (markdown) goes under the README's title: what a reader must know first (a stale board, say).
    """
    boards = build_boards(records, audit)
    if not boards:
        raise ProxybenchError("no finished (status ok) runs to tabulate")
    out = Path(out_dir)
    title = title or f"proxybench leaderboard: {out.resolve().name}"
    ok = [r for r in records if r.get("status") == "ok"]
    header = f"{len(ok)} runs; {code_summary(ok)}."
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
        written[-1].write_text(html_page(f"{title}: {name}", "".join(board_html(b) for b in group), group))
    written.append(out / "README.md")
    banner = f"{banner.strip()}\n\n" if banner.strip() else ""
    written[-1].write_text(f"# {title}\n\n{banner}{header}\n\n" + "\n".join(board_markdown(b) for b in boards))
    written.append(out / "index.html")
    written[-1].write_text(html_page(title, "".join(board_html(b) for b in boards), boards, header))
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
