"""Training data shared by tasks: which pictures form a split, and square (augmented) crops of them.

Any folder of pictures works (searched recursively). A folder holding both ``train/`` and ``val/``
is split by them; a CelebA folder (``img_align_celeba/`` with ``list_eval_partition.txt`` beside it
or one level higher) is split as CelebA's authors split it; any other folder gets a deterministic
seeded split. A task turns each square crop into its ``{"y_cond", "y_0"}`` pair (``Task.train_pair``,
``Task.val_pair``).
"""
from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from palette_kit.errors import InputError
from palette_kit.imageio import list_images, random_square, read_image, square

Split = Literal["train", "val"]

CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_SPLITS: dict[str, str] = {"train": "0", "val": "1"}
VAL_FRACTION = 0.05

#: A task's item: ``{"y_cond": (C, S, S), "y_0": (C', S, S)}`` in [-1, 1].
Item = dict[str, torch.Tensor]
#: Makes a task's item from a square BGR picture.
Pair = Callable[[np.ndarray], Item]


def seeded_generator(picture: np.ndarray) -> torch.Generator:
    """A generator seeded from a picture's pixels: the same draws whenever the same picture comes."""
    return torch.Generator().manual_seed(zlib.crc32(np.ascontiguousarray(picture).tobytes()))


def presplit(root: Path) -> bool:
    """Whether ``root`` is split by its authors into ``root/train/`` and ``root/val/`` (both folders)."""
    return all((root / split).is_dir() for split in CELEBA_SPLITS)


def celeba_partition(root: Path) -> tuple[Path, Path] | None:
    """CelebA's images folder and partition file under ``root``, or None if ``root`` is not CelebA."""
    images = root if root.name == CELEBA_IMAGES else root / CELEBA_IMAGES
    if not images.is_dir():
        return None
    for folder in (images.parent, images.parent.parent):
        if (folder / CELEBA_PARTITION).is_file():
            return images, folder / CELEBA_PARTITION
    return None


def celeba_split(images: Path, partition: Path, split: Split) -> list[Path]:
    """The pictures of ``images`` that ``partition`` (lines ``000001.jpg 0``) puts in ``split``."""
    wanted = set()
    for number, line in enumerate(partition.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(f"{partition}:{number}: expected 'FILE PARTITION', got {line!r}")
        if fields[1] == CELEBA_SPLITS[split]:
            wanted.add(fields[0])
    paths = [p for p in list_images(images) if p.name in wanted]
    if not paths:
        raise InputError(f"no {split} images of {partition} found in {images}")
    return paths


def seeded_split(root: Path, split: Split, seed: int) -> list[Path]:
    """A deterministic split of all pictures under ``root``: 5% (at least one) for validation.

    The sorted list is shuffled by ``random.Random(seed)``; a lone picture serves both splits.
    """
    paths = list_images(root)
    if len(paths) == 1:
        return paths
    shuffled = paths.copy()
    random.Random(seed).shuffle(shuffled)
    n_val = max(1, round(VAL_FRACTION * len(paths)))
    return sorted(shuffled[:n_val] if split == "val" else shuffled[n_val:])


def split_paths(root: Path, split: Split, seed: int) -> list[Path]:
    """The pictures of ``split`` under ``root``: those of ``root/split/`` when ``root`` is pre-split,
    CelebA's official split where it applies, else a seeded split."""
    if split not in CELEBA_SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = Path(root)
    if presplit(root):
        return list_images(root / split)
    celeba = celeba_partition(root)
    return celeba_split(*celeba, split) if celeba else seeded_split(root, split, seed)


class PictureDataset(Dataset):
    """Square crops of pictures at ``image_size``, turned into task items by ``pair``.

    Without ``augment`` each picture is centre-cropped. With ``augment`` (training) the square is
    a random crop of ``min_scale``..100% of the shorter side (scale jitter), mirrored left-right with
    probability 1/2; the draws come from torch's random generator. Unreadable files raise
    ``InputError`` naming the file when their item is loaded.
    """

    def __init__(self, paths: list[Path], image_size: int, augment: bool, pair: Pair,
                 min_scale: float = 0.5) -> None:
        self.paths, self.image_size, self.augment = paths, image_size, augment
        self.pair, self.min_scale = pair, min_scale

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Item:
        picture = read_image(self.paths[index])
        if not self.augment:
            return self.pair(square(picture, self.image_size))
        picture = random_square(picture, self.image_size, self.min_scale)
        if torch.rand(()).item() < 0.5:
            picture = np.ascontiguousarray(picture[:, ::-1])
        return self.pair(picture)


def picture_dataset(root: Path, split: Split, image_size: int, seed: int, pair: Pair) -> PictureDataset:
    """The ``split`` of the pictures under ``root``; the training split is augmented."""
    return PictureDataset(split_paths(root, split, seed), image_size, augment=split == "train", pair=pair)
