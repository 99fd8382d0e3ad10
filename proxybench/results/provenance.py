"""What a report was made from: the code (versions and source identities, with run counts) and the records (paths)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def code_variant(record: dict[str, Any]) -> str:
    """``proxybench 0.2.0 (source ae4755b5ed874fc0, commit a6cbedc971)``; plugin distributions beside proxybench follow."""
    version = record.get("proxybench_version")
    code = record.get("code")
    if not code:
        return f"proxybench {version} (made before code identity: no source hash or commit)"
    git = code.get("git")
    commit = f"commit {git['commit'][:10]}{' dirty' if git.get('dirty') else ''}" if git else "no git commit"
    dists = code.get("distributions") or []
    own = next((d for d in dists if d.get("name") == "proxybench"), {})
    others = [f"{d.get('name')} {d.get('version')} (source {d.get('source_hash')})"
              for d in sorted(dists, key=lambda d: str(d.get("name"))) if d.get("name") != "proxybench"]
    text = f"proxybench {version} (source {own.get('source_hash')}, {commit})"
    return text + (" with " + ", ".join(others) if others else "")


def code_counts(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Each code variant of the records with its run count, most runs first (then by name)."""
    counts = Counter(code_variant(r) for r in records)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def provenance(records: list[dict[str, Any]], sources: list[Path | str] | None) -> str:
    """One paragraph: the records' paths (as given) and the code that made them, with counts."""
    code = "; ".join(f"{variant}: {n} runs" for variant, n in code_counts(records))
    where = ", ".join(str(s) for s in sources) if sources else "not named (the caller gave records, not paths)"
    return f"Made from {len(records)} records in {where}. Code: {code}."
