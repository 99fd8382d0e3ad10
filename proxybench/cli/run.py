"""``proxybench run`` (one spec, its summary table) and ``proxybench device serve``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..contract.params import split_param
from ..contract.registry import registry
from ..ml.accelerator import CHOICES, ENV_VAR, resolve
from ..ml.cluster_pool import SCHEDULER_ENV, connect, scheduler_setting
from ..run.spec import RunSpec
from ..util.cache import Cache
from ..util.errors import ProxybenchError

EPILOG_RUN = """\
examples:
  proxybench run --sampler ecos --task autolabel
  proxybench run --sampler random --client-domain photo --budget 500 --seed 1
  proxybench run --sampler ecos --param sigma=20 --param R=200
  proxybench run --sampler ecos --param task.k=30          (prefix when sampler and task share a name)
  proxybench run --sampler ecos --scheduler local:2         (ECOS's cloud-side passes on a 2-worker LocalCluster)
  proxybench run --sampler ecos --scheduler tcp://10.0.0.5:8786   (... on a running dask scheduler)

Parameters of the chosen sampler, task and dataset are listed by
`proxybench list samplers|tasks|datasets`. Each run writes one JSON RunRecord,
named by the hash of its full spec, into --results-dir.
"""


def add_torch_device_arg(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--torch-device`` on a command that builds runs (run, sweep, audit)."""
    parser.add_argument("--torch-device", default=None, metavar="|".join(CHOICES),
                        help=f"where phi, task models, teachers and scoring run (default: ${ENV_VAR}, else cpu); "
                             "auto takes CUDA, then MPS, else the CPU; k-means and k-center stay on the CPU")
    return parser


def use_torch_device(value: str | None) -> None:
    """Resolve ``--torch-device`` (else ``$PROXYBENCH_TORCH_DEVICE``) once, before any run starts.

    A device this machine lacks fails here, in one line; ``auto`` says on stderr what it chose.
    The concrete device goes into the environment, which the harness forwards to the cloud and
    device processes (and sweep workers inherit), so every process of every run uses the same one.
    Neither given: nothing is touched, and torch runs on the CPU as it always did.
    """
    requested = value if value is not None else os.environ.get(ENV_VAR)
    if requested is None:
        return
    device, note = resolve(requested)
    if note:
        print(f"proxybench: {note}", file=sys.stderr)
    os.environ[ENV_VAR] = str(device)


@contextlib.contextmanager
def cluster_for_run(value: str | None) -> Iterator[None]:
    """``--scheduler`` for the run's duration: checked, connected (or started), and named to the cloud process.

    ``local[:WORKERS]`` starts the LocalCluster here, in the command's process (the cloud
    process is a daemon and may not start worker processes), and the cloud process reaches
    it by its address; an address must answer before the run starts. A bad value is one
    ProxybenchError line. Only the cloud process reads ``$PROXYBENCH_SCHEDULER``
    (``pool_on_cluster``); the device process ignores it.
    """
    if value is None:
        yield
        return
    os.environ[SCHEDULER_ENV] = value
    try:
        with connect(scheduler_setting()) as client:
            os.environ[SCHEDULER_ENV] = client.scheduler.address
            yield
    finally:
        os.environ.pop(SCHEDULER_ENV, None)


def _parse_params(items: list[str], spec_kwargs: dict[str, Any]) -> None:
    """Route ``key=value`` pairs to the sampler, task or dataset that declares ``key``."""
    reg = registry()
    owners = {
        "sampler": reg.get("sampler", spec_kwargs["sampler"]),
        "task": reg.get("task", spec_kwargs["task"]),
        "dataset": reg.get("dataset", spec_kwargs["dataset"]),
    }
    for item in items:
        prefix, key, value = split_param(item)
        if prefix in owners:
            targets = [prefix]
        else:
            key = f"{prefix}.{key}" if prefix else key
            targets = [kind for kind, cls in owners.items() if key in cls.param_fields()]
        if not targets:
            known = {kind: sorted(cls.param_fields()) for kind, cls in owners.items()}
            listing = "; ".join(f"{kind} {owners[kind].name}: {', '.join(v) or '(none)'}" for kind, v in known.items())
            raise ProxybenchError(f"unknown parameter {key!r}. Known parameters: {listing}")
        if len(targets) > 1:
            raise ProxybenchError(
                f"parameter {key!r} belongs to several plugins ({', '.join(targets)}); "
                f"write it as {targets[0]}.{key}=... or {targets[1]}.{key}=..."
            )
        spec_kwargs[f"{targets[0]}_params"][key] = value


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _fmt_eps(eps: float | None) -> str:
    return "none (privacy-free)" if eps is None else f"{eps:.3g}"


def summary_table(record: dict[str, Any]) -> Table:
    spec, m, sel, led, dev, priv = (record[k] for k in ("spec", "metrics", "selection", "ledger", "device", "privacy"))
    t = Table(title=f"{spec['sampler']} -> {spec['task']} on {spec['dataset']}/{spec['client_domain']}, "
                    f"budget {spec['budget']}, seed {spec['seed']}", show_header=True)
    t.add_column("axis")
    t.add_column("value", justify="right")
    t.add_row("accuracy (device test set)", f"{m['accuracy']:.4f}")
    for key, value in m.items():
        if key != "accuracy" and isinstance(value, float):
            t.add_row(f"  {key}", f"{value:.4f}")
    t.add_row("selection in-domain share", f"{sel['in_domain_share']:.3f} (pool: {sel['pool_in_domain_share']:.3f})")
    t.add_row("selection outside label space", f"{sel['outside_label_space_share']:.3f}")
    for phase, v in led["by_phase"].items():
        if v["up"] or v["down"]:
            t.add_row(f"bytes {phase} (up / down)", f"{_fmt_bytes(v['up'])} / {_fmt_bytes(v['down'])}")
    t.add_row("bytes total (up / down)", f"{_fmt_bytes(led['bytes_up'])} / {_fmt_bytes(led['bytes_down'])}")
    t.add_row("sampler kind (from what it did)", f"{record['sampler_kind']} (declares {record['sampler_kind_declared']})")
    t.add_row("device FLOPs (selection / total)",
              f"{dev['by_phase'].get('select', {}).get('flops', 0):.3g} / {dev['flops']:.3g}")
    t.add_row("device CPU seconds", f"{dev['cpu_seconds']:.2f}")
    t.add_row("epsilon (select / task / total)",
              f"{_fmt_eps(priv['epsilon_select'])} / {_fmt_eps(priv['epsilon_task'])} / {_fmt_eps(priv['epsilon'])}")
    t.add_row("delta", f"{priv['delta']:g}")
    env = record["environment"]
    t.add_row("torch device (phi, task models)", " ".join(filter(None, (env.get("torch_device"),
                                                                      env.get("torch_device_name")))) or "?")
    t.add_row("wall time per stage (s)", ", ".join(f"{k} {v:.1f}" for k, v in record["timings"].items()))
    return t


def cmd_run(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {
        "sampler": args.sampler, "task": args.task, "dataset": args.dataset, "client_domain": args.client_domain,
        "backbone": args.backbone, "weights": args.weights, "feature_layer": args.feature_layer,
        "budget": args.budget, "seed": args.seed,
        "client_fraction": args.client_fraction, "pool_has_client_domain": not args.exclude_client_domain,
        "sampler_params": {}, "task_params": {}, "dataset_params": {},
    }
    _parse_params(args.param or [], kwargs)
    if args.data_root is not None:
        dataset_cls = registry().get("dataset", args.dataset)
        if "root" not in dataset_cls.param_fields():
            raise ProxybenchError(f"dataset {args.dataset!r} reads no local folder, so --data-root does not apply")
        kwargs["dataset_params"]["root"] = str(Path(args.data_root).expanduser().resolve())
    spec = RunSpec(**kwargs).validate()
    from ..run.runner import run

    console = Console(stderr=False)
    console.print(f"[bold]proxybench run[/bold] {spec.run_id}: sampler={spec.sampler} task={spec.task} "
                  f"client={spec.client_domain} backbone={spec.backbone} weights={spec.weights}")
    with cluster_for_run(args.scheduler):
        record, path = run(spec, args.results_dir, Cache(args.cache_dir), transport=args.device_transport,
                           device_address=args.device_address)
    console.print(summary_table(record))
    console.print(f"RunRecord: {path}")
    return 0


def cmd_device_serve(args: argparse.Namespace) -> int:
    from ..harness.children import device_authkey
    from ..harness.device_process import serve

    serve(args.host, args.port, device_authkey(), sessions=args.sessions)
    return 0
