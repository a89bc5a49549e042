"""Colours carried from one video frame to the next along the optical flow between their lightness.

The flow (the core's ``palette_kit.video.flow``: OpenCV's DIS) is computed both ways. A pixel of the next
frame is *sure* where the two flows agree (the forward-backward check), the point it comes from lies inside
the previous frame, and the lightness there matches; where the flow is reliable but the lightness changed
more, Lai et al.'s visibility weight ``exp(-alpha dL^2)`` says how far it is seen; elsewhere (occluded or new
content) nothing is carried. The next frame's result is blended at full resolution with the carried colours
by ``Carried.confidence`` (temporal filtering, as in Bonneel et al. 2015 and Lai et al. 2018). Two ways:

- ``filter`` (the default): the model colours each frame afresh (only the hints a user gave travel along the
  flow, as hints), and the result is ``PERSISTENCE`` times the confidence the carried colours, the rest the
  new frame's. An error carried along fades by that factor every frame.
- ``hints``: the carried colours are also the next frame's hints where sure, so the model starts from
  them and they are kept exactly (confidence 1). Steadier, but errors carried along (a flow that drags a
  colour) are kept too and add up over a shot.
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
#: ``filter``: the share of a result's colours that the previous frame's make where the flow is sure
#: (0.9: an error carried along fades to a third in 10 frames).
PERSISTENCE = 0.9


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


def carried_colours(previous: np.ndarray, result: np.ndarray, frame: np.ndarray, given: Hints | None = None,
                    as_hints: bool = False) -> Carried:
    """The colours of ``result`` (the previous frame's, BGR) moved onto ``frame``: with ``as_hints`` the next
    frame's hints where sure (the ``hints`` propagation), else blended by ``PERSISTENCE`` times their
    confidence, with the ``given`` hints of the previous frame (full size) moved along as the next frame's."""
    before, after = lightness(previous), lightness(frame)
    backward, forward = optical_flow(after, before), optical_flow(before, after)
    ab = warp(unrounded_ab(result), backward)
    change = np.abs(warp(before, backward).astype(np.float32) - after)
    visible = reliable(backward, forward)
    sure = visible & (change <= MAX_LIGHTNESS_CHANGE)
    confidence = np.where(sure, 1.0, visible * np.exp(-VISIBILITY_ALPHA * np.square(change / 255))).astype(np.float32)
    if as_hints:
        return Carried(ab, confidence, Hints(np.where(sure[..., None], ab, 0).astype(np.float32), sure))
    return Carried(ab, PERSISTENCE * confidence, _moved(given, backward, sure))


def _moved(given: Hints | None, backward: np.ndarray, sure: np.ndarray) -> Hints:
    """``given`` hints moved along the flow ``backward`` (next frame -> previous) to the nearest pixel, so a
    hint keeps its size and colour (one pixel stays one pixel), and kept where the flow is ``sure``."""
    if given is None or not given.count:
        return Hints.none(*sure.shape)
    mask = sure & (warp(given.mask.astype(np.uint8), backward, nearest=True) > 0)
    ab = np.where(mask[..., None], warp(given.ab, backward, nearest=True), 0).astype(np.float32)
    return Hints(ab, mask)
