"""The README's main job, end to end, on the full default benchmark (minutes, cold cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_cli(tmp_path, *args):
    env = {**os.environ, "PROXYBENCH_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-m", "proxybench.cli", "run", *args, "--results-dir", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = [p for p in tmp_path.glob("*.json")]
    return json.loads(path.read_text()), out.stdout


def test_main_job_gives_a_meaningful_result(tmp_path):
    ecos, stdout = run_cli(tmp_path / "ecos", "--sampler", "ecos", "--task", "autolabel")
    random, _ = run_cli(tmp_path / "random", "--sampler", "random", "--task", "autolabel")
    assert "RunRecord:" in stdout
    for rec in (ecos, random):
        assert rec["status"] == "ok"
        assert rec["selection"]["size"] == 1000
        assert rec["metrics"]["accuracy"] > 0.12  # above the 10% chance level
    # ECOS finds the client's domain; random mirrors the pool.
    assert ecos["selection"]["in_domain_share"] > 3 * ecos["selection"]["pool_in_domain_share"]
    assert abs(random["selection"]["in_domain_share"] - random["selection"]["pool_in_domain_share"]) < 0.05
    # Its selection traffic is the paper's order of magnitude (about 2.7e4 B on Digits):
    # R x d float16 centroids down, R float32 counts up.
    sel, info = ecos["ledger"]["by_phase"]["select"], ecos["selection"]["info"]
    assert info["R"] * info["dim"] * 2 <= sel["down"] < info["R"] * info["dim"] * 2 + 500 < 30_000
    assert 400 <= sel["up"] < 600
    assert 0 < ecos["privacy"]["epsilon_select"] < 1 and random["privacy"]["epsilon_select"] == 0
