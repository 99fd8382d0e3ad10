"""A dask.distributed client: on an existing cluster (tcp://HOST:PORT), or on a loopback LocalCluster.

One helper for everything that computes on dask (a sweep's runs, ECOS's cloud side), so a
bad address or a missing install ends the same way everywhere: one ProxybenchError line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import ProxybenchError

#: How long connecting to an existing scheduler may take before the address counts as bad.
CONNECT_TIMEOUT = "5s"


def import_distributed() -> Any:
    """The ``distributed`` module, or a ProxybenchError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ProxybenchError("computing on dask needs dask.distributed: pip install 'proxybench[dask]'") from exc
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int = 2, processes: bool = True) -> Iterator[Any]:
    """A Client of ``scheduler``, or of a LocalCluster of ``workers`` one-thread workers on 127.0.0.1 when None.

    An address that does not parse or does not answer within ``CONNECT_TIMEOUT`` is a
    ProxybenchError naming it, not a traceback. Workers that are threads (``processes=False``,
    what a daemonic process may start) still talk TCP on 127.0.0.1: dask's default for them,
    its in-process transport, cannot take a host and fails to start with one.
    """
    distributed = import_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=CONNECT_TIMEOUT))
            except (OSError, ValueError, TypeError) as exc:
                raise ProxybenchError(f"cannot use the dask scheduler {scheduler!r} (expected tcp://HOST:PORT of a "
                                      f"running scheduler): {exc}") from exc
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=processes, host="127.0.0.1", protocol="tcp://",
                dashboard_address=None, silence_logs=40,
                # the scheduler's HTTP routes (health, metrics) on a free loopback port, not on every interface's
                # 8787, which a second cluster finds taken (a warning on the command's stderr)
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            ))
            client = stack.enter_context(distributed.Client(cluster))
        yield client
