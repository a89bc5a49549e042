"""Evaluate a model on ground-truth pictures and videos: restore each from its condition and measure the result.

For every picture the task prepares its condition (colorization: the picture's lightness, i.e. its
gray version), the model samples, the task composes the full-size result, and the result is measured
against the picture with :func:`palette_kit.metrics.picture_metrics` plus the task's own ``metrics``.
Where the task has a ``baseline`` (what a user gets without the model), it is measured the same way
and reported with the prefix ``baseline_``. Given a :class:`palette_kit.metrics.sets.SetMetrics`, every result,
truth and baseline is also added to it, for the metrics of the whole set (FID, KID, CA). A video is measured
frame by frame against its original frames, and for flicker (``palette_kit.metrics.temporal``): one row each.
Under torchrun every process evaluates its share and ``gather`` joins them.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from palette_kit.inference import FILE_ERRORS, restore_files
from palette_kit.metrics import picture_metrics
from palette_kit.metrics.sets import BASELINE, SetMetrics
from palette_kit.metrics.temporal import Motion
from palette_kit.model import Palette
from palette_kit.tasks.base import Prepared, Task
from palette_kit.training.distributed import World
from palette_kit.video import is_video
from palette_kit.video.frames import gray_histogram, restore_frames, scene_cut
from palette_kit.video.io import VideoReader



def measure(task: Task, output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The generic picture metrics of ``output`` against ``truth``, then the task's own."""
    return {**picture_metrics(output, truth), **task.metrics(output, truth)}


