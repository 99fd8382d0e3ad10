"""Progress of long work (data generation, feature extraction, training), from every process of a run, on one console.

The command's process draws every bar with rich on stderr. A run's cloud and device processes
(and the device's program worker) have no terminal of their own worth writing to: the harness
hands each a one-way pipe (``send_to``), and ``follow`` draws what arrives, each bar named by
the process it came from. Updates are small JSON texts; nothing flows back. Bars show when
stderr is a terminal; elsewhere (a log file, a CI job, ``nohup``) work that lasts longer than
``LINE_SECONDS`` prints a plain line that often, and one when it ends, so a long extraction
piped to a file still says how far it got. PROXYBENCH_PROGRESS=0/1 (``Settings.progress``)
forces them off or to terminal bars.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from typing import TypeVar

from .settings import current

T = TypeVar("T")
#: at most this many updates a second per bar cross a pipe (the first and the last always do)
UPDATES_PER_SECOND = 5
#: without a terminal: seconds between two lines about one piece of work (shorter work prints none)
LINE_SECONDS = 30.0
_ids = itertools.count()


class _Silent:
    def show(self, key: str, desc: str, done: float, total: float | None, unit: str, closed: bool) -> None:
        pass


class _Console:
    """One rich Progress on stderr for every bar of this process and of its run's children."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.tasks: dict[str, int] = {}
        self.lock = threading.Lock()

    def show(self, key: str, desc: str, done: float, total: float | None, unit: str, closed: bool) -> None:
        with self.lock:
            if key not in self.tasks:
                if closed:
                    return
                if not self.tasks:
                    self.progress.start()
                self.tasks[key] = self.progress.add_task(desc, total=total, unit=unit)
            self.progress.update(self.tasks[key], completed=done, total=total)
            if closed:
                self.progress.remove_task(self.tasks.pop(key))
                if not self.tasks:
                    self.progress.stop()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class _Lines:
    """Without a terminal: a line per ``LINE_SECONDS`` of each long piece of work, and one when it ends."""

    def __init__(self, stream=None):
        self.stream = stream
        self.started: dict[str, float] = {}
        self.printed: dict[str, float] = {}
        self.lock = threading.Lock()

    def show(self, key: str, desc: str, done: float, total: float | None, unit: str, closed: bool) -> None:
        now = time.monotonic()
        with self.lock:
            start = self.started.setdefault(key, now)
            if closed:  # a line for work that lasted long enough to have been worth following
                del self.started[key]
                self.printed.pop(key, None)
                if now - start < LINE_SECONDS:
                    return
            elif now - self.printed.get(key, start) < LINE_SECONDS:
                return
            else:
                self.printed[key] = now
        count = f"{done:.0f}/{total:.0f}" if total else f"{done:.0f}"
        share = f" ({100 * done / total:.0f}%)" if total else ""
        state = "done" if closed else "so far"
        print(f"proxybench: {desc}: {count} {unit}{share}, {_clock(now - start)} {state}",
              file=self.stream or sys.stderr, flush=True)


class _Pipe:
    """In a run's child: every update goes to the harness, which draws it."""

    def __init__(self, conn: Connection, source: str):
        self.conn, self.source, self.sent = conn, source, {}

    def show(self, key: str, desc: str, done: float, total: float | None, unit: str, closed: bool) -> None:
        now = time.monotonic()
        if not closed and key in self.sent and now - self.sent[key] < 1 / UPDATES_PER_SECOND:
            return
        self.sent[key] = now
        if closed:
            self.sent.pop(key, None)
        try:
            self.conn.send_bytes(json.dumps({"key": f"{self.source}:{os.getpid()}:{key}", "desc": f"{self.source}: {desc}",
                                             "done": done, "total": total, "unit": unit, "closed": closed}).encode())
        except (OSError, ValueError):  # the harness stopped listening: the work goes on without bars
            pass


_sink: _Silent | _Console | _Lines | _Pipe | None = None


def _current_sink() -> _Silent | _Console | _Lines | _Pipe:
    global _sink
    if _sink is None:
        shown = current().progress
        _sink = _Silent() if shown is False else _Console() if shown or sys.stderr.isatty() else _Lines()
    return _sink


def showing() -> bool:
    """Whether this process shows progress (a harness then gives its children pipes to send theirs)."""
    return isinstance(_current_sink(), _Console | _Lines)


def send_to(conn: Connection, source: str) -> None:
    """In a run's child: send every bar's updates over ``conn``, named ``source`` (cloud, device)."""
    global _sink
    _sink = _Pipe(conn, source)


def follow(conn: Connection) -> threading.Thread:
    """Draw what a child sends over ``conn`` until it closes the pipe (a daemon thread of the harness)."""
    sink = _current_sink()

    def read() -> None:
        open_keys = set()
        try:
            while True:
                update = json.loads(conn.recv_bytes(4096))
                key = str(update["key"])
                total = update["total"]
                sink.show(key, "".join(c for c in str(update["desc"]) if c.isprintable())[:60],
                          float(update["done"]), None if total is None else float(total), str(update["unit"])[:10],
                          bool(update["closed"]))
                (open_keys.discard if update["closed"] else open_keys.add)(key)
        except (EOFError, OSError, ValueError, KeyError, TypeError):  # the child ended, or sent what is not an update
            for key in open_keys:
                sink.show(key, "", 0, None, "", closed=True)

    thread = threading.Thread(target=read, daemon=True, name="proxybench-progress")
    thread.start()
    return thread


class Bar:
    """One piece of long work: ``update(n)`` as it goes, ``close()`` (or leave the ``with``) when done."""

    def __init__(self, desc: str, total: int | None, unit: str = "it"):
        self.key, self.desc, self.total, self.unit, self.done = str(next(_ids)), desc, total, unit, 0
        _current_sink().show(self.key, desc, 0, total, unit, closed=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        _current_sink().show(self.key, self.desc, self.done, self.total, self.unit, closed=False)

    def close(self) -> None:
        _current_sink().show(self.key, self.desc, self.done, self.total, self.unit, closed=True)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar(desc: str, total: int | None, unit: str = "it") -> Bar:
    """A manually updated bar, for loops that are not a single iterable."""
    return Bar(desc, total, unit)


def track(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """``iterable``, one bar step per item."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with Bar(desc, total) as progress:
        for item in iterable:
            yield item
            progress.update()
