"""Pictures for the core and every task: read, write, collect, list, resize, crop, tile, and map to [-1, 1].

Pictures are OpenCV-style BGR ``uint8`` arrays (H, W, 3); model tensors hold values in [-1, 1].

Reading opens the header with Pillow first, so a picture larger than ``MAX_PIXELS`` is refused before any
pixel is decoded; complete 8-bit RGB or gray JPEG, PNG and WebP files are then decoded by OpenCV (faster, less
memory), everything else by Pillow. EXIF orientation is applied; 16-bit pictures are scaled to 8 bits (not
clipped); transparency is composited on white; CMYK, palette, gray and 1-bit pictures become BGR. Every problem
is an ``InputError`` with one line that names the file and the reason. Writing is atomic and keeps provenance
metadata: PNG text chunks, or JSON in the EXIF UserComment of a JPEG or WebP file.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import stat
import struct
import tempfile
import threading
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from palette_kit.errors import InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

MAX_PIXELS = 150_000_000
"""Pictures with more pixels are refused before decoding (a 24 MP photo is fine; a 20000x20000 bomb is not)."""

# What Pillow's decoders raise on damaged or odd data (beyond OSError, whose subclasses include truncation).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error,
                  zlib.error)
_EXIF_IFD, _USER_COMMENT, _ORIENTATION = 0x8769, 0x9286, 0x0112
_ASCII_PREFIX = b"ASCII\0\0\0"  # the EXIF UserComment character-code prefix
_PILLOW_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_GLOB_CHARS = frozenset("*?[")
_BOMB_LOCK = threading.Lock()


def list_images(root: Path) -> list[Path]:
    """All pictures under ``root`` (recursive), sorted; a clear error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root}")
    return paths


# ---------------------------------------------------------------------------------------------------- reading

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
    with _open_file(path) as file, _quiet():
        return _decode(file, path)


@contextlib.contextmanager
def _quiet():
    """Decoding without warnings (Pillow's corrupt-EXIF or bomb warnings): problems are raised as one line, and
    MAX_PIXELS is checked instead of Pillow's warning threshold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _open_file(path: Path) -> BinaryIO:
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
    picture = _open_picture(file, path)
    with contextlib.closing(picture):  # close(), not just __exit__, frees Pillow's pixels
        if _is_16bit_colour(picture):  # Pillow would keep only the high byte of 16-bit RGB(A) and LA
            return _decode_16bit_colour(file, picture, path)
        fast = _decode_plain(file, picture)
        if fast is not None:
            return fast
        try:
            picture.load()
        except _DECODE_ERRORS as exc:
            raise _decode_error(exc, path, file) from None
        try:
            ImageOps.exif_transpose(picture, in_place=True)
        except _DECODE_ERRORS:
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
    except _DECODE_ERRORS:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _open_picture(file: BinaryIO, path: Path) -> Image.Image:
    """The picture's header, checked for size before anything is decoded."""
    try:
        picture = Image.open(file)
    except Image.DecompressionBombError:
        raise InputError(_too_large(path, *_unchecked_size(file))) from None
    except _DECODE_ERRORS as exc:  # UnidentifiedImageError is an OSError
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
    return InputError(f"not a readable image: {path} ({_reason(exc)})")


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


def _reason(exc: BaseException) -> str:
    text = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()
    return text[0] if text else type(exc).__name__


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
        except _DECODE_ERRORS as exc:
            raise _decode_error(exc, path, file) from None
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    del data
    if values is None or values.size == 0:
        try:
            picture.load()  # for the reason
        except _DECODE_ERRORS as exc:
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


# ---------------------------------------------------------------------------------------------------- writing

def umask_mode(mode: int) -> int:
    """``mode`` as the process's umask leaves it: what a plain ``open`` or ``mkdir`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_image(path: Path, image: np.ndarray, metadata: dict[str, str] | None = None, quality: int = 95) -> None:
    """Write a BGR uint8 picture atomically: encoded first, then a temporary file in the same folder renamed
    into place (permissions as the umask leaves them), so a failure leaves neither a file nor a temporary.

    The format follows the suffix: ``.png`` (``metadata`` as PNG text chunks), ``.jpg``/``.jpeg`` and ``.webp``
    (``quality`` 1..100; ``metadata`` as JSON in the EXIF UserComment), others through OpenCV without metadata;
    no suffix writes PNG. A suffix that cannot be written raises ``InputError``.
    """
    path = Path(path)
    encoded = _encode(path, image, {str(k): str(v) for k, v in (metadata or {}).items()}, quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded)
        os.chmod(tmp, umask_mode(0o666))  # mkstemp makes 0600; give the user's usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            raise InputError(f"cannot encode an image as {path.suffix!r}: {path} ({_reason(exc)})") from None
        return buffer.getvalue()
    try:
        ok, encoded = cv2.imencode(suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"cannot encode an image as {path.suffix!r}: {path}")
    data = encoded.tobytes()
    if suffix == ".png" and metadata:
        data = _png_with_text(data, metadata, path)
    return data


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
    with _open_file(path) as file, _quiet(), contextlib.closing(_open_picture(file, path)) as picture:
        if picture.format == "PNG":
            try:
                return {str(k): str(v) for k, v in picture.text.items()}  # loads, for chunks after the pixels
            except _DECODE_ERRORS:
                return {str(k): v for k, v in picture.info.items() if isinstance(v, str)}
        try:
            comment = picture.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
        except _DECODE_ERRORS:
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


# ---------------------------------------------------------------------------------------------------- inputs

def collect_inputs(specs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand command-line inputs into picture files, in order, without duplicates (same real file).

    A file is kept whatever its suffix (reading tells if it is not a picture); a folder is searched recursively
    for ``IMAGE_SUFFIXES`` files, in sorted order, following folder symlinks but never looping; a spec that does
    not exist but contains ``*``, ``?`` or ``[`` is a glob pattern (``**`` recursive): matching pictures are kept
    and matching folders searched. Returns ``(paths, problems)``; problems are ``(spec or path, reason)`` for a
    spec that matches nothing (``no such file or folder``, ``no pictures in folder``, ``pattern matches no
    pictures``), a ``symlink loop``, a folder or spec that is ``permission denied``, or a ``broken symbolic link``.
    """
    paths: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    walked: dict[str, int] = {}  # real folder -> pictures found under it

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for spec in map(str, specs):
        kind, reason = _kind(Path(spec)) if spec else ("missing", "")
        before = len(problems)
        if kind == "file":
            add(Path(spec))
        elif kind == "folder":
            if not _walk(Path(spec), add, problems, walked, ()) and len(problems) == before:
                problems.append((spec, "no pictures in folder"))
        elif kind == "missing" and _GLOB_CHARS & set(spec):
            found = 0
            for match in sorted(glob.glob(spec, recursive=True)):
                match_kind, match_reason = _kind(Path(match))
                if match_kind == "folder":
                    found += _walk(Path(match), add, problems, walked, ())
                elif match_kind == "file" and Path(match).suffix.lower() in IMAGE_SUFFIXES:
                    add(Path(match))
                    found += 1
                elif match_kind == "problem":
                    problems.append((match, match_reason))
            if not found and len(problems) == before:
                problems.append((spec, "pattern matches no pictures"))
        elif kind == "missing":
            problems.append((spec, "no such file or folder"))
        else:
            problems.append((spec, reason))
    return paths, problems


