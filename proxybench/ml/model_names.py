"""Task model names, checked without loading torch or timm where the name is proxybench's own.

``pb_cnn`` and ``pb_cnn_small`` (``models``) are known by name here, so a task with the default
model is checked in a moment (the command line checks specs before any heavy import); any
other name is looked up in timm's registry, which imports timm.
"""

from __future__ import annotations

from ..util.errors import ProxybenchError, closest

#: The task models proxybench registers with timm (``models``).
LOCAL_MODELS = ("pb_cnn", "pb_cnn_small")


def check_model_name(name: str) -> None:
    """Fail at once on a name timm does not know, before any data is made or model trained."""
    if name in LOCAL_MODELS:
        return
    import timm

    from . import models  # noqa: F401  (registers proxybench's own models with timm)

    if not timm.is_model(name):
        raise ProxybenchError(f"unknown timm model {name!r}{closest(name, timm.list_models())}; "
                              "timm.list_models() lists the names (and pb_cnn, pb_cnn_small)")
