"""A dishonest sampler that tries every route the device runtime and the sandboxes must close, and reports what it got.

Registered by hand in tests/test_by_construction.py and run like any third-party plugin: its
cloud side runs in the confined cloud process, its programs in the device's program worker.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import (
    CloudView,
    Device,
    DeviceContext,
    GaussianHistogram,
    Message,
    ProxybenchError,
    Sampler,
    Selection,
    gaussian_event,
    hookimpl,
    kmeans,
    nearest_centroid,
)

#: Where a program tries to leave data for the cloud, outside its scratch folder.
DROP = "/tmp/proxybench-adversary-drop"


def text_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"leak": f"{float(ctx.features().mean()):.6f}"}


def complex_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"leak": np.array([complex(ctx.n, float(ctx.features().mean()))])}


def raising_program(ctx: DeviceContext, msg: Message) -> Message:
    raise ValueError(f"secret mean {float(ctx.features().mean()):.6f}")


def own_noise_program(ctx: DeviceContext, msg: Message) -> Message:
    """Honest-looking noise drawn by the program itself: the exact mean is in the low bits."""
    mean = ctx.features().mean(0)
    return {"mean": (mean + np.random.default_rng(0).normal(0, 5.0, mean.shape)).astype(np.float32)}


def file_program(ctx: DeviceContext, msg: Message) -> Message:
    """Write the data where the cloud could read it: outside the scratch folder, and inside it."""
    wrote_outside = True
    try:
        with open(DROP, "w") as f:
            f.write(str(ctx.n))
    except OSError:
        wrote_outside = False
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "drop"), "w") as f:
        f.write(str(ctx.n))
    return {"wrote_outside": float(wrote_outside)}


def _in_own_memory(needles: list[tuple[bytes, str]]) -> list[bool]:
    """Whether each row, given as (its first 16 bytes, the sha256 of its first 512), lies in this process's memory.

    Only a hash of the row travels in the message, so the message itself is never found.
    """
    found = [False] * len(needles)

    def holds(chunk: bytes, needle: tuple[bytes, str]) -> bool:
        prefix, digest = needle
        at = chunk.find(prefix)
        while at >= 0:
            if hashlib.sha256(chunk[at : at + 512]).hexdigest() == digest:
                return True
            at = chunk.find(prefix, at + 1)
        return False

    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            found = [f or holds(chunk, needle) for f, needle in zip(found, needles, strict=True)]
    return found


def test_split_program(ctx: DeviceContext, msg: Message) -> Message:
    """Look for the device's test split: as an attribute, and in the worker's memory (a training row as the control)."""
    has_attribute = any(hasattr(ctx, name) for name in ("test_images", "test_labels", "scoring"))
    train, test = _in_own_memory([(msg[f"{side}_prefix"].tobytes(), str(msg[f"{side}_sha"])) for side in ("train", "test")])
    return {"attribute": float(has_attribute), "train_row_found": float(train), "test_row_found": float(test)}


def rows_program(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """An honest histogram: each row's nearest centroid."""
    return nearest_centroid(ctx.features(), msg["centroids"])[0].astype(np.int64)


def exact_counts_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"counts": np.bincount(rows_program(ctx, msg), minlength=len(msg["centroids"])).astype(np.float64)}


def _error(device: Device, program, message: Message | None = None) -> str:
    try:
        device.call(program, message or {})
    except ProxybenchError as exc:
        return str(exc)
    return ""


def _cloud_reads(harness_pid: int) -> dict[str, object]:
    """What the cloud can reach outside the link: the drop file, device scratch folders, other processes' memory,
    and the harness's command line (which names the client's domain)."""
    try:
        with open(f"/proc/{harness_pid}/cmdline", "rb") as f:
            harness_cmdline = f.read().decode(errors="replace")
    except OSError:
        harness_cmdline = ""
    readable = []
    for path in glob.glob("/proc/[0-9]*"):
        pid = int(path.rsplit("/", 1)[1])
        if pid == os.getpid():
            continue
        for name in ("mem", "environ"):
            try:
                with open(f"{path}/{name}", "rb") as f:
                    f.read(1)
                readable.append(f"{pid}/{name}")
            except OSError:
                pass
    scratch = []
    for folder in glob.glob("/tmp/proxybench-device-*"):
        try:
            scratch += os.listdir(folder)
        except OSError:
            pass
    try:
        with open(DROP) as f:
            drop = f.read()
    except OSError:
        drop = ""
    return {"proc_readable": readable, "device_scratch_files": scratch, "drop": drop,
            "harness_cmdline": harness_cmdline}


@dataclass
class Adversary(Sampler):
    """Declares sigma 5 and client-free; tries each route in turn and reports what crossed."""

    name: ClassVar[str] = "test-adversary"
    description: ClassVar[str] = "test: every route around the device runtime"
    kind: ClassVar[str] = "client-free"
    R: int = 10
    seed_guess: int = 0  # the run seed, which the cloud knows
    train_row: str = ""  # a client training image and a client test image, as "hex of 16 bytes:sha256 of 512"
    test_row: str = ""
    harness_pid: int = 0  # guessable by counting up from the cloud's own pid

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        info: dict[str, object] = {
            "text_error": _error(device, text_program),
            "complex_error": _error(device, complex_program),
            "exception_error": _error(device, raising_program),
            "own_noise_mean": device.call(own_noise_program, {})["mean"].tolist()[:3],
            "file": device.call(file_program, {})["wrote_outside"],
            "test_split": device.call(test_split_program, {
                "train_prefix": np.frombuffer(bytes.fromhex(self.train_row.split(":")[0]), np.uint8),
                "train_sha": self.train_row.split(":")[1],
                "test_prefix": np.frombuffer(bytes.fromhex(self.test_row.split(":")[0]), np.uint8),
                "test_sha": self.test_row.split(":")[1]}),
        }
        info.update(_cloud_reads(self.harness_pid))
        # The device's noise, regenerated from the run seed as the old device stream drew it, subtracted from a release.
        centroids, _ = kmeans(np.ascontiguousarray(cloud.features, dtype=np.float32), self.R, seed=0, niter=5)
        noisy = device.call(rows_program, {"centroids": centroids},
                            release=GaussianHistogram(noise_multiplier=5.0, bins=self.R))["release"].astype(np.float64)
        exact = device.call(exact_counts_program, {"centroids": centroids})["counts"]
        guess = noisy - np.random.default_rng([self.seed_guess, 2]).normal(0.0, 5.0, self.R)
        info["regenerated_error"] = float(np.abs(guess - exact).max())
        info["release_error"] = float(np.abs(noisy - exact).max())
        return Selection(indices=np.arange(budget), privacy=gaussian_event(5.0, 1.0), adjacency="add_remove", info=info)


@hookimpl
def proxybench_samplers():
    return [Adversary]
