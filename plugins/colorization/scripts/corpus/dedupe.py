"""Near-duplicate pictures: a difference hash (dHash) of a small gray thumbnail, compared by Hamming distance."""
from __future__ import annotations

import cv2
import numpy as np

#: Bits that may differ between two 256-bit hashes of the same picture (resized, recompressed, retouched).
THRESHOLD = 16


def dhash(pixels: np.ndarray, size: int = 16) -> int:
    """size * size bits: is each pixel of a (size+1) x size gray thumbnail brighter than its right neighbour."""
    gray = cv2.cvtColor(np.ascontiguousarray(pixels[..., :3]), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    return int.from_bytes(np.packbits(small[:, 1:] > small[:, :-1]).tobytes(), "big")


def hashes(pixels: np.ndarray) -> tuple[int, int]:
    """The hash of the picture and of its mirror image (mirrored stamps are the same photo)."""
    return dhash(pixels), dhash(pixels[:, ::-1])


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def unique(pictures: list[np.ndarray], threshold: int = THRESHOLD) -> tuple[list[int], dict[int, int]]:
    """Indices of the pictures to keep (the first of each near-duplicate set, in order), and for each dropped
    index the kept one it duplicates."""
    kept: list[tuple[int, int]] = []
    dropped: dict[int, int] = {}
    for index, pixels in enumerate(pictures):
        plain, mirror = hashes(pixels)
        match = next((k for k, h in kept if min(distance(plain, h), distance(mirror, h)) <= threshold), None)
        if match is None:
            kept.append((index, plain))
        else:
            dropped[index] = match
    return [k for k, _ in kept], dropped
