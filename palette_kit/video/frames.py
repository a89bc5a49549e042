"""A video through any task, frame by frame: each frame is prepared, sampled and finished as a picture is,
with the same noise seed for every frame, and with whatever the task carries from one frame to the next
(``Task.carry`` -> ``Task.prepare_frame``); a detected scene cut starts afresh. Results are written as
they come (``VideoWriter``), so memory does not grow with the video's length.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from palette_kit.model import Palette
from palette_kit.tasks.base import Prepared
from palette_kit.video.io import Frame, VideoReader, VideoWriter

#: A scene cut: the Bhattacharyya distance between consecutive frames' gray histograms is above this.
SCENE_CUT = 0.5
HISTOGRAM_BINS = 32
#: White gap between the panels of a side-by-side comparison video (even: keeps 4:2:0 widths even).
SPACER = 4


def gray_histogram(picture: np.ndarray) -> np.ndarray:
    """The normalised histogram of a BGR picture's gray levels."""
    gray = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    histogram = cv2.calcHist([gray], [0], None, [HISTOGRAM_BINS], [0, 256])
    return histogram / max(float(histogram.sum()), 1.0)


def scene_cut(previous: np.ndarray, histogram: np.ndarray) -> bool:
    """Whether two consecutive frames' ``gray_histogram`` s differ as across a cut, not as within a shot."""
    return cv2.compareHist(previous, histogram, cv2.HISTCMP_BHATTACHARYYA) > SCENE_CUT


@dataclass
class _Previous:
    histogram: np.ndarray
    prepared: list[Prepared]
    results: list[np.ndarray]


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Pictures of one height side by side with white gaps (a comparison video's frame)."""
    spacer = np.full((panels[0].shape[0], SPACER, 3), 255, np.uint8)
    return np.concatenate([p for panel in panels for p in (panel, spacer)][:-1], axis=1)


def restore_frames(model: Palette, frames: Iterable[Frame], seeds: list[int], steps: int | None = None,
                   sampler: str | None = None, options: dict[str, Any] | None = None,
                   prepare_fresh: Callable[[np.ndarray, int], Prepared] | None = None
                   ) -> Iterator[tuple[Frame, Prepared, list[np.ndarray]]]:
    """Every frame with its preparation (the first seed's) and one result per seed, in order.

    Each seed's results form their own chain: frame t of seed k is prepared with what the task carries from
    frame t-1 of seed k, and sampled with a generator seeded with k, the same for every frame.
    ``prepare_fresh`` (a picture, a size) prepares the frames nothing is carried into, instead of
    ``task.prepare_frame`` (evaluation prepares them as ground-truth pictures).
    """
    task = model.task
    device = model.runtime.device if model.runtime is not None else torch.device("cpu")
    previous = None
    for index, frame in enumerate(frames):
        histogram = gray_histogram(frame.picture)
        fresh = previous is None or scene_cut(previous.histogram, histogram)
        carried = [None] * len(seeds) if fresh else [task.carry(before, result, frame.picture)
                                                      for before, result in zip(previous.prepared, previous.results)]
        prepared = [prepare_fresh(frame.picture, model.condition_size) if c is None and prepare_fresh else
                    task.prepare_frame(frame.picture, model.condition_size, c, index, **(options or {}))
                    for c in carried]
        y_cond = torch.stack([p.y_cond for p in prepared]).to(device)
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        y_0 = model.sample(y_cond, steps, sampler, generators).cpu()
        results = [task.finish(p, y) for p, y in zip(prepared, y_0)]
        yield frame, prepared[0], results
        previous = _Previous(histogram, prepared, results)


def restore_video(model: Palette, source: Path, outputs: list[Path], seeds: list[int], steps: int | None,
                  sampler: str | None, options: dict[str, Any], metadata: dict[str, str],
                  compare: Path | None = None, progress: Callable[[int, int], None] | None = None) -> None:
    """Write one result video per seed to ``outputs`` (and the side-by-side ``compare`` video: input | results),
    all or none: a failure (``InputError`` for a bad video) leaves none of them, nor a temporary file.
    ``progress`` is called after every frame with the frames done and the container's count (0: unknown)."""
    writers: list[VideoWriter] = []
    with VideoReader(source) as reader:
        info = reader.info
        bar = tqdm(total=info.frames or None, desc=source.name, unit="frame", leave=False, disable=None)
        try:
            for done, (frame, prepared, results) in enumerate(restore_frames(model, reader, seeds, steps, sampler,
                                                                              options), 1):
                baseline = model.task.baseline(prepared) if compare is not None else None  # costly: only if shown
                panels = [frame.picture if baseline is None else baseline, *results]
                if not writers:
                    writers = [VideoWriter(path, source, info, frame.rotation, {**metadata, "seed": str(seed),
                                                                                "input": source.name})
                               for path, seed in zip(outputs, seeds)]
                    if compare is not None:
                        width = sum(p.shape[1] for p in panels) + SPACER * (len(panels) - 1)
                        writers.append(VideoWriter(compare, source, info, frame.rotation, metadata, width))
                for writer, result in zip(writers, results):
                    writer.write(result, frame.pts)
                if compare is not None:
                    writers[-1].write(side_by_side(panels), frame.pts)
                bar.update()
                if progress is not None:
                    progress(done, info.frames)
            for writer in writers:
                writer.commit()
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        finally:
            bar.close()
