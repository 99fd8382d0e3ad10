"""What names a run in a table: its plugins' non-default parameters, as its record keeps them.

A record keeps, as ``non_default``, the names of the sampler's, the task's and the dataset's
parameters that differed from that plugin's defaults when it ran (``{"sampler": ["sigma"], ...}``;
the values are the spec's, every parameter resolved). Tables read them from there, so a table
is the same whatever plugins are installed when it is rebuilt.

Records written before that key are read against the built-ins' defaults of the code that
wrote the last of them (results.legacy_defaults), and a plugin outside those shows every
parameter it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import legacy_defaults

#: The plugins whose parameters a record names as non-default.
PLUGIN_KINDS = ("sampler", "task", "dataset")
#: The mark of a row whose sampler is not a deployable private or client-free method.
MARKS = {"oracle": "†", "privacy-free": "‡"}


def non_default_names(spec: dict[str, Any], classes: Mapping[str, type] | None = None) -> dict[str, list[str]]:
    """A new record's ``non_default``: per plugin, the resolved spec's parameters that differ from its defaults.

    ``classes``: the plugins' classes by kind where the caller holds them (a run's ``ResolvedRun``), else looked up.
    """
    from ..contract.registry import plugin_class

    out = {}
    for kind in PLUGIN_KINDS:
        defaults = (classes[kind] if classes is not None else plugin_class(kind, spec[kind])).defaults()
        out[kind] = sorted(k for k, v in spec[f"{kind}_params"].items() if k not in defaults or defaults[k] != v)
    return out


def changed_params(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """The parameters of the record's ``kind`` plugin that were not its defaults, sorted by name."""
    spec = record["spec"]
    params = spec.get(f"{kind}_params") or {}
    names = (record.get("non_default") or {}).get(kind)
    if names is None:  # written before records kept it
        defaults = legacy_defaults.DEFAULTS[kind].get(spec[kind], {})
        names = [k for k, v in params.items() if k not in defaults or defaults[k] != v]
    return {k: params[k] for k in sorted(names)}


def sampler_kind(record: dict[str, Any]) -> str | None:
    """What the run did with the device's data; in a record older than that, what its built-in sampler declared."""
    return record.get("sampler_kind") or legacy_defaults.KINDS.get(record["spec"]["sampler"])


def sampler_variant(record: dict[str, Any]) -> str:
    """``ecos (sigma=20)``: the sampler and its non-default parameters."""
    changed = changed_params(record, "sampler")
    name = record["spec"]["sampler"]
    return f"{name} ({', '.join(f'{k}={v}' for k, v in changed.items())})" if changed else name


def marked(variant: str, kind: str | None) -> str:
    """A variant with the mark of its kind (``upload-raw ‡``)."""
    return f"{variant} {MARKS[kind]}" if kind in MARKS else variant


def variant_label(record: dict[str, Any]) -> str:
    """A run's row label in tables and figures: its sampler variant, marked by what the run did."""
    return marked(sampler_variant(record), sampler_kind(record))
