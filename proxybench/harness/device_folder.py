"""A device that holds its own images (``proxybench device serve --data DIR``), and the budget it keeps across sessions.

The benchmark's device is provisioned by the harness with rows of a dataset. A real
device is not: its images are files on it, decoded in the device process at phi's input
size when a session opens, and never sent anywhere; only the runtime's releases leave,
under the device's own budget. The cloud side opens a session with phi and the session's
public numbers alone (``DeviceSession``); it cannot replay requests or score models on
the device's data, since both are off the budget (they serve the benchmark's audits).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ml.image_files import class_of, decode_images, list_image_files
from ..util.errors import ProxybenchError
from ..wire.timing import TimeGrid
from .messages import DevicePrivate, DeviceProvision, DeviceSession


def folder_labels(files: list[Path], root: Path, classes: tuple[str, ...] | None) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Class ids from ``root/{class}/{image}`` (classes: the given ones, or the folder's); None where a file has no class."""
    names = [class_of(p, root) for p in files]
    if any(n is None for n in names):
        return None, ()
    classes = classes if classes is not None else tuple(sorted(set(names)))
    return np.array([classes.index(n) if n in classes else -1 for n in names], dtype=np.int64), classes


@dataclass
class DeviceFolder:
    """The device's own images, by file; each file is one original record (the privacy unit).

    Decoded when a session opens, at the side the cloud's pool was decoded to (``DeviceSession``).

    ``root``: ``{class}/{image}`` class folders (the device then has labels) or images at any depth
    without classes. ``test_root``: the device's test images, laid out like ``root`` (optional:
    a selection needs none).
    """

    root: Path
    test_root: Path | None = None
    files: list[Path] = field(init=False)
    test_files: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.files = list_image_files(self.root)
        self.test_files = list_image_files(self.test_root) if self.test_root is not None else []

    def describe(self) -> str:
        labels, classes = folder_labels(self.files, self.root, None)
        kind = f"{len(classes)} classes" if labels is not None else "no class folders (unlabelled)"
        test = f", {len(self.test_files)} test images" if self.test_root is not None else ""
        return f"{len(self.files)} images in {self.root} ({kind}){test}"

    def provision(self, session: DeviceSession) -> DeviceProvision:
        """The training rows, decoded here as the pool's were; one privacy unit per file."""
        size = session.image_size
        labels, _ = folder_labels(self.files, self.root, None)
        return DeviceProvision(session.start, images=decode_images(self.files, size), labels=labels,
                               groups=np.arange(len(self.files), dtype=np.int64))

    def private(self, session: DeviceSession, delta: float, epsilon_budget: float) -> DevicePrivate:
        """What only the runtime holds: no secret (it makes its own), the device's delta and remaining budget, its test split."""
        if session.delta > delta:
            raise ProxybenchError(f"the session asks delta {session.delta:g}; this device accounts at delta {delta:g} "
                                  "at most (device serve --delta)")
        size = session.image_size
        _, classes = folder_labels(self.files, self.root, None)
        test_labels, _ = folder_labels(self.test_files, self.test_root, classes or None) if self.test_files else (None, ())
        return DevicePrivate(
            secret=None, run_key=session.run_key, delta=delta, epsilon_budget=epsilon_budget, grid_base=TimeGrid.base,
            test_images=decode_images(self.test_files, size),
            test_labels=test_labels if test_labels is not None else np.full(len(self.test_files), -1, np.int64))


@dataclass
class BudgetLedger:
    """The device's epsilon over all its sessions: what each spent, kept in a JSON file where one is given.

    Sessions compose by basic composition (their epsilons add up, and so do their deltas): a
    cloud that opens session after session gets no more than the device's budget in all.
    """

    total: float
    path: Path | None = None
    sessions: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.total > 0:
            raise ProxybenchError(f"the device's epsilon budget must be > 0, got {self.total}")
        if self.path is not None and Path(self.path).exists():
            try:
                self.sessions = list(json.loads(Path(self.path).read_text())["sessions"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProxybenchError(f"budget ledger {self.path} is not a ledger proxybench wrote: {exc}") from exc

    @property
    def spent(self) -> float:
        return float(sum(s["epsilon"] for s in self.sessions))

    @property
    def remaining(self) -> float:
        return max(self.total - self.spent, 0.0)

    def book(self, run_key: str, epsilon: float, delta: float) -> None:
        self.sessions.append({"run_key": run_key, "epsilon": epsilon, "delta": delta})
        if self.path is not None:  # whole or not at all: a crash mid-write must not lose what was spent
            tmp = Path(f"{self.path}.tmp")
            tmp.write_text(json.dumps({"total": self.total, "sessions": self.sessions}, indent=1))
            os.replace(tmp, self.path)