def _kind(path: Path) -> tuple[str, str]:
    """("file" | "folder" | "missing" | "problem", reason) for ``path``, following symlinks."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", "no such file or folder"
    except PermissionError:
        return "problem", "permission denied"
    except OSError as exc:
        return "problem", "symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
    return ("folder" if stat.S_ISDIR(info.st_mode) else "file"), ""


def _walk(folder: Path, add, problems: list[tuple[str, str]], walked: dict[str, int],
          ancestors: tuple[str, ...]) -> int:
    """Add the pictures under ``folder`` (sorted, depth first); returns how many were found (duplicates too)."""
    real = os.path.realpath(folder)
    if real in ancestors:
        problems.append((str(folder), "symlink loop"))
        return 0
    if real in walked:  # reached again (another link, or named again): its pictures are already in
        return walked[real]
    walked[real] = 0
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda entry: entry.name)
    except PermissionError:
        problems.append((str(folder), "permission denied"))
        return 0
    except OSError as exc:
        problems.append((str(folder), _reason(exc)))
        return 0
    found = 0
    for entry in entries:
        path = folder / entry.name
        try:
            if entry.is_dir():
                found += _walk(path, add, problems, walked, ancestors + (real,))
            elif entry.is_file():
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    add(path)
                    found += 1
            elif entry.is_symlink() and path.suffix.lower() in IMAGE_SUFFIXES:
                problems.append((str(path), "broken symbolic link"))
        except PermissionError:
            problems.append((str(path), "permission denied"))
        except OSError as exc:
            problems.append((str(path), "symlink loop" if exc.errno == errno.ELOOP else _reason(exc)))
    walked[real] = found
    return found


# ---------------------------------------------------------------------------------------------------- arrays

def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Tile same-sized pictures: ``rows`` is a list of (N, H, W, 3) batches, one column each."""
    columns = [np.concatenate(list(batch), axis=0) for batch in rows]
    spacer = np.full((columns[0].shape[0], pad, 3), 255, np.uint8)
    parts = [c for col in columns for c in (col, spacer)][:-1]
    return np.concatenate(parts, axis=1)


def to_unit(values: np.ndarray) -> np.ndarray:
    """8-bit values (0..255) as float32 in [-1, 1]."""
    return values.astype(np.float32) * 2 / 255 - 1


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] back to 8-bit, rounded and clipped to 0..255."""
    return np.clip(np.round((np.asarray(values, np.float32) + 1) * 255 / 2), 0, 255).astype(np.uint8)


def to_tensor(picture: np.ndarray) -> torch.Tensor:
    """A BGR ``uint8`` picture (H, W, 3) as a float32 tensor (3, H, W) in [-1, 1]."""
    return torch.from_numpy(to_unit(picture)).permute(2, 0, 1).contiguous()


def to_pictures(tensor: torch.Tensor) -> np.ndarray:
    """Tensors (..., 3, H, W) in [-1, 1] as BGR ``uint8`` pictures (..., H, W, 3)."""
    return to_uint8(tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy())


def resize(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging when shrinking and bicubic interpolation otherwise."""
    shrinking = picture.shape[0] >= height and picture.shape[1] >= width
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def square(picture: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of ``picture``, resized to ``size`` x ``size`` (no distortion)."""
    height, width = picture.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return resize(picture[top:top + side, left:left + side], size, size)


def random_square(picture: np.ndarray, size: int, min_scale: float) -> np.ndarray:
    """A random square crop whose side is ``min_scale``..1 of the shorter side, resized to ``size``.

    The draws come from torch's random generator (seeded by the trainer, and per DataLoader worker).
    """
    height, width = picture.shape[:2]
    scale = min_scale + (1 - min_scale) * torch.rand(()).item()
    side = max(1, round(min(height, width) * scale))
    top = int(torch.randint(0, height - side + 1, ()).item())
    left = int(torch.randint(0, width - side + 1, ()).item())
    return resize(picture[top:top + side, left:left + side], size, size)
