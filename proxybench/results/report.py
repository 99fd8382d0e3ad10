"""Figures (PNG, matplotlib Agg) and an index.html that embeds them.

Each figure answers one question of the benchmark: what accuracy a sampler buys per
byte of selection (with the Pareto front), how it scales with the budget, what privacy
costs, how much of the selection is in the client's domain, and what the selection costs
the device in FLOPs. Costs are the selection's (phase ``select``): every run downloads the
same task model, so the totals would put every sampler on one vertical line. A sampler
keeps one fixed colour in every figure of every report (results.colours); its parameter
variants differ by marker. The page's header names the records' paths and the code that
made them (results.provenance).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from ..util.errors import ProxybenchError  # noqa: E402
from .colours import sampler_colour  # noqa: E402
from .frame import records_frame  # noqa: E402
from .provenance import provenance  # noqa: E402
from .variants import MARKS, marked  # noqa: E402
from .zero_log import zero_log_axis  # noqa: E402

MARKERS = "osD^v<>Pp*hX"


@dataclass
class Figure:
    """One written figure and what it shows (its caption in index.html)."""

    file: str
    title: str
    caption: str


def report_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Ok runs with a variant label, its marker and its sampler's colour."""
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise ProxybenchError("no finished (status ok) runs to report")
    frame = records_frame(ok)
    frame["variant"] = [marked(v, k) for v, k in zip(frame.sampler_variant, frame.sampler_kind, strict=True)]
    frame["total_bytes"] = frame.bytes_up + frame.bytes_down
    # A ledger without a select phase booked nothing in it (None only where the record has no phases at all).
    frame["select_bytes"] = [_select_bytes(r) for r in ok]
    frame["delta"] = [r["spec"]["delta"] for r in ok]
    frame["colour"] = frame.sampler.map(sampler_colour)
    markers = {}
    for _, variants in frame.groupby("sampler").variant:
        for i, v in enumerate(sorted(variants.unique())):
            markers[v] = MARKERS[i % len(MARKERS)]
    frame["marker"] = frame.variant.map(markers)
    return frame


def _select_bytes(record: dict[str, Any]) -> float:
    """Bytes up + down of the selection phase; NaN where the ledger has no phases (records older than phases)."""
    phases = (record.get("ledger") or {}).get("by_phase")
    if phases is None:
        return float("nan")
    select = phases.get("select") or {}
    return float((select.get("up") or 0) + (select.get("down") or 0))


def summarize(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean and std over seeds of ``value`` averaged within each seed (over client domains), per group."""
    per_seed = frame.groupby([*by, "seed"])[value].mean()
    out = per_seed.groupby(by).agg(["mean", "std"]).reset_index()
    style = frame.groupby(by)[["colour", "marker", "sampler_kind", "sampler"]].first().reset_index()
    return out.merge(style, on=by)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both fewer bytes and higher accuracy, by increasing x."""
    order = np.lexsort((-y, x))
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.array(front, dtype=int)


def _panels(tasks: list[str], title: str) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks) + 2.5, 4.4), squeeze=False)
    fig.suptitle(title)
    for ax, task in zip(axes[0], tasks, strict=True):
        ax.set_title(f"task: {task}")
        ax.grid(True, alpha=0.3)
    return fig, list(axes[0])


def _scatter(ax: plt.Axes, row: pd.Series, x: float, y: float, yerr: float | None = None) -> None:
    hollow = row.sampler_kind == "oracle"
    ax.errorbar(x, y, yerr=None if pd.isna(yerr) else yerr, fmt=row.marker, color=row.colour, ms=7, capsize=2,
                mfc="none" if hollow else row.colour, label=row.variant, alpha=0.9)


def _finish(fig: plt.Figure, axes: list[plt.Axes], path: Path) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               title="sampler (" + ", ".join(f"{m} {k}" for k, m in MARKS.items()) + "; hollow = oracle)",
               title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})  # same records, same bytes
    plt.close(fig)


def _budgets(frame: pd.DataFrame) -> str:
    return "B = " + ", ".join(str(b) for b in sorted(frame.budget.unique()))


def _accuracy_with(part: pd.DataFrame, column: str) -> pd.DataFrame:
    """Accuracy mean/std per variant and budget, beside the mean of ``column`` (the x axis)."""
    pts = summarize(part, ["variant", "budget"], "accuracy")
    return pts.merge(part.groupby(["variant", "budget"])[column].mean().reset_index(), on=["variant", "budget"])


