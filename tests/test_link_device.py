"""The link's byte ledger is exact; the device meter counts torch and analytic FLOPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proxybench import ProxybenchError, forward_flops
from proxybench.wire.link import Ledger, deserialize, serialize

from .conftest import make_device


def centroid_shaped_program(ctx, msg):
    """Replies with R float32 scores, like ECOS's coverage program."""
    return {"scores": np.zeros(len(msg["centroids"]), np.float32)}


def counting_program(ctx, msg):
    ctx.meter.add_flops(ctx.n * int(msg["k"]))
    return {"sum": ctx.features().sum(0)}


def test_roundtrip_preserves_arrays_and_scalars():
    msg = {"a": np.arange(12, dtype=np.float16).reshape(3, 4), "b": np.array([1, 2], np.int64),
           "s": 1.5, "name": "x", "flag": True, "none": None, "np": np.float32(2.0)}
    out = deserialize(serialize(msg))
    assert out["a"].dtype == np.float16 and np.array_equal(out["a"], msg["a"])
    assert np.array_equal(out["b"], msg["b"])
    assert out["s"] == 1.5 and out["name"] == "x" and out["flag"] is True and out["none"] is None and out["np"] == 2.0


def test_unsendable_field_is_an_error():
    with pytest.raises(ProxybenchError, match="field 'obj'"):
        serialize({"obj": object()})


def test_ledger_counts_exact_serialized_sizes():
    device = make_device(np.zeros((3, 4), np.float32))
    msg = {"centroids": np.zeros((100, 64), np.float32)}
    device.call(centroid_shaped_program, msg, "select", "c")
    rec = device.ledger.to_record()
    assert rec["bytes_down"] == len(serialize(msg))
    # Payload plus a small header: R*d*4 down, R*4 up.
    assert 100 * 64 * 4 <= rec["bytes_down"] < 100 * 64 * 4 + 100
    assert 400 <= rec["bytes_up"] < 500
    assert rec["by_phase"]["select"] == {"up": rec["bytes_up"], "down": rec["bytes_down"]}


def test_phases_add_up_to_totals():
    ledger = Ledger()
    for phase, direction, n in [("select", "up", 3), ("task", "down", 5), ("model", "down", 7), ("task", "up", 11)]:
        ledger.record(phase, direction, n, "x")
    rec = ledger.to_record()
    assert rec["bytes_up"] == sum(v["up"] for v in rec["by_phase"].values()) == 14
    assert rec["bytes_down"] == sum(v["down"] for v in rec["by_phase"].values()) == 12
    with pytest.raises(ProxybenchError, match="unknown link phase 'train'"):
        ledger.record("train", "up", 1, "x")


def test_forward_flops_counts_a_torch_model():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10, bias=False))
    assert forward_flops(model, 4) == 2 * 48 * 10


def busy_program(ctx, msg):
    ctx.meter.add_flops(int(msg["flops"]))
    return {"total": sum(i * i for i in range(int(msg["loops"])))}


def test_meter_counts_declared_flops_and_cpu_time_by_phase():
    select = make_device(np.zeros((2, 2), np.float32))
    select.call(busy_program, {"flops": 500, "loops": 200_000}, "select")
    task = make_device(np.zeros((2, 2), np.float32), stage="task")
    task.call(busy_program, {"flops": 1000, "loops": 10}, "task")
    assert select.meter.to_record()["flops"] == 500 and task.meter.to_record()["by_phase"]["task"]["flops"] == 1000
    assert select.meter.to_record()["by_phase"]["select"]["cpu_seconds"] > 0


def test_device_call_counts_both_directions_and_meters_the_program():
    feats = np.ones((10, 8), np.float32)
    device = make_device(feats)
    reply = device.call(counting_program, {"k": 3}, phase="select", label="t")
    assert np.allclose(reply["sum"], 10.0)
    rec = device.ledger.to_record()
    assert rec["bytes_down"] == len(serialize({"k": 3}))
    assert rec["bytes_up"] == len(serialize({"sum": feats.sum(0)}))
    assert device.meter.flops["select"] == 30
