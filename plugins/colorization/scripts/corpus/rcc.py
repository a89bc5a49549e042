"""Reader of Qt's binary resource bundles (``.rcc``), versions 1 to 3.

Layout (all integers big-endian): the magic ``qres``, then u32 version, u32 offsets of the node tree,
the data area and the names area, and (version 3) u32 flags. A tree node is u32 name offset, u16 flags,
then for a directory u32 child count and u32 index of its first child, for a file u16 territory, u16
language and u32 data offset; version 2 and later add a u64 modification time. Names are u16 length,
u32 hash, then UTF-16BE characters. Data is u32 size, then the bytes: zlib-flagged entries are Qt's
``qCompress`` (u32 original size, then a zlib stream), zstd-flagged ones a zstd frame.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

COMPRESSED, DIRECTORY, COMPRESSED_ZSTD = 0x01, 0x02, 0x04


class RccError(ValueError):
    """The file is not a readable Qt resource bundle."""


def _zstd_decompress(payload: bytes) -> bytes:
    try:
        import zstandard  # only bundles built with zstd need it
    except ImportError:
        raise RccError("zstd-compressed entries need zstandard: pip install 'palette-kit-colorization[recipe]'") \
            from None
    return zstandard.ZstdDecompressor().decompressobj().decompress(payload)


class Rcc:
    """The files of one bundle, by their path inside it (``folder/name``, no leading ``/``)."""

    def __init__(self, blob: bytes) -> None:
        if blob[:4] != b"qres":
            raise RccError("no 'qres' magic")
        self.version, self._tree, self._data, self._names = struct.unpack_from(">IIII", blob, 4)
        if not 1 <= self.version <= 3:
            raise RccError(f"unknown version {self.version}")
        self._blob = blob
        self._node_size = 14 if self.version == 1 else 22

    @classmethod
    def open(cls, path: Path) -> Rcc:
        return cls(Path(path).read_bytes())

    def _name(self, offset: int) -> str:
        length = struct.unpack_from(">H", self._blob, self._names + offset)[0]
        start = self._names + offset + 6
        return self._blob[start:start + 2 * length].decode("utf-16-be")

    def _node(self, index: int) -> tuple[str, int, int, int]:
        """(name, flags, a, b): a, b are child count and first child, or 0 and the data offset."""
        at = self._tree + index * self._node_size
        name_offset, flags = struct.unpack_from(">IH", self._blob, at)
        if flags & DIRECTORY:
            count, first = struct.unpack_from(">II", self._blob, at + 6)
            return self._name(name_offset), flags, count, first
        return self._name(name_offset), flags, 0, struct.unpack_from(">I", self._blob, at + 10)[0]

    def files(self) -> dict[str, tuple[int, int]]:
        """Every file's path, with its flags and data offset."""
        found: dict[str, tuple[int, int]] = {}
        pending = [("", 0)]
        while pending:
            prefix, index = pending.pop()
            _, flags, count, first = self._node(index)
            for child in range(first, first + count):
                name, child_flags, _, offset = self._node(child)
                path = f"{prefix}{name}"
                if child_flags & DIRECTORY:
                    pending.append((f"{path}/", child))
                else:
                    found[path] = (child_flags, offset)
        return found

    def read(self, path: str) -> bytes:
        """The uncompressed bytes of the file at ``path``."""
        flags, offset = self.files()[path]
        return self._payload(flags, offset)

    def _payload(self, flags: int, offset: int) -> bytes:
        at = self._data + offset
        size = struct.unpack_from(">I", self._blob, at)[0]
        payload = self._blob[at + 4:at + 4 + size]
        if flags & COMPRESSED:
            return zlib.decompress(payload[4:])
        if flags & COMPRESSED_ZSTD:
            return _zstd_decompress(payload)
        return payload

    def items(self) -> Iterator[tuple[str, bytes]]:
        """(path, bytes) of every file, sorted by path."""
        for path, (flags, offset) in sorted(self.files().items()):
            yield path, self._payload(flags, offset)
