"""Encoding pictures atomically with provenance metadata, and reading that metadata back.

PNG files keep it as text chunks; JPEG and WebP files as JSON in the EXIF UserComment.
"""
from __future__ import annotations

import contextlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from palette_kit.atomic import write_file
from palette_kit.errors import InputError, reason
from palette_kit.imageio.decode import DECODE_ERRORS, open_file, open_header, quiet
from palette_kit.lazy import lazy

cv2 = lazy("cv2")

_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286
_ASCII_PREFIX = b"ASCII\0\0\0"  # the EXIF UserComment character-code prefix
_PILLOW_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def write_image(path: Path, image: np.ndarray, metadata: dict[str, str] | None = None, quality: int = 95) -> None:
    """Write a BGR uint8 picture atomically and durably (``palette_kit.atomic.write_file``), encoded first, so
    a failure leaves neither a file nor a temporary; permissions are as the umask leaves them.

    The format follows the suffix: ``.png`` (``metadata`` as PNG text chunks), ``.jpg``/``.jpeg`` and ``.webp``
    (``quality`` 1..100; ``metadata`` as JSON in the EXIF UserComment), others through OpenCV without metadata;
    no suffix writes PNG. A suffix that cannot be written raises ``InputError``.
    """
    path = Path(path)
    write_file(path, _encode(path, image, {str(k): str(v) for k, v in (metadata or {}).items()}, quality))


def _encode(path: Path, image: np.ndarray, metadata: dict[str, str], quality: int) -> bytes:
    suffix = path.suffix.lower() or ".png"
    image = np.asarray(image)
    if suffix in _PILLOW_FORMATS:
        if not 1 <= quality <= 100:
            raise InputError(f"quality must be 1..100, not {quality}: {path}")
        picture = _to_pillow(image, path)
        options: dict = {"quality": quality}
        if metadata:
            options["exif"] = _exif_comment(metadata)
        buffer = io.BytesIO()
        try:
            picture.save(buffer, _PILLOW_FORMATS[suffix], **options)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot encode an image as {path.suffix!r}: {path} ({reason(exc)})") from None
        return buffer.getvalue()
    try:
        ok, encoded = cv2.imencode(suffix, image, _png_options() if suffix == ".png" else [])
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"cannot encode an image as {path.suffix!r}: {path}")
    data = encoded.tobytes()
    if suffix == ".png" and metadata:
        data = _png_with_text(data, metadata, path)
    return data


def _png_options() -> list[int]:
    """Rows filtered by their difference to the row above: on photos about a quarter smaller and a little
    faster to write than with OpenCV's default filter (the left neighbour), at its default compression."""
    return [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


def _to_pillow(image: np.ndarray, path: Path) -> Image.Image:
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3 and image.shape[2] in (1, 3, 4)):
        raise InputError(f"cannot encode a {image.dtype} picture of shape {image.shape} as {path.suffix!r}: {path}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(image))
    if image.shape[2] == 4:
        return Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA))
    return Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def _exif_comment(metadata: dict[str, str]) -> bytes:
    """EXIF holding ``metadata`` as JSON in the UserComment tag (ASCII character code)."""
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _ASCII_PREFIX + json.dumps(metadata, ensure_ascii=True).encode("ascii")
    return exif.tobytes()


def _png_with_text(data: bytes, metadata: dict[str, str], path: Path) -> bytes:
    """An OpenCV-encoded PNG with text chunks inserted right after IHDR (tEXt, or iTXt for non-Latin-1)."""
    chunks = []
    for key, value in metadata.items():
        try:
            keyword = key.encode("latin-1")
        except UnicodeEncodeError:
            keyword = b""
        if not 1 <= len(keyword) <= 79 or b"\0" in keyword or keyword != keyword.strip():
            raise InputError(f"metadata key {key!r} cannot be a PNG text keyword: {path}")
        try:
            kind, body = b"tEXt", keyword + b"\0" + value.encode("latin-1")
        except UnicodeEncodeError:
            kind, body = b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8")
        chunks.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    assert data[12:16] == b"IHDR"
    return data[:end_of_ihdr] + b"".join(chunks) + data[end_of_ihdr:]


def read_metadata(path: Path) -> dict[str, str]:
    """What ``write_image`` stored: the PNG text chunks, or the JSON in a JPEG/WebP EXIF UserComment ({} if none)."""
    path = Path(path)
    with open_file(path) as file, quiet(), contextlib.closing(open_header(file, path)) as picture:
        if picture.format == "PNG":
            try:
                return {str(k): str(v) for k, v in picture.text.items()}  # loads, for chunks after the pixels
            except DECODE_ERRORS:
                return {str(k): v for k, v in picture.info.items() if isinstance(v, str)}
        try:
            comment = picture.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
        except DECODE_ERRORS:
            return {}
    return _comment_metadata(comment)


def _comment_metadata(comment: object) -> dict[str, str]:
    if comment is None:
        return {}
    if isinstance(comment, bytes):
        code, body = comment[:8], comment[8:]
        if code == b"UNICODE\0":
            text = body.decode("utf-16-be" if not body.startswith(b"\xff\xfe") else "utf-16", "replace")
        else:
            text = (body if code in (_ASCII_PREFIX, b"\0" * 8) else comment).decode("utf-8", "replace")
    else:
        text = str(comment).removeprefix("ASCII")
    try:
        value = json.loads(text.strip("\0 "))
    except ValueError:
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()} \
        if isinstance(value, dict) else {}

