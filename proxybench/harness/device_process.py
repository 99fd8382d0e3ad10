"""The device process: provisioned once with the client's data and phi, then answering requests.

Its transport is a ``multiprocessing`` connection: a pipe from the harness by default,
or a TCP socket (``proxybench device serve`` listens on loopback, the harness connects),
so a real device could run this same loop.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from multiprocessing.connection import Client, Connection, Listener

import numpy as np

from ..ml.extractor import Extractor
from ..util.errors import ProxybenchError
from ..wire.link import Message, deserialize, failure
from ..wire.runtime import DeviceContext, DeviceRuntime


def apply_settings(env: Message) -> None:
    """The harness's thread cap and PROXYBENCH_* variables, so a child computes exactly as the harness would."""
    from ..util.threads import limit_threads

    os.environ.update(json.loads(env["environment"]))
    limit_threads(int(env["threads"]))


def provision(msg: Message) -> DeviceRuntime:
    """The device's own state from its provisioning message: private data, phi, and its RNG stream."""
    apply_settings(msg)
    labels = msg["labels"] if isinstance(msg["labels"], np.ndarray) else None
    context = DeviceContext(msg["images"], labels, msg["test_images"], msg["test_labels"],
                            Extractor.from_message(msg), np.random.default_rng(json.loads(msg["rng_seed"])))
    return DeviceRuntime(context)


def serve_connection(conn: Connection) -> None:
    """One harness session: provisioning, then requests until ``stop`` or the harness hangs up."""
    try:
        first = deserialize(conn.recv_bytes())
        if first.get("op") != "provision":
            raise ProxybenchError(f"a device session starts with provision, got {first.get('op')!r}")
        runtime = provision(first)
        conn.send_bytes(b"ready")
        while True:
            request = conn.recv_bytes()
            if deserialize(request).get("op") == "stop":
                return
            conn.send_bytes(runtime.handle(request))
    except EOFError:  # the harness closed the link or died
        return
    except Exception as exc:
        try:
            conn.send_bytes(failure(exc))
        except OSError:
            pass
    finally:
        conn.close()


def device_main(conn: Connection | None = None, address: tuple[str, int] | None = None,
                authkey: bytes | None = None) -> None:
    """Entry point of a device process started by the harness: over the given pipe, or serving one TCP session."""
    from ..util.orphan import exit_when_orphaned

    if multiprocessing.parent_process() is not None:  # a process of its own, not the in-process reference
        exit_when_orphaned()
    if conn is not None:
        serve_connection(conn)
        return
    with Listener(address, authkey=authkey) as listener:
        serve_connection(listener.accept())


def serve(host: str, port: int, authkey: bytes, sessions: int | None = None) -> None:
    """``proxybench device serve``: answer harness sessions on ``host:port``, one at a time."""
    with Listener((host, port), authkey=authkey) as listener:
        print(f"proxybench device: listening on {host}:{listener.address[1]}", flush=True)
        served = 0
        while sessions is None or served < sessions:
            serve_connection(listener.accept())
            served += 1


def connect(address: tuple[str, int], authkey: bytes) -> Connection:
    return Client(address, authkey=authkey)
