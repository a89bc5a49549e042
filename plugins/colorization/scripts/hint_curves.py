"""The model card's hint curves: a hint model against Levin et al.'s propagation with the same hints.

For every hint count of ``HINT_COUNTS`` each validation photo gets the hints ``palette-kit evaluate
--hints K`` draws (``evaluation_hints``, seed 0). Measured per photo and averaged: ab MAE, PSNR, CIEDE2000
and colourfulness of the model's result, of Levin's propagation solved at full resolution and at the
model's resolution (its ab resized onto the full-resolution L), and the model's median |ab - hint| at the
hinted pixels (8-bit Lab units). Levin's results do not depend on the model: they are cached in
``--levin-cache`` and reused.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np

from palette_kit.evaluate import measure
from palette_kit.imageio import grid, read_image, resize, write_image
from palette_kit.inference import restore_files
from palette_kit.model import Palette
from palette_kit_colorization.lab import bgr_to_lab, lab_to_bgr_keeping_lightness
from palette_kit_colorization.propagation import propagate
from palette_kit_colorization.task import Colorization

HINT_COUNTS = (0, 1, 5, 10, 20, 50, 100)
METRICS = ("ab_mae", "psnr", "ciede2000", "colourfulness", "colourfulness_truth")


def _levin(task: Colorization, prepared, size: int | None) -> np.ndarray:
    """Levin's propagation of the prepared hints at full resolution (``size`` None) or on a ``size`` square."""
    full, hints = prepared.context["lightness"], prepared.context["hints"]
    if hints is None or size is None:
        return task.baseline(prepared)  # gray without hints; Levin's at full resolution with them
    small = hints.resized(size, size)
    ab = propagate(resize(full, size, size), small.ab, small.mask)
    return lab_to_bgr_keeping_lightness(full, resize(ab, full.shape[1], full.shape[0]))


def levin_rows(paths: list[Path], cache: Path, model_size: int) -> dict[str, dict[str, dict[str, float]]]:
    """``{f"{K} {photo}": {"full": metrics, "model": metrics}}`` for every photo and K, cached in ``cache``."""
    done = json.loads(cache.read_text()) if cache.exists() else {}
    task = Colorization(hints=True)
    for k in HINT_COUNTS:
        for path in paths:
            key = f"{k} {path.name}"
            if key in done:
                continue
            truth = read_image(path)
            prepared = task.prepare_for_evaluation(truth, model_size, hints=k)
            done[key] = {where: measure(task, _levin(task, prepared, size), truth)
                         for where, size in (("full", None), ("model", model_size))}
            cache.write_text(json.dumps(done))
        print(f"Levin et al. with {k} hints: done", flush=True)
    return done


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([r[m] for r in rows if np.isfinite(r[m])])) for m in METRICS}


def hint_curves(checkpoint: Path, paths: list[Path], cache: Path, sampler: str, steps: int, out: Path) -> list[dict]:
    """One row per hint count (means over ``paths``); writes ``hint-curves.json``, ``.png`` and an example grid."""
    model = Palette.load(checkpoint)
    task = model.task
    levin = levin_rows(paths, cache, model.image_size)
    table, examples = [], []
    for k in HINT_COUNTS:
        ours, errors = [], []
        prepare = partial(task.prepare_for_evaluation, hints=k)
        for restored in restore_files(model, paths, [0], steps, sampler, batch_size=16, prepare=prepare):
            if restored.error:
                raise SystemExit(f"{restored.source}: {restored.error}")
            result, hints = restored.results[0], restored.prepared.context["hints"]
            ours.append(measure(task, result, restored.image))
            if hints is not None and hints.count:
                ab = bgr_to_lab(result)[..., 1:][hints.mask]
                errors.append(np.abs(ab - hints.ab[hints.mask]).max(axis=-1) * 127.5)
            if k == 10 and len(examples) < 6:
                examples.append(_example(task, restored, result))
        row = {"hints": k, "model": _mean(ours),
               "levin_full": _mean([levin[f"{k} {p.name}"]["full"] for p in paths]),
               "levin_model": _mean([levin[f"{k} {p.name}"]["model"] for p in paths]),
               "hint_error_median": float(np.median(np.concatenate(errors))) if errors else None}
        table.append(row)
        print(json.dumps(row), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hint-curves.json").write_text(json.dumps({"checkpoint": str(checkpoint), "sampler": sampler,
                                                      "steps": steps, "photos": len(paths), "rows": table}, indent=1))
    _plot(table, out / "hint-curves.png", len(paths))
    write_image(out / "hint-examples.png", grid(examples))
    return table


def _example(task: Colorization, restored, result: np.ndarray) -> list[np.ndarray]:
    """gray with the hints painted | Levin (full resolution) | model | truth, each 160 px tall."""
    prepared = restored.prepared
    full, hints = prepared.context["lightness"], prepared.context["hints"]
    shown = lab_to_bgr_keeping_lightness(full, np.where(hints.mask[..., None], hints.ab, 0))
    h, w = result.shape[:2]
    size = (round(w * 160 / h), 160)
    return [resize(p, *size) for p in (shown, task.baseline(prepared), result, restored.image)]


def _plot(table: list[dict], path: Path, n: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = [max(r["hints"], 0.5) for r in table]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(k, [r["model"]["ciede2000"] for r in table], "o-", label="palette-kit hint model")
    ax.plot(k, [r["levin_full"]["ciede2000"] for r in table], "s--", label="Levin et al. 2004, full resolution")
    ax.plot(k, [r["levin_model"]["ciede2000"] for r in table], "^--", label="Levin et al. 2004, model resolution")
    ax.axhline(table[0]["levin_full"]["ciede2000"], color="gray", lw=1, label="gray (no colour)")
    ax.set_xscale("log")
    ax.set_xticks(k, [str(r["hints"]) for r in table])
    ax.set_xlabel("hints per photo (0 plotted at 0.5)")
    ax.set_ylabel("mean CIEDE2000 (lower is better)")
    ax.set_title(f"{n} validation photos")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
