"""Results people can cite: code identity, reuse by code, committed records, intervals, units, load_records, compare."""

from __future__ import annotations

import copy
import gzip
import io
import os
from pathlib import Path

import pytest
from rich.console import Console

import proxybench
from proxybench import ProxybenchError, RunSpec
from proxybench.cli import main
from proxybench.results.compare import compare_records
from proxybench.results.frame import COLUMNS
from proxybench.results.identity import code_differences, code_id, code_identity, source_hash
from proxybench.results.leaderboard import AUDIT_COLUMN, build_boards, select_code
from proxybench.results.render import board_csv, board_markdown
from proxybench.results.stats import bootstrap_mean, paired
from proxybench.results.store import ensure_writable_dir, read_records, records_bytes, write_record, write_records_file
from proxybench.results.units import human
from proxybench.run.executors import Outcome
from proxybench.run.resolved import ResolvedRun
from proxybench.run.sweep import reuse_verdict, run_sweep

from .conftest import TINY_RUN
from .test_sweep import _record

FIXTURE = Path(__file__).parent / "fixtures" / "mini" / "records.jsonl.gz"


# --- code identity ---------------------------------------------------------------------------------------------------

def test_code_identity_names_version_commit_and_sources():
    code = code_identity()
    assert code["proxybench_version"] == proxybench.__version__ == "0.2.0"
    (core,) = [d for d in code["distributions"] if d["name"] == "proxybench"]
    assert core["version"] == "0.2.0" and len(core["source_hash"]) == 16
    if code["git"] is not None:  # run from a checkout
        assert len(code["git"]["commit"]) == 40 and isinstance(code["git"]["dirty"], bool)
    plugins = ResolvedRun.of(RunSpec(sampler="ecos", **TINY_RUN)).plugin_classes.values()
    assert [d["name"] for d in code_identity(plugins)["distributions"]] == ["proxybench"]  # built-ins ship with it
    assert code_differences(code) == [] and code_id(code) == code_id(copy.deepcopy(code))


def test_source_hash_covers_the_plugins_folder_and_follows_edits(tmp_path, monkeypatch):
    from proxybench.results import identity

    names = [n for n, _ in identity.source_files("proxybench")]
    assert "proxybench/plugins/samplers/ecos.py" in names and "proxybench/results/identity.py" in names
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(identity, "_top_level_names", lambda: {"fake-dist": ("fakepkg",)})
    before = source_hash("fake-dist")
    assert before == source_hash("fake-dist")
    (pkg / "__init__.py").write_text("X = 2\n")
    assert source_hash("fake-dist") != before
    assert source_hash("not-a-dist") is None


def test_code_differences_say_what_changed():
    code = code_identity()
    other = copy.deepcopy(code)
    other["distributions"][0]["source_hash"] = "ffffffffffffffff"
    assert code_differences(other) == ["proxybench source changed"]
    assert code_differences(other, by="version") == []
    other["distributions"].append({"name": "no-such-plugin-dist", "version": "1.0", "source_hash": "ab"})
    assert "no-such-plugin-dist is not installed" in code_differences(other)
    assert "no code identity" in code_differences(None)[0]


# --- sweep reuse -----------------------------------------------------------------------------------------------------

def _current(spec: RunSpec, acc: float = 0.5, source: str | None = None) -> dict:
    """A record of this spec as the current code would make it (or another proxybench source)."""
    r = _record(spec.sampler, "client-free", spec.client_domain, spec.seed, acc, version=proxybench.__version__)
    r["spec"], r["run_id"] = spec.to_dict(), spec.run_id
    r["code"] = code_identity()
    if source is not None:
        r["code"] = copy.deepcopy(r["code"])
        r["code"]["distributions"][0]["source_hash"] = source
    return r


class FakeExecutor:
    """Stands in for a real executor: 'runs' a spec by writing a current-code record."""

    slots = 1

    def __init__(self) -> None:
        self.ran: list[str] = []

    def map(self, specs, results_dir, stop_on_failure=False):
        for s in specs:
            self.ran.append(s.run_id)
            yield Outcome(s.run_id, "ok", None, 0.0, 0.5, _current(s))


