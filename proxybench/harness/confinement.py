"""How each process of a run is confined, and the clean environment the children start with.

The device's program worker writes only its scratch folder; the device runtime writes
nothing; the cloud reads its pool folder and installed code and writes only its scratch
and its own cache. None reaches the network (a TCP device link is the harness's, opened
before confinement) or another process's memory. Where the platform cannot confine
(``util.sandbox``), the record says ``none`` and why.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Settings a child reads from its environment; everything else of the harness's environment stays behind.
CHILD_SETTINGS = ("PROXYBENCH_PROGRESS", "PROXYBENCH_TORCH_DEVICE", "PROXYBENCH_SCHEDULER", "PROXYBENCH_STRICT_PLUGINS",
                  "OMP_WAIT_POLICY")


def child_environment(settings: dict[str, str], scratch: str | None = None) -> dict[str, str]:
    """A clean environment: a plain PATH and locale, the thread caps, the named settings; HOME and TMPDIR in scratch."""
    env = {"PATH": os.defpath, "LANG": "C.UTF-8"}
    env.update({k: v for k, v in settings.items() if k in CHILD_SETTINGS or k.endswith("_NUM_THREADS")})
    if scratch:
        env["HOME"] = env["TMPDIR"] = scratch
    return env


def harness_settings() -> dict[str, str]:
    """What the harness passes down: its thread caps and the settings children may read."""
    return {k: v for k, v in os.environ.items() if k in CHILD_SETTINGS or k.endswith("_NUM_THREADS")}


def enter_environment(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


def confine(read: tuple[str, ...] = (), write: tuple[str, ...] = (), tcp_open: bool = False) -> dict[str, Any]:
    """Confine this process (Landlock where the platform has it); the record of what was done.

    ``tcp_open`` leaves TCP unrestricted: only for a cloud that runs its pool passes on a dask
    cluster (``--scheduler``), whose workers' ports are not known in advance; the record says so.
    """
    from ..util.errors import ProxybenchError
    from ..util.sandbox import SandboxPolicy, runtime_read_paths
    from ..util.sandbox import confine as landlock

    module_dirs = tuple({os.path.dirname(m.__file__) for m in list(sys.modules.values())
                         if getattr(m, "__file__", None)})
    try:
        done = landlock(SandboxPolicy(read=runtime_read_paths() + module_dirs + tuple(read), write=tuple(write),
                                      tcp_open=tcp_open))
    except ProxybenchError as exc:
        return {"mechanism": "none", "reason": str(exc)}
    return done.to_record()
