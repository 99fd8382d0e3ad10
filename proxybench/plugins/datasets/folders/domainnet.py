"""DomainNet from a local folder, with its official train/test split lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from proxybench import ProxybenchError

from .base import FolderDataset, Index, csv, layout_error
from .readers import read_text

DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
#: The 10-class subset of the ECOS paper.
ECOS_CLASSES = "bird,feather,headphones,ice_cream,teapot,tiger,whale,windmill,wine_glass,zebra"


@dataclass
class DomainNet(FolderDataset):
    """DomainNet (Peng et al., ICCV 2019) with its official train/test lists; a class subset (default: ECOS's 10)."""

    name: ClassVar[str] = "domainnet"
    description: ClassVar[str] = "DomainNet from a local folder with the official split lists; ECOS's 10 classes by default"
    env_var: ClassVar[str] = "PROXYBENCH_DOMAINNET"
    layout: ClassVar[str] = """\
  ROOT/{domain}_train.txt, ROOT/{domain}_test.txt   lines: "{domain}/{class}/{file}.jpg {label}"
  ROOT/{domain}/{class}/{file}.jpg
  for domain in clipart, infograph, painting, quickdraw, real, sketch"""
    info: ClassVar[str] = """\
Download: http://ai.bu.edu/M3SDA/ (section "Dataset"): for each domain the image zip
(clipart.zip, infograph.zip, painting.zip, quickdraw.zip, real.zip, sketch.zip) and its
split lists ({domain}_train.txt, {domain}_test.txt). Unzip every zip into ROOT, next to the lists.
Classes: the `classes` parameter (comma-separated class folder names, or "all" for all 345);
default the 10-class subset of the ECOS paper. Labels are re-indexed in the order given.
Private part: private_fraction (default 0.5) of each domain's official train list, stratified by
class and fixed by the domain's name; the device's rows come from it, every pool holds the rest.
The official test lists are the test splits."""

    classes: str = field(default=ECOS_CLASSES, metadata={
        "help": "comma-separated class folders, or all (345); default the ECOS paper's 10"})
    domains: str = field(default=",".join(DOMAINNET_DOMAINS), metadata={"help": "comma-separated domains to read"})

    def client_domains(self) -> tuple[str, ...]:
        """The ``domains`` parameter: known without reading the folder."""
        return csv(self.domains)

    def scan(self, root: Path) -> Index:
        domains = csv(self.domains)
        wanted = None if self.classes.strip().lower() == "all" else csv(self.classes)
        rows: list[tuple[Path, str, int, bool]] = []
        for k, d in enumerate(domains):
            for split in ("train", "test"):
                listing = root / f"{d}_{split}.txt"
                if not listing.is_file():
                    raise layout_error(f"missing split list of domain {d!r}", listing, self.name, self.layout)
                for n, line in enumerate(read_text(listing).splitlines(), 1):
                    if not line.strip():
                        continue
                    parts = line.split()
                    rel = Path(parts[0])
                    if len(parts) != 2 or len(rel.parts) != 3:
                        raise ProxybenchError(f"{self.name}: {listing}:{n}: expected 'domain/class/file.jpg label', "
                                              f"got {line!r}")
                    rows.append((root / rel, rel.parts[1], k, split == "test"))
        present = sorted({c for _, c, _, _ in rows})
        if wanted is None:
            class_names = tuple(present)
        else:
            missing = [c for c in wanted if c not in present]
            if missing:
                raise ProxybenchError(f"{self.name}: classes {missing} are in none of the split lists; "
                                      f"known classes include {', '.join(present[:20])}...")
            class_names = wanted
        rows = [r for r in rows if r[1] in class_names]
        absent = [p for p, _, _, _ in rows if not p.is_file()]
        if absent:
            raise layout_error(f"{len(absent)} images listed in the split lists are missing, e.g.", absent[0],
                               self.name, self.layout)
        files = [p for p, _, _, _ in rows]
        lists = [root / f"{d}_{s}.txt" for d in domains for s in ("train", "test")]
        return Index(
            files,
            np.array([class_names.index(c) for _, c, _, _ in rows], np.int64),
            np.array([k for _, _, k, _ in rows], np.int64),
            np.array([t for _, _, _, t in rows], bool),
            domains,
            class_names,
            files=lists + files,
        )
