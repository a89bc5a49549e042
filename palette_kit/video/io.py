"""Reading and writing videos with PyAV, one frame at a time (never all frames in memory).

Frames are BGR ``uint8`` pictures as stored (rotation metadata is kept, not applied), each with its
timestamp: writing them back with the same timestamps keeps the frame rate, frame count and duration,
variable frame rates included. The writer copies the source's audio packets as they are (no re-encoding),
interleaved with the video, and writes under a temporary name (``.NAME.XXXX.partial``: not a video suffix,
so never taken as an input) renamed into place only when complete.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from palette_kit.atomic import fsync, umask_mode
from palette_kit.errors import InputError
from palette_kit.lazy import lazy

av = lazy("av")

#: Output format and video encoders (the first one PyAV's FFmpeg has) per suffix.
FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
ENCODERS = {".webm": ("libvpx-vp9", "libvpx"), ".avi": ("mpeg4",)}
DEFAULT_ENCODERS = ("libx264", "h264", "mpeg4")
#: Encoder options: visually lossless enough that the lightness survives (a few levels at most).
ENCODER_OPTIONS = {"libx264": {"crf": "16", "preset": "medium"}, "libvpx-vp9": {"crf": "20", "b": "0"},
                   "libvpx": {"crf": "8", "b": "4M"}, "mpeg4": {"qscale": "2"}, "h264": {}}


def _problem(path: Path, exc: Exception) -> InputError:
    """FFmpeg's reason (e.g. ``Invalid data found when processing input``) without the file name it adds."""
    if isinstance(exc, av.error.EOFError):
        return InputError(f"{path}: cannot read the video (it ends before its first frame: no frames, or truncated)")
    why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InputError(f"{path}: cannot read the video ({why}; truncated or not a video?)")


@dataclass(frozen=True)
class Frame:
    """One decoded frame: the picture as stored, its timestamp in the stream's ``time_base`` and the display
    rotation in degrees (FFmpeg hands the stream's display matrix to every frame)."""

    picture: np.ndarray
    pts: int
    rotation: int = 0


@dataclass(frozen=True)
class VideoInfo:
    """What a video's first video stream says about itself."""

    width: int
    height: int
    rate: Fraction  # average frame rate
    time_base: Fraction
    frames: int  # as the container counts them; 0 when it does not say
    audio: bool