ZERO_NOTE = ("Log axis; a sampler with none (client-free samplers, the oracle) sits at the separate \"0\" tick, "
             "left of the dashed grey break line.")


def _left_out(frame: pd.DataFrame, column: str, what: str) -> str:
    missing = sorted(frame[frame[column].isna()].variant.unique())
    return f" Left out, made before records kept {what}: {', '.join(missing)}." if missing else ""


def fig_accuracy_vs_bytes(frame: pd.DataFrame, path: Path) -> str:
    tasks = sorted(frame.task.unique())
    fig, axes = _panels(tasks, f"Accuracy vs the selection's communication, {_budgets(frame)} "
                               "(mean over client domains and seeds)")
    for ax, task in zip(axes, tasks, strict=True):
        part = frame[frame.task == task]
        pts = _accuracy_with(part, "select_bytes").dropna(subset=["select_bytes"]).reset_index(drop=True)
        scale = zero_log_axis(ax, pts.select_bytes.to_numpy(float), "B")
        pts["x"] = scale.position(pts.select_bytes.to_numpy(float))
        for _, row in pts.iterrows():
            _scatter(ax, row, row.x, row["mean"], row["std"])
        real = pts[pts.sampler_kind != "oracle"].reset_index(drop=True)
        if len(real):
            front = pareto_front(real.select_bytes.to_numpy(float), real["mean"].to_numpy(float))
            ax.step(real.x[front], real["mean"][front], where="post", color="k", ls="--", lw=1,
                    label="Pareto front (oracles excluded)")
        ax.set_xlabel("bytes of the selection per run, up + down (phase select)")
        ax.set_ylabel("accuracy on device test set")
    _finish(fig, axes, path)
    return ("Each point is a sampler variant at one budget; error bars are the std over seeds. x: the bytes the "
            "selection exchanged with the device (phase select, up + down); the task's and the model's bytes are left "
            "out, as every run downloads the same task model. " + ZERO_NOTE + " The dashed black line is the Pareto "
            "front: no other sampler has both fewer bytes and higher accuracy." + _left_out(frame, "select_bytes", "phases"))


def runs_at_every_budget(part: pd.DataFrame) -> pd.DataFrame:
    """The rows whose (client domain, seed) was run at every budget of ``part``.

    A budget grid is often run for fewer domains or seeds than the main budget; averaging
    each budget over whatever it has would compare different domains along one line.
    """
    cells = [set(zip(g.client_domain, g.seed, strict=True)) for _, g in part.groupby("budget")]
    common = set.intersection(*cells) if cells else set()
    keep = [(d, s) in common for d, s in zip(part.client_domain, part.seed, strict=True)]
    return part[keep]


def fig_accuracy_vs_budget(frame: pd.DataFrame, path: Path) -> str | None:
    """One panel per task run at two or more budgets: a single budget is no curve."""
    runs_per_task = frame.groupby("task").budget.nunique()
    tasks = sorted(runs_per_task[runs_per_task > 1].index)
    if not tasks:
        return None
    single = sorted(runs_per_task[runs_per_task == 1].index)
    fig, axes = _panels(tasks, "Accuracy vs budget")
    for ax, task in zip(axes, tasks, strict=True):
        part = runs_at_every_budget(frame[frame.task == task])
        domains = ", ".join(sorted(part.client_domain.unique()))
        seeds = ", ".join(map(str, sorted(part.seed.unique())))
        ax.set_title(f"task: {task}\n(client domains {domains}; seeds {seeds})", fontsize=10)
        pts = summarize(part, ["variant", "budget"], "accuracy")
        for variant, line in pts.groupby("variant"):
            line = line.sort_values("budget")
            first = line.iloc[0]
            ax.plot(line.budget, line["mean"], marker=first.marker, color=first.colour, label=variant,
                    mfc="none" if first.sampler_kind == "oracle" else first.colour,
                    ls=":" if first.sampler_kind in MARKS else "-")
            ax.fill_between(line.budget, line["mean"] - line["std"].fillna(0), line["mean"] + line["std"].fillna(0),
                            color=first.colour, alpha=0.07)
        budgets = sorted(pts.budget.unique())
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("budget B (selected pool images, log scale)")
        ax.set_ylabel("accuracy on device test set")
    _finish(fig, axes, path)
    left_out = f" Not drawn, run at one budget only: {', '.join(single)}." if single else ""
    return ("Mean over the client domains and seeds that were run at every budget of the task (named in each "
            "panel); the band is the std over seeds. Dotted: oracle and privacy-free references." + left_out)


