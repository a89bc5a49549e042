"""Running a model over many files: the restore loop ``infer`` and ``evaluate`` share (batched sampling
with per-sample seeds, a failure of one file never stopping the others), provenance and comparison
pictures. Where outputs go is planned by ``palette_kit.outputs``."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from palette_kit import __version__
from palette_kit.errors import PaletteError
from palette_kit.imageio import read_image, write_image
from palette_kit.diffusion.sampler import Callback
from palette_kit.model import Palette
from palette_kit.outputs import Target
from palette_kit.tasks.base import Prepared
from palette_kit.training.distributed import World
from palette_kit.video import is_video
from palette_kit.video.frames import restore_video

#: What a file can fail with, from reading it to composing its result; the other files go on.
FILE_ERRORS = (PaletteError, OSError, ValueError)
#: Height of every panel of a comparison picture (pictures are scaled to it, keeping their shape).
COMPARE_HEIGHT = 384


@dataclass
class Restored:
    """One input file after the restore loop: the picture read, its results (one per seed), or why it failed."""

    source: Path
    image: np.ndarray | None = None
    prepared: Prepared | None = None
    results: list[np.ndarray] = field(default_factory=list)
    error: str | None = None


def restore_files(model: Palette, sources: list[Path], seeds: list[int], steps: int | None = None,
                  sampler: str | None = None, batch_size: int = 8,
                  prepare: Callable[[np.ndarray, int], Prepared] | None = None,
                  callback: Callback | None = None) -> Iterator[Restored]:
    """Read, prepare, sample and finish every file in batches of ``batch_size`` samples; one ``Restored``
    per file, in order.

    Every (file, seed) pair is sampled with its own generator seeded with ``seed``, so a result does not
    depend on the batch it is in. A file that cannot be read or prepared, or whose result cannot be
    composed (``task.finish``), comes back with its ``error``; the other files go on. ``prepare`` makes
    a picture a ``Prepared`` at a size (default: ``task.prepare`` with its default options); ``callback``
    is the sampler's, called at every step of every batch (e.g. to report progress).
    """
    task, device = model.task, model.runtime.device if model.runtime is not None else torch.device("cpu")
    per_batch = max(1, batch_size // len(seeds))
    for start in range(0, len(sources), per_batch):
        batch = []
        for source in sources[start:start + per_batch]:
            try:
                image = read_image(source)
                batch.append(Restored(source, image, (prepare or task.prepare)(image, model.condition_size)))
            except FILE_ERRORS as exc:
                batch.append(Restored(source, error=str(exc)))
        ready = [r for r in batch if r.error is None]
        if ready:
            y_cond = torch.stack([r.prepared.y_cond for r in ready for _ in seeds]).to(device)
            generators = [torch.Generator().manual_seed(seed) for _ in ready for seed in seeds]
            y_0 = model.sample(y_cond, steps, sampler, generators, callback).cpu()
            for i, restored in enumerate(ready):
                try:
                    restored.results = [task.finish(restored.prepared, y)
                                        for y in y_0[i * len(seeds):(i + 1) * len(seeds)]]
                except FILE_ERRORS as exc:
                    restored.error = f"cannot compose the result: {exc}"
        yield from batch


@dataclass
class Report:
    """What ``run`` did with its targets."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs that exist (no --overwrite)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @classmethod
    def merged(cls, reports: list[Report]) -> Report:
        """One report of several (e.g. every process's under torchrun), in the order given."""
        return cls(*([item for report in reports for item in getattr(report, name)]
                     for name in ("written", "skipped", "failed")))


def _label(picture: np.ndarray, text: str) -> np.ndarray:
    """``picture`` scaled to ``COMPARE_HEIGHT`` with ``text`` on a white strip above it."""
    h, w = picture.shape[:2]
    width = max(1, round(w * COMPARE_HEIGHT / h))
    scaled = cv2.resize(picture, (width, COMPARE_HEIGHT), interpolation=cv2.INTER_AREA)
    strip = np.full((28, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, scaled])


