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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import ChildStart

#: Variables a child keeps from the harness's environment, with every ``*_NUM_THREADS``: C libraries (OpenMP,
#: BLAS) read them, not proxybench's settings, which a child gets in its start message (``ChildStart``).
#: Everything else of the harness's environment stays behind.
CHILD_SETTINGS = ("OMP_WAIT_POLICY",)


def _kept(name: str) -> bool:
    return name in CHILD_SETTINGS or name.endswith("_NUM_THREADS")


def child_environment(variables: dict[str, str], scratch: str | None = None) -> dict[str, str]:
    """A clean environment: a plain PATH and locale, the harness's thread variables; HOME and TMPDIR in scratch."""
    env = {"PATH": os.defpath, "LANG": "C.UTF-8"}
    env.update({k: v for k, v in variables.items() if _kept(k)})
    if scratch:
        env["HOME"] = env["TMPDIR"] = scratch
    return env


def child_variables() -> dict[str, str]:
    """What the harness passes down of its environment: its thread caps and the other variables C libraries read."""
    return {k: v for k, v in os.environ.items() if _kept(k)}


def enter_environment(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


def confine(read: tuple[str, ...] = (), write: tuple[str, ...] = (), tcp_open: bool = False,
            other_processes: bool = True) -> dict[str, Any]:
    """Confine this process (Landlock where the platform has it); the record of what was done.

    ``tcp_open`` leaves TCP unrestricted: only for a cloud that runs its pool passes on a dask
    cluster (``--scheduler``), whose workers' ports are not known in advance; the record says so.
    ``other_processes=False`` keeps it out of other processes' /proc folders (their command lines).
    """
    from ..util.errors import ProxybenchError
    from ..util.sandbox import SandboxPolicy, runtime_read_paths
    from ..util.sandbox import confine as landlock

    module_dirs = tuple({os.path.dirname(m.__file__) for m in list(sys.modules.values())
                         if getattr(m, "__file__", None)})
    try:
        done = landlock(SandboxPolicy(read=runtime_read_paths(other_processes) + module_dirs + tuple(read), write=tuple(write),
                                      tcp_open=tcp_open))
    except ProxybenchError as exc:
        return {"mechanism": "none", "reason": str(exc)}
    return done.to_record()


def clean_environment(start: ChildStart, scratch: str | None = None) -> None:
    """A child's own environment: the harness's thread variables only (``child_environment``)."""
    enter_environment(child_environment(start.environment, scratch))


def limit_threads(start: ChildStart) -> None:
    """The harness's thread cap, so N concurrent runs do not oversubscribe the cores; after confinement (it may start pools)."""
    from ..util.threads import limit_threads as cap

    cap(start.threads)
