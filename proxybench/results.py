"""The RunRecord: its schema, the atomic one-file-per-run store, and loading into pandas.

Tools and third parties read these keys (DESIGN §9): extend the schema, never rename.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .cache import atomic_write_bytes

SCHEMA_VERSION = 1

REQUIRED_KEYS = (
    "schema", "run_id", "proxybench_version", "spec", "status", "error", "metrics", "selection",
    "ledger", "device", "privacy", "timings", "environment",
)


def environment() -> dict[str, Any]:
    import torch

    env = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
           "torch_threads": torch.get_num_threads()}
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
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True, default=_jsonable) + "\n").encode())
    return path


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def read_record(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def load_records(results_dir: Path | str) -> list[dict[str, Any]]:
    """Every finished record in a folder; temporary files of interrupted writes are ignored."""
    return [read_record(p) for p in sorted(Path(results_dir).glob("*.json"))]


def records_frame(records: list[dict[str, Any]]):
    """One row per record with the fields tables compare (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for r in records:
        spec = r["spec"]
        rows.append({
            "run_id": r["run_id"],
            "status": r["status"],
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
            "accuracy": r["metrics"].get("accuracy"),
            "in_domain_share": r["selection"].get("in_domain_share"),
            "pool_in_domain_share": r["selection"].get("pool_in_domain_share"),
            "bytes_up": r["ledger"].get("bytes_up"),
            "bytes_down": r["ledger"].get("bytes_down"),
            "select_bytes_up": r["ledger"].get("by_phase", {}).get("select", {}).get("up"),
            "select_bytes_down": r["ledger"].get("by_phase", {}).get("select", {}).get("down"),
            "device_flops": r["device"].get("flops"),
            "epsilon": r["privacy"].get("epsilon"),
            "epsilon_select": r["privacy"].get("epsilon_select"),
            **{f"metric.{k}": v for k, v in r["metrics"].items() if k != "accuracy"},
        })
    return pd.DataFrame(rows)
