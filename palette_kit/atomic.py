"""Atomic, durable writes: a file or a folder appears complete under its name, or not at all.

Both are written under a temporary name in the target's folder, flushed to disk (``fsync``), given the
permissions the umask leaves, and renamed into place; then the folder holding them is synced, so the
rename itself survives a power cut. A failure, even an interrupt, leaves no temporary behind and the
previous version in place. Errors are the ``OSError`` the system gave; callers say what failed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def umask_mode(mode: int) -> int:
    """``mode`` as the process's umask leaves it: what a plain ``open`` or ``mkdir`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def fsync(path: Path) -> None:
    """Flush a file's or a folder's contents (a folder's: its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (temporary file, fsync, rename, fsync the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        fsync(Path(tmp))
        os.chmod(tmp, umask_mode(0o666))  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync(path.parent)


@contextlib.contextmanager
def atomic_folder(path: Path, hidden: str | None = None) -> Iterator[Path]:
    """A temporary folder to fill; when the block ends it replaces ``path`` atomically and durably.

    The temporary folder is ``{hidden}-XXXX`` beside ``path`` (``hidden`` defaults to ``.{name}``). Its
    files and itself are synced, then renamed into place; a folder already at ``path`` is first moved
    to ``{hidden}.old`` and deleted only once the new one is in place (put back if the rename fails), and
    the parent folder is synced.
    If the block or the swap fails, the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    hidden = hidden or f".{path.name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{hidden}-", dir=path.parent))
    try:
        yield tmp
        for entry in sorted(tmp.rglob("*")):  # files, and the entries of sub-folders
            if entry.is_file():
                os.chmod(entry, umask_mode(0o666))
            fsync(entry)
        os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes 0700
        fsync(tmp)
        if path.exists():
            old = path.with_name(f"{hidden}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        fsync(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
