"""Device programs: what the device runs, sent by reference.

A device program is a module-level function ``(DeviceContext, Message)``: it returns the
contributions of a release the request names (``privacy.release``), or a raw reply message.
The cloud names it as ``module:qualname`` (as a real device would install a program);
the device imports it by that name. Lambdas, closures and methods cannot be sent.
"""

from __future__ import annotations

import importlib

from ..util.errors import ProxybenchError
from .context import DeviceProgram


def program_ref(program: DeviceProgram) -> str:
    """``module:qualname`` of a device program; lambdas, closures and bound methods cannot be installed on a device."""
    module, qualname = getattr(program, "__module__", None), getattr(program, "__qualname__", None)
    if not module or not qualname or "<" in qualname or "." in qualname:
        raise ProxybenchError(
            f"device program {program!r} is not a module-level function: the device installs programs by "
            "reference (module:name), so lambdas, closures and methods cannot be sent; define it at module level"
        )
    ref = f"{module}:{qualname}"
    if module == "__main__":
        raise ProxybenchError(f"device program {ref} lives in __main__, which the device process cannot import; "
                              "move it into an importable module")
    try:
        found = resolve_program(ref)
    except ProxybenchError as exc:
        raise ProxybenchError(f"device program {ref} cannot be installed: {exc}") from exc
    if found is not program:
        raise ProxybenchError(f"device program {ref} does not resolve to the function given (redefined at run time?)")
    return ref


def resolve_program(ref: str) -> DeviceProgram:
    module_name, _, name = ref.partition(":")
    try:
        program = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ProxybenchError(f"no device program {ref!r}: {exc}") from exc
    if not callable(program):
        raise ProxybenchError(f"device program {ref!r} is not callable")
    return program
