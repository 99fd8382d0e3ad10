"""The RunRecord's schema: its version and the keys every record has.

Tools and third parties read these keys: extend the schema, never rename. A key added later
(``code``, ``sampler_kind``, ``non_default``) is absent from the records written before it, so
its readers say what they do then; the version moves only when a key changes meaning.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

REQUIRED_KEYS = (
    "schema", "run_id", "proxybench_version", "spec", "status", "error", "metrics", "selection",
    "ledger", "device", "privacy", "timings", "environment",
)
