"""The device process: provisioned once with the client's data and phi, then answering requests.

Its transport is a ``multiprocessing`` connection: a pipe from the harness by default,
or a TCP socket (``proxybench device serve`` listens on loopback, the harness connects),
so a real device could run this same loop.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener

from ..ml.extractor import Extractor
from ..privacy.release import Units
from ..util.progress import send_to
from ..util.settings import using
from ..wire.context import CallMeter, DeviceContext, ScoringContext
from ..wire.link import deserialize, failure, serialize
from ..wire.runtime import DeviceRuntime, InlinePrograms, noise_generator
from ..wire.timing import TimeGrid
from .confinement import clean_environment, confine, limit_threads
from .device_folder import BudgetLedger, DeviceFolder
from .messages import DevicePrivate, DeviceProvision, DeviceReady, DeviceSession
from .program_worker import ForkedPrograms


def training_context(provision: DeviceProvision) -> DeviceContext:
    """The device's training rows and phi, as programs see them (the first provisioning message)."""
    return DeviceContext(provision.images, provision.labels, Extractor.from_message(provision.start.phi),
                         groups=provision.groups)


def worker_context(provision: DeviceProvision, scratch: str) -> tuple[DeviceContext, dict]:
    """In the program worker: confine it (writes only its scratch, its HOME and TMPDIR), cap its threads, build the context."""
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    sandbox = confine(write=(scratch,))
    limit_threads(provision.start)
    return training_context(provision), sandbox


def runtime(programs, private: DevicePrivate, epsilon_budget: float | None,
            operations: tuple[str, ...] = DeviceRuntime.OPERATIONS) -> DeviceRuntime:
    """The runtime from the second provisioning message: the test split, the noise secret, delta, the budget, the grid.

    A device that serves on its own and gets no secret makes one: nobody else then knows its noise.
    """
    secret = private.secret.tobytes() if private.secret is not None else os.urandom(32)
    return DeviceRuntime(programs, noise_generator(secret, private.run_key), private.delta,
                         scoring=ScoringContext(private.test_images, private.test_labels, CallMeter()),
                         epsilon_budget=epsilon_budget, grid=TimeGrid(base=private.grid_base), operations=operations)


@dataclass(frozen=True)
class OwnData:
    """What a device with its own images serves under: the folder, its delta, and the ledger of its budget."""

    folder: DeviceFolder
    delta: float
    ledger: BudgetLedger


def serve_connection(conn: Connection, isolated: bool = True, epsilon_budget: float | None = None,
                     watchdog: bool = False, own: OwnData | None = None) -> tuple[str, float, float] | None:
    """One harness session: provisioning in two steps, then requests until ``stop`` or the harness hangs up.

    The program worker is forked between the steps (``isolated``), so it holds the training
    rows and nothing that arrives later. ``epsilon_budget`` is the device's own (``device
    serve --device-epsilon``); a harness can only tighten it. ``watchdog``: end with the
    parent (a harness's child), started after confinement, which needs a single thread.
    An isolated device runs under the harness's settings for the session (the torch device).
    ``own``: the device reads its rows from its own folder, answers only calls, and returns
    what the session spent (its key, epsilon, delta) for the ledger; None if it never started.
    """
    from ..util.orphan import exit_when_orphaned

    programs = device = session = None
    try:
        first = deserialize(conn.recv_bytes())
        if own is None:
            provision = DeviceProvision.from_message(first)
        else:
            session = DeviceSession.from_message(first)
            provision = own.folder.provision(session)
        with using(provision.start.settings) if isolated else contextlib.nullcontext():
            if isolated:
                clean_environment(provision.start)
                programs = ForkedPrograms(functools.partial(worker_context, provision),
                                          Units.from_groups(provision.groups), provision.labels)
                sandbox = confine()  # the runtime: reads installed code, writes nothing
                limit_threads(provision.start)
            else:
                programs = InlinePrograms(training_context(provision))
                sandbox = {"mechanism": "none", "reason": "in-process reference (thread isolation)"}
            del provision
            if own is None:
                private = DevicePrivate.from_message(deserialize(conn.recv_bytes()))
                budgets = [b for b in (epsilon_budget, private.epsilon_budget) if b is not None]
                device = runtime(programs, private, min(budgets) if budgets else None)
            else:
                private = own.folder.private(session, own.delta, own.ledger.remaining)
                device = runtime(programs, private, private.epsilon_budget, operations=("call",))
            del private
            worker = getattr(programs, "confinement", sandbox)
            if watchdog:
                exit_when_orphaned()
            conn.send_bytes(serialize(DeviceReady({"device": sandbox, "programs": worker}, device.grid.bits).to_message()))
            while True:
                request = conn.recv_bytes()
                if deserialize(request).get("op") == "stop":
                    break
                conn.send_bytes(device.handle(request))
    except EOFError:  # the harness closed the link or died
        pass
    except Exception as exc:
        try:
            conn.send_bytes(failure(exc))
        except OSError:
            pass
    finally:
        if isinstance(programs, ForkedPrograms):
            programs.close()
        conn.close()
    if device is None or session is None:
        return None
    spent = device.epsilon_spent  # None: a program failed on the data, a release without a guarantee
    return session.run_key, float("inf") if spent is None else spent, device.delta


