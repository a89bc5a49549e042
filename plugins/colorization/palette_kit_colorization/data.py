"""Training and validation pairs (L condition, ab target) from a folder of photos.

Any folder of pictures works (searched recursively). A CelebA folder (``img_align_celeba/``
with ``list_eval_partition.txt`` beside it or one level higher) is split as CelebA's
authors split it; any other folder gets a deterministic seeded split.
"""
from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from palette_kit.errors import InputError
from palette_kit.imageio import list_images, read_image
from palette_kit.tasks.base import Split

from palette_kit_colorization.lab import bgr_to_lab

CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_SPLITS: dict[str, str] = {"train": "0", "val": "1"}
VAL_FRACTION = 0.05


def resize(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging when shrinking and bicubic interpolation otherwise."""
    shrinking = picture.shape[0] >= height and picture.shape[1] >= width
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def square(picture: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of ``picture``, resized to ``size`` x ``size`` (no distortion)."""
    height, width = picture.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return resize(picture[top:top + side, left:left + side], size, size)


def random_square(picture: np.ndarray, size: int, min_scale: float) -> np.ndarray:
    """A random square crop whose side is ``min_scale``..1 of the shorter side, resized to ``size``."""
    height, width = picture.shape[:2]
    scale = min_scale + (1 - min_scale) * torch.rand(()).item()
    side = max(1, round(min(height, width) * scale))
    top = int(torch.randint(0, height - side + 1, ()).item())
    left = int(torch.randint(0, width - side + 1, ()).item())
    return resize(picture[top:top + side, left:left + side], size, size)


class ColorizationDataset(Dataset):
    """Items ``{"y_cond": L (1, S, S), "y_0": ab (2, S, S)}``, float32 in [-1, 1].

    Without ``augment`` each picture is centre-cropped to a square and resized to
    ``image_size``. With ``augment`` (training) the square is a random crop of 50-100% of
    the shorter side (scale jitter), mirrored left-right with probability 1/2; the draws come
    from torch's random generator (which the trainer seeds, and DataLoader seeds per worker).
    Unreadable files raise ``InputError`` naming the file when their item is loaded.
    """

    min_crop_scale = 0.5

    def __init__(self, paths: list[Path], image_size: int, augment: bool) -> None:
        self.paths = paths
        self.image_size = image_size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        picture = read_image(self.paths[index])
        if not self.augment:
            picture = square(picture, self.image_size)
        else:
            picture = random_square(picture, self.image_size, self.min_crop_scale)
            if torch.rand(()).item() < 0.5:
                picture = picture[:, ::-1]
        lab = torch.from_numpy(bgr_to_lab(picture)).permute(2, 0, 1)
        return {"y_cond": lab[:1].contiguous(), "y_0": lab[1:].contiguous()}


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


def colorization_dataset(root: Path, split: Split, image_size: int, seed: int) -> ColorizationDataset:
    """The ``split`` of the photos under ``root`` at ``image_size``; the training split is augmented."""
    if split not in CELEBA_SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = Path(root)
    celeba = celeba_partition(root)
    paths = celeba_split(*celeba, split) if celeba else seeded_split(root, split, seed)
    return ColorizationDataset(paths, image_size, augment=split == "train")
