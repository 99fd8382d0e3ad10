"""Real multi-domain benchmarks read from local folders the user downloaded: DomainNet, Digits-Five,
Office-Home, and any ``root/{domain}/{class}/{image}`` tree.

Nothing here downloads. Each dataset finds its folder in its ``root`` parameter (``proxybench run
--data-root PATH`` fills it) or in an environment variable named in its ``info``
(``proxybench datasets info NAME``). Images are decoded once, in chunks, into a memory-mapped
uint8 array in the proxybench cache; the cache key covers the file list with sizes and
modification times and the image size, so changed files are a new entry, never a stale hit.
Every image file (or array row) is its own split group. ``base`` holds what the datasets share,
``readers`` the file formats; each other module is one benchmark.
"""

from __future__ import annotations

from proxybench import hookimpl

from .base import FolderDataset, Index
from .digits_five import DigitsFive
from .domainnet import DomainNet
from .imagefolder import ImageFolderDataset, OfficeHome

__all__ = ["DigitsFive", "DomainNet", "FolderDataset", "ImageFolderDataset", "Index", "OfficeHome", "proxybench_datasets"]


@hookimpl
def proxybench_datasets() -> list[type]:
    return [DomainNet, DigitsFive, OfficeHome, ImageFolderDataset]
