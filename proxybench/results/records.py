"""The RunRecord: its schema, the atomic one-file-per-run store, and loading into pandas.

Tools and third parties read these keys (DESIGN §9): extend the schema, never rename.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..util.cache import atomic_write_bytes
from ..util.errors import ProxybenchError

SCHEMA_VERSION = 1

REQUIRED_KEYS = (
    "schema", "run_id", "proxybench_version", "spec", "status", "error", "metrics", "selection",
    "ledger", "device", "privacy", "timings", "environment",
)


def environment() -> dict[str, Any]:
    """Versions, threads and the torch device (``PROXYBENCH_TORCH_DEVICE``).

    A device that is misspelt or absent from this machine fails here, before any work.
    """
    import torch

    from ..ml.accelerator import device_environment

    env = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
           "torch_threads": torch.get_num_threads(), **device_environment()}
    for pkg in ("proxybench", "torch", "timm", "faiss-cpu", "numpy", "dp-accounting", "scikit-learn"):
        try:
            env[pkg.replace("-cpu", "").replace("-", "_")] = version(pkg)
        except PackageNotFoundError:
            env[pkg] = None
    return env


def record_path(results_dir: Path | str, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}.json"


def write_record(record: dict[str, Any], results_dir: Path | str) -> Path:
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"RunRecord lacks keys {missing}")
    path = record_path(results_dir, record["run_id"])
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True, default=jsonable) + "\n").encode())
    return path


def jsonable(obj: Any) -> Any:
    """``json.dumps(default=...)`` for the numpy scalars and arrays plugins put in metrics and info."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def read_record(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def ensure_writable_dir(path: Path | str) -> Path:
    """Make sure records can be written to a results folder before any run starts (not after the first hour)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ProxybenchError(f"results folder {path} is a file; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProxybenchError(f"results folder {path} cannot be created: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ProxybenchError(f"results folder {path} is not writable; choose another with --results-dir")
    return path


def is_records_file(path: Path | str) -> bool:
    return str(path).endswith((".jsonl", ".jsonl.gz"))


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Every record in a results folder (one JSON file per run) or a records file (.jsonl or .jsonl.gz).

    Temporary files of interrupted writes in a folder are ignored.
    """
    path = Path(path)
    if path.is_dir():
        return [read_record(p) for p in sorted(path.glob("*.json"))]
    if not path.is_file() or not is_records_file(path):
        raise ProxybenchError(f"results {path}: expected a folder of RunRecords or a records file "
                              f"(.jsonl or .jsonl.gz), and {'it is neither' if path.exists() else 'it does not exist'}")
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode()
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ProxybenchError(f"records file {path}: line {exc.lineno} is not JSON ({exc.msg})") from exc


def records_bytes(records: list[dict[str, Any]], compress: bool = True) -> bytes:
    """One compact JSON line per record, sorted by run id; gzip without a timestamp or name, so equal records give equal bytes."""
    ordered = sorted(records, key=lambda r: r["run_id"])
    data = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), default=jsonable) + "\n" for r in ordered).encode()
    if not compress:
        return data
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def write_records_file(records: list[dict[str, Any]], path: Path | str) -> Path:
    """Write records as JSON Lines (gzipped when the name ends in .gz), atomically and byte-reproducibly."""
    path = Path(path)
    if not is_records_file(path):
        raise ProxybenchError(f"records file {path}: the name must end in .jsonl or .jsonl.gz")
    atomic_write_bytes(path, records_bytes(records, compress=path.name.endswith(".gz")))
    path.chmod(0o644)  # a committed file, readable by all (the temporary file was private)
    return path


