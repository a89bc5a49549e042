"""Finding the pictures to work on: every picture under a data folder, or the command line's files, folders
and glob patterns, each problem named."""
from __future__ import annotations

import errno
import glob
import os
import stat
from pathlib import Path

from palette_kit.errors import InputError, reason
from palette_kit.video import VIDEO_SUFFIXES

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
#: What ``collect_inputs`` takes from folders and globs: pictures and videos.
INPUT_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
_GLOB_CHARS = frozenset("*?[")


def list_images(root: Path, videos: bool = False) -> list[Path]:
    """All pictures (with ``videos``, videos too) under ``root`` (recursive), sorted; a clear error if none."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    suffixes = INPUT_SUFFIXES if videos else IMAGE_SUFFIXES
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not paths:
        raise InputError(f"no images{' or videos' if videos else ''} ({', '.join(sorted(suffixes))}) found in {root}")
    return paths


def collect_inputs(specs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand command-line inputs into picture and video files, in order, without duplicates (same real file).

    A file is kept whatever its suffix (reading tells if it is not a picture); a folder is searched recursively
    for ``INPUT_SUFFIXES`` files, in sorted order, following folder symlinks but never looping; a spec that does
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
                elif match_kind == "file" and Path(match).suffix.lower() in INPUT_SUFFIXES:
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
    """Add the pictures and videos under ``folder`` (sorted, depth first); returns how many were found (duplicates too)."""
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
        problems.append((str(folder), reason(exc)))
        return 0
    found = 0
    for entry in entries:
        path = folder / entry.name
        try:
            if entry.is_dir():
                found += _walk(path, add, problems, walked, ancestors + (real,))
            elif entry.is_file():
                if path.suffix.lower() in INPUT_SUFFIXES:
                    add(path)
                    found += 1
            elif entry.is_symlink() and path.suffix.lower() in INPUT_SUFFIXES:
                problems.append((str(path), "broken symbolic link"))
        except PermissionError:
            problems.append((str(path), "permission denied"))
        except OSError as exc:
            problems.append((str(path), "symlink loop" if exc.errno == errno.ELOOP else reason(exc)))
    walked[real] = found
    return found