def test_reuse_verdicts_per_mode():
    spec = RunSpec(sampler="random", **TINY_RUN).resolved()
    same, other = _current(spec), _current(spec, source="ffffffffffffffff")
    assert all(reuse_verdict(same, m) is None for m in ("same-code", "same-version", "any"))
    assert reuse_verdict(other, "same-code") == "proxybench source changed"
    assert reuse_verdict(other, "same-version") is None and reuse_verdict(other, "any") is None
    old = {**same, "proxybench_version": "0.1.0"}
    assert "made by proxybench 0.1.0" in reuse_verdict(old, "same-version")
    assert reuse_verdict({**same, "status": "failed"}) == "failed before" and reuse_verdict(None) == "not run yet"
    with pytest.raises(ProxybenchError, match="'newest'.*same-code"):
        reuse_verdict(same, "newest")


@pytest.mark.parametrize("reuse, reran", [("same-code", 2), ("any", 1)])
def test_sweep_reruns_records_of_other_code_unless_asked(tmp_path, reuse, reran):
    specs = [RunSpec(sampler="random", seed=s, **TINY_RUN).resolved() for s in (0, 1, 2)]
    write_record(_current(specs[0]), tmp_path)
    write_record(_current(specs[1], acc=0.9, source="ffffffffffffffff"), tmp_path)  # same spec, other code
    out = io.StringIO()
    executor = FakeExecutor()
    state = run_sweep(specs, tmp_path, executor, console=Console(file=out, width=200), reuse=reuse)
    assert len(executor.ran) == reran and state.skipped == 3 - reran
    line = out.getvalue().splitlines()[0]
    if reuse == "same-code":
        assert line == "reuse same-code: 1 of 3 runs already recorded; running 2: 1 not run yet, 1 proxybench source changed"
        assert specs[1].run_id in executor.ran
    else:
        assert line == "reuse any: 2 of 3 runs already recorded; running 1: 1 not run yet"


def test_ensure_writable_dir(tmp_path):
    assert ensure_writable_dir(tmp_path / "a" / "b").is_dir()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ProxybenchError, match=f"results folder {file} is a file"):
        ensure_writable_dir(file)
    with pytest.raises(ProxybenchError, match="cannot be created"):
        ensure_writable_dir(file / "sub")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ProxybenchError, match=f"results folder {locked} is not writable"):
            ensure_writable_dir(locked)


# --- the leaderboard and code ----------------------------------------------------------------------------------------

def _two_codes() -> list[dict]:
    spec = RunSpec(sampler="random", **TINY_RUN).resolved()
    return [_current(spec, 0.5), {**_current(spec, 0.9, source="ffffffffffffffff"), "run_id": spec.run_id + "-old"}]


def test_leaderboard_refuses_two_codes_of_one_spec_unless_asked(tmp_path):
    records = _two_codes()
    listing = r"proxybench source [0-9a-f]{16} \(1 runs\), ffffffffffffffff \(1 runs\)"
    with pytest.raises(ProxybenchError, match=rf"mix code \({listing}\)"):
        select_code(records)
    assert len(select_code(records, code="ffff")) == 1
    assert len(select_code(records, mix_code=True)) == 2
    write_records_file(records, tmp_path / "r.jsonl.gz")
    assert main(["leaderboard", "--results", str(tmp_path / "r.jsonl.gz"), "--out", str(tmp_path / "no")]) == 2
    assert main(["leaderboard", "--results", str(tmp_path / "r.jsonl.gz"), "--out", str(tmp_path / "lb"), "--mix-code"]) == 0
    header = (tmp_path / "lb" / "README.md").read_text().splitlines()[2]
    assert header.startswith("2 runs; ") and "ffffffffffffffff" in header and header.count(": 1 runs") == 2


def test_two_plugin_distributions_are_not_a_conflict():
    a, b = _two_codes()
    b["code"] = copy.deepcopy(a["code"])
    b["code"]["distributions"].append({"name": "third-party", "version": "1.0", "source_hash": "aa"})
    assert len(select_code([a, b])) == 2


def test_leaderboard_runs_no_audit_and_reads_a_report(monkeypatch):
    import proxybench.audit.declared

    monkeypatch.setattr(proxybench.audit.declared, "audit_plugin", lambda *a, **k: pytest.fail("the leaderboard ran an audit"))
    recs = [_record("ecos", "private", d, s, 0.7, epsilon=0.7) for d in ("street", "photo") for s in (0, 1)]
    (board,) = build_boards(recs)
    assert AUDIT_COLUMN not in board.table.columns
    report = {"kind": "privacy-audit", "results": [
        {"kind": "sampler", "plugin": "ecos", "control": None, "eps_lb_gdp": 0.61},
        {"kind": "sampler", "plugin": "ecos", "control": "half-noise", "eps_lb_gdp": 3.0}]}
    (board,) = build_boards(recs, audit=report)
    assert board.table[AUDIT_COLUMN].tolist() == [0.61]


