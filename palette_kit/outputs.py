"""Where ``infer`` writes, planned before any work: output names, and which found files are outputs.

Rules: an output of palette-kit (named like one for any installed task, carrying palette-kit's provenance,
or lying in the ``--output`` folder) found in a folder or by a glob is never taken as an input; a file
named on the command line always is. No planned output is an input, whatever ``--overwrite`` says; two
inputs that would share an output name (``a.jpg``, ``a.png``) keep their extension in it
(``a.jpg.TASK.png``); ``--output FILE`` takes exactly one input and one sample.
"""
from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from palette_kit.errors import InputError, PaletteError
from palette_kit.imageio import read_metadata
from palette_kit.video import VIDEO_SUFFIXES, is_video

#: The part ``plan`` may put between ``NAME.TASK`` and the extension: ``sSEED`` or ``compare``.
_VARIANT = re.compile(r"s-?\d+|compare")
_EXTENSIONS = ("png", "jpg", "webp", *(suffix[1:] for suffix in VIDEO_SUFFIXES))
SOFTWARE = "palette-kit"


@dataclass
class Target:
    """One input file and where its result(s) go."""

    source: Path
    outputs: list[Path]  # one per sample
    compare: Path | None = None


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def made_by_palette_kit(path: Path) -> bool:
    """Whether ``path`` carries palette-kit's provenance (read from the header: PNG text chunks come first;
    a video's container tags)."""
    if is_video(path):
        from palette_kit.video.io import read_tags

        return read_tags(path).get("software", "").startswith(SOFTWARE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                if picture.format == "PNG":
                    return str(picture.info.get("software", "")).startswith(SOFTWARE)
        return read_metadata(path).get("software", "").startswith(SOFTWARE)
    except (OSError, PaletteError, ValueError, Image.DecompressionBombError):
        return False  # not readable as a picture: reading it as an input reports why


def is_output(path: Path, tasks: Iterable[str], output: Path | None) -> bool:
    """Whether ``path`` is an output of palette-kit: in the ``output`` folder, named like one, or marked as one."""
    if output is not None and output.is_dir() and _inside(path, output):
        return True
    return named_like_output(path.name, tasks) or made_by_palette_kit(path)


def named_like_output(name: str, tasks: Iterable[str]) -> bool:
    """Whether ``name`` is ``NAME.TASK.EXT``, ``NAME.TASK.sSEED.EXT`` or ``NAME.TASK.compare.png`` of a task."""
    parts = name.split(".")
    if len(parts) < 3 or parts[-1].lower() not in _EXTENSIONS:
        return False
    if len(parts) >= 4 and _VARIANT.fullmatch(parts[-2]):
        parts = parts[:-2] + parts[-1:]
    return parts[-2] in set(tasks)


def drop_outputs(sources: list[Path], named: Iterable[str], tasks: Iterable[str],
                 output: Path | None) -> tuple[list[Path], list[Path]]:
    """``sources`` split into inputs and the outputs of palette-kit found among them; files ``named`` on
    the command line are always inputs."""
    explicit = {os.path.realpath(n) for n in named if Path(n).is_file()}
    tasks = list(tasks)
    kept, dropped = [], []
    for source in sources:
        ours = os.path.realpath(source) not in explicit and is_output(source, tasks, output)
        (dropped if ours else kept).append(source)
    return kept, dropped


def plan(sources: list[Path], task: str, output: Path | None, seeds: list[int], ext: str,
         compare: bool) -> list[Target]:
    """Output paths: beside each input (``NAME.TASK.EXT``; a video's keep its suffix), or under ``output``
    mirroring the inputs' folders below their common parent, or ``output`` itself for a single input and
    sample when it has a suffix (a video's must be a video's). Several samples add ``.sSEED``. InputError, before any work, when ``output`` names a file but
    there are several results, or when an output would be an input or two inputs' outputs would coincide."""
    single_file = output is not None and bool(output.suffix) and not output.is_dir()
    if single_file and len(sources) * len(seeds) > 1:
        raise InputError(f"--output {output} is a file name, but there are {len(sources)} inputs and "
                         f"{len(seeds)} sample(s) each; give a folder (without a suffix) instead")
    common = Path(os.path.commonpath([s.resolve().parent for s in sources])) if sources else Path()
    folders = [s.parent if output is None else output / s.resolve().parent.relative_to(common) for s in sources]
    stems = [s.stem for s in sources]
    clashes = Counter(os.path.normcase(os.path.realpath(f / stem)) for f, stem in zip(folders, stems))
    stems = [s.name if clashes[os.path.normcase(os.path.realpath(f / stem))] > 1 else stem
             for s, f, stem in zip(sources, folders, stems)]
    targets = []
    for source, folder, stem in zip(sources, folders, stems):
        names = [f"{stem}.{task}" + (f".s{seed}" if len(seeds) > 1 else "") for seed in seeds]
        kind = source.suffix.lower()[1:] if is_video(source) else ext  # a video's results: its own container
        outputs = [output] if single_file else [folder / f"{name}.{kind}" for name in names]
        if single_file and is_video(source) != is_video(output):
            kind_of = "video" if is_video(source) else "picture"
            raise InputError(f"--output {output}: the result of {source} is a {kind_of}; give a {kind_of} file name")
        compare_kind = kind if is_video(source) else "png"
        compare_path = outputs[0].with_name(f"{stem}.{task}.compare.{compare_kind}") if compare else None
        targets.append(Target(source, outputs, compare_path))
    _check(targets)
    return targets


def _check(targets: list[Target]) -> None:
    """InputError naming the files when an output is an input or two outputs coincide."""
    inputs = {os.path.realpath(t.source): t.source for t in targets}
    writers: dict[str, Path] = {}
    for target in targets:
        for path in target.outputs + ([target.compare] if target.compare else []):
            key = os.path.realpath(path)
            if key in inputs:
                raise InputError(f"output {path} of {target.source} would overwrite the input {inputs[key]}; "
                                 "nothing was done (inputs are never overwritten)")
            if key in writers:
                raise InputError(f"{writers[key]} and {target.source} would both be written to {path}; "
                                 "nothing was done (rename one or use --output)")
            writers[key] = target.source
