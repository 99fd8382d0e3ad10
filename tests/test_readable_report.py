"""Figures and the audit table read at a glance: the selection's costs on log axes with a place for zero, fixed
colours, a header that names the code and the records, an audit table of 100 columns with every column explained."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console

from proxybench.audit.report import AuditReport
from proxybench.cli.audit import render
from proxybench.privacy.attack import AuditResult
from proxybench.results.audit_columns import AUDIT_COLUMNS, AUDIT_COLUMNS_HELP, AUDIT_TABLE_WIDTH
from proxybench.results.colours import BUILTIN, OTHERS, sampler_colour
from proxybench.results.provenance import code_counts
from proxybench.results.report import report_frame, write_report
from proxybench.results.store import read_records
from proxybench.results.zero_log import zero_log_axis

from .test_sweep import _record

ROOT = Path(__file__).parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mini" / "records.jsonl.gz"


def _costed(sampler: str, kind: str, seed: int, select_bytes: int, flops: float, acc: float) -> dict:
    r = _record(sampler, kind, "street", seed, acc)
    r["ledger"] = {"bytes_up": 100 + select_bytes, "bytes_down": 981_054, "by_phase": {
        "select": {"up": select_bytes // 10, "down": select_bytes - select_bytes // 10}, "model": {"up": 59, "down": 981_054}}}
    r["device"] = {"flops": 1e10 + flops, "by_phase": {"select": {"flops": flops}} if flops else {}}
    return r


def test_every_sampler_keeps_one_colour_whatever_is_installed_or_recorded():
    assert sampler_colour("ecos") == BUILTIN["ecos"] and len(set(BUILTIN.values())) == len(BUILTIN)
    third = sampler_colour("my-sampler")
    assert third in OTHERS and third == sampler_colour("my-sampler") and third not in BUILTIN.values()
    recs = [_costed(s, k, seed, b, f, a) for s, k, b, f, a in (("random", "client-free", 0, 0, 0.5),
                                                              ("ecos", "private", 22_941, 3e10, 0.8))
            for seed in (0, 1)]
    forward, backward = report_frame(recs), report_frame(list(reversed(recs)))
    assert dict(zip(forward.sampler, forward.colour, strict=True)) == dict(zip(backward.sampler, backward.colour, strict=True))
    assert forward.set_index("sampler").colour.to_dict() == {"random": BUILTIN["random"], "ecos": BUILTIN["ecos"]}


def test_zero_has_its_own_tick_left_of_the_log_range():
    fig, ax = plt.subplots()
    scale = zero_log_axis(ax, np.array([0.0, 22_941.0, 1.34e6, math.nan]), "B")
    assert scale.zero_at is not None and scale.zero_at < scale.edge < 22_941
    assert scale.position(np.array([0.0, 500.0])).tolist() == [scale.zero_at, 500.0]
    labels = [ax.xaxis.get_major_formatter()(t, i) for i, t in enumerate(ax.get_xticks())]
    assert labels[0] == "0" and any("k" in label for label in labels[1:])
    no_zero = zero_log_axis(ax, np.array([10.0, 1000.0]), "B")
    assert no_zero.zero_at is None
    plt.close(fig)


def test_report_plots_the_selections_costs_and_names_code_and_records(tmp_path):
    recs = [_costed(s, k, seed, b, f, a) for s, k, b, f, a in (("random", "client-free", 0, 0, 0.5),
                                                              ("ecos", "private", 22_941, 3e10, 0.8),
                                                              ("upload-features", "privacy-free", 1_340_000, 3e10, 0.9))
            for seed in (0, 1)]
    frame = report_frame(recs)
    assert sorted(frame.select_bytes.unique()) == [0, 22_941, 1_340_000]  # not the 981 kB every run downloads
    figures = {f.file: f for f in write_report(recs, tmp_path, sources=["results/a", "b.jsonl.gz"])}
    assert "phase select" in figures["accuracy_vs_bytes.png"].caption and '"0" tick' in figures["accuracy_vs_bytes.png"].caption
    assert "during selection" in figures["flops_vs_accuracy.png"].caption
    page = (tmp_path / "index.html").read_text()
    assert "Made from 6 records in results/a, b.jsonl.gz." in page
    assert "proxybench 0.1.0 (made before code identity: no source hash or commit): 6 runs" in page


def test_report_header_counts_each_code_variant():
    records = read_records(FIXTURE)
    (variant, n), = code_counts(records)
    assert n == len(records) and variant.startswith("proxybench 0.2.0 (source ") and "commit " in variant
    other = [{**records[0], "code": {**records[0]["code"], "git": None}}]
    assert [c for _, c in code_counts(records + other)] == [len(records), 1]


def _result(plugin: str, kind: str, control: str | None = None, **kw) -> AuditResult:
    base = dict(mechanism=f"{plugin} mech", plugin=plugin, kind=kind, control=control, sigma=5.0, sensitivity=1.0,
                neighbour_distance=1.0, adjacency="replace_one" if control == "replace-one" else "add_remove",
                delta=1e-5, confidence=0.95, trials=100_000, threshold_selection="split-half", epsilon_pld=0.726,
                epsilon_rdp=0.795, auroc=0.5616, tpr_at_fpr_1e_3=0.0035, eps_lb=0.364, eps_lb_gdp=0.986,
                mu_lb_gdp=0.2647, tightness=0.5, tightness_gdp=1.36, flagged=control is not None, seconds=0.1)
    return AuditResult(**{**base, **kw})


def test_audit_table_fits_100_columns_and_every_column_is_explained():
    report = AuditReport([_result("ecos", "sampler"), _result("ecos", "sampler", "half-noise"),
                          _result("dp-mean-rounds", "sampler", "replace-one", flagged=False),
                          _result("autolabel", "task", flagged=True),
                          _result("ecos", "sampler", sigma=math.nan, epsilon_rdp=None, description="black box: 1 request")])
    out = io.StringIO()
    render(report, Console(file=out, width=AUDIT_TABLE_WIDTH, force_terminal=False))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    for needed in ("privacy audit", "[half-noise]", "[replace-one]", "black box", "VIOLATION", "CONTROL MISSED",
                   "control flagged", "0.986 (0.265)", "(1.36)", "100,000", "delta 1e-05"):
        assert needed in text, needed
    assert max(len(line) for line in AUDIT_COLUMNS_HELP.splitlines()) <= 100
    for first, second in AUDIT_COLUMNS:
        assert f"\n  {first} " in AUDIT_COLUMNS_HELP and (not second or f"\n  {second} " in AUDIT_COLUMNS_HELP)
    assert AUDIT_COLUMNS_HELP in (ROOT / "docs" / "results.md").read_text(), "docs/results.md must show the same text"
