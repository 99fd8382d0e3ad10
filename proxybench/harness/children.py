"""The cloud and device processes of one run: how they are started, connected and stopped.

Children fork from a clean forkserver that imported torch once, not from the harness's
memory. The device is reached over a pipe, over TCP on loopback, or at the address of a
device that serves on its own (``proxybench device serve``).
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from ..ml.extractor import Extractor
from ..util.errors import ProxybenchError
from ..util.progress import follow, showing
from ..wire.link import serialize
from .cloud import cloud_main
from .confinement import child_variables
from .device_process import connect, device_main
from .messages import ChildStart
from .options import HarnessOptions

#: What the forkserver imports once before it forks children: the modules they run.
PRELOAD = (cloud_main.__module__, device_main.__module__)


def child_context() -> multiprocessing.context.BaseContext:
    """Children fork from a clean server that imported torch once, not from the harness's memory.

    Its OpenMP threads wait passively (set before the server starts, when libgomp reads it):
    a run's processes take turns, and threads that spin while another process computes
    take the cores from it, worst when other work shares the machine.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ProxybenchError(f"device address {text!r} is not HOST:PORT (e.g. 127.0.0.1:7340)")
    return host, int(port)


def connect_when_up(address: tuple[str, int], authkey: bytes, alive: Callable[[], bool], timeout: float = 120.0):
    """Connect to a device that is starting to listen; give up when it died or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(address, authkey)
        except (ConnectionRefusedError, FileNotFoundError):
            if not alive() or time.monotonic() > deadline:
                raise ProxybenchError(f"the device process at {address[0]}:{address[1]} did not come up") from None
            time.sleep(0.05)


@contextmanager
def _children_allowed():
    """Let a daemonic process (a Dask worker, say) start a run's children.

    multiprocessing refuses because a daemon's children could outlive it; ours cannot:
    they exit when their parent goes (``orphan.exit_when_orphaned``) or their pipe closes.
    """
    config = multiprocessing.current_process()._config
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is not None:
            config["daemon"] = daemon


class Children:
    """The cloud and device endpoints of one run, as processes (or threads, for the reference)."""

    def __init__(self, options: HarnessOptions):
        ctx = child_context() if options.isolation == "process" else None
        self.workers: list[Any] = []
        self.progress: list[threading.Thread] = []  # each draws a child's bars here (util/progress.py)

        def start(target, *args) -> Any:
            bars = None
            if ctx is not None and showing():  # a thread of this process draws its own
                ours, bars = multiprocessing.Pipe(duplex=False)
                self.progress.append(follow(ours))
            worker = (ctx.Process(target=target, args=(*args, bars), daemon=True) if ctx is not None
                      else threading.Thread(target=target, args=args, daemon=True))
            with _children_allowed():
                worker.start()
            if bars is not None:
                bars.close()  # the child holds its own end: the pipe ends when the child does
            self.workers.append(worker)
            return worker

        self.cloud, cloud_end = multiprocessing.Pipe()
        start(cloud_main, cloud_end)
        if options.device_address is not None:  # a device that serves on its own (proxybench device serve)
            try:
                self.device = connect_when_up(parse_address(options.device_address),
                                              options.settings.device_authkey.encode(), lambda: True, timeout=10.0)
            except ProxybenchError:
                self.close()
                raise ProxybenchError(f"no device answered at {options.device_address} within 10 s: is `proxybench "
                                      "device serve` running there, and reachable from here?") from None
        elif options.transport == "tcp":
            address, key = ("127.0.0.1", free_port()), secrets.token_bytes(16)
            worker = start(device_main, None, address, key)
            self.device = connect_when_up(address, key, worker.is_alive)
        else:
            self.device, device_end = multiprocessing.Pipe()
            start(device_main, device_end, None, None)

    def exchange(self, request: bytes) -> bytes:
        try:
            self.device.send_bytes(request)
            return self.device.recv_bytes()
        except (EOFError, OSError) as exc:
            raise ProxybenchError(f"the device process ended unexpectedly ({type(exc).__name__})") from exc

    def close(self) -> None:
        device = getattr(self, "device", None)  # None: closed because the device could not be reached
        for conn in (c for c in (self.cloud, device) if c is not None):
            try:
                if conn is device:
                    conn.send_bytes(serialize({"op": "stop"}))
                conn.close()
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.join(timeout=10)
            if isinstance(worker, multiprocessing.process.BaseProcess) and worker.is_alive():
                worker.kill()
                worker.join()
        for thread in self.progress:
            thread.join(timeout=1)


def child_start(options: HarnessOptions, extractor: Extractor) -> ChildStart:
    """What both children start with: the harness's thread cap, the variables C libraries read, the settings, phi."""
    import torch

    return ChildStart(threads=torch.get_num_threads(), environment=child_variables(),
                      settings=options.settings.for_children(), phi=extractor.to_message())
