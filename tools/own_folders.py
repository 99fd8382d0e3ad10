"""Write a small own-data tree from the embedded digits benchmark, to try docs/own-data.md without data of your own.

    python tools/own_folders.py OUT [--device-domain handwritten] [--classes 4] [--device-per-class 12]
                                    [--pool-per-class 12]

OUT/device/{class}/*.png holds one domain's images (the device's); OUT/pool/{domain}/{class}/*.png
holds every domain's other images, the device's domain among them (so a selection's in-domain
share can be read from its file names); the pool's layout makes it unlabeled for own-folders,
as a crawled pool would be. The same arguments write the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from proxybench import create_dataset


def write_tree(out: Path, device_domain: str, classes: int, device_per_class: int, pool_per_class: int) -> None:
    data = create_dataset("digits").generate()
    if device_domain not in data.domain_names:
        raise SystemExit(f"unknown domain {device_domain!r}; choose one of {', '.join(data.domain_names)}")
    rng = np.random.default_rng(0)
    train = ~data.is_test
    for d, domain in enumerate(data.domain_names):
        for c in range(classes):
            rows = rng.permutation(np.flatnonzero(train & (data.domains == d) & (data.labels == c)))
            groups = rows[np.unique(data.groups[rows], return_index=True)[1]]  # one augmentation per original
            if domain == device_domain:
                for i, r in enumerate(groups[:device_per_class]):
                    save(out / "device" / str(c) / f"{i:03d}.png", data.images[r])
                groups = groups[device_per_class:]
            for i, r in enumerate(groups[:pool_per_class]):
                save(out / "pool" / domain / str(c) / f"{i:03d}.png", data.images[r])


def save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--device-domain", default="handwritten")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--device-per-class", type=int, default=12)
    p.add_argument("--pool-per-class", type=int, default=12)
    a = p.parse_args()
    write_tree(a.out, a.device_domain, a.classes, a.device_per_class, a.pool_per_class)


if __name__ == "__main__":
    main()
