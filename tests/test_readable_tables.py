"""Tables read at a glance: no bold "best" without separated intervals, a mark on cells at chance, HTML that fits."""

from __future__ import annotations

import re

import pytest

from proxybench.results.chance import CHANCE_MARK, at_chance, chance_accuracy, num_classes, wilson_interval
from proxybench.results.html_board import GROUPS, board_html, grouped
from proxybench.results.leaderboard import build_boards
from proxybench.results.render import board_markdown, write_leaderboard

from .test_sweep import _record


def _with_test_size(record: dict, n: int = 500) -> dict:
    record["selection"]["client_test_size"] = n
    return record


def _board(rows: dict[str, tuple[str, list[float]]], domains=("street", "photo")):
    """One board: sampler -> (kind, accuracy per seed), the same in every domain."""
    recs = [_with_test_size(_record(s, kind, d, seed, acc, epsilon=0.5 if kind == "private" else 0.0))
            for s, (kind, accs) in rows.items() for d in domains for seed, acc in enumerate(accs)]
    (board,) = build_boards(recs)
    return board


def test_two_runs_at_chance_get_no_bold_and_a_warning():
    """The issue's case: 0.108 against 0.104 on ten classes: no "best", both marked at chance."""
    board = _board({"ecos": ("private", [0.108, 0.108]), "random": ("client-free", [0.104, 0.104])})
    assert board.chance == pytest.approx(0.1)
    assert "acc average" not in board.best and "acc street" not in board.best
    assert board.at_chance["acc average"] == {"ecos", "random"}
    md = board_markdown(board)
    assert "**0.108" not in md and f"0.108 [0.108, 0.108] {CHANCE_MARK}" in md
    assert "1 / number of classes = 0.100" in md and "only where it is separated from the second best" in md


def test_bold_only_where_the_best_is_separated_from_the_second():
    separated = _board({"ecos": ("private", [0.80, 0.82, 0.81]), "random": ("client-free", [0.50, 0.52, 0.51])})
    assert separated.best["acc average"] == {"ecos"} and not separated.at_chance
    assert "**0.810 [0.800, 0.820]**" in board_markdown(separated)
    overlapping = _board({"ecos": ("private", [0.80, 0.60, 0.70]), "random": ("client-free", [0.65, 0.55, 0.60])})
    assert "acc average" not in overlapping.best
    # an oracle above everyone is never the bold one, and does not hide a separated deployable best
    with_oracle = _board({"ecos": ("private", [0.80, 0.82, 0.81]), "random": ("client-free", [0.50, 0.52, 0.51]),
                          "oracle-domain": ("oracle", [0.95, 0.96, 0.97])})
    assert with_oracle.best["acc average"] == {"ecos"}
    # one deployable row: nothing to be separated from
    alone = _board({"ecos": ("private", [0.80, 0.82]), "oracle-domain": ("oracle", [0.9, 0.9])})
    assert "acc average" not in alone.best


def test_a_single_run_is_checked_against_chance_by_its_test_set():
    lo, hi = wilson_interval(0.108, 500)
    assert lo < 0.1 < hi and wilson_interval(0.3, 500)[0] > 0.1
    assert at_chance(0.108, float("nan"), float("nan"), 0.1, 500)
    assert not at_chance(0.30, float("nan"), float("nan"), 0.1, 500)
    assert not at_chance(0.108, float("nan"), float("nan"), None, 500)  # unknown chance: never flagged
    board = _board({"ecos": ("private", [0.108]), "random": ("client-free", [0.35])})
    assert board.at_chance == {f"acc {c}": {"ecos"} for c in ("photo", "street", "average")}


def test_number_of_classes_from_the_record_or_the_dataset():
    rec = _record("random", "client-free", "street", 0, 0.5)
    assert num_classes(rec) == 10 and chance_accuracy(rec) == pytest.approx(0.1)  # digits
    assert num_classes({**rec, "num_classes": 4}) == 4  # a record that states it wins
    dn = {"spec": {"dataset": "domainnet", "dataset_params": {"classes": "bird,zebra,tiger"}}}
    assert num_classes(dn) == 3
    assert num_classes({"spec": {"dataset": "domainnet", "dataset_params": {"classes": "all"}}}) == 345
    assert num_classes({"spec": {"dataset": "my-data", "dataset_params": {}}}) is None


def test_unknown_chance_is_said_in_the_legend():
    recs = [_with_test_size(_record(s, k, "street", seed, a)) for s, k, a in (("ecos", "private", 0.11),
                                                                            ("random", "client-free", 0.1))
            for seed in (0, 1)]
    for r in recs:
        r["spec"]["dataset"] = "my-data"
    (board,) = build_boards(recs)
    assert board.chance is None and not board.at_chance
    assert "1 / number of classes = unknown" in board_markdown(board)


def test_html_groups_the_four_axes_and_freezes_the_sampler_column(tmp_path):
    board = _board({"ecos": ("private", [0.80, 0.82, 0.81]), "random": ("client-free", [0.10, 0.11, 0.09])})
    page = board_html(board)
    groups = re.findall(r'<th class="group axis-start" colspan="(\d+)">([^<]*)</th>', page)
    assert [title for _, title in groups] == [title for _, title in GROUPS]
    assert "device FLOPs" in groups[2][1] and "bytes (B" in groups[1][1]
    # short headers under the groups, the full name as tooltip; every sortable header knows its column
    assert '<th class="axis-start" data-col="7" title="select bytes up">select ↑</th>' in page
    assert '<th data-col="13" title="total device FLOPs">total</th>' in page
    assert '<th class="axis-start" rowspan="2" data-col="16" title="runs">runs</th>' in page
    assert ">29.8 G<" not in page and ">10<" in page  # units in the group header, not in the cells
    assert '<td class="sampler">random<span class="kind">client-free</span></td>' in page
    assert f"0.100 {CHANCE_MARK}" in page and 'class="chance"' in page
    write_leaderboard([_with_test_size(_record("random", "client-free", "street", s, 0.5)) for s in (0, 1)],
                      tmp_path)
    css = (tmp_path / "index.html").read_text()
    assert "position: sticky; left: 0" in css and "Short headers: " in css


def test_grouped_columns_keep_each_axis_together():
    cols = ["acc street", "acc average", "in-domain share", "select bytes up", "select device FLOPs", "ε select",
            "phi FLOPs/image", "phi install bytes", "runs"]
    assert grouped(cols) == ["acc street", "acc average", "in-domain share", "select bytes up", "phi install bytes",
                             "select device FLOPs", "phi FLOPs/image", "ε select", "runs"]
