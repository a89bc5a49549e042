"""Temporal consistency of a video's results: the warp error of Lai et al. (ECCV 2018).

Between consecutive frames, result t is compared with result t-1 warped by the optical flow of the *original*
frames (DIS on their gray levels), over the pixels the forward-backward check finds visible in both:
``warp_error`` is the mean squared RGB difference in [0, 1] (x 1000), ``warp_error_ab`` the mean
|delta a*| + |delta b*| (exact CIE L*a*b*) on the same pixels, i.e. the colour part alone. Flicker raises both;
motion the flow follows does not. The flow is computed once per pair of original frames (``Motion``) and
serves every result of them (a model's, a baseline's).
"""
from __future__ import annotations

import numpy as np

from palette_kit.lazy import lazy
from palette_kit.metrics.lab import bgr_to_cie_lab
from palette_kit.video.flow import optical_flow, reliable, warp

cv2 = lazy("cv2")


class Motion:
    """The flow from original frame ``after`` back to ``before`` (BGR ``uint8``) and where it is reliable."""

    def __init__(self, before: np.ndarray, after: np.ndarray) -> None:
        gray = [cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY) for picture in (before, after)]
        self.backward = optical_flow(gray[1], gray[0])
        self.visible = reliable(self.backward, optical_flow(gray[0], gray[1]))

    def warp_error(self, before: np.ndarray, after: np.ndarray) -> dict[str, float]:
        """``warp_error`` and ``warp_error_ab`` of two consecutive results (BGR ``uint8``, the originals' size);
        NaN when no pixel is visible in both frames."""
        if not self.visible.any():
            return {"warp_error": float("nan"), "warp_error_ab": float("nan")}
        rgb = [picture.astype(np.float32) / 255 for picture in (before, after)]
        squared = np.square(rgb[1] - warp(rgb[0], self.backward)).sum(-1)
        ab = [bgr_to_cie_lab(picture)[..., 1:].astype(np.float32) for picture in (before, after)]
        distance = np.abs(ab[1] - warp(ab[0], self.backward)).sum(-1)
        return {"warp_error": 1000 * float(squared[self.visible].mean()),
                "warp_error_ab": float(distance[self.visible].mean())}
