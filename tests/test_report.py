"""Report figures on handmade records: the Pareto front, like-for-like budget curves, one budget for costs."""

from __future__ import annotations

import numpy as np

from proxybench.results.report import pareto_front, report_frame, runs_at_every_budget, write_report

from .test_sweep import _record


def _with_budget(record: dict, budget: int) -> dict:
    record["spec"]["budget"] = budget
    record["run_id"] += f"-B{budget}"
    return record


def test_pareto_front_keeps_only_undominated_points():
    x = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    y = np.array([0.5, 0.4, 0.7, 0.6, 0.9])
    assert pareto_front(x, y).tolist() == [0, 2, 4]


def test_budget_curves_compare_the_same_domains_and_seeds():
    """B = 1000 ran on two domains and two seeds, B = 250 on one domain and seed: the curve uses that one."""
    recs = [_with_budget(_record("random", "client-free", d, s, 0.5), 1000) for d in ("street", "photo") for s in (0, 1)]
    recs.append(_with_budget(_record("random", "client-free", "street", 0, 0.3), 250))
    part = runs_at_every_budget(report_frame(recs))
    assert sorted(zip(part.budget, part.client_domain, part.seed, strict=True)) == [(250, "street", 0), (1000, "street", 0)]


def test_cost_figures_are_drawn_at_the_main_budget(tmp_path):
    recs = [_with_budget(_record(s, k, d, seed, a, epsilon=e), 1000)
            for s, k, a, e in (("random", "client-free", 0.5, 0.0), ("ecos", "private", 0.8, 0.7))
            for d in ("street", "photo") for seed in (0, 1)]
    recs.append(_with_budget(_record("random", "client-free", "street", 0, 0.2), 250))
    figures = write_report(recs, tmp_path)
    titles = {f.file: f.title for f in figures}
    assert titles["accuracy_vs_bytes.png"].endswith("(budget 1000)")
    assert titles["accuracy_vs_budget.png"] == "Accuracy vs budget"
    assert all((tmp_path / f.file).stat().st_size > 0 for f in figures)
    page = (tmp_path / "index.html").read_text()
    assert "budget 1000" in page
    assert "<h1>proxybench report</h1>" in page, "the page title must not be a figure's title"


def _as_task(record: dict, task: str) -> dict:
    record["spec"]["task"] = task
    record["run_id"] += f"-{task}"
    return record


def test_budget_figure_draws_only_tasks_with_several_budgets(tmp_path):
    """A task run at one budget has no curve: it is left out of the figure, and the caption says so."""
    recs = [_as_task(_with_budget(_record("random", "client-free", "street", 0, a), b), "outsource")
            for b, a in ((250, 0.3), (1000, 0.5))]
    recs.append(_as_task(_with_budget(_record("random", "client-free", "street", 0, 0.4), 1000), "compress"))
    captions = {f.file: f.caption for f in write_report(recs, tmp_path)}
    assert "Not drawn, run at one budget only: compress." in captions["accuracy_vs_budget.png"]

    assert (tmp_path / "accuracy_vs_budget.png").exists()
    one_budget = [r for r in recs if r["spec"]["budget"] == 1000]
    files = {f.file for f in write_report(one_budget, tmp_path)}
    assert "accuracy_vs_budget.png" not in files and "accuracy_vs_bytes.png" in files
    assert not (tmp_path / "accuracy_vs_budget.png").exists(), "a stale figure from the earlier report was left behind"
