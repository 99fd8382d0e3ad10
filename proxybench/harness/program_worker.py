"""Device programs in a process of their own: the device's training rows, and nothing of the runtime.

The device process forks this worker right after it holds the training rows, before the
test split, the noise secret or the budget reach it, so none of them is in the
worker's memory. The worker confines itself (``util.sandbox``: it writes only a scratch
folder that is removed after the run, reaches no network and no other process), then
answers ``(program, message)`` with what the program returned. The runtime on the
other end of the pipe applies the mechanism, so untrusted code never sees the
noise generator, cannot patch the mechanism, and cannot read the test split.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe

import numpy as np

from ..privacy.release import Units
from ..util.errors import ProxybenchError
from ..wire.context import DeviceContext
from ..wire.link import Message, as_field, deserialize, serialize
from ..wire.runtime import InlinePrograms, ProgramResult


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a live process, read by its parent (the program cannot misreport it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _serve(conn: Connection, make_context: Callable[[str], tuple[DeviceContext, dict]], scratch: str) -> None:
    context, sandbox = make_context(scratch)
    conn.send_bytes(serialize({"confinement": json.dumps(sandbox)}))
    programs = InlinePrograms(context)  # in this process, the worker, programs run inline
    while True:
        try:
            request = deserialize(conn.recv_bytes())
        except EOFError:
            return
        result = programs.run(str(request["program"]), deserialize(request["payload"].tobytes()),
                              neighbour=str(request["neighbour"]))
        out: Message = {"flops": result.flops, "cpu_seconds": result.cpu_seconds, "error_type": result.error_type}
        try:
            if result.error_type is None and isinstance(result.value, np.ndarray):
                out["contributions"] = result.value
            elif result.error_type is None:
                out["reply"] = as_field(serialize(result.value))
        except Exception as exc:  # a reply that cannot cross is the program's failure
            out["error_type"] = type(exc).__name__
        conn.send_bytes(serialize(out))


class ForkedPrograms:
    """The runtime's end of the program worker: ``run`` sends a program and a message, gets its result back.

    The worker confines itself and builds its context (``make_context(scratch)`` returns the
    context and the confinement's record), so the device process forks before it ever runs
    torch: a process forked after its OpenMP pool started would hang in its first parallel region.
    """

    def __init__(self, make_context: Callable[[str], tuple[DeviceContext, dict]], units: Units,
                 labels: np.ndarray | None):
        self.units = units
        self.labels = labels
        self.scratch = tempfile.mkdtemp(prefix="proxybench-device-")
        ours, theirs = Pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the worker
            code = 0
            try:
                ours.close()
                _serve(theirs, make_context, self.scratch)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self.conn = ours
        try:
            self.confinement = json.loads(deserialize(self.conn.recv_bytes())["confinement"])
        except (EOFError, OSError):
            raise ProxybenchError("the device's program worker failed to start") from None

    def run(self, program: str, message: Message, neighbour: str = "none") -> ProgramResult:
        before = _cpu_seconds(self.pid)
        try:
            self.conn.send_bytes(serialize({"program": program, "payload": as_field(serialize(message)),
                                            "neighbour": neighbour}))
            out = deserialize(self.conn.recv_bytes())
        except (EOFError, OSError) as exc:
            raise ProxybenchError(f"the device's program worker ended ({type(exc).__name__})") from None
        after = _cpu_seconds(self.pid)
        seconds = after - before if before is not None and after is not None else float(out["cpu_seconds"])
        if out.get("error_type"):
            return ProgramResult(None, int(out["flops"]), seconds, str(out["error_type"]))
        value = out["contributions"] if "contributions" in out else deserialize(out["reply"].tobytes())
        return ProgramResult(value, int(out["flops"]), seconds)

    def close(self) -> None:
        try:
            self.conn.close()
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass
        shutil.rmtree(self.scratch, ignore_errors=True)
