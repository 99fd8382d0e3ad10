"""The user's ``PROXYBENCH_*`` environment variables as one typed object, read once (docs/settings.md).

The command line reads the environment at its edge (``Settings.from_environment``) and runs the
command inside ``using(settings)``; a run's children get theirs in their start message, a sweep's
workers as an argument. Code deep in a process (the torch device, progress bars, the dask
scheduler, strict plugin loading) asks ``current()``: the settings in use, or, where nothing set
any (a script or a test calling the library), the environment as it is now. Nothing writes
``os.environ`` to pass a setting on.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Each field's variable (docs/settings.md says what each does and its default).
VARIABLES = {
    "cache_dir": "PROXYBENCH_CACHE_DIR",
    "progress": "PROXYBENCH_PROGRESS",
    "torch_device": "PROXYBENCH_TORCH_DEVICE",
    "scheduler": "PROXYBENCH_SCHEDULER",
    "strict_plugins": "PROXYBENCH_STRICT_PLUGINS",
    "device_transport": "PROXYBENCH_DEVICE_TRANSPORT",
    "device_authkey": "PROXYBENCH_DEVICE_AUTHKEY",
}
DEFAULT_AUTHKEY = "proxybench"


def _flag(text: str | None, off: tuple[str, ...]) -> bool | None:
    return None if text is None else text.strip() not in off


@dataclass(frozen=True)
class Settings:
    """What the ``PROXYBENCH_*`` variables say; a field is None where its variable is unset and that means "decide"."""

    cache_dir: str | None = None  # None: $XDG_CACHE_HOME/proxybench, else ~/.cache/proxybench
    progress: bool | None = None  # None: bars only when stderr is a terminal
    torch_device: str | None = None  # as spelt (checked by ml.accelerator); None: the CPU
    scheduler: str | None = None  # a dask scheduler for the cloud's pool passes; None: in-process
    strict_plugins: bool = False  # a plugin that fails to load is an error, not a warning
    device_transport: str = "pipe"  # the default of --device-transport
    device_authkey: str = field(default=DEFAULT_AUTHKEY, repr=False)  # a served device's key: kept out of reprs

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            cache_dir=env.get(VARIABLES["cache_dir"]) or None,
            progress=_flag(env.get(VARIABLES["progress"]), ("0", "false", "no", "off")),
            torch_device=env.get(VARIABLES["torch_device"]),
            scheduler=env.get(VARIABLES["scheduler"]) or None,
            strict_plugins=bool(_flag(env.get(VARIABLES["strict_plugins"], ""), ("", "0", "false", "no"))),
            device_transport=env.get(VARIABLES["device_transport"], "pipe"),
            device_authkey=env.get(VARIABLES["device_authkey"], DEFAULT_AUTHKEY),
        )

    def for_children(self) -> Settings:
        """What a run's cloud and device processes get: not the cache folder, the transport or the device's key.

        They read none of them (the cloud is given its own cache), and the cloud runs plugin code.
        """
        return dataclasses.replace(self, cache_dir=None, device_transport="pipe", device_authkey=DEFAULT_AUTHKEY)

    def to_message(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Settings:
        return cls(**message)


_in_use: Settings | None = None


def current() -> Settings:
    """The settings in use in this process (``using``), else the environment's as it is now."""
    return _in_use if _in_use is not None else Settings.from_environment()


@contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """``settings`` for this process until the block ends (a command, a run, a child's session)."""
    global _in_use
    before = _in_use
    _in_use = settings
    try:
        yield settings
    finally:
        _in_use = before


def refine(**changes: Any) -> Settings:
    """Change the settings of the enclosing ``using`` block (the command's flags, once checked, before any work)."""
    global _in_use
    if _in_use is None:
        raise RuntimeError("refine() outside a using() block: there are no settings in use to change")
    _in_use = dataclasses.replace(_in_use, **changes)
    return _in_use
