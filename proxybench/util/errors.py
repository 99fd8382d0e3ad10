"""Errors meant for the user: each names the bad value and what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProxybenchError(Exception):
    """A problem with the user's input or setup; the CLI prints it without a traceback."""


class ProxybenchWarning(UserWarning):
    """A setting that runs but is likely to measure little (noise that swamps a count); the CLI prints it as one line."""


def closest(name: str, known: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    known = list(known)
    same_case = [k for k in known if k.lower() == name.lower()]
    match = same_case or difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> ProxybenchError:
    known = sorted(known)
    plural = kind if kind.endswith("s") else f"{kind}s"  # "weights" is already plural
    return ProxybenchError(
        f"unknown {kind} {name!r}{closest(name, known)}; known {plural}: {', '.join(known) or '(none)'}"
    )