def comparison(task_baseline: np.ndarray | None, prepared: Prepared, results: list[np.ndarray],
               seeds: list[int]) -> np.ndarray:
    """input | result per seed | ground truth. The input panel is what the model was given (the task's
    baseline, e.g. the gray picture, when it has one); the original is shown as ground truth when it
    holds more than that baseline (a colour photo given to colorization; a gray one differs from its
    baseline by rounding only, at most a level or two)."""
    shown = prepared.image if task_baseline is None else task_baseline
    panels = [_label(shown, "input")]
    panels += [_label(r, f"output (seed {s})") for r, s in zip(results, seeds)]
    if task_baseline is not None and np.abs(task_baseline.astype(np.int16) - prepared.image).max() > 2:
        panels.append(_label(prepared.image, "ground truth"))
    spacer = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([p for panel in panels for p in (panel, spacer)][:-1], axis=1)


def provenance(model: Palette, checkpoint: Path, weights_sha256: str | None, sampler: str | None,
               steps: int | None) -> dict[str, str]:
    """What each output file records about how it was made (the seed and input are added per file): the
    model by its folder's last two names and its weights' checksum."""
    model_name = "/".join(Path(checkpoint).resolve().parts[-2:])  # never the user's absolute path
    return {"software": f"palette-kit {__version__}", "task": model.task.name, "model": model_name,
            "model_sha256": weights_sha256 or "unknown", "sampler": sampler or model.sampling.sampler,
            "steps": str(steps or model.sampling.steps)}


def run(model: Palette, targets: list[Target], seeds: list[int], steps: int | None, sampler: str | None,
        batch_size: int, overwrite: bool, metadata: dict[str, str], task_options: dict[str, Any],
        quality: int = 95, world: World | None = None) -> Report:
    """Sample every (input, seed) pair in batches and write the results with ``metadata``; errors are per file.

    In a ``world`` of several processes each does its share: whole batches of pictures, as one process would
    form them (so results are the same bytes), and videos one by one; the skipped outputs are rank 0's to report.
    """
    world = world or World()
    report = Report()
    todo = []
    for target in targets:
        if not overwrite and all(o.exists() for o in target.outputs):
            report.skipped += target.outputs
            continue
        todo.append(target)
    if not world.is_main:
        report.skipped = []
    videos = world.share([target for target in todo if is_video(target.source)])
    todo = world.share([target for target in todo if not is_video(target.source)], max(1, batch_size // len(seeds)))
    bar = tqdm(total=len(todo) * len(seeds), desc="samples", unit="sample", leave=False,
                disable=None if todo else True)  # None: no bar when stderr is not a terminal
    restored_files = restore_files(model, [t.source for t in todo], seeds, steps, sampler, batch_size,
                                   partial(model.task.prepare, **task_options))
    for target, restored in zip(todo, restored_files):
        bar.update(len(seeds))
        if restored.error is not None:
            report.failed.append((str(target.source), restored.error))
            continue
        try:
            for result, seed, path in zip(restored.results, seeds, target.outputs):
                if path.exists() and not overwrite:
                    report.skipped.append(path)
                    continue
                meta = {**metadata, "seed": str(seed), "input": target.source.name}
                write_image(path, result, meta, quality=quality)
                report.written.append(path)
            if target.compare is not None:
                write_image(target.compare, comparison(model.task.baseline(restored.prepared), restored.prepared,
                                                       restored.results, seeds))
        except (PaletteError, OSError) as exc:
            report.failed.append((str(target.source), f"cannot write output: {exc}"))
        written = [str(path) for path in target.outputs if path in report.written]
        if written:
            tqdm.write(f"{target.source} -> {', '.join(written)}")
    bar.close()
    for target in videos:
        _run_video(model, target, seeds, steps, sampler, overwrite, metadata, task_options, report)
    return report


def _run_video(model: Palette, target: Target, seeds: list[int], steps: int | None, sampler: str | None,
               overwrite: bool, metadata: dict[str, str], task_options: dict[str, Any], report: Report) -> None:
    """One video's results for the seeds whose output is missing (each seed's frames depend only on it)."""
    todo = [(seed, path) for seed, path in zip(seeds, target.outputs) if overwrite or not path.exists()]
    report.skipped += [path for path in target.outputs if path.exists() and not overwrite]
    if not todo:
        return
    try:
        restore_video(model, target.source, [path for _, path in todo], [seed for seed, _ in todo], steps, sampler,
                      task_options, metadata, target.compare)
    except FILE_ERRORS as exc:
        report.failed.append((str(target.source), str(exc)))
        return
    report.written += [path for _, path in todo]
    tqdm.write(f"{target.source} -> {', '.join(str(path) for _, path in todo)}")
