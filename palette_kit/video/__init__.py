"""Videos for the core: frames streamed in and out with PyAV (``io``) and run through any task (``frames``).

This package's ``__init__`` stays light (no PyAV, no torch): ``palette_kit.imageio.inputs`` takes its suffixes.
"""
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm"})


def is_video(path) -> bool:
    """Whether ``path`` is taken as a video (by its suffix)."""
    return str(path).lower().endswith(tuple(VIDEO_SUFFIXES))