def device_main(conn: Connection | None = None, address: tuple[str, int] | None = None,
                authkey: bytes | None = None, bars: Connection | None = None) -> None:
    """Entry point of a device process started by the harness: over the given pipe, or serving one TCP session.

    Its progress bars (and its program worker's) go over ``bars``, where the harness draws them.
    """
    isolated = multiprocessing.parent_process() is not None  # a process of its own, not the in-process reference
    if bars is not None:
        send_to(bars, "device")
    if conn is not None:
        serve_connection(conn, isolated, watchdog=isolated)
        return
    with Listener(address, authkey=authkey) as listener:
        serve_connection(listener.accept(), isolated, watchdog=isolated)


def _session(conn: Connection, epsilon_budget: float | None, own: OwnData | None, spent: Connection) -> None:
    """One session in a process of its own, which confines itself; what it spent goes back to ``serve``."""
    try:
        spent.send(serve_connection(conn, epsilon_budget=epsilon_budget, own=own))
    finally:
        spent.close()


def serve(host: str, port: int, authkey: bytes, sessions: int | None = None,
          epsilon_budget: float | None = None, own: OwnData | None = None) -> None:
    """``proxybench device serve``: answer sessions on ``host:port``, one at a time, under its own budget.

    Each session runs in a forked process that confines itself, so this one stays able to
    read the device's folder and write its ledger for the next. With ``own`` data, the
    budget is the ledger's, over every session; a session that died without saying what it
    spent is booked as having spent it all.
    """
    fork = multiprocessing.get_context("fork")
    with Listener((host, port), authkey=authkey) as listener:
        print(f"proxybench device: listening on {host}:{listener.address[1]}", flush=True)
        if own is not None:
            print(f"proxybench device: serving {own.folder.describe()}; epsilon budget {own.ledger.total:g} at delta "
                  f"{own.delta:g}, {own.ledger.remaining:.4g} left", flush=True)
        served = 0
        while sessions is None or served < sessions:
            conn = listener.accept()
            ours, theirs = fork.Pipe(duplex=False)
            worker = fork.Process(target=_session, args=(conn, epsilon_budget, own, theirs))
            worker.start()
            conn.close()
            theirs.close()
            worker.join()
            served += 1
            if own is not None:
                booked = ours.recv() if ours.poll() else ("(died)", float("inf"), own.delta)
                if booked is not None:
                    own.ledger.book(*booked)
                spent = f"spent {booked[1]:.4g}" if booked else "ended before provisioning"
                print(f"proxybench device: session {served} {spent}; {own.ledger.remaining:.4g} of "
                      f"{own.ledger.total:g} left", flush=True)
            ours.close()


def connect(address: tuple[str, int], authkey: bytes) -> Connection:
    return Client(address, authkey=authkey)
