"""``proxybench features extract``: a folder of images, of any size, into a pool store of phi's features.

The store (``ml.pool_store``) is what a pool too large to decode per run is selected from:
phi's rows in shards, which file each row is, and which phi and options made them. Everything
that can be wrong with the command line (the folder, the names, a store already there made of
another pool or with other options) is checked before any image is extracted, most of it before
phi is built; the extraction itself is ``ml.pool_extraction``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..ml.pool_store import ROWS_PER_SHARD
from ..ml.sharded_store import DTYPES
from ..run.spec import RunSpec
from ..util.errors import ProxybenchError
from .parsing import add_phi_options, check_writable_dir, positive_int, say
from .run import add_torch_device_arg, use_torch_device

if TYPE_CHECKING:
    from ..contract.weights import PoolData
    from ..ml.extractor import Extractor
    from ..ml.pool_store import PoolIdentity

EPILOG_EXTRACT = """\
examples:
  proxybench features extract --pool ~/pool --out stores/pool        (lite0, stage 3: the phi `run` uses)
  proxybench features extract --pool ~/pool --out stores/pool --dtype float16 --rows-per-shard 16384
  proxybench features extract --pool /shared/pool --out /shared/stores/pool --scheduler tcp://10.0.0.5:8786

Every image file under --pool (jpg, png, bmp, gif, webp, tif; any depth; hidden entries
skipped) is one row, in sorted order, and OUT/files.txt names row i's file relative to --pool.
Folder names are not read as labels: the pool may have none. Images are decoded a batch at a
time, so memory does not grow with the pool. Killed, the same command resumes: the shards
already written (checked by SHA-256) are kept. OUT holds one pool made by one phi: another
pool, phi or layout is refused (give another --out, or delete OUT). With --scheduler, each
shard's images are written into OUT/image-shards/ and phi runs on the dask workers, which
write the feature shards into OUT: it must be a path they share.
"""


def folder_pool_data(root: Path, names: Sequence[str], files_sha256: str, image_size: int) -> PoolData:
    """A folder pool as a weight source sees it: images decoded only where read (random's BatchNorm sample), no labels.

    ``proxybench select`` rebuilds a pool-fitted phi from a store's identity with the same call.
    """
    import numpy as np

    from ..contract.images import ImageRows
    from ..contract.weights import PoolData
    from ..ml.pool_extraction import ImageFiles

    return PoolData(ImageRows(ImageFiles(root, names, image_size), np.arange(len(names))), np.full(len(names), -1),
                    {"root": str(root), "files_sha256": files_sha256, "image_size": image_size})


def check_out(out: Path, stored: PoolIdentity | None, asked: PoolIdentity) -> None:
    """Refuse a store folder that holds something else: no pool store, another pool, or another phi or layout."""
    if stored is None:
        if out.is_dir() and any(out.iterdir()):
            raise ProxybenchError(f"--out {out} exists, is not empty and is not a pool store (no pool.json): "
                                  "give a new or empty folder")
        return
    if not stored.same_pool(asked):
        which = (f"{stored.root} as it was ({stored.files} images; it now has {asked.files}, or other file names)"
                 if stored.root == asked.root else
                 f"another pool ({stored.root}, {stored.files} images), not of {asked.root} ({asked.files} images)")
        raise ProxybenchError(f"--out {out} holds the features of {which}: give another --out, or delete {out} "
                              "to extract this pool there")
    diffs = stored.differences(asked)
    if diffs:
        raise ProxybenchError(f"--out {out} was extracted with another phi or layout ({'; '.join(diffs)}): repeat "
                              f"its options to resume it, give another --out, or delete {out} to extract again")


def cmd_extract(args: argparse.Namespace) -> int:
    from ..contract.registry import make_plugin
    from ..contract.weights import parse_weights
    from ..ml.cluster_pool import check_scheduler
    from ..ml.image_files import list_image_files
    from ..ml.model_names import check_model_name
    from ..ml.pool_store import PoolIdentity, files_text, read_identity, text_sha256

    root = args.pool.expanduser().resolve()
    files = list_image_files(root)
    out = args.out.expanduser()
    check_writable_dir(out, "--out")
    if args.scheduler is not None:
        check_scheduler(args.scheduler, "--scheduler")
    weights, params = parse_weights(args.weights)  # an unknown source or parameter: the registry's error
    source = make_plugin("weights", weights, **params)
    names = [p.relative_to(root).as_posix() for p in files]
    listing = files_text(names)
    pool = PoolIdentity(str(root), len(names), text_sha256(listing), args.image_size or 0, args.dtype,
                        args.rows_per_shard, {})
    stored = read_identity(out) if out.is_dir() else None
    if stored is not None:  # before phi is built, what the options say; the rest is taken as stored
        pool = dataclasses.replace(pool, image_size=args.image_size or stored.image_size, extractor={
            **stored.extractor, "backbone": args.backbone, "weights": weights, "layer": args.feature_layer})
    check_out(out, stored, pool)
    check_model_name(args.backbone)

    from ..contract.weights import build_extractor
    from ..util.cache import Cache

    use_torch_device(args.torch_device)
    size = args.image_size or source.image_size  # 0: the weights' own input size, known once phi is built
    extractor = build_extractor(args.backbone, args.weights, folder_pool_data(root, names, pool.files_sha256, size),
                                Cache(), layer=args.feature_layer, source_class=type(source))
    identity = dataclasses.replace(pool, image_size=size or extractor.image_size, extractor=extractor.key)
    check_out(out, stored, identity)
    return _extract(args, out, identity, names, listing, extractor, fresh=stored is None)


def _extract(args: argparse.Namespace, out: Path, identity: PoolIdentity, names: list[str], listing: bytes,
             extractor: Extractor, fresh: bool) -> int:
    from ..ml.cluster_pool import connect
    from ..ml.pool_extraction import ImageFiles, extract_pool
    from ..ml.pool_store import FILES, write_identity

    if fresh:
        write_identity(out, identity, listing)
    images = ImageFiles(Path(identity.root), names, identity.image_size)
    with connect(args.scheduler) if args.scheduler else contextlib.nullcontext() as client:
        store, extracted = extract_pool(out, images, extractor, identity.dtype, identity.rows_per_shard, client)
    say(f"{out}: {store.rows} images x {store.d} {store.dtype} in {len(store.shards)} shards "
        f"({extracted} extracted now, {len(store.shards) - extracted} kept); row i's file is line i of {out / FILES}")
    return 0


def add_features_command(sub: argparse._SubParsersAction) -> None:
    """``features extract``."""
    defaults = RunSpec()
    p = sub.add_parser("features", help="phi's features of a folder of images, as a pool store a selection reads",
                       description="Pool stores: phi's features of a pool too large to decode per run.")
    fsub = p.add_subparsers(dest="features_command", metavar="SUBCOMMAND", required=True)
    q = fsub.add_parser("extract", help="extract phi's features of every image under a folder (resumable)",
                        epilog=EPILOG_EXTRACT,
                        description="Run phi over every image file under --pool and write its features, the file "
                                    "list and phi's identity into the pool store --out.")
    q.add_argument("--pool", type=Path, required=True, metavar="DIR", help="folder of image files (any depth)")
    q.add_argument("--out", type=Path, required=True, metavar="STORE", help="the pool store's folder (created)")
    add_phi_options(q, defaults.backbone, defaults.weights, defaults.feature_layer,
                    "lite0 (offline), lite1, lite2, hub, file:PATH, random (BatchNorm fitted to a sample of the "
                    "pool's images); not cloud, which needs labels (proxybench list weights)")
    q.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                   help="side in pixels each image is decoded to before phi (default: phi's input size, e.g. 32 for "
                        "lite0); phi resizes it to its own")
    q.add_argument("--dtype", choices=DTYPES, default="float32", help="feature store type (float16: half the bytes)")
    q.add_argument("--rows-per-shard", type=positive_int, default=ROWS_PER_SHARD, metavar="N",
                   help="images per shard: the unit of resuming and of a dask task")
    q.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local[:WORKERS]",
                   help="run phi on a dask cluster: a running scheduler, or a LocalCluster on 127.0.0.1 "
                        "(needs proxybench[dask]; --out must be a folder the workers share)")
    add_torch_device_arg(q)
    q.set_defaults(func=cmd_extract)