#: The columns of :func:`load_records`, one row per run; tools may rely on them (extend, never rename).
COLUMNS: dict[str, str] = {
    "run_id": "hash of the resolved RunSpec",
    "status": "ok or failed",
    "error": "the failure's message (None when ok)",
    "schema": "RunRecord schema version",
    "proxybench_version": "proxybench version that made the record",
    "code_id": "short hash of the source hashes of every distribution that ran (None before 0.2.0)",
    "git_commit": "commit of the checkout proxybench ran from (None outside git)",
    "git_dirty": "whether tracked files differed from that commit",
    "dataset": "dataset plugin", "task": "task plugin", "sampler": "sampler plugin",
    "sampler_kind": "client-free, private, privacy-free or oracle (what the run did)",
    "sampler_params": "the sampler's complete parameters, as sorted JSON",
    "client_domain": "the device's domain", "budget": "selected pool images", "seed": "seed of split and randomness",
    "backbone": "timm name of the selection extractor phi", "weights": "phi's weight source",
    "feature_layer": "phi's output layer", "delta": "the run's delta",
    "accuracy": "the task's accuracy on the device test set, in [0, 1]",
    "in_domain_share": "share of the selection from the client's domain",
    "pool_in_domain_share": "the client domain's share of the pool (what random selection gets)",
    "bytes_up": "bytes device -> cloud, all phases", "bytes_down": "bytes cloud -> device, all phases",
    "select_bytes_up": "bytes up during selection", "select_bytes_down": "bytes down during selection",
    "device_flops": "device FLOPs, all phases", "select_device_flops": "device FLOPs of the selection (None in old records)",
    "device_cpu_seconds": "device CPU seconds, all phases",
    "select_rounds": "device calls the selection made (its rounds; None in old records)",
    "epsilon": "total epsilon (0: no client information; None: no guarantee)",
    "epsilon_select": "epsilon of the selection (None: no guarantee)",
    "phi_flops_per_image": "FLOPs of phi on one image, as the device meter counts them (None in old records)",
    "phi_params": "parameters of phi, the model the device installs (None in old records)",
    "phi_install_bytes": "bytes of phi's state dict, what the device receives to install it (None in old records)",
    "metric.NAME": "every other task metric, one column each",
}


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def records_frame(records: list[dict[str, Any]]):
    """One row per record with the columns of :data:`COLUMNS` (pandas DataFrame); keys missing in old records are None."""
    import pandas as pd

    from .identity import code_id

    rows = []
    for r in records:
        spec = r["spec"]
        metrics = r.get("metrics") or {}
        rows.append({
            "run_id": r["run_id"],
            "status": r["status"],
            "error": r.get("error"),
            "schema": r.get("schema"),
            "proxybench_version": r.get("proxybench_version"),
            "code_id": code_id(r.get("code")),
            "git_commit": _get(r, "code", "git", "commit"),
            "git_dirty": _get(r, "code", "git", "dirty"),
            "dataset": spec["dataset"],
            "task": spec["task"],
            "sampler": spec["sampler"],
            "sampler_kind": r.get("sampler_kind"),
            "sampler_params": json.dumps(spec["sampler_params"], sort_keys=True),
            "client_domain": spec["client_domain"],
            "budget": spec["budget"],
            "seed": spec["seed"],
            "backbone": spec["backbone"],
            "weights": spec["weights"],
            "feature_layer": spec.get("feature_layer"),
            "delta": spec.get("delta"),
            "accuracy": metrics.get("accuracy"),
            "in_domain_share": _get(r, "selection", "in_domain_share"),
            "pool_in_domain_share": _get(r, "selection", "pool_in_domain_share"),
            "bytes_up": _get(r, "ledger", "bytes_up"),
            "bytes_down": _get(r, "ledger", "bytes_down"),
            "select_bytes_up": _get(r, "ledger", "by_phase", "select", "up"),
            "select_bytes_down": _get(r, "ledger", "by_phase", "select", "down"),
            "device_flops": _get(r, "device", "flops"),
            # A phase without device work is absent from older records' by_phase: 0, not unknown.
            "select_device_flops": (_get(r, "device", "by_phase", "select", "flops") or 0
                                    if _get(r, "device", "by_phase") is not None else None),
            "select_rounds": _get(r, "device", "select_rounds"),
            "device_cpu_seconds": _get(r, "device", "cpu_seconds"),
            "epsilon": _get(r, "privacy", "epsilon"),
            "epsilon_select": _get(r, "privacy", "epsilon_select"),
            "phi_flops_per_image": _get(r, "extractor", "flops_per_image"),
            "phi_params": _get(r, "extractor", "params"),
            "phi_install_bytes": _get(r, "extractor", "install_bytes"),
            **{f"metric.{k}": v for k, v in metrics.items() if k != "accuracy"},
        })
    return pd.DataFrame(rows, columns=None if rows else [c for c in COLUMNS if c != "metric.NAME"])


def load_records(path: Path | str):
    """Records as a pandas DataFrame for analysis: one row per run, flattened (columns: :data:`COLUMNS`).

    ``path`` is a results folder or a records file (``.jsonl`` / ``.jsonl.gz``, as committed
    beside each leaderboard).
    """
    return records_frame(read_records(path))
