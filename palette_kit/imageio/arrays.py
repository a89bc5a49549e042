"""Array helpers: 8-bit pictures to and from model values in [-1, 1], resizing, square crops, tiling."""
from __future__ import annotations

import numpy as np

from palette_kit.lazy import lazy

cv2 = lazy("cv2")
torch = lazy("torch")


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
