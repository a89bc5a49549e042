"""Dense optical flow between two frames (OpenCV's DIS), warping along it, and where it can be trusted.

Shared by what needs motion between video frames: a task carrying its results from frame to frame, and the
temporal warp error (``palette_kit.metrics.temporal``).
"""
from __future__ import annotations

import numpy as np

from palette_kit.lazy import lazy

cv2 = lazy("cv2")

#: Forward-backward check: |f + b|^2 <= ALPHA (|f|^2 + |b|^2) + BETA (pixels squared).
ALPHA, BETA = 0.01, 0.5


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) float32 from 8-bit gray ``source`` to ``target``: ``source[y, x]`` moves to
    ``(x, y) + flow[y, x]``."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(source, target, None)


def warp(picture: np.ndarray, flow: np.ndarray, nearest: bool = False) -> np.ndarray:
    """``picture`` sampled at ``(x, y) + flow[y, x]`` (bilinear; with ``nearest``, the nearest pixel's value)."""
    h, w = flow.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1) + flow
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(picture, grid[..., 0], grid[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where a pixel of the next frame is seen in the previous one: the flow back (``backward``, next ->
    previous) and the flow forward at the point it lands on (``forward``, previous -> next) cancel out (the
    forward-backward check of Sundaram et al. 2010, the one Lai et al. 2018 use to find occlusions), and that
    point lies inside the frame."""
    h, w = backward.shape[:2]
    forward_there = warp(forward, backward)
    error = np.square(backward + forward_there).sum(-1)
    bound = ALPHA * (np.square(backward).sum(-1) + np.square(forward_there).sum(-1)) + BETA
    yy, xx = np.mgrid[:h, :w]
    x, y = xx + backward[..., 0], yy + backward[..., 1]
    return (error <= bound) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
