"""Training data shared by tasks: which pictures form a split, and square (augmented) crops of them.

Any folder of pictures works (searched recursively). A folder holding both ``train/`` and ``val/``
is split by them; a CelebA folder (``img_align_celeba/`` with ``list_eval_partition.txt`` beside it
or one level higher) is split as CelebA's authors split it; any other folder gets a deterministic
seeded split. A task turns each square crop into its ``{"y_cond", "y_0"}`` pair (``Task.train_pair``,
``Task.val_pair``).

Bad pictures never stop a training run: every picture's header is read once up front (``scan``, cheap)
and the unreadable ones are left out and reported; a picture that still fails to decode later is
skipped with a warning, its item taken from the next readable picture, and counted (``skipped``).
"""
from __future__ import annotations

import random
import sys
import warnings
import zlib
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from palette_kit.errors import InputError, file_problem
from palette_kit.imageio import MAX_PIXELS, list_images, random_square, read_image, square
from palette_kit.lazy import lazy

torch = lazy("torch")

Split = Literal["train", "val"]

CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_SPLITS: dict[str, str] = {"train": "0", "val": "1"}
VAL_FRACTION = 0.05

#: A task's item: ``{"y_cond": (C, S, S), "y_0": (C', S, S)}`` in [-1, 1].
Item = dict[str, "torch.Tensor"]
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


def scan(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The pictures whose header reads (a known, non-zero size of at most ``MAX_PIXELS``), and
    ``(path, reason)`` for the others. Only headers are read, so a folder of any size scans quickly."""
    readable, unreadable = [], []
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as picture:
                    width, height = picture.size
            if not 0 < width * height <= MAX_PIXELS:
                raise ValueError(f"unusable size {width} x {height}")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            unreadable.append((path, str(exc) or type(exc).__name__))
            continue
        readable.append(path)
    return readable, unreadable


class PictureDataset:
    """Square crops of pictures at ``image_size``, turned into task items by ``pair`` (a map-style dataset).

    Without ``augment`` each picture is centre-cropped. With ``augment`` (training) the square is
    a random crop of ``min_scale``..100% of the shorter side (scale jitter), mirrored left-right with
    probability 1/2; the draws come from torch's random generator. A file that fails to decode is
    skipped with a warning naming it, and the item comes from the next readable picture (the same one
    on every pass, so a resumed run sees what the first saw); ``skipped`` lists such files, also when
    DataLoader workers found them. ``left_out`` holds what ``scan`` refused before training.
    """

    def __init__(self, paths: list[Path], image_size: int, augment: bool, pair: Pair,
                 min_scale: float = 0.5, left_out: list[tuple[Path, str]] | None = None) -> None:
        self.paths, self.image_size, self.augment = paths, image_size, augment
        self.pair, self.min_scale, self.left_out = pair, min_scale, left_out or []
        self._failed = torch.zeros(len(paths), dtype=torch.bool).share_memory_()  # seen by workers too

    @property
    def skipped(self) -> list[Path]:
        """Files that failed to decode while training (each once, however often it came up)."""
        return [path for path, failed in zip(self.paths, self._failed.tolist()) if failed]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Item:
        for offset in range(len(self.paths)):
            i = (index + offset) % len(self.paths)
            try:
                return self._item(read_image(self.paths[i]))
            except InputError as exc:
                if not self._failed[i]:
                    self._failed[i] = True
                    tqdm.write(f"warning: skipped {file_problem(str(self.paths[i]), str(exc))}", file=sys.stderr)
        raise InputError(f"none of the {len(self.paths)} pictures could be read")

    def _item(self, picture: np.ndarray) -> Item:
        if not self.augment:
            return self.pair(square(picture, self.image_size))
        picture = random_square(picture, self.image_size, self.min_scale)
        if torch.rand(()).item() < 0.5:
            picture = np.ascontiguousarray(picture[:, ::-1])
        return self.pair(picture)


def dataset_warnings(train_data: PictureDataset, val_data: PictureDataset) -> list[str]:
    """What to tell a user before training on these splits: pictures left out as unreadable (``scan``), a
    single validation picture, and pictures in both splits (either makes the validation numbers misleading)."""
    found = [f"left out {file_problem(str(path), reason)}"
             for data in (train_data, val_data) for path, reason in getattr(data, "left_out", ())]
    if len(val_data) == 1:
        found.append("the validation split has 1 picture: val_mae and best/ rest on it alone")
    shared = set(getattr(train_data, "paths", ())) & set(getattr(val_data, "paths", ()))
    if shared:
        found.append(f"{len(shared)} of the {len(val_data)} validation pictures are also training pictures "
                     f"(e.g. {sorted(shared)[0]}): validation does not measure generalisation")
    return found


def picture_dataset(root: Path, split: Split, image_size: int, seed: int, pair: Pair) -> PictureDataset:
    """The readable pictures of the ``split`` under ``root`` (``scan``); the training split is augmented."""
    paths, left_out = scan(split_paths(root, split, seed))
    if not paths:
        raise InputError(f"none of the {len(left_out)} {split} pictures under {root} can be read "
                         f"({file_problem(str(left_out[0][0]), left_out[0][1])})")
    return PictureDataset(paths, image_size, augment=split == "train", pair=pair, left_out=left_out)