def evaluate(model: Palette, paths: list[Path], steps: int | None, sampler: str | None, seed: int,
             batch_size: int, progress: bool = True, sets: SetMetrics | None = None,
             task_options: dict[str, Any] | None = None, world: World | None = None
             ) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Rows of metrics, one per readable picture or video, in the order of ``paths``, and ``(path, reason)``
    for each that failed; in a ``world`` of several processes, of this process's share (whole batches of
    pictures as one process would form them, videos one by one; ``gather`` joins the shares).

    Every picture is sampled with its own generator seeded with ``seed``, so its row does not depend
    on what else is in its batch (on a CPU, the batch's size can move the last float bits). ``task_options`` (the task's ``eval_options``) go to its
    ``prepare_for_evaluation``. A row: ``{"image": path, metric: value, ..., "baseline_" + metric: value, ...}``;
    a video's is ``evaluate_video``'s. Pictures (not video frames) are added to ``sets``.
    """
    task, world = model.task, world or World()
    rows: list[dict] = []
    failures: list[tuple[Path, str]] = []
    pictures = world.share([path for path in paths if not is_video(path)], batch_size)
    videos = world.share([path for path in paths if is_video(path)])
    bar = tqdm(total=len(pictures) + len(videos), desc="evaluating", unit="file", leave=False,
               disable=None if progress else True)  # None: no bar when stderr is not a terminal
    prepare = partial(task.prepare_for_evaluation, **(task_options or {}))
    for restored in restore_files(model, pictures, [seed], steps, sampler, batch_size, prepare):
        bar.update()
        if restored.error is not None:
            failures.append((restored.source, restored.error))
            continue
        truth = restored.image
        row = {"image": str(restored.source), **measure(task, restored.results[0], truth)}
        baseline = task.baseline(restored.prepared)
        if baseline is not None:
            row.update({BASELINE + k: v for k, v in measure(task, baseline, truth).items()})
        if sets is not None:
            sets.add(restored.results[0], truth, baseline, name=str(restored.source))
        rows.append(row)
    for path in videos:
        try:
            rows.append(evaluate_video(model, path, steps, sampler, seed, prepare, progress))
        except FILE_ERRORS as exc:
            failures.append((path, str(exc)))
        bar.update()
    bar.close()
    order = {str(path): i for i, path in enumerate(paths)}
    return sorted(rows, key=lambda row: order[row["image"]]), sorted(failures, key=lambda f: order[str(f[0])])


def evaluate_video(model: Palette, path: Path, steps: int | None, sampler: str | None, seed: int,
                   prepare: Callable[[np.ndarray, int], Prepared], progress: bool = True) -> dict:
    """One video's row: every frame's metrics (``measure``, and the baseline's) against the original frame,
    averaged over the frames, and the temporal warp errors (``metrics.temporal``) of consecutive results within
    a shot (not across a detected scene cut), averaged over the pairs of frames.

    Frames run as ``infer`` runs them, with what the task carries between frames and one seed for all; a frame
    nothing is carried into (the first, one after a cut) is made by ``prepare``, as a ground-truth picture.
    """
    task = model.task
    frames: list[dict] = []
    pairs: list[dict] = []
    previous = None
    with VideoReader(path) as reader, tqdm(total=reader.info.frames or None, desc=path.name, unit="frame",
                                           leave=False, disable=None if progress else True) as bar:
        restored = restore_frames(model, reader, [seed], steps, sampler, prepare_fresh=prepare)
        for frame, prepared, (result,) in restored:
            truth, baseline = frame.picture, task.baseline(prepared)
            row = measure(task, result, truth)
            if baseline is not None:
                row.update({BASELINE + k: v for k, v in measure(task, baseline, truth).items()})
            frames.append(row)
            histogram = gray_histogram(truth)
            if previous is not None and not scene_cut(previous["histogram"], histogram):
                motion = Motion(previous["truth"], truth)
                pair = motion.warp_error(previous["result"], result)
                if baseline is not None:
                    pair.update({BASELINE + k: v for k, v in motion.warp_error(previous["baseline"], baseline).items()})
                pairs.append(pair)
            previous = {"histogram": histogram, "truth": truth, "result": result, "baseline": baseline}
            bar.update()
    return {"image": str(path), **summarise(frames), **summarise(pairs)}


def gather(world: World, paths: list[Path], rows: list[dict], failures: list[tuple[Path, str]],
           sets: SetMetrics | None = None) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Every process's ``rows`` and ``failures`` (and into ``sets``, their pictures) on every process, in the
    order of ``paths``, as one process evaluating them all would have them; unchanged in a world of one."""
    if world.size == 1:
        return rows, failures
    parts = world.gather((rows, failures, sets.pictures if sets is not None else []))
    order = {str(path): i for i, path in enumerate(paths)}
    rows = sorted((row for part in parts for row in part[0]), key=lambda row: order[row["image"]])
    failures = sorted((failure for part in parts for failure in part[1]), key=lambda f: order[str(f[0])])
    if sets is not None:
        sets.pictures = sorted((picture for part in parts for picture in part[2]), key=lambda p: order[p.name])
    return rows, failures


def summarise(rows: list[dict]) -> dict[str, float]:
    """The mean of every metric over the rows.

    Infinite values (the PSNR of a result identical to its truth) are left out of a mean, which is
    then over the finite values only; a metric that is infinite for every picture has mean inf.
    """
    names = [name for name in dict.fromkeys(k for row in rows for k in row) if name != "image"]
    summary = {}
    for name in names:
        values = [float(row[name]) for row in rows if name in row]
        finite = [v for v in values if math.isfinite(v)]
        summary[name] = float(np.mean(finite)) if finite else (values[0] if values else math.nan)
    return summary


def _json_number(value: Any) -> Any:
    """Floats that strict JSON has no number for (inf, nan) as the strings "inf", "-inf", "nan"."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def write_reports(rows: list[dict], summary: dict[str, float], out_dir: Path,
                  failures: list[tuple[Path, str]] | None = None,
                  set_summary: dict[str, float] | None = None) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (a row per picture, then a "mean" row) and ``metrics.json``; return their paths.

    The JSON is ``{"images": rows, "mean": summary}`` (plus ``"failed": [{"image", "error"}]`` when some
    pictures failed, and ``"set"``: the metrics of the whole set when given); infinite values are written as
    the string "inf" to keep it strict JSON.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["image", *summary]
    csv_path, json_path = out_dir / "metrics.csv", out_dir / "metrics.json"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"image": "mean", **summary})
    report: dict[str, Any] = {
        "images": [{k: _json_number(v) for k, v in row.items()} for row in rows],
        "mean": {k: _json_number(v) for k, v in summary.items()},
    }
    if set_summary:
        report["set"] = {k: _json_number(v) for k, v in set_summary.items()}
    if failures:
        report["failed"] = [{"image": str(path), "error": reason} for path, reason in failures]
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return csv_path, json_path


def _difference(name: str, summary: dict[str, float]) -> str:
    """What the model adds over the baseline for ``name``. For a metric measured on the truth too
    (colourfulness) that is the change in distance to the truth's value, and for a signed difference from
    the truth (``_diff``) the change in its size: negative means closer, whichever side the truth is on."""
    model, base = summary[name], summary.get(BASELINE + name)
    if base is None or name.endswith("_truth"):
        return ""
    truth = summary.get(f"{name}_truth")
    if truth is not None:
        return f"{abs(model - truth) - abs(base - truth):+.4f}"
    if name.endswith("_diff"):
        return f"{abs(model) - abs(base):+.4f}"
    return f"{model - base:+.4f}"


def format_table(summary: dict[str, float]) -> str:
    """The means as a table: metric | model | baseline | what the model adds (``_difference``)."""
    names = [name for name in summary if not name.startswith(BASELINE)]
    has_baseline = any(BASELINE + name in summary for name in names)
    header = ["metric", "model"] + (["baseline", "model - baseline"] if has_baseline else [])
    lines = [header]
    for name in names:
        line = [name, f"{summary[name]:.4f}"]
        if has_baseline:
            base = summary.get(BASELINE + name)
            line += ["" if base is None else f"{base:.4f}", _difference(name, summary)]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
            for line in lines]
    text.insert(1, "-+-".join("-" * w for w in widths))
    if has_baseline and any(f"{name}_truth" in summary for name in names):
        text.append("(colourfulness: change in distance to the truth's; negative is closer)")
    return "\n".join(text)
