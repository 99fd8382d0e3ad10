"""Real multi-domain benchmarks read from local folders the user downloaded: DomainNet, Digits-Five,
Office-Home, any ``root/{domain}/{class}/{image}`` tree, and a practitioner's own device and pool folders.

Nothing here downloads. Each dataset finds its folder in its ``root`` parameter (``proxybench run
--data-root PATH`` fills it) or in an environment variable named in its ``info``
(``proxybench datasets info NAME``). Images are decoded once, in chunks, into a memory-mapped
uint8 array in the proxybench cache; the cache key covers the file list with sizes and
modification times and the image size, so changed files are a new entry, never a stale hit.
Every image file (or array row) is its own split group. ``own`` (own-folders) reads two folders,
the device's and the pool's, instead of one root. ``base`` holds what the datasets share,
``readers`` the file formats; each other module is one benchmark.
"""

from __future__ import annotations

from proxybench import hookimpl

from .base import DecodedDataset, FolderDataset, Index
from .digits_five import DigitsFive
from .domainnet import DomainNet
from .imagefolder import ImageFolderDataset, OfficeHome
from .own import OwnFolders

__all__ = ["DecodedDataset", "DigitsFive", "DomainNet", "FolderDataset", "ImageFolderDataset", "Index", "OfficeHome",
           "OwnFolders", "proxybench_datasets"]


@hookimpl
def proxybench_datasets() -> list[type]:
    return [DomainNet, DigitsFive, OfficeHome, ImageFolderDataset, OwnFolders]
