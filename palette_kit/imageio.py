"""Pictures for the core and every task: read, write, list, resize, crop, tile, and map to [-1, 1].

Pictures are OpenCV-style BGR ``uint8`` arrays (H, W, 3); model tensors hold values in [-1, 1].
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from palette_kit.errors import InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


def list_images(root: Path) -> list[Path]:
    """All pictures under ``root`` (recursive), sorted; a clear error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root}")
    return paths


def read_image(path: Path) -> np.ndarray:
    """Read a picture as BGR uint8 (H, W, 3); gray pictures get three equal channels."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # cv2.imread cannot report why it failed
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.size == 0:
        raise InputError(f"not a readable image: {path}")
    return image


def umask_mode(mode: int) -> int:
    """``mode`` as the process's umask leaves it: what a plain ``open`` or ``mkdir`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_image(path: Path, image: np.ndarray) -> None:
    """Write a BGR picture atomically: a temporary file in the same folder, renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise InputError(f"cannot encode an image as {path.suffix!r}: {path}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded.tobytes())
        os.chmod(tmp, umask_mode(0o666))  # mkstemp makes 0600; give the user's usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Tile same-sized pictures: ``rows`` is a list of (N, H, W, 3) batches, one column each."""
    columns = [np.concatenate(list(batch), axis=0) for batch in rows]
    spacer = np.full((columns[0].shape[0], pad, 3), 255, np.uint8)
    parts = [c for col in columns for c in (col, spacer)][:-1]
    return np.concatenate(parts, axis=1)


def to_unit(values: np.ndarray) -> np.ndarray:
    """8-bit values (0..255) as float32 in [-1, 1]."""
    return values.astype(np.float32) * 2 / 255 - 1


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] back to 8-bit, rounded and clipped to 0..255."""
    return np.clip(np.round((np.asarray(values, np.float32) + 1) * 255 / 2), 0, 255).astype(np.uint8)


def to_tensor(picture: np.ndarray) -> torch.Tensor:
    """A BGR ``uint8`` picture (H, W, 3) as a float32 tensor (3, H, W) in [-1, 1]."""
    return torch.from_numpy(to_unit(picture)).permute(2, 0, 1).contiguous()


def to_pictures(tensor: torch.Tensor) -> np.ndarray:
    """Tensors (..., 3, H, W) in [-1, 1] as BGR ``uint8`` pictures (..., H, W, 3)."""
    return to_uint8(tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy())


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
    """A random square crop whose side is ``min_scale``..1 of the shorter side, resized to ``size``.

    The draws come from torch's random generator (seeded by the trainer, and per DataLoader worker).
    """
    height, width = picture.shape[:2]
    scale = min_scale + (1 - min_scale) * torch.rand(()).item()
    side = max(1, round(min(height, width) * scale))
    top = int(torch.randint(0, height - side + 1, ()).item())
    left = int(torch.randint(0, width - side + 1, ()).item())
    return resize(picture[top:top + side, left:left + side], size, size)
