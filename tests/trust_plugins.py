"""Careless and dishonest samplers, for the trust tests: registered by hand, run like any plugin."""

from __future__ import annotations

import gc
import hashlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

import numpy as np

from proxybench import (
    CloudView,
    Device,
    DeviceContext,
    Message,
    Sampler,
    Selection,
    gaussian_event,
    hookimpl,
    kmeans,
    nearest_centroid,
)
from proxybench.plugins.samplers.dp_mean import mean_contributions
from proxybench.plugins.samplers.dp_mean_rounds import DpMeanRounds
from proxybench.plugins.samplers.ecos_rounds import EcosRounds, refine_bins

#: Types that hold device data or the harness's ground truth: none may exist in the cloud process.
FORBIDDEN = {"DeviceContext", "DeviceRuntime", "Relay", "Ledger", "Scenario", "ImageData", "RunSession", "Children"}


def row_hash(row: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest()[:16]


def exact_mean_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"mean": ctx.features().mean(0).astype(np.float32)}


@dataclass
class ExactMean(Sampler):
    """Asks for the exact mean of the device's features and declares nothing, calling itself client-free."""

    name: ClassVar[str] = "test-exact-mean"
    description: ClassVar[str] = "test: exact device mean, no DP event"
    kind: ClassVar[str] = "client-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        mean = device.call(exact_mean_program, {}, "select")["mean"]
        dist = ((np.asarray(cloud.features) - mean) ** 2).sum(1)
        return Selection(indices=np.argsort(dist, kind="stable")[:budget])


def exact_counts_program(ctx: DeviceContext, msg: Message) -> Message:
    assign, _ = nearest_centroid(ctx.features(), msg["centroids"])
    return {"scores": np.bincount(assign, minlength=len(msg["centroids"])).astype(np.float32)}


@dataclass
class LyingCoverage(Sampler):
    """Declares the Gaussian mechanism with sigma 5 on coverage counts, but its program sends them exactly."""

    name: ClassVar[str] = "test-lying-coverage"
    description: ClassVar[str] = "test: declares sigma=5, sends exact counts"
    kind: ClassVar[str] = "private"
    R: int = 10

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        x = np.ascontiguousarray(cloud.features, dtype=np.float32)
        centroids, assign = kmeans(x, self.R, seed=0, niter=5)
        scores = device.call(exact_counts_program, {"centroids": centroids}, "select")["scores"]
        order = np.argsort(-scores[assign], kind="stable")
        return Selection(indices=order[:budget], privacy=gaussian_event(5.0, 1.0), adjacency="add_remove")


@dataclass
class Snoop(Sampler):
    """Searches its process for client rows (given as row hashes) and device-side objects; reports what it found."""

    name: ClassVar[str] = "test-snoop"
    description: ClassVar[str] = "test: tries every route to device data outside the link"
    needles: str = ""

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        warnings.simplefilter("ignore")  # walking torch's modules touches deprecated names
        needles = set(self.needles.split(","))
        seen: dict[int, object] = {}
        stack: list[tuple[object, int]] = [(cloud, 0), (device, 0), (rng, 0)]
        stack += [(o, 1) for o in gc.get_objects()]
        while stack:
            obj, depth = stack.pop()
            if id(obj) in seen or depth > 4:
                continue
            seen[id(obj)] = obj
            children = list(gc.get_referents(obj))
            if not isinstance(obj, (type, ModuleType)):
                slots = getattr(type(obj), "__slots__", ())
                names = ["__dict__", "__closure__", "__self__", "base", "_mmap"]
                names += [s for s in slots if isinstance(s, str)] if isinstance(slots, (tuple, list)) else []
                for attr in names:
                    try:
                        value = getattr(obj, attr, None)
                    except Exception:  # properties that raise (torch.cuda without a GPU, say)
                        value = None
                    if value is not None:
                        children.append(value)
            stack += [(c, depth + 1) for c in children if not isinstance(c, (str, bytes, int, float))]
        types, files, found = set(), set(), 0
        for obj in seen.values():
            if type(obj).__name__ in FORBIDDEN:
                types.add(type(obj).__name__)
            if isinstance(obj, np.memmap) and getattr(obj, "filename", None):
                files.add(str(obj.filename))
            if isinstance(obj, np.ndarray) and obj.dtype == np.uint8 and obj.ndim == 4:
                found += sum(row_hash(row) in needles for row in obj)
        return Selection(indices=np.arange(budget), info={"client_rows_found": found, "device_types_found": sorted(types),
                                                           "memmaps": sorted(files), "objects_seen": len(seen)})



def exact_refine_program(ctx: DeviceContext, msg: Message) -> Message:
    """ecos-rounds' refining round, its exact counts as a raw reply."""
    bins = refine_bins(ctx.features(), msg, ctx.meter)
    return {"release": np.bincount(bins[bins >= 0], minlength=len(msg["centroids"])).astype(np.float32)}


@dataclass
class LyingRounds(EcosRounds):
    """ecos-rounds whose refining rounds skip the runtime's mechanism (it still declares their noise)."""

    name: ClassVar[str] = "test-lying-rounds"
    description: ClassVar[str] = "test: round 2 without noise"
    round_program: ClassVar = staticmethod(exact_refine_program)

    def release(self, bins, sigma, round_=0):
        return super().release(bins, sigma) if round_ == 0 else None


def exact_recentred_program(ctx: DeviceContext, msg: Message) -> Message:
    """dp-mean-rounds' re-centred round, its exact (sum, count) as a raw reply."""
    rows = mean_contributions(ctx.features() - np.asarray(msg["center"], dtype=np.float64), float(msg["radius"]))
    return {"release": rows.sum(0).astype(np.float32)}


@dataclass
class LyingMeanRounds(DpMeanRounds):
    """dp-mean-rounds whose re-centred rounds skip the runtime's mechanism (it still declares their noise)."""

    name: ClassVar[str] = "test-lying-mean-rounds"
    description: ClassVar[str] = "test: dp-mean round 2 without noise"
    round_program: ClassVar = staticmethod(exact_recentred_program)

    def release(self, dim, sigma, round_=0):
        return super().release(dim, sigma) if round_ == 0 else None


@hookimpl
def proxybench_samplers():
    return [ExactMean, LyingCoverage, Snoop, LyingRounds, LyingMeanRounds]
