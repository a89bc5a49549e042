"""Colour hints spread over a picture by Levin, Lischinski & Weiss (SIGGRAPH 2004), "Colorization using
Optimization": the classical baseline for hinted colorization, and the base the hint model refines.

Each unhinted pixel's colour is the weighted mean of its 3x3 neighbours' colours, with weights that fall
off with the lightness difference (scaled by the window's lightness variance); hinted pixels keep their
hint. That is one sparse linear system for all channels, solved here with scipy's SuperLU (the paper used
multigrid; a direct solve is exact and fast enough below a few megapixels). Written in the project because
no maintained Python package offers it.
"""
from __future__ import annotations

import numpy as np

from palette_kit.lazy import lazy

scipy = lazy("scipy")  # its submodules load on first use: a colorization without hints never loads them

#: The 8 neighbours of a pixel in its 3x3 window.
OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
#: Smallest weight the most similar neighbour gets, and the smallest variance (Levin's constants).
MIN_WEIGHT, MIN_VARIANCE = 0.01, 2e-6


def _shifted(values: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``values`` moved so that entry (y, x) holds the value at (y + dy, x + dx), edges repeated."""
    h, w = values.shape
    padded = np.pad(values, 1, mode="edge")
    return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def affinities(lightness: np.ndarray) -> scipy.sparse.csr_matrix:
    """The row-normalised neighbour weights W (N x N, N = H * W) of an (H, W) lightness picture."""
    h, w = lightness.shape
    y = lightness.astype(np.float64) / 255
    box = scipy.ndimage.uniform_filter
    variance = box(y * y, 3, mode="nearest") - box(y, 3, mode="nearest") ** 2
    index = np.arange(h * w).reshape(h, w)
    rows, cols, gaps = [], [], []
    ys, xs = np.mgrid[0:h, 0:w]
    for dy, dx in OFFSETS:
        inside = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        rows.append(index[inside])
        cols.append(_shifted(index, dy, dx)[inside])
        gaps.append(((y - _shifted(y, dy, dx)) ** 2)[inside])
    rows, cols, gaps = np.concatenate(rows), np.concatenate(cols), np.concatenate(gaps)
    nearest = np.full(h * w, np.inf)
    np.minimum.at(nearest, rows, gaps)
    scale = np.maximum(np.maximum(variance.ravel() * 0.6, -nearest / np.log(MIN_WEIGHT)), MIN_VARIANCE)
    weights = np.exp(-gaps / scale[rows])
    totals = np.bincount(rows, weights, minlength=h * w)
    return scipy.sparse.csr_matrix((weights / totals[rows], (rows, cols)), shape=(h * w, h * w))


def propagate(lightness: np.ndarray, ab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colours (H, W, C) for every pixel from the hinted ones.

    ``lightness`` is (H, W) 8-bit L, ``ab`` (H, W, C) any colour values (read where ``mask`` (H, W) is
    true), and the result keeps them there exactly. Without hints the result is zero (neutral colour).
    """
    h, w = lightness.shape
    channels = ab.shape[-1]
    hinted = mask.ravel().astype(bool)
    if not hinted.any():
        return np.zeros((h, w, channels), np.float32)
    free = scipy.sparse.diags((~hinted).astype(np.float64))
    system = scipy.sparse.identity(h * w, format="csr") - free @ affinities(lightness)
    rhs = np.where(hinted[:, None], ab.reshape(-1, channels).astype(np.float64), 0.0)
    # Diagonal pivots in a fill-reducing symmetric ordering: the system is diagonally dominant (each row:
    # 1 on the diagonal, weights summing to at most 1 elsewhere), so they are stable, and partial pivoting's
    # row swaps would undo the ordering (30x slower on a 320 x 480 photo).
    lu = scipy.sparse.linalg.splu(system.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                  options={"SymmetricMode": True})
    solved = lu.solve(rhs)
    return solved.reshape(h, w, channels).astype(np.float32)
