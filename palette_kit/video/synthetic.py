"""Small made-up videos for tests and benchmarks: a picture panned and zoomed over, written with a tone."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from palette_kit.lazy import lazy

av = lazy("av")

AUDIO_RATE = 8000


def pan_zoom(picture: np.ndarray, frames: int, height: int, width: int, zoom: float = 1.3,
             pan: float = 0.3) -> list[np.ndarray]:
    """``frames`` views of ``picture`` (height x width each): a window that slides ``pan`` of the picture's
    width to the right while zooming in by ``zoom`` over the shot, as a camera would."""
    h, w = picture.shape[:2]
    views = []
    for t in np.linspace(0, 1, frames):
        scale = 1 / (1 + (zoom - 1) * t)
        cw, ch = w * (1 - pan) * scale, h * scale
        x0, y0 = pan * w * t + (w * (1 - pan) - cw) / 2, (h - ch) / 2
        matrix = np.array([[cw / width, 0, x0], [0, ch / height, y0]], np.float64)
        views.append(cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT))
    return views


def write_video(path: Path, pictures: list[np.ndarray], fps: int = 12, audio: bool = True, rotation: int = 0,
                codec: str = "libx264", audio_codec: str = "aac") -> None:
    """The BGR ``pictures`` as a video at ``fps`` (with a 440 Hz tone as long as the video when ``audio``)."""
    height, width = pictures[0].shape[:2] if pictures else (24, 32)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = container.add_stream(audio_codec, rate=AUDIO_RATE)
            sound.layout = "mono"
        container.start_encoding()  # headers even for a video without frames
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            t = np.arange(AUDIO_RATE * len(pictures) // fps) / AUDIO_RATE
            tone = av.AudioFrame.from_ndarray((np.sin(2 * np.pi * 440 * t) * 0.3).astype(np.float32)[None],
                                              format="fltp", layout="mono")
            tone.sample_rate, tone.pts = AUDIO_RATE, 0
            container.mux(sound.encode(tone))
            container.mux(sound.encode(None))
