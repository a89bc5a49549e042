"""Colours carried from one video frame to the next along the optical flow between their lightness.

The flow (the core's ``palette_kit.video.flow``: OpenCV's DIS) is computed both ways; a pixel of the next
frame takes the previous result's colour as a hint where the two flows agree (the forward-backward check),
the point it comes from lies inside the previous frame, and the lightness there matches. Elsewhere
(occluded or new content) it is left to the model. The hints act on the model at its resolution; at full
resolution the result is then blended with the carried colours by ``Carried.confidence`` (temporal filtering
as in Bonneel et al. 2015 and Lai et al. 2018): 1 on the hints, where the flow is reliable but the lightness
changed more, Lai et al.'s visibility weight ``exp(-alpha dL^2)``, 0 where the flow is not reliable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from palette_kit.video.flow import optical_flow, reliable, warp

from palette_kit_colorization.hints import Hints
from palette_kit_colorization.lab import lightness, unrounded_ab

#: Largest lightness difference (8-bit L levels) between a pixel and the point it comes from, for a hint.
MAX_LIGHTNESS_CHANGE = 12
#: Lai et al. (ECCV 2018, Eq. 2): a warped pixel whose intensity in [0, 1] changed by dI is visible with
#: weight exp(-alpha dI^2) (alpha = 50: 0.89 at 12 L levels, 0.5 at 30, 0.1 at 55).
VISIBILITY_ALPHA = 50.0


@dataclass(frozen=True)
class Carried:
    """The previous result's colours ``ab`` (H, W, 2, model units) moved onto the next frame, ``hints``
    where they are sure, and ``confidence`` (H, W) in [0, 1]: how much of the result's ab they make."""

    ab: np.ndarray
    confidence: np.ndarray
    hints: Hints

    def blended(self, ab: np.ndarray) -> np.ndarray:
        """A result's ``ab`` (H, W, 2) filtered along the flow: ``confidence`` of the carried colours."""
        weight = self.confidence[..., None]
        return (weight * self.ab + (1 - weight) * ab).astype(np.float32)


def carried_colours(previous: np.ndarray, result: np.ndarray, frame: np.ndarray) -> Carried:
    """The colours of ``result`` (the previous frame's, BGR) moved onto ``frame``, as hints where reliable."""
    before, after = lightness(previous), lightness(frame)
    backward, forward = optical_flow(after, before), optical_flow(before, after)
    ab = warp(unrounded_ab(result), backward)
    change = np.abs(warp(before, backward).astype(np.float32) - after)
    visible = reliable(backward, forward)
    mask = visible & (change <= MAX_LIGHTNESS_CHANGE)
    confidence = np.where(mask, 1.0, visible * np.exp(-VISIBILITY_ALPHA * np.square(change / 255))).astype(np.float32)
    return Carried(ab, confidence, Hints(np.where(mask[..., None], ab, 0).astype(np.float32), mask))
