"""Modules loaded on first use: the command line lists and checks plugins without paying for them."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """``name`` as a module that runs on its first attribute access (the standard library's ``LazyLoader``).

    dp-accounting imports scipy's statistics and signal packages (about 0.8 s): reading a
    sampler's class, which names its privacy types, must not cost that.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
