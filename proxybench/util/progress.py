"""Progress bars for long work (data generation, extraction, training).

Bars go to stderr and switch themselves off when stderr is not a terminal, so logs
and CI output stay clean; PROXYBENCH_PROGRESS=0/1 forces them off or on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _disabled() -> bool | None:
    flag = os.environ.get("PROXYBENCH_PROGRESS")
    if flag is None:
        return None  # tqdm: disable when not a TTY
    return flag.strip() in ("0", "false", "no", "off")


def track(iterable: Iterable[T], desc: str, total: int | None = None, leave: bool = False) -> Iterator[T]:
    return iter(tqdm(iterable, desc=desc, total=total, leave=leave, disable=_disabled(), dynamic_ncols=True))


def bar(desc: str, total: int, unit: str = "it") -> tqdm:
    """A manually updated bar, for loops that are not a single iterable."""
    return tqdm(desc=desc, total=total, unit=unit, leave=False, disable=_disabled(), dynamic_ncols=True)