class VideoReader:
    """The frames of a video's first video stream, decoded one at a time (``with VideoReader(path) as r``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise _problem(self.path, exc) from None
        try:
            self.info = self._info()
        except BaseException:
            self.container.close()
            raise

    def _info(self) -> VideoInfo:
        if not self.container.streams.video:
            raise InputError(f"{self.path}: no video stream (audio only?)")
        stream = self.container.streams.video[0]
        context = stream.codec_context
        if context is None or context.codec is None or not stream.width:
            raise InputError(f"{self.path}: unsupported video codec (FFmpeg has no decoder for it)")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(f"{self.path}: the video stream has no frame rate")
        return VideoInfo(stream.width, stream.height, Fraction(rate), Fraction(stream.time_base), stream.frames or 0,
                         bool(self.container.streams.audio))

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def __iter__(self) -> Iterator[Frame]:
        """Every frame in display order; InputError when the stream is damaged, truncated or empty."""
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1 / (self.info.rate * self.info.time_base)  # one frame, in time_base units
        count, end = 0, None
        try:
            for frame in self.container.decode(stream):
                pts = frame.pts if frame.pts is not None else round(count * step)
                yield Frame(frame.to_ndarray(format="bgr24"), pts, int(frame.rotation))
                count, end = count + 1, max(end or 0, pts + step)
        except av.error.EOFError:
            pass  # what FFmpeg says at the end of a stream without frames
        except (av.FFmpegError, ValueError) as exc:
            raise _problem(self.path, exc) from None
        if not count:
            raise InputError(f"{self.path}: the video has no frames")
        if stream.duration and (stream.start_time or 0) + stream.duration - end > 1.5 * step:
            shown = float((end - (stream.start_time or 0)) * self.info.time_base)
            raise InputError(f"{self.path}: truncated: frames for {shown:.2f} s of the "
                             f"{float(stream.duration * self.info.time_base):.2f} s it announces")


def encoder_for(suffix: str) -> str:
    """The first video encoder of ``suffix``'s list that PyAV's FFmpeg has."""
    names = ENCODERS.get(suffix, DEFAULT_ENCODERS)
    for name in names:
        if name in av.codecs_available:
            return name
    raise InputError(f"no video encoder for {suffix} files in this FFmpeg (tried {', '.join(names)})")


class VideoWriter:
    """A video like ``source`` (size, timestamps, rotation, audio copied) written to ``path`` atomically.

    ``write`` each frame with its timestamp, then ``commit`` (rename into place) or ``abort`` (delete);
    as a context manager it commits when the block ends normally and aborts otherwise.
    """

    def __init__(self, path: Path, source: Path, info: VideoInfo, rotation: int = 0,
                 metadata: dict[str, str] | None = None, width: int | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise InputError(f"{self.path}: cannot write videos as {suffix or 'no suffix'!r} "
                             f"(use {', '.join(FORMATS)})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.info = info
        self.source = None
        try:
            options = {"movflags": "use_metadata_tags"} if suffix in (".mp4", ".mov") else {}
            self.container = av.open(tmp, "w", format=FORMATS[suffix], options=options)
            self.container.metadata.update(metadata or {})
            self.video = self._video_stream(suffix, width or info.width, rotation)
            self.audio = None
            if info.audio:
                self.source = av.open(str(source))
                self.audio = self.container.add_stream_from_template(self.source.streams.audio[0])
                self.packets = self.source.demux(self.source.streams.audio[0])
        except BaseException:
            self.abort()
            raise

    def _video_stream(self, suffix: str, width: int, rotation: int):
        name = encoder_for(suffix)
        stream = self.container.add_stream(name, rate=self.info.rate, options=ENCODER_OPTIONS.get(name, {}))
        stream.width, stream.height = width, self.info.height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and self.info.height % 2 == 0 else "yuv444p"
        stream.time_base = self.info.time_base
        stream.codec_context.time_base = self.info.time_base
        if rotation:
            stream.set_display_rotation(rotation)
        return stream

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def write(self, picture: np.ndarray, pts: int) -> None:
        """Encode a BGR frame shown at ``pts`` (in the source's ``time_base``), after the audio up to then."""
        self._copy_audio(until=pts * self.info.time_base)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")
        frame.pts, frame.time_base = pts, self.info.time_base
        self._mux(self.video.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except av.FFmpegError as exc:
            raise InputError(f"{self.path}: cannot write the video ({exc.strerror or exc})") from None

    def _copy_audio(self, until: Fraction | None) -> None:
        """The source's audio packets up to time ``until`` (seconds; None: all that is left), as they are."""
        if self.audio is None:
            return
        for packet in self.packets:
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = self.audio
            self._mux(packet)
            if until is not None and packet.dts * packet.time_base >= until:
                return
        self.audio = None  # all copied

    def commit(self) -> None:
        """Flush the encoder and the rest of the audio, close, sync and rename into place."""
        try:
            self._mux(self.video.encode(None))
            self._copy_audio(until=None)
            self.container.close()
            self._close_source()
            fsync(self.tmp)
            os.chmod(self.tmp, umask_mode(0o666))
            os.replace(self.tmp, self.path)
            fsync(self.path.parent)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and delete the temporary file: nothing is left under any name."""
        container = getattr(self, "container", None)
        if container is not None:
            try:
                container.close()
            except av.FFmpegError:
                pass  # a half-written file that is deleted next
        self._close_source()
        self.tmp.unlink(missing_ok=True)

    def _close_source(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


def read_tags(path: Path) -> dict[str, str]:
    """A video's container tags (keys in lower case); empty when it cannot be read."""
    try:
        with av.open(str(path)) as container:
            return {key.lower(): value for key, value in container.metadata.items()}
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return {}
