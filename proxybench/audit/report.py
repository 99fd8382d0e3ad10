"""The report of one ``proxybench audit``: every audit's result, the verdict as an exit code, the JSON file.

One report holds the runtime's certification, the plugins' declared mechanisms and the
black-box replays alike, so the command's exit code says whether any of them failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..privacy.attack import AuditResult
from ..util.cache import atomic_write_bytes

#: exit codes of ``proxybench audit``
EXIT_OK, EXIT_VIOLATION, EXIT_CONTROL_MISSED = 0, 1, 3


@dataclass
class AuditReport:
    results: list[AuditResult]
    seconds: float = 0.0

    @property
    def violations(self) -> list[AuditResult]:
        return [r for r in self.results if r.control is None and r.flagged]

    @property
    def missed_controls(self) -> list[AuditResult]:
        return [r for r in self.results if r.control is not None and not r.flagged]

    @property
    def exit_code(self) -> int:
        if self.violations:
            return EXIT_VIOLATION
        return EXIT_CONTROL_MISSED if self.missed_controls else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "kind": "privacy-audit", "seconds": round(self.seconds, 3), "exit_code": self.exit_code,
                "results": [r.to_dict() for r in self.results]}

    def save(self, path: Path | str) -> Path:
        """Write the report as JSON; a reader never sees half a file."""
        path = Path(path)
        atomic_write_bytes(path, json.dumps(self.to_dict(), indent=2, sort_keys=True).encode())
        return path