def fig_privacy_utility(frame: pd.DataFrame, path: Path) -> str | None:
    """Private samplers across their variants (sigma, target epsilon); references as horizontal lines."""
    private = frame[frame.sampler_kind == "private"]
    if private.empty:
        return None
    budget = int(private.budget.mode().iloc[0])
    frame = frame[frame.budget == budget]
    private = private[private.budget == budget]
    finite = private.epsilon_select.dropna()
    no_dp_x = (finite.max() if len(finite) else 1.0) * 10
    tasks = sorted(frame.task.unique())
    fig, axes = _panels(tasks, f"Privacy vs utility (budget {budget})")
    for ax, task in zip(axes, tasks, strict=True):
        part = private[private.task == task]
        pts = summarize(part, ["variant"], "accuracy")
        pts = pts.merge(part.groupby("variant").epsilon_select.mean().reset_index(), on="variant")
        pts["x"] = pts.epsilon_select.fillna(no_dp_x)
        for _, line in pts.groupby("sampler"):
            line = line.sort_values("x")
            ax.plot(line.x, line["mean"], color=line.colour.iloc[0], lw=1, alpha=0.6)
            for _, row in line.iterrows():
                _scatter(ax, row, row.x, row["mean"], row["std"])
        refs = summarize(frame[(frame.task == task) & (frame.sampler_kind != "private")], ["variant"], "accuracy")
        for _, row in refs.iterrows():
            ax.axhline(row["mean"], color=row.colour, ls="--" if row.sampler_kind in MARKS else ":", lw=1,
                       label=f"{row.variant} (ε {'0' if row.sampler_kind == 'client-free' else 'n/a'})")
        ax.set_xscale("log")
        ticks = [t for t in ax.get_xticks() if t < no_dp_x / 3]
        ax.set_xticks([*ticks, no_dp_x], [*(f"{t:g}" for t in ticks), "no DP"])
        ax.set_xlim(min(finite.min() / 2, no_dp_x / 100) if len(finite) else 0.01, no_dp_x * 2)
        deltas = ", ".join(f"{d:g}" for d in sorted(frame.delta.unique()))
        ax.set_xlabel(f"ε of the selection (δ = {deltas}, log scale)")
        ax.set_ylabel("accuracy on device test set")
    _finish(fig, axes, path)
    return "Private samplers across their parameter variants (lines join the variants of one sampler, ordered by ε). " \
           "Horizontal lines: samplers without a privacy trade-off (client-free ε = 0; oracle / privacy-free: no guarantee)."


def fig_in_domain_share(frame: pd.DataFrame, path: Path) -> str:
    pts = summarize(frame, ["variant"], "in_domain_share").sort_values("mean")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(pts) + 1.6))
    ax.barh(pts.variant, pts["mean"], xerr=pts["std"].fillna(0), color=list(pts.colour), capsize=2,
            hatch=["//" if k in MARKS else "" for k in pts.sampler_kind], edgecolor="white")
    base = frame.pool_in_domain_share.mean()
    ax.axvline(base, color="k", ls="--", lw=1, label=f"pool base rate ({base:.3f}): what random selection gets")
    ax.set_xlabel("share of the selection from the client's domain")
    ax.set_title(f"In-domain share of the selection, {_budgets(frame)} (mean over tasks and domains; std over seeds)")
    ax.set_xlim(0, 1.02)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})  # same records, same bytes
    plt.close(fig)
    return "Hatched bars: oracle and privacy-free references. The dashed line is the client domain's share of the pool."


