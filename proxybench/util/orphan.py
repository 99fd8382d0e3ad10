"""Child processes that end themselves when their parent dies (killed by the OOM killer, say).

A process blocked on a queue or a pipe would otherwise live on, holding its memory, for
as long as nobody kills it. Sweep workers, device and cloud processes call this first.
"""

from __future__ import annotations

import os
import threading
import time


def exit_when_orphaned(poll_seconds: float = 1.0, parent_pid: int | None = None) -> None:
    """Start a daemon thread that ends this process (``os._exit(1)``) within ``poll_seconds`` of its parent's death.

    ``parent_pid`` is the pid the parent had; give it (the parent's ``os.getpid()``, passed down)
    when the parent may already be dead by the time this runs, since ``os.getppid()`` then names
    the reaper that adopted this process. Polling works wherever ``getppid`` does, and a dead
    parent cannot come back, so no signal set-up or cleanup is needed.
    """
    parent = os.getppid() if parent_pid is None else parent_pid

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-when-orphaned", daemon=True).start()
