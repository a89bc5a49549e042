"""jigzo's ``.pzl`` puzzles: a text header, then two JPEG streams (the picture, then a piece atlas)."""
from __future__ import annotations

SOI, EOI = b"\xff\xd8\xff", b"\xff\xd9"


def first_jpeg(blob: bytes) -> bytes:
    """The first JPEG stream of ``blob``: from its start marker to the end marker before the next stream."""
    start = blob.find(SOI)
    if start < 0:
        raise ValueError("no JPEG stream")
    following = blob.find(SOI, start + len(SOI))
    while following > 0 and blob[following - 2:following] != EOI:
        following = blob.find(SOI, following + 1)  # a start marker inside the first stream (an EXIF thumbnail)
    end = following if following > 0 else len(blob)
    return blob[start:end]
