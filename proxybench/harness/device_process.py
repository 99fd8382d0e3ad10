"""The device process: provisioned once with the client's data and phi, then answering requests.

Its transport is a ``multiprocessing`` connection: a pipe from the harness by default,
or a TCP socket (``proxybench device serve`` listens on loopback, the harness connects),
so a real device could run this same loop.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
from multiprocessing.connection import Client, Connection, Listener

import numpy as np

from ..ml.extractor import Extractor
from ..privacy.release import Units
from ..util.errors import ProxybenchError
from ..wire.context import CallMeter, DeviceContext, ScoringContext
from ..wire.link import Message, deserialize, failure, serialize
from ..wire.runtime import DeviceRuntime, InlinePrograms, noise_generator
from ..wire.timing import TimeGrid
from .confinement import child_environment, confine, enter_environment
from .program_worker import ForkedPrograms


def clean_environment(env: Message) -> None:
    """The harness's settings for children (``confinement.CHILD_SETTINGS``) in an environment of their own."""
    enter_environment(child_environment(json.loads(env["environment"]), env.get("scratch") or None))


def limit_threads(env: Message) -> None:
    """The harness's thread cap, so N concurrent runs do not oversubscribe the cores; after confinement (it may start pools)."""
    from ..util.threads import limit_threads as cap

    cap(int(env["threads"]))


def training_context(msg: Message) -> DeviceContext:
    """The device's training rows and phi, as programs see them (the first provisioning message)."""
    labels = msg["labels"] if isinstance(msg["labels"], np.ndarray) else None
    return DeviceContext(msg["images"], labels, Extractor.from_message(msg), groups=msg["groups"])


def worker_context(msg: Message, scratch: str) -> tuple[DeviceContext, dict]:
    """In the program worker: confine it (writes only its scratch, its HOME and TMPDIR), cap its threads, build the context."""
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    sandbox = confine(write=(scratch,))
    limit_threads(msg)
    return training_context(msg), sandbox


def runtime(programs, msg: Message) -> DeviceRuntime:
    """The runtime from the second provisioning message: the test split, the noise secret, delta, the budget, the grid.

    A device that serves on its own and gets no secret makes one: nobody else then knows its noise.
    """
    secret = msg["secret"].tobytes() if isinstance(msg.get("secret"), np.ndarray) else os.urandom(32)
    budget = msg.get("epsilon_budget")
    return DeviceRuntime(programs, noise_generator(secret, str(msg["run_key"])), float(msg["delta"]),
                         scoring=ScoringContext(msg["test_images"], msg["test_labels"], CallMeter()),
                         epsilon_budget=None if budget is None else float(budget),
                         grid=TimeGrid(base=float(msg.get("grid_base", TimeGrid.base))))


def serve_connection(conn: Connection, isolated: bool = True, epsilon_budget: float | None = None,
                     watchdog: bool = False) -> None:
    """One harness session: provisioning in two steps, then requests until ``stop`` or the harness hangs up.

    The program worker is forked between the steps (``isolated``), so it holds the training
    rows and nothing that arrives later. ``epsilon_budget`` is the device's own (``device
    serve --device-epsilon``); a harness can only tighten it. ``watchdog``: end with the
    parent (a harness's child), started after confinement, which needs a single thread.
    """
    from ..util.orphan import exit_when_orphaned

    programs = None
    try:
        first = deserialize(conn.recv_bytes())
        if first.get("op") != "provision":
            raise ProxybenchError(f"a device session starts with provision, got {first.get('op')!r}")
        if isolated:
            clean_environment(first)
            labels = first["labels"] if isinstance(first["labels"], np.ndarray) else None
            programs = ForkedPrograms(functools.partial(worker_context, first), Units.from_groups(first["groups"]),
                                      labels)
            sandbox = confine()  # the runtime: reads installed code, writes nothing
            limit_threads(first)
        else:
            programs = InlinePrograms(training_context(first))
            sandbox = {"mechanism": "none", "reason": "in-process reference (thread isolation)"}
        del first
        second = deserialize(conn.recv_bytes())
        if second.get("op") != "private":
            raise ProxybenchError(f"a device session's second message is private, got {second.get('op')!r}")
        budgets = [b for b in (epsilon_budget, second.get("epsilon_budget")) if b is not None]
        device = runtime(programs, {**second, "epsilon_budget": min(budgets) if budgets else None})
        worker = getattr(programs, "confinement", sandbox)
        if watchdog:
            exit_when_orphaned()
        conn.send_bytes(serialize({"ready": True, "sandbox": json.dumps({"device": sandbox, "programs": worker}),
                                   "grid_bits": device.grid.bits}))
        while True:
            request = conn.recv_bytes()
            if deserialize(request).get("op") == "stop":
                return
            conn.send_bytes(device.handle(request))
    except EOFError:  # the harness closed the link or died
        return
    except Exception as exc:
        try:
            conn.send_bytes(failure(exc))
        except OSError:
            pass
    finally:
        if isinstance(programs, ForkedPrograms):
            programs.close()
        conn.close()


def device_main(conn: Connection | None = None, address: tuple[str, int] | None = None,
                authkey: bytes | None = None) -> None:
    """Entry point of a device process started by the harness: over the given pipe, or serving one TCP session."""
    isolated = multiprocessing.parent_process() is not None  # a process of its own, not the in-process reference
    if conn is not None:
        serve_connection(conn, isolated, watchdog=isolated)
        return
    with Listener(address, authkey=authkey) as listener:
        serve_connection(listener.accept(), isolated, watchdog=isolated)


def serve(host: str, port: int, authkey: bytes, sessions: int | None = None,
          epsilon_budget: float | None = None) -> None:
    """``proxybench device serve``: answer harness sessions on ``host:port``, one at a time, under its own budget."""
    with Listener((host, port), authkey=authkey) as listener:
        print(f"proxybench device: listening on {host}:{listener.address[1]}", flush=True)
        served = 0
        while sessions is None or served < sessions:
            serve_connection(listener.accept(), epsilon_budget=epsilon_budget)
            served += 1


def connect(address: tuple[str, int], authkey: bytes) -> Connection:
    return Client(address, authkey=authkey)
