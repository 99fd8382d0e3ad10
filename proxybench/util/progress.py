"""Progress bars for long work (data generation, extraction, training).

Bars go to stderr and switch themselves off when stderr is not a terminal, so logs
and CI output stay clean; PROXYBENCH_PROGRESS=0/1 (``Settings.progress``) forces them off or on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from .settings import current

T = TypeVar("T")


def _disabled() -> bool | None:
    shown = current().progress
    return None if shown is None else not shown  # None: tqdm disables them when stderr is not a TTY


def track(iterable: Iterable[T], desc: str, total: int | None = None, leave: bool = False) -> Iterator[T]:
    return iter(tqdm(iterable, desc=desc, total=total, leave=leave, disable=_disabled(), dynamic_ncols=True))


def bar(desc: str, total: int, unit: str = "it") -> tqdm:
    """A manually updated bar, for loops that are not a single iterable."""
    return tqdm(desc=desc, total=total, unit=unit, leave=False, disable=_disabled(), dynamic_ncols=True)