def test_select_flops_column_and_units():
    recs = [_record("random", "client-free", "street", s, 0.5) for s in (0, 1)]
    for r in recs:
        r["ledger"]["bytes_up"] = 9_208_074
        r["device"] = {"flops": 4.3e9, "by_phase": {"select": {"flops": 1.2e6}}}
    (board,) = build_boards(recs)
    md = board_markdown(board)
    assert "| **9.21 MB** |" in md and "| **1.2 MFLOP** | **4.3 GFLOP** |" in md
    csv = board_csv(board)
    assert csv["total bytes up"].tolist() == [9_208_074] and csv["select device FLOPs"].tolist() == [1.2e6]
    assert human(999_700, "B") == "1 MB" and human(0, "FLOP") == "0 FLOP" and human(452, "B") == "452 B"


# --- statistics ------------------------------------------------------------------------------------------------------

def test_bootstrap_is_seeded_and_stratified():
    a = bootstrap_mean([0.5, 0.6, 0.7])
    assert a == bootstrap_mean([0.5, 0.6, 0.7]) and a.lo < a.mean < a.hi and a.n == 3
    single = bootstrap_mean([0.5])
    assert single.mean == 0.5 and not single.defined
    # two fixed domains far apart, tiny seed noise: stratified, the interval is the seed noise only
    values, domains = [0.30, 0.31, 0.32, 0.90, 0.91, 0.92], ["a"] * 3 + ["b"] * 3
    strat = bootstrap_mean(values, domains)
    assert strat.hi - strat.lo < 0.02 < bootstrap_mean(values).hi - bootstrap_mean(values).lo


def test_paired_difference_marks_ties():
    ref = {("a", 0): 0.50, ("a", 1): 0.60, ("b", 0): 0.40, ("b", 1): 0.45}
    better = {k: v + 0.05 for k, v in ref.items()}
    noisy = {("a", 0): 0.52, ("a", 1): 0.58, ("b", 0): 0.41, ("b", 1): 0.44}
    assert paired(better, ref).significant and paired(better, ref).diff.mean == pytest.approx(0.05)
    assert paired(noisy, ref).tie


# --- committed records and the analysis API --------------------------------------------------------------------------

