"""RunRecords as a pandas DataFrame: one flat row per run, with documented columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .store import read_records
from .variants import sampler_kind, sampler_variant

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
    "sampler_kind": "client-free, private, privacy-free or oracle (what the run did; in older records, the kind declared)",
    "sampler_params": "the sampler's complete parameters, as sorted JSON",
    "sampler_variant": "the sampler and the parameters the record names non-default: ecos (sigma=20)",
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
            "sampler_kind": sampler_kind(r),
            "sampler_params": json.dumps(spec["sampler_params"], sort_keys=True),
            "sampler_variant": sampler_variant(r),
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
