"""Grid expansion, resumable sweeps, failure records, the Dask executor, and leaderboard aggregation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxybench import ProxybenchError, RunSpec
from proxybench.cli import main
from proxybench.results.leaderboard import build_boards, select_code
from proxybench.results.render import board_html, board_markdown, write_leaderboard
from proxybench.results.store import read_records
from proxybench.run.executors import LocalExecutor
from proxybench.run.grid import expand, load_grid, restrict, tomllib
from proxybench.run.sweep import is_done, run_sweep

from .conftest import TINY_DATASET, TINY_RUN

TINY_GRID = {
    "datasets": [{"name": "digits", "params": TINY_DATASET}],
    "client_domains": ["street"],
    "backbones": [{"backbone": TINY_RUN["backbone"], "weights": TINY_RUN["weights"]}],
    "samplers": ["random", {"name": "ecos", "params": {"R": 10}}],
    "tasks": [{"name": "outsource", "params": {"epochs": 1}}],
    "budgets": [TINY_RUN["budget"]],
    "seeds": [0],
}


def test_grid_expands_every_axis_and_variant():
    grid = {**TINY_GRID, "client_domains": ["street", "photo"], "seeds": [0, 1],
            "samplers": ["random", {"name": "ecos", "params": {"R": 10, "sigma": [1.0, 5.0]}}]}
    specs = expand(grid)
    assert len(specs) == 2 * 2 * 3  # domains x seeds x (random + 2 ecos variants)
    assert len({s.run_id for s in specs}) == len(specs)
    ecos = [s for s in specs if s.sampler == "ecos"]
    assert {s.sampler_params["sigma"] for s in ecos} == {1.0, 5.0}
    assert all(s.sampler_params["R"] == 10 for s in ecos)
    assert [s.seed for s in specs] == sorted(s.seed for s in specs)  # seeds vary slowest
    # a variant equal to the defaults is the same run, once
    dup = {**TINY_GRID, "samplers": ["random", "random", {"name": "ecos", "params": {"R": [10, 10]}}]}
    assert len(expand(dup)) == 2


def test_grid_all_and_errors():
    specs = expand({**TINY_GRID, "client_domains": "all", "samplers": ["random"]})
    assert {s.client_domain for s in specs} == {"handwritten", "printed", "street", "photo", "thick"}
    with pytest.raises(ProxybenchError, match="unknown keys"):
        expand({**TINY_GRID, "sampler": ["random"]})
    with pytest.raises(ProxybenchError, match="rando"):
        expand({**TINY_GRID, "samplers": ["rando"]})


def test_grid_leaves_out_samplers_a_task_cannot_serve():
    """random-balanced reads pool labels: it runs under compress (labeled pool), not under outsource."""
    left_out: dict = {}
    grid = {**TINY_GRID, "samplers": ["random", "random-balanced"],
            "tasks": [{"name": "outsource", "params": {"epochs": 1}}, {"name": "compress", "params": {"epochs": 1}}]}
    specs = expand(grid, left_out=left_out)
    assert sorted((s.sampler, s.task) for s in specs) == [
        ("random", "compress"), ("random", "outsource"), ("random-balanced", "compress")]
    assert list(left_out) == [("random-balanced", "outsource")]
    assert "keeps the pool unlabeled" in left_out[("random-balanced", "outsource")]


def test_where_restricts_a_grid_and_names_bad_fields():
    specs = expand({**TINY_GRID, "client_domains": ["street", "photo"], "seeds": [0, 1]})
    part = restrict(specs, ["seed=1", "client_domain=photo,street", "sampler=ecos"])
    assert [(s.seed, s.sampler) for s in part] == [(1, "ecos"), (1, "ecos")]
    assert {s.run_id for s in part} <= {s.run_id for s in specs}
    with pytest.raises(ProxybenchError, match="'colour=red'.*client_domain"):
        restrict(specs, ["colour=red"])
    with pytest.raises(ProxybenchError, match=r"task=outsorce: not in this grid.*\['outsource'\]"):
        restrict(specs, ["task=outsorce"])


def test_shipped_grids_parse():
    root = Path(__file__).parent.parent / "leaderboards"
    smoke = load_grid(root / "smoke.toml")
    assert smoke.leaderboard_dir == root / "smoke" and len(smoke.specs) > 10
    for name in ("default", "budget", "privacy"):  # parse only: "all" domains needs the full dataset
        assert "samplers" in tomllib.loads((root / f"{name}.toml").read_text())


def _write_grid(tmp_path: Path, grid: dict) -> Path:
    def value(v):
        return json.dumps(v) if not isinstance(v, dict) else "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"

    def entry(v):
        return value(v) if not isinstance(v, list) else "[" + ", ".join(value(x) for x in v) + "]"

    path = tmp_path / "tiny.toml"
    path.write_text("".join(f"{k} = {entry(v)}\n" for k, v in grid.items()))
    return path


def test_sweep_resumes_after_a_kill_and_records_failures(tmp_path):
    results = tmp_path / "results"
    specs = expand({**TINY_GRID, "budgets": [TINY_RUN["budget"], 5000]})  # 5000 > pool: those runs fail
    ok_specs = [s for s in specs if s.budget != 5000]
    # a killed sweep: one run finished, another left only its temporary file
    run_sweep(ok_specs[:1], results, LocalExecutor())
    killed = ok_specs[1]
    (results / f".{killed.run_id}.json.abc123.tmp").write_text('{"half": ')
    assert not is_done(results, killed)

    state = run_sweep(specs, results, LocalExecutor())
    assert (state.total, state.skipped, state.ok, state.failed) == (4, 1, 1, 2)
    records = {r["run_id"]: r for r in read_records(results)}
    assert len(records) == 4  # nothing duplicated, the temporary file is not a record
    for s in specs:
        assert records[s.run_id]["status"] == ("failed" if s.budget == 5000 else "ok")
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert all("budget 5000" in r["error"] and r["traceback"] for r in failed)

    again = run_sweep(specs, results, LocalExecutor(), fail_fast=True)
    assert (again.skipped, again.ok, again.failed) == (2, 0, 1)  # failed runs are retried; fail-fast stops


def test_cli_sweep_writes_leaderboard_under_results_never_beside_grid(tmp_path, capsys):
    grid = _write_grid(tmp_path, TINY_GRID)
    assert main(["sweep", str(grid), "--results-dir", str(tmp_path / "res")]) == 0
    assert not (tmp_path / "tiny").exists()  # a committed leaderboard beside a grid is never overwritten by default
    board = tmp_path / "res" / "leaderboards" / "tiny"
    assert (board / "digits-outsource.html").exists()
    # the records kept beside the tables regenerate them in place, byte for byte
    tables = {p.name: p.read_bytes() for p in board.iterdir()}
    assert "records.jsonl.gz" in tables
    assert main(["leaderboard", "--results", str(board / "records.jsonl.gz")]) == 0
    assert {p.name: p.read_bytes() for p in board.iterdir()} == tables
    assert main(["sweep", str(grid), "--results-dir", str(tmp_path / "res"), "--out", str(tmp_path / "tiny")]) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "tiny").iterdir()} == tables  # all runs reused
    assert main(["leaderboard", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "lb")]) == 0
    assert "random" in (tmp_path / "lb" / "README.md").read_text()
    assert main(["report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "accuracy_vs_bytes.png").stat().st_size > 1000
    assert "accuracy_vs_bytes.png" in (tmp_path / "rep" / "index.html").read_text()


def _record(sampler: str, kind: str, domain: str, seed: int, acc: float, params: dict | None = None, **extra) -> dict:
    spec = RunSpec(sampler=sampler, client_domain=domain, seed=seed, sampler_params=params or {}, **TINY_RUN).resolved()
    eps = extra.get("epsilon", 0.0)
    return {
        "schema": 1, "run_id": f"{sampler}-{domain}-{seed}-{acc}", "proxybench_version": extra.get("version", "0.1.0"),
        "spec": spec.to_dict(), "status": "ok", "error": None, "sampler_kind": kind,
        "metrics": {"accuracy": acc}, "selection": {"in_domain_share": extra.get("share", 0.5), "pool_in_domain_share": 0.1},
        "ledger": {"bytes_up": 100, "bytes_down": 200, "by_phase": {"select": {"up": extra.get("up", 0), "down": 0}}},
        "device": {"flops": 10}, "privacy": {"epsilon": eps, "epsilon_select": eps, "delta": 1e-5},
        "timings": {}, "environment": {}, **({"code": extra["code"]} if "code" in extra else {}),
    }


def test_leaderboard_aggregates_marks_and_highlights():
    recs = []
    for seed, (r, e, o, u) in enumerate([(0.5, 0.7, 0.9, 0.95), (0.6, 0.8, 0.9, 0.85)]):
        recs += [_record("random", "client-free", "street", seed, r),
                 _record("random", "client-free", "photo", seed, r - 0.2),
                 _record("ecos", "private", "street", seed, e, {"sigma": 20.0}, epsilon=0.3, up=400, share=0.8),
                 _record("ecos", "private", "photo", seed, e - 0.2, {"sigma": 20.0}, epsilon=0.3, up=400, share=0.8),
                 _record("oracle-domain", "oracle", "street", seed, o, share=1.0),
                 _record("oracle-domain", "oracle", "photo", seed, o, share=1.0),
                 _record("upload-features", "privacy-free", "street", seed, u, epsilon=None, up=9999, share=0.9),
                 _record("upload-features", "privacy-free", "photo", seed, u, epsilon=None, up=9999, share=0.9)]
    (board,) = build_boards(recs)
    t = board.table
    assert list(board.domains) == ["photo", "street"]
    ecos = "ecos (sigma=20.0)"  # only the parameter that differs from the defaults
    assert t.at[ecos, "acc street"] == pytest.approx(0.75) and t.at[ecos, "acc street std"] == pytest.approx(0.0707, abs=1e-3)
    assert (t.at[ecos, "acc street lo"], t.at[ecos, "acc street hi"]) == pytest.approx((0.7, 0.8))
    assert t.at["random", "acc average"] == pytest.approx(0.45)  # per-seed domain means 0.4 and 0.5
    assert t.at["random", "acc average std"] == pytest.approx(0.0707, abs=1e-3)
    # paired against random: ecos is 0.2 better in every cell, so the interval is that point
    assert t.at[ecos, "Δ acc vs random"] == pytest.approx(0.2) and t.at[ecos, "Δ acc vs random lo"] == pytest.approx(0.2)
    assert board.references == {"Δ acc vs random": "random", "Δ acc vs best private": ecos}
    assert "oracle-domain †" in t.index and "upload-features ‡" in t.index
    # the best deployable (private or client-free) value wins, not the oracle's or the privacy-free one's
    assert board.best["acc street"] == {ecos} and board.best["in-domain share"] == {ecos}
    assert board.best["select bytes up"] == {"random"} and board.best["ε select"] == {"random"}
    md = board_markdown(board)
    assert "**0.750 [0.700, 0.800]**" in md and "| upload-features ‡ | privacy-free |" in md and "none" in md
    assert "| +0.200 [+0.200, +0.200] | ref |" in md
    html = board_html(board)
    assert 'class="best"' in html and '<tr class="oracle">' in html


def test_leaderboard_refuses_mixed_versions(tmp_path):
    recs = [_record("random", "client-free", "street", 0, 0.5),
            _record("random", "client-free", "street", 1, 0.6, version="0.0.9")]
    with pytest.raises(ProxybenchError, match="mix code"):
        select_code(recs)
    assert len(select_code(recs, version="0.1.0")) == 1
    written = write_leaderboard(select_code(recs, version="0.1.0"), tmp_path)
    assert {p.name for p in written} >= {"digits-autolabel.md", "digits-autolabel.csv", "digits-autolabel.html", "index.html"}