def test_records_file_is_sorted_compact_and_byte_reproducible(tmp_path):
    records = read_records(FIXTURE)
    data = records_bytes(records)
    assert data == records_bytes(list(reversed(records)))
    assert gzip.decompress(data).decode().splitlines()[0].startswith('{"code":')
    assert data[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    path = write_records_file(records, tmp_path / "r.jsonl.gz")
    assert path.read_bytes() == data == FIXTURE.read_bytes()
    plain = write_records_file(records, tmp_path / "r.jsonl")
    assert read_records(plain) == sorted(records, key=lambda r: r["run_id"])
    with pytest.raises(ProxybenchError, match=r"\.jsonl or \.jsonl\.gz"):
        write_records_file(records, tmp_path / "r.json")
    with pytest.raises(ProxybenchError, match="does not exist"):
        read_records(tmp_path / "missing.jsonl.gz")


def test_load_records_flattens_one_row_per_run(tmp_path):
    records = read_records(FIXTURE)
    for r in records[:4]:
        write_record(r, tmp_path)
    frame = proxybench.load_records(FIXTURE)
    assert "load_records" in proxybench.__all__
    assert len(frame) == len(records) and frame.run_id.is_unique
    assert set(COLUMNS) - {"metric.NAME"} <= set(frame.columns)
    assert frame.select_device_flops.notna().all() and frame.code_id.nunique() == 1
    assert len(proxybench.load_records(tmp_path)) == 4


def test_committed_leaderboards_regenerate_byte_for_byte(tmp_path):
    """Every leaderboard with a records file (and the test fixture) regenerates its tables with no diff."""
    root = Path(__file__).parent.parent
    files = sorted(root.glob("leaderboards/*/records.jsonl.gz")) + [FIXTURE]
    assert FIXTURE.exists() and len(files) >= 1
    for records in files:
        committed = records.parent
        out = tmp_path / committed.name  # the title comes from the folder's name
        assert main(["leaderboard", "--results", str(records), "--out", str(out)]) == 0
        produced = sorted(p.name for p in out.iterdir())
        assert produced and set(produced) <= {p.name for p in committed.iterdir()}, committed
        for name in produced:
            assert (out / name).read_bytes() == (committed / name).read_bytes(), f"{committed / name} differs"


def test_tables_name_variants_from_the_records_not_the_installed_plugins(monkeypatch):
    """A record keeps its non-default parameters; one written before that is read against the frozen defaults."""
    from proxybench.contract.registry import Registry
    from proxybench.results.variants import non_default_names, variant_label

    new = _record("ecos", "private", "street", 0, 0.7, {"sigma": 20.0}, epsilon=0.3)
    new["non_default"] = non_default_names(new["spec"])
    assert new["non_default"]["sampler"] == ["sigma"] and new["non_default"]["task"] == ["epochs", "k"]
    old = {k: v for k, v in new.items() if k != "non_default"}
    monkeypatch.setattr(Registry, "get", lambda *a: pytest.fail("a table asked the plugins installed"))
    assert variant_label(new) == variant_label(old) == "ecos (sigma=20.0)"
    (from_new,), (from_old,) = build_boards([new]), build_boards([old])
    assert "; task epochs=2, k=5; dataset distractors=80, test_per_domain=40, train_per_domain=120;" in from_new.caption()
    assert "; task epochs=2, k=5; dataset distractors=80" in from_old.caption()  # and any parameter added since
    # The record's word wins: a default changed since still names the run as it ran.
    moved = {**new, "non_default": {**new["non_default"], "sampler": ["R", "sigma"]}}
    assert variant_label(moved) == "ecos (R=100, sigma=20.0)"
    # Older records: a plugin outside the frozen built-ins shows every parameter; a missing kind is the declared one.
    third = {**old, "spec": {**old["spec"], "sampler": "elsewhere", "sampler_params": {"b": 2, "a": 1}}}
    assert variant_label({**third, "sampler_kind": "privacy-free"}) == "elsewhere (a=1, b=2) ‡"
    raw = {k: v for k, v in old.items() if k != "sampler_kind"}
    assert variant_label({**raw, "spec": {**old["spec"], "sampler": "upload-raw", "sampler_params": {}}}) == "upload-raw ‡"


def test_report_reads_a_records_file_reproducibly(tmp_path):
    for out in ("a", "b"):
        assert main(["report", "--results", str(FIXTURE), "--out", str(tmp_path / out)]) == 0
    for p in (tmp_path / "a").iterdir():
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes(), p.name


def test_report_joins_several_sources_counting_a_shared_run_once(tmp_path, capsys):
    records = read_records(FIXTURE)
    write_records_file(records[:20], tmp_path / "a.jsonl.gz")
    write_records_file(records[10:], tmp_path / "b.jsonl.gz")  # ten runs in both, as boards share runs
    out = tmp_path / "joined"
    assert main(["report", "--results", str(tmp_path / "a.jsonl.gz"), "--results", str(tmp_path / "b.jsonl.gz"),
                 "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert f"Made from {len(records)} records in {tmp_path / 'a.jsonl.gz'}, {tmp_path / 'b.jsonl.gz'}." in page
    changed = copy.deepcopy(records[10])
    changed["metrics"]["accuracy"] += 0.1
    write_records_file([changed], tmp_path / "c.jsonl.gz")
    assert main(["report", "--results", str(tmp_path / "a.jsonl.gz"), "--results", str(tmp_path / "c.jsonl.gz"),
                 "--out", str(tmp_path / "refused")]) != 0
    assert f"run {changed['run_id']} is recorded differently in {tmp_path / 'a.jsonl.gz'} and {tmp_path / 'c.jsonl.gz'}" \
        in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_compare_lists_cells_that_moved(tmp_path, capsys):
    a = read_records(FIXTURE)
    assert compare_records(a, a).moved == []
    b = copy.deepcopy(a)
    for r in b:
        if r["spec"]["sampler"] == "dsir" and r["spec"]["client_domain"] == "street":
            r["metrics"]["accuracy"] -= 0.2
    result = compare_records(a, b)
    assert {(m.cell.row, m.cell.column) for m in result.moved} == {("dsir", "acc street"), ("dsir", "acc average")}
    assert result.moved[0].delta == pytest.approx(-0.2) and result.only_a == result.only_b == 0
    write_records_file(b, tmp_path / "b.jsonl.gz")
    assert main(["compare", str(FIXTURE), str(tmp_path / "b.jsonl.gz")]) == 1
    out = capsys.readouterr().out
    assert "2 of" in out and "dsir | acc street" in out
    assert main(["compare", str(FIXTURE), str(FIXTURE)]) == 0
