"""``proxybench select``: choose, from your own pool, the files that stand in for a real device's data."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..contract.registry import plugin_class
from ..run.spec import RunSpec
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .parsing import HelpFormatter, Parser, add_phi_options, check_writable_dir, open_interval, positive_int, route_params, say

EPILOG_SELECT = """\
examples:
  proxybench device serve --data ~/device-photos --device-epsilon 3 --port 7340     (on the device)
  proxybench select --pool ~/open-images --device-address 10.0.0.7:7340 --budget 500 --out selection.csv
  proxybench features extract --pool ~/open-images --out ~/open-images.store        (a big pool, once)
  proxybench select --pool ~/open-images.store --device-address 10.0.0.7:7340 --budget 5000 \\
      --sampler ecos --param R=50 --out selection.csv
  proxybench select --pool /shared/pool.store --device-address 10.0.0.7:7340 --budget 5000 \\
      --sampler ecos --param kmeans_max_points=100000 --scheduler tcp://10.0.0.5:8786 --out selection.csv

The pool is a folder of images at any depth (labels are not needed; it is extracted into
a pool store in the cache once) or a pool store. The device decodes its own images, and
only its runtime's noisy releases cross, under its own budget. selection.csv lists the
chosen files (rank, file relative to the pool, row, weight); selection.json beside it
holds the bytes both ways, the device's compute, (epsilon, delta) and how both processes
were confined. Size ECOS for your data: docs/sizing-ecos.md; the walk-through:
docs/own-data.md.
"""


def add_select_command(sub: argparse._SubParsersAction) -> Parser:
    p = sub.add_parser("select", help="select pool files for a real device (proxybench device serve --data)",
                       description="The cloud's side of a selection for a device that holds its own images: "
                                   "phi over the pool, the sampler in a confined cloud process, every device "
                                   "request relayed and counted; writes the chosen files.",
                       epilog=EPILOG_SELECT, formatter_class=HelpFormatter)
    defaults = RunSpec()
    p.add_argument("--pool", type=Path, required=True, metavar="DIR|STORE",
                   help="the pool: a folder of images, or a store made by `proxybench features extract`")
    p.add_argument("--device-address", required=True, metavar="HOST:PORT",
                   help="where `proxybench device serve --data` listens (key: $PROXYBENCH_DEVICE_AUTHKEY)")
    p.add_argument("--out", type=Path, required=True, metavar="CSV", help="the selection file to write")
    p.add_argument("--budget", type=positive_int, required=True, help="how many pool images to select")
    p.add_argument("--sampler", default=defaults.sampler, help="a sampler that can run without ground truth "
                   "(proxybench list samplers)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampler parameter, repeatable (e.g. --param R=50 --param target_epsilon=1)")
    add_phi_options(p, defaults.backbone, defaults.weights, defaults.feature_layer,
                    "one that does not read the pool (lite0, file:PATH, hub:NAME)")
    p.add_argument("--delta", type=open_interval, default=defaults.delta,
                   help="delta of the selection's (epsilon, delta); the device accounts at its own, if smaller")
    p.add_argument("--device-size", type=positive_int, default=None, metavar="N",
                   help="about how many images the device holds, if its owner says: checks the sampler's parameters "
                        "against it (ECOS: counts per cluster against the noise, docs/sizing-ecos.md)")
    p.add_argument("--seed", type=int, default=0, help="the cloud's random streams (not the device's noise)")
    p.add_argument("--cache-dir", type=Path, default=None, help="where phi's weights and pool stores are cached")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local[:WORKERS]",
                   help="run the cloud's pool-wide passes of the samplers that cluster the pool (ecos, dsir, "
                        "cluster-filter: the k-means sample gather and the assignment of every row) on a dask "
                        "cluster: a running scheduler, whose workers read the pool store's shards at the same "
                        "paths, or a LocalCluster on 127.0.0.1 (2 workers unless told); the same selection as "
                        "in-process (needs proxybench[dask])")
    p.set_defaults(func=cmd_select)
    return p


def cmd_select(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..run.device_select import SelectRequest, select_on_device
    from .run import cluster_for_run

    if args.out.exists() and args.out.is_dir():
        raise ProxybenchError(f"--out {args.out} is a folder; give the CSV file to write")
    check_writable_dir(args.out.parent if str(args.out.parent) else Path("."), "--out's folder")
    if args.scheduler is not None:
        from ..ml.cluster_pool import check_scheduler

        check_scheduler(args.scheduler, "--scheduler")
    [params] = route_params(args.param, [("sampler", plugin_class("sampler", args.sampler))])
    request = SelectRequest(pool=args.pool, sampler=args.sampler, budget=args.budget,
                            device_address=args.device_address, sampler_params=params, backbone=args.backbone,
                            weights=args.weights, feature_layer=args.feature_layer, delta=args.delta,
                            seed=args.seed, device_size=args.device_size)
    say(f"selecting {args.budget} of the pool {args.pool} with {args.sampler} for the device at {args.device_address}")
    with cluster_for_run(args.scheduler):  # the cloud process finds the scheduler in its settings
        selection = select_on_device(request, Cache(args.cache_dir))
    meta = selection.write(args.out)
    eps = "no guarantee" if selection.epsilon is None else f"epsilon {selection.epsilon:.4g}"
    Console(stderr=True).print(
        f"selected {len(selection.files)} files -> {args.out} (summary: {meta})\n"
        f"privacy: {eps} at delta {selection.delta:g} ({selection.guarantee})\n"
        f"link: {selection.bytes_down:,} bytes down, {selection.bytes_up:,} up, {selection.device_calls} device call(s); "
        f"device compute {selection.device_flops:,} FLOPs, {selection.device_cpu_seconds:.2f} CPU s; "
        f"{selection.seconds:.1f} s in all")
    return 0
