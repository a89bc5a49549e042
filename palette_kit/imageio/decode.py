"""Decoding real-world picture files into BGR ``uint8`` arrays (H, W, 3), every problem one line.

Reading opens the header with Pillow first, so a picture larger than ``MAX_PIXELS`` is refused before any
pixel is decoded; complete 8-bit RGB or gray JPEG, PNG and WebP files are then decoded by OpenCV (faster, less
memory), everything else by Pillow. EXIF orientation is applied; 16-bit pictures are scaled to 8 bits (not
clipped); transparency is composited on white; CMYK, palette, gray and 1-bit pictures become BGR. Every problem
is an ``InputError`` with one line that names the file and the reason.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import threading
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from palette_kit.errors import InputError, reason
from palette_kit.lazy import lazy

cv2 = lazy("cv2")

MAX_PIXELS = 150_000_000
"""Pictures with more pixels are refused before decoding (a 24 MP photo is fine; a 20000x20000 bomb is not)."""

#: What Pillow's decoders raise on damaged or odd data (beyond OSError, whose subclasses include truncation).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error,
                 zlib.error)
_ORIENTATION = 0x0112  # the EXIF tag
_BOMB_LOCK = threading.Lock()


def read_image(path: Path) -> np.ndarray:
    """Read a picture as BGR uint8 (H, W, 3).

    The header is read first (Pillow) and a picture over ``MAX_PIXELS`` is refused before decoding. EXIF
    orientation is applied; 16-bit pictures are scaled to 8 bits (``value * 255 / 65535``, rounded); an alpha
    channel is composited on white; CMYK, palette, gray+alpha and 1-bit pictures are converted; gray pictures
    get three equal channels. Problems raise ``InputError`` with one line naming the file: ``image not found``,
    ``permission denied``, ``empty file``, ``zero-size image``, ``image too large``, ``truncated image`` or
    ``not a readable image (reason)``.
    """
    path = Path(path)
    with open_file(path) as file, quiet():
        return _decode(file, path)


@contextlib.contextmanager
def quiet():
    """Decoding without warnings (Pillow's corrupt-EXIF or bomb warnings): problems are raised as one line, and
    MAX_PIXELS is checked instead of Pillow's warning threshold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def open_file(path: Path) -> BinaryIO:
    """``path`` opened for reading, or the one-line reason it cannot be."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"not a readable image: {path} (a folder, not a file)")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"not a readable image: {path} (not a regular file)")
        if info.st_size == 0:
            raise InputError(f"empty file: {path}")
        return open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"image not found: {path}") from None
    except PermissionError:
        raise InputError(f"permission denied: {path}") from None
    except OSError as exc:
        reason = "symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise InputError(f"not a readable image: {path} ({reason})") from None


def _decode(file: BinaryIO, path: Path) -> np.ndarray:
    picture = open_header(file, path)
    with contextlib.closing(picture):  # close(), not just __exit__, frees Pillow's pixels
        if _is_16bit_colour(picture):  # Pillow would keep only the high byte of 16-bit RGB(A) and LA
            return _decode_16bit_colour(file, picture, path)
        fast = _decode_plain(file, picture)
        if fast is not None:
            return fast
        try:
            picture.load()
        except DECODE_ERRORS as exc:
            raise _decode_error(exc, path, file) from None
        try:
            ImageOps.exif_transpose(picture, in_place=True)
        except DECODE_ERRORS:
            pass  # damaged EXIF data: the pixels are fine, keep them as stored
        array, alpha = _pixels(picture, path)
    # Pillow's copy of the pixels is freed here, before compositing and the BGR copy
    if alpha is not None:
        array = _on_white(array, alpha)
        del alpha  # may hold the whole RGBA array
    return _to_bgr(array)


def _decode_plain(file: BinaryIO, picture: Image.Image) -> np.ndarray | None:
    """A complete 8-bit RGB or gray JPEG, PNG or WebP decoded by OpenCV, or None to let Pillow decode it.

    OpenCV uses the same decoders as Pillow (identical pixels) in less time and memory than Pillow plus a
    numpy copy (24 MP JPEG: 0.17 s instead of 0.28 s), which matters when training reads every picture. It
    cannot tell that a file is truncated (it fills the rest with gray), so only files that end where their
    header says come here; anything else, and any failure, goes to Pillow, which reports the reason.
    """
    if picture.format not in ("JPEG", "MPO", "PNG", "WEBP") or picture.mode not in ("RGB", "L") \
            or "transparency" in picture.info or getattr(picture, "n_frames", 1) != 1:
        return None
    file.seek(0)
    data = file.read()
    if picture.format == "WEBP":
        complete = data[:4] == b"RIFF" and len(data) >= struct.unpack("<I", data[4:8])[0] + 8
    else:
        complete = data.endswith(b"IEND\xaeB`\x82" if picture.format == "PNG" else b"\xff\xd9")
    if not complete:
        return None
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    del data
    if values is None or values.ndim != 3 or values.shape[:2] != (picture.height, picture.width):
        return None
    return _orient(values, _orientation(picture))


def _orientation(picture: Image.Image) -> int:
    """The EXIF orientation (1..8) in a picture's header, without decoding its pixels; 1 when unknown."""
    if picture.format == "PNG" and "exif" not in picture.info:
        return 1  # Pillow's PNG getexif() would decode the whole picture to look for eXIf after the pixels
    try:
        orientation = int(picture.getexif().get(_ORIENTATION, 1))
    except DECODE_ERRORS:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def open_header(file: BinaryIO, path: Path) -> Image.Image:
    """The picture's header, checked for size before anything is decoded."""
    try:
        picture = Image.open(file)
    except Image.DecompressionBombError:
        raise InputError(_too_large(path, *_unchecked_size(file))) from None
    except DECODE_ERRORS as exc:  # UnidentifiedImageError is an OSError
        raise _decode_error(exc, path, file) from None
    width, height = picture.size
    if width <= 0 or height <= 0:
        picture.close()
        raise InputError(f"zero-size image: {path}")
    if width * height > MAX_PIXELS:
        picture.close()
        raise InputError(_too_large(path, width, height))
    return picture


def _unchecked_size(file: BinaryIO) -> tuple[int, int]:
    """The size in a header that Pillow's own bomb check refused (only the header is read)."""
    with _BOMB_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            file.seek(0)
            with Image.open(file) as picture:
                return picture.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _too_large(path: Path, width: int, height: int) -> str:
    def mp(pixels: int) -> str:
        return f"{pixels / 1e6:.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.1f}"
    return f"image too large: {path} ({width}x{height} = {mp(width * height)} MP; the limit is {mp(MAX_PIXELS)} MP)"


def _zero_size_header(head: bytes) -> bool:
    """Whether a header Pillow refused says the picture is 0 pixels wide or high (PNG, JPEG, GIF, BMP)."""
    try:
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return 0 in struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return 0 in struct.unpack("<HH", head[6:10])
        if head[:2] == b"BM":
            return 0 in struct.unpack("<ii", head[18:26])
        if head[:2] == b"\xff\xd8":
            i = 2
            while i + 9 <= len(head) and head[i] == 0xFF:
                marker = head[i + 1]
                if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte or no-length marker
                    i += 1 if marker == 0xFF else 2
                    continue
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                    height, width = struct.unpack(">HH", head[i + 5:i + 9])
                    return width == 0 or height == 0
                i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    except struct.error:
        pass
    return False


def _decode_error(exc: BaseException, path: Path, file: BinaryIO) -> InputError:
    """The one-line reason Pillow could not open or decode ``file``."""
    file.seek(0)
    head = file.read(1 << 18)
    if isinstance(exc, UnidentifiedImageError) and _zero_size_header(head):
        return InputError(f"zero-size image: {path}")
    size = os.fstat(file.fileno()).st_size
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower() or _cut_short(head, size):
        return InputError(f"truncated image: {path}")
    if isinstance(exc, UnidentifiedImageError):
        return InputError(f"not a readable image: {path} (not a picture, or a format that cannot be read)")
    return InputError(f"not a readable image: {path} ({reason(exc)})")


def _cut_short(head: bytes, size: int) -> bool:
    """Whether a WebP or TIFF file is shorter than its header says (Pillow does not say so itself)."""
    try:
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return size < struct.unpack("<I", head[4:8])[0] + 8
        if head[:4] in (b"II*\0", b"MM\0*"):  # where the first directory starts
            return struct.unpack("<I" if head[:2] == b"II" else ">I", head[4:8])[0] + 2 > size
    except struct.error:
        pass
    return False


def _pixels(picture: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A decoded Pillow picture as uint8 RGB (H, W, 3) or gray (H, W), and its alpha (H, W) if it has one."""
    mode = picture.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(picture)
        if mode == "I":
            values = np.clip(values, 0, 65535)
        return _to_8bit(values), None
    if mode == "F":  # 32-bit float pictures are taken as 0..1
        values = np.nan_to_num(np.asarray(picture, np.float32))
        return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8), None
    if "transparency" in picture.info and mode in ("1", "L", "P", "RGB"):
        picture = picture.convert("RGBA")
        mode = "RGBA"
    try:
        if mode in ("RGB", "L"):
            return _array(picture), None
        if mode == "1":
            return _array(picture.convert("L")), None
        if mode in ("LA", "La"):
            values = _array(picture if mode == "LA" else picture.convert("LA"))
            return values[..., 0], values[..., 1]
        if mode in ("RGBA", "RGBa", "PA"):
            values = _array(picture if mode == "RGBA" else picture.convert("RGBA"))
            return values[..., :3], values[..., 3]
        return _array(picture.convert("RGB")), None  # CMYK, P, YCbCr, HSV, ...
    except ValueError as exc:  # a mode Pillow cannot convert
        raise InputError(f"not a readable image: {path} (unsupported colour mode {mode}: {exc})") from None


def _array(picture: Image.Image) -> np.ndarray:
    """An 8-bit L, LA, RGB or RGBA Pillow picture as a uint8 array (H, W[, C]).

    ``np.asarray`` goes through ``tobytes()``, which holds the raw chunks and their join at once (two temporary
    full copies); here the same raw encoder's chunks are copied straight into the result. Should Pillow's
    internals differ, ``np.asarray`` is used.
    """
    width, height = picture.size
    bands = len(picture.getbands())
    try:
        encoder = Image._getencoder(picture.mode, "raw", picture.mode)
        encoder.setimage(picture.im, (0, 0, width, height))
    except (AttributeError, TypeError, ValueError, OSError):
        return np.asarray(picture)
    out = np.empty((height, width, bands) if bands > 1 else (height, width), np.uint8)
    flat, filled, status = out.reshape(-1), 0, 0
    try:
        while not status:
            _, status, chunk = encoder.encode(max(65536, width * 4))
            if filled + len(chunk) > flat.size:
                status = -1
                break
            flat[filled:filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
            filled += len(chunk)
    finally:
        encoder.cleanup()
    return out if status > 0 and filled == flat.size else np.asarray(picture)


def _to_bgr(array: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) as BGR, gray (H, W) as three equal channels; a new contiguous uint8 array."""
    if array.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)


def _to_8bit(values: np.ndarray) -> np.ndarray:
    """16-bit values (0..65535) scaled to 0..255 as ``round(value * 255 / 65535)`` (= value / 257)."""
    values = np.ascontiguousarray(values)
    if values.dtype.byteorder not in "=|":
        values = values.astype(values.dtype.newbyteorder("="))
    return cv2.convertScaleAbs(values, alpha=1 / 257)


def _on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``color`` (H, W[, C]) uint8 over white with ``alpha`` (H, W) uint8, rounded to the nearest value.

    Computed in uint16 a band of rows at a time, so the only full-size allocation is the result.
    """
    if alpha.min() == 255:
        return color
    out = np.empty(color.shape, np.uint8)
    weight = alpha if color.ndim == 2 else alpha[..., None]
    for top in range(0, color.shape[0], 256):
        rows = slice(top, top + 256)
        band = np.subtract(255, color[rows], dtype=np.uint16)  # how far from white
        band *= weight[rows]
        band += 127
        band //= 255
        np.subtract(255, band, out=out[rows], casting="unsafe")
    return out


def _is_16bit_colour(picture: Image.Image) -> bool:
    if picture.mode not in ("RGB", "RGBA", "LA"):
        return False
    for tile in picture.tile:
        args = tile[3]  # (codec, extents, offset, args): a tuple or a named tuple, depending on Pillow
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _decode_16bit_colour(file: BinaryIO, picture: Image.Image, path: Path) -> np.ndarray:
    """16-bit RGB(A) or gray+alpha through OpenCV, which keeps all 16 bits; orientation from Pillow's EXIF."""
    orientation = _orientation(picture)
    file.seek(0)
    data = file.read()
    if picture.format == "PNG" and not data.endswith(b"IEND\xaeB`\x82"):
        try:
            picture.load()  # likely truncated: Pillow says so quietly, where libpng would print to stderr
        except DECODE_ERRORS as exc:
            raise _decode_error(exc, path, file) from None
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    del data
    if values is None or values.size == 0:
        try:
            picture.load()  # for the reason
        except DECODE_ERRORS as exc:
            raise _decode_error(exc, path, file) from None
        raise InputError(f"not a readable image: {path} (16-bit colour that OpenCV cannot decode)")
    if values.dtype == np.uint16:
        values = _to_8bit(values)
    elif values.dtype != np.uint8:
        raise InputError(f"not a readable image: {path} (unsupported sample type {values.dtype})")
    if values.ndim == 3 and values.shape[2] == 2:  # gray + alpha
        values = _on_white(values[..., 0], values[..., 1])
    elif values.ndim == 3 and values.shape[2] == 4:  # BGRA
        values = _on_white(values[..., :3], values[..., 3])
    values = np.ascontiguousarray(values)
    if values.ndim == 2:
        values = cv2.cvtColor(values, cv2.COLOR_GRAY2BGR)
    return _orient(values, orientation)


def _orient(values: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array as ``ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return cv2.flip(values, 1)
    if orientation == 3:
        return cv2.rotate(values, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(values, 0)
    if orientation == 5:
        return cv2.transpose(values)
    if orientation == 6:
        return cv2.rotate(values, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(values), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(values, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return values

