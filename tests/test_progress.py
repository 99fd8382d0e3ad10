"""Progress from every process of a run on the harness's console, and stage times that add up to the run's wall time."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from proxybench.cli import main
from proxybench.util import progress

from .conftest import TINY_ARGS


class Recorder:
    """A sink that keeps what it is shown: (key, description, done, total, closed)."""

    def __init__(self):
        self.shown: list[tuple[str, str, float, float | None, bool]] = []

    def show(self, key, desc, done, total, unit, closed):
        self.shown.append((key, desc, done, total, closed))


def _child_work(conn) -> None:
    progress.send_to(conn, "cloud")
    for _ in progress.track(range(3), "training pb_cnn"):
        pass
    conn.close()


def test_a_childs_bars_reach_the_harness_named_by_their_process(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(progress, "_sink", recorder)
    ours, theirs = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child_work, args=(theirs,))
    child.start()
    theirs.close()
    follower = progress.follow(ours)
    child.join(30)
    follower.join(10)
    descs = {desc for _, desc, *_ in recorder.shown}
    assert descs == {"cloud: training pb_cnn"}
    assert recorder.shown[0][2:] == (0.0, 3.0, False) and recorder.shown[-1][2:] == (3.0, 3.0, True)


def test_what_a_child_sends_is_drawn_as_text_only(monkeypatch):
    """A child runs plugin code: its updates are JSON, cut short, without control characters; junk ends the reading."""
    recorder = Recorder()
    monkeypatch.setattr(progress, "_sink", recorder)
    ours, theirs = multiprocessing.Pipe(duplex=False)
    theirs.send_bytes(json.dumps({"key": "k", "desc": "cloud: \x1b[2Jwipe" + "x" * 200, "done": 1, "total": 2,
                                  "unit": "it", "closed": False}).encode())
    theirs.send_bytes(b"\x80not json")
    progress.follow(ours).join(10)
    (first, last) = recorder.shown
    assert first[1].startswith("cloud: [2Jwipe") and len(first[1]) == 60 and "\x1b" not in first[1]
    assert last[0] == "k" and last[4] is True  # the bar it left open is closed


@pytest.mark.parametrize("shown", [False, True])
def test_children_get_a_pipe_only_when_this_process_draws_bars(monkeypatch, shown):
    monkeypatch.setattr(progress, "_sink", progress._Console() if shown else progress._Silent())
    assert progress.showing() is shown


def test_without_a_terminal_long_work_prints_a_line_now_and_then_and_one_at_its_end(monkeypatch):
    import io

    out = io.StringIO()
    monkeypatch.setattr(progress, "_sink", progress._Lines(out))
    monkeypatch.setattr(progress, "LINE_SECONDS", 3600.0)
    with progress.bar("short work", total=4, unit="shards") as short:
        short.update(4)
    assert out.getvalue() == ""  # work shorter than LINE_SECONDS prints nothing
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    with progress.bar("phi over 4 shards", total=4, unit="images") as work:
        work.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("proxybench: phi over 4 shards: 0/4 images (0%), 0:00:00 so far")
    assert lines[1].startswith("proxybench: phi over 4 shards: 1/4 images (25%)")
    assert lines[-1].endswith("done") and progress.showing()


def test_the_stages_add_up_to_the_runs_wall_time(tmp_path):
    assert main(["run", "--budget", "40", "--param", "R=10", "--results-dir", str(tmp_path), *TINY_ARGS]) == 0
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    timings = dict(record["timings"])
    total = timings.pop("total")
    assert set(timings) == {"start-up", "children", "data", "extractor", "pool_features", "provision", "select",
                            "task", "record"}
    assert total == pytest.approx(sum(timings.values()), abs=0.006)  # by construction, up to rounding each to ms
