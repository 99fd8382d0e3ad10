"""Private kNN labeling and the autolabel task on a tiny scenario."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest

from proxybench import ProxybenchError, RunSpec, create_task
from proxybench.contract.task import TaskContext
from proxybench.privacy.accounting import epsilon
from proxybench.run.runner import run

from .conftest import TINY_RUN, gaussian_mixture, make_device


def knn_labels(client_x, client_y, queries, sigma, **params):
    """The task's own program and release, through the device runtime."""
    from proxybench.plugins.tasks.autolabel import private_knn_program

    device = make_device(client_x, labels=client_y, stage="task")
    release = create_task("autolabel", sigma=sigma, **params).release(num_classes=10)
    return device.call(private_knn_program, {"queries": queries}, phase="task", label="t", release=release)["release"], \
        device


def test_private_knn_with_little_noise_is_plain_knn():
    x, comp = gaussian_mixture(40, 10, 8, seed=0)
    labels, device = knn_labels(x, comp, x[::7] + 0.01, k=5, sample_rate=1.0, sigma=1e-6)
    assert np.array_equal(labels, comp[::7])
    assert device.meter.flops["task"] == 2 * len(x[::7]) * len(x) * 8  # the runtime's distances


def test_private_knn_noise_degrades_labels():
    x, comp = gaussian_mixture(40, 10, 8, seed=0)
    clean, _ = knn_labels(x, comp, x, k=5, sample_rate=1.0, sigma=1e-6)
    noisy, _ = knn_labels(x, comp, x, k=5, sample_rate=1.0, sigma=50.0)
    assert (clean == comp).mean() > 0.95
    assert (noisy == comp).mean() < 0.5


def test_autolabel_epsilon_is_the_composed_subsampled_gaussian():
    task = create_task("autolabel", sigma=16.0, sample_rate=0.2)
    acc = dp_accounting.pld.PLDAccountant()
    acc.compose(dp_accounting.PoissonSampledDpEvent(0.2, dp_accounting.GaussianDpEvent(16.0 / np.sqrt(2))), 100)
    assert epsilon(task.privacy_event(100)) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-6)
    queries = {"queries": np.zeros((100, 4), np.float32)}
    assert epsilon(task.release(num_classes=10).event(queries)) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-6)
    with pytest.raises(ProxybenchError, match="sigma must be > 0"):
        create_task("autolabel", sigma=0.0)


def test_autolabel_end_to_end_tiny(tmp_path):
    record, path = run(RunSpec(sampler="oracle-domain", client_domain="printed", **TINY_RUN), tmp_path)
    assert path.exists() and record["status"] == "ok"
    m = record["metrics"]
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["pseudo_label_accuracy"] <= 1.0
    assert m["queries"] == 60
    assert record["selection"]["in_domain_share"] == 1.0
    led = record["ledger"]
    assert led["by_phase"]["task"]["down"] > 0 and led["by_phase"]["model"]["down"] > 0
    assert led["bytes_down"] == sum(v["down"] for v in led["by_phase"].values())
    assert record["device"]["by_phase"]["task"]["flops"] > 0
    assert record["device"]["by_phase"]["task"]["cpu_seconds"] > 0  # the runtime's kNN vote is device work too
    assert record["privacy"]["epsilon_select"] == 0.0 and record["privacy"]["epsilon"] > 0
    assert TaskContext  # the public context type stays importable
