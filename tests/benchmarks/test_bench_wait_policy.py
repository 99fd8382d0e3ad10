"""How OpenMP threads wait: passively (a run's children) against libgomp's default (spin, then sleep).

A task model trains in a fresh process at 2 torch threads under each policy, alternately, on an
idle machine and beside one busy core. Spinning threads hold a core while they wait, so beside
other work the policy decides who gets the cores; it is why the children wait passively, and why
``test_bench_isolation`` compares like with like only when its in-process reference does too.
``default_over_passive`` is the figure, per condition.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import sizes
from .test_bench_isolation import busy_core

TRAIN = """
import time, torch
from proxybench.ml.models import create_task_model
torch.set_num_threads(2)
torch.manual_seed(0)
model = create_task_model("pb_cnn", 10)
opt = torch.optim.Adam(model.parameters(), 3e-3)
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(3):
    step()
start = time.perf_counter()
for _ in range({steps}):
    step()
print(time.perf_counter() - start)
"""

POLICIES = {"passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "default": {}}


def train_seconds(policy: str, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", TRAIN.format(steps=steps)], env={**env, **POLICIES[policy]},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@pytest.mark.parametrize("condition", sizes(["busy"], ["idle", "busy"]))
def test_wait_policy_beside_other_work(benchmark, condition, monkeypatch):
    steps, rounds = sizes((3, 1), (150, 3))
    monkeypatch.setenv("PROXYBENCH_BENCH_BUSY", "1" if condition == "busy" else "0")
    seconds: dict[str, list[float]] = {name: [] for name in POLICIES}
    with busy_core():
        for i in range(rounds):
            for policy in POLICIES if i % 2 == 0 else reversed(list(POLICIES)):
                if i == 0 and policy == "passive":
                    seconds[policy].append(benchmark.pedantic(train_seconds, args=(policy, steps), rounds=1))
                else:
                    seconds[policy].append(train_seconds(policy, steps))
    assert all(s > 0 for times in seconds.values() for s in times)
    benchmark.extra_info.update(condition=condition, steps=steps, seconds=seconds,
                                default_over_passive=sum(seconds["default"]) / sum(seconds["passive"]))
