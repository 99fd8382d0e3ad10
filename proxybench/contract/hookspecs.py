"""The plugin contract: what a proxybench plugin may provide (pluggy, project "proxybench").

Each ``register`` hook returns the plugin classes a distribution offers, in the style
of datasette's ``register_*`` hooks; the class's ``name`` is its public API.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("proxybench")
hookimpl = pluggy.HookimplMarker("proxybench")


@hookspec
def proxybench_samplers() -> list[type]:
    """Sampler classes this plugin provides."""


@hookspec
def proxybench_tasks() -> list[type]:
    """Task classes this plugin provides."""


@hookspec
def proxybench_datasets() -> list[type]:
    """Dataset classes this plugin provides."""


@hookspec
def proxybench_weights() -> list[type]:
    """Weight sources (how the selection extractor phi gets its weights)."""


@hookspec
def proxybench_run_finished(record: dict[str, Any]) -> None:
    """Called with every finished RunRecord (as a dict), for loggers and exporters."""
