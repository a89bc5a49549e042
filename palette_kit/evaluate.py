"""Evaluate a model on ground-truth pictures: restore each from its condition and measure the result.

For every picture the task prepares its condition (colorization: the picture's lightness, i.e. its
gray version), the model samples, the task composes the full-size result, and the result is measured
against the picture with :func:`palette_kit.metrics.picture_metrics` plus the task's own ``metrics``.
Where the task has a ``baseline`` (what a user gets without the model), it is measured the same way
and reported with the prefix ``baseline_``. Given a :class:`palette_kit.metrics.sets.SetMetrics`, every result,
truth and baseline is also added to it, for the metrics of the whole set (FID, KID, CA).
"""
from __future__ import annotations

import csv
import json
import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from palette_kit.inference import restore_files
from palette_kit.metrics import picture_metrics
from palette_kit.metrics.sets import BASELINE, SetMetrics
from palette_kit.model import Palette
from palette_kit.tasks.base import Task


def measure(task: Task, output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The generic picture metrics of ``output`` against ``truth``, then the task's own."""
    return {**picture_metrics(output, truth), **task.metrics(output, truth)}


def evaluate(model: Palette, paths: list[Path], steps: int | None, sampler: str | None, seed: int,
             batch_size: int, progress: bool = True, sets: SetMetrics | None = None,
             task_options: dict[str, Any] | None = None) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Rows of metrics, one per readable picture, and ``(path, reason)`` for each picture that failed.

    Every picture is sampled with its own generator seeded with ``seed``, so its row does not depend
    on the batch it is in. ``task_options`` (the task's ``eval_options``) go to its
    ``prepare_for_evaluation``. A row: ``{"image": path, metric: value, ..., "baseline_" + metric: value, ...}``.
    """
    task = model.task
    rows: list[dict] = []
    failures: list[tuple[Path, str]] = []
    bar = tqdm(total=len(paths), desc="evaluating", unit="image", leave=False,
               disable=None if progress else True)  # None: no bar when stderr is not a terminal
    prepare = partial(task.prepare_for_evaluation, **(task_options or {}))
    for restored in restore_files(model, paths, [seed], steps, sampler, batch_size, prepare):
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
            sets.add(restored.results[0], truth, baseline)
        rows.append(row)
    bar.close()
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