def fig_flops_vs_accuracy(frame: pd.DataFrame, path: Path) -> str | None:
    if frame.select_device_flops.isna().all():
        return None  # records made before the meter kept phases
    tasks = sorted(frame.task.unique())
    fig, axes = _panels(tasks, f"The selection's device compute vs accuracy, {_budgets(frame)}")
    for ax, task in zip(axes, tasks, strict=True):
        part = frame[frame.task == task]
        pts = _accuracy_with(part, "select_device_flops").dropna(subset=["select_device_flops"]).reset_index(drop=True)
        scale = zero_log_axis(ax, pts.select_device_flops.to_numpy(float), "FLOP")
        for _, row in pts.iterrows():
            _scatter(ax, row, float(scale.position(row.select_device_flops)), row["mean"], row["std"])
        ax.set_xlabel("device FLOPs of the selection per run (phase select)")
        ax.set_ylabel("accuracy on device test set")
    _finish(fig, axes, path)
    return ("x: the FLOPs the device spent during selection (phi of its private images, the samplers' programs); the "
            "task's and the evaluation's FLOPs are left out, as they are about the same for every sampler. "
            + ZERO_NOTE + _left_out(frame, "select_device_flops", "phases"))


def fig_select_flops(frame: pd.DataFrame, path: Path) -> str | None:
    if frame.select_device_flops.isna().all():
        return None  # records made before the meter kept phases
    pts = summarize(frame, ["variant"], "select_device_flops").sort_values("mean")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(pts) + 1.6))
    ax.barh(pts.variant, pts["mean"] / 1e9, color=list(pts.colour), edgecolor="white",
            hatch=["//" if k in MARKS else "" for k in pts.sampler_kind])
    for y, value in enumerate(pts["mean"]):
        ax.annotate(f" {value / 1e9:.3g}", (value / 1e9, y), va="center", fontsize=7)
    ax.set_xlabel("device GFLOP of the selection alone (phi of the private set, the programs' own work)")
    ax.set_title(f"What selection costs the device, {_budgets(frame)} (mean over tasks, domains and seeds)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "Measured by the device runtime per phase: client-free samplers cost the device nothing during selection."


FIGURES: tuple[tuple[str, str, Callable[[pd.DataFrame, Path], str | None]], ...] = (
    ("accuracy_vs_bytes.png", "Accuracy vs the selection's bytes, with the Pareto front", fig_accuracy_vs_bytes),
    ("accuracy_vs_budget.png", "Accuracy vs budget", fig_accuracy_vs_budget),
    ("privacy_utility.png", "Privacy vs utility", fig_privacy_utility),
    ("in_domain_share.png", "In-domain share of the selection", fig_in_domain_share),
    ("flops_vs_accuracy.png", "The selection's device FLOPs vs accuracy", fig_flops_vs_accuracy),
    ("select_flops.png", "Device FLOPs of the selection", fig_select_flops),
)


def write_report(records: list[dict[str, Any]], out_dir: Path | str, title: str = "proxybench report",
                 sources: list[Path | str] | None = None) -> list[Figure]:
    """Write every figure that the records can support, and index.html embedding them.

    ``sources``: the paths the records were read from (results folders or records files), named
    in the page's header beside the code that made the runs.
    """
    frame = report_frame(records)
    main_budget = int(frame.budget.mode().iloc[0])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for file, fig_title, draw in FIGURES:
        # Costs and shares are compared at one budget; the budget figure has them all.
        at_budget = draw not in (fig_accuracy_vs_budget, fig_privacy_utility)
        caption = draw(frame[frame.budget == main_budget] if at_budget else frame, out / file)
        if caption is None:
            # A figure these records cannot support must not survive from an earlier report.
            (out / file).unlink(missing_ok=True)
            continue
        figures.append(Figure(file, f"{fig_title} (budget {main_budget})" if at_budget else fig_title, caption))
    summary = (f"{len(frame)} finished runs: tasks {', '.join(sorted(frame.task.unique()))}; "
               f"datasets {', '.join(sorted(frame.dataset.unique()))}; client domains "
               f"{', '.join(sorted(frame.client_domain.unique()))}; seeds {', '.join(map(str, sorted(frame.seed.unique())))}.")
    ok = [r for r in records if r.get("status") == "ok"]
    body = "".join(
        f"<h2>{html.escape(f.title)}</h2>\n<img src=\"{f.file}\" alt=\"{html.escape(f.title)}\" style=\"max-width:100%\">\n"
        f"<p>{html.escape(f.caption)}</p>\n" for f in figures
    )
    (out / "index.html").write_text(
        f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>\n"
        f"<body style=\"font-family: system-ui, sans-serif; margin: 2em; max-width: 1400px\">\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(provenance(ok, sources))}</p>\n"
        f"<p>{html.escape(summary)}</p>\n{body}</body></html>\n"
    )
    return figures
