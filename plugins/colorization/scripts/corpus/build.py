"""The corpus from unpacked packages: select, downscale, drop black-and-white pictures and near-duplicates,
split, composite the cut-outs, write ``train/``, ``val/`` and the attribution manifest."""
from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from . import dedupe, photos, sources, split
from .sources import Photo

#: Below this 99th-percentile Lab chroma a picture counts as black-and-white (or sepia-toned).
MIN_CHROMA = 4.0
#: Above this share of equal neighbouring pixels a stamp counts as clip art (see ``photos.flat_fraction``).
MAX_FLAT = 0.1
#: Cut-outs whose opaque box has a shorter side below this are too small to learn from.
MIN_CUTOUT_SIDE = 48
MANIFEST = ["file", "package", "path in package", "licence", "author", "split", "group", "background"]


def collect(root: Path, corpus: Path, attribution: Path) -> tuple[list[Photo], list[tuple[Photo, str]]]:
    """Every candidate, downscaled (cut-outs to their opaque box first), and those dropped with the reason."""
    kept, dropped = [], []
    candidates = list(sources.corpus_v1(root, corpus, attribution))
    for source in sources.SOURCES.values():
        candidates.extend(source(root))
    for photo in candidates:
        if not photo.licence:
            dropped.append((photo, "no licence found"))
            continue
        if photo.package == "tuxpaint-stamps-default" and photos.flat_fraction(photo.pixels) > MAX_FLAT:
            dropped.append((photo, "clip art"))
            continue
        if photo.is_cutout:
            photo.pixels = photos.opaque_box(photo.pixels)
            if min(photo.pixels.shape[:2]) < MIN_CUTOUT_SIDE:
                dropped.append((photo, "cut-out too small"))
                continue
        photo.pixels = photos.downscale(photo.pixels)
        if photos.chroma(photo.pixels) < MIN_CHROMA:
            dropped.append((photo, "black-and-white"))
            continue
        kept.append(photo)
    return kept, dropped


def _on_gray(photo: Photo) -> np.ndarray:
    """RGB for hashing: a cut-out over mid gray."""
    if not photo.is_cutout:
        return photo.pixels
    alpha = photo.pixels[..., 3:].astype(np.float32) / 255
    return np.rint(alpha * photo.pixels[..., :3] + (1 - alpha) * 128).astype(np.uint8)


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def build(root: Path, corpus: Path, attribution: Path, work: Path) -> Counter:
    """Write ``work/train``, ``work/val``, ``work/photo-attribution.tsv`` and ``work/dropped.tsv``;
    returns the number of photos per (package, split)."""
    candidates, dropped = collect(root, corpus, attribution)
    names = Counter(p.name for p in candidates)
    if clash := [n for n, c in names.items() if c > 1]:
        raise SystemExit(f"two photos would be written as {clash[0]}")
    keep, duplicates = dedupe.unique([_on_gray(p) for p in candidates])
    dropped += [(candidates[i], f"near-duplicate of {candidates[j].name}") for i, j in duplicates.items()]
    kept = [candidates[i] for i in keep]
    held = split.validation([p.name for p in kept], [p.group for p in kept])
    partial = work / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    counts: Counter = Counter()
    rows = []
    for subset in ("train", "val"):
        members = [p for p in kept if (p.name in held) == (subset == "val")]
        backgrounds = [p for p in members if not p.is_cutout]  # a cut-out never sees the other split's photos
        (partial / subset).mkdir(parents=True)
        for photo in members:
            pixels = photo.pixels
            if photo.is_cutout:
                rng = np.random.default_rng(_seed(photo.name))
                background = backgrounds[int(rng.integers(len(backgrounds)))]
                pixels, photo.background = photos.composite(pixels, background.pixels, rng), background.name
            Image.fromarray(pixels).save(partial / subset / photo.name, quality=95, subsampling=0)
            counts[photo.package, subset] += 1
            rows.append([photo.name, photo.package, photo.path, photo.licence, photo.author, subset, photo.group,
                         photo.background])
    _write_tsv(partial / "photo-attribution.tsv", MANIFEST, rows)
    _write_tsv(partial / "dropped.tsv", ["file", "package", "path in package", "reason"],
               [[p.name, p.package, p.path, reason] for p, reason in dropped])
    for item in ("train", "val", "photo-attribution.tsv", "dropped.tsv"):
        target = work / item
        if target.is_dir():
            shutil.rmtree(target)
        (partial / item).replace(target)
    partial.rmdir()
    return counts


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
