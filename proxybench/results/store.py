"""The RunRecord store: one JSON file per run, written atomically, and records files (JSON Lines) for committing.

A records file is byte-reproducible (sorted by run id, gzip without a timestamp), so a committed
leaderboard's records regenerate the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

from ..util.cache import atomic_write_bytes
from ..util.errors import ProxybenchError
from .schema import REQUIRED_KEYS


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


def join_records(sources: list[Path | str]) -> list[dict[str, Any]]:
    """The records of several results folders or records files, one per run.

    Boards that share runs (the privacy and budget grids share the default one's B = 1000 runs)
    hold the same record twice; it counts once. The same run recorded differently is refused,
    since picking either would be silent.
    """
    joined: dict[str, dict[str, Any]] = {}
    found_in: dict[str, Path | str] = {}
    for source in sources:
        for record in read_records(source):
            run_id = record["run_id"]
            if run_id in joined and joined[run_id] != record:
                raise ProxybenchError(f"run {run_id} is recorded differently in {found_in[run_id]} and {source}; "
                                      "give only one of them")
            joined.setdefault(run_id, record)
            found_in.setdefault(run_id, source)
    return list(joined.values())


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
