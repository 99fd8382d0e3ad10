"""The benchmark's device secret: made once per cache, kept by the harness, never readable by the cloud."""

from __future__ import annotations

import os

from ..util.cache import Cache


def device_secret(cache: Cache) -> bytes:
    """The secret of ``cache`` (``<cache>/secret/device.key``), made on first use.

    It seeds the device runtime's noise (with the run's id), so the same spec on the same
    cache gives the same selection, while nothing the cloud can read determines the noise; and
    it keys the datasets' private parts and test splits (``Dataset.keyed``, docs/datasets.md).
    """
    path = cache.root / "secret" / "device.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(os.urandom(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # the first writer wins; a concurrent run reads its secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()
