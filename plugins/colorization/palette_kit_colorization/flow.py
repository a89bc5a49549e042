"""Colours carried from one video frame to the next along the optical flow between their lightness.

The flow (the core's ``palette_kit.video.flow``: OpenCV's DIS) is computed both ways; a pixel of the next
frame takes the previous result's colour where the two flows agree (the forward-backward check), the point it
comes from lies inside the previous frame, and the lightness there matches. Elsewhere (occluded or new
content) it is left to the model.
"""
from __future__ import annotations

import numpy as np

from palette_kit.video.flow import optical_flow, reliable, warp

from palette_kit_colorization.hints import Hints
from palette_kit_colorization.lab import bgr_to_lab, lightness

#: Largest lightness difference (8-bit L levels) between a pixel and the point it comes from.
MAX_LIGHTNESS_CHANGE = 12


def carried_colours(previous: np.ndarray, result: np.ndarray, frame: np.ndarray) -> Hints:
    """The colours of ``result`` (the previous frame's, BGR) moved onto ``frame`` as hints, where reliable."""
    before, after = lightness(previous), lightness(frame)
    backward, forward = optical_flow(after, before), optical_flow(before, after)
    ab = warp(bgr_to_lab(result)[..., 1:], backward)
    same = np.abs(warp(before, backward).astype(np.int16) - after) <= MAX_LIGHTNESS_CHANGE
    mask = reliable(backward, forward) & same
    return Hints(np.where(mask[..., None], ab, 0).astype(np.float32), mask)
