"""Reading, listing and writing pictures (OpenCV, BGR uint8), shared by the core and every task."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

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
