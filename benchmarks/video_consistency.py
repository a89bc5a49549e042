"""Flicker of colorized videos: colours carried along the optical flow against every frame on its own.

Real colour videos (opencv-doc's ``vtest.avi``, ``Megamind.avi``, ``tree.avi``; see ../shared/data/README.md)
and a synthetic pan/zoom over a still photo (opencv-doc's ``fruits.jpg``) are colorized from their lightness
with the same model and seeds three ways: every frame on its own, and with the colours carried along the
flow (``Task.carry``) in each of colorization's two ``--propagation`` ways (``filter``: every frame coloured
afresh and blended with the carried colours; ``hints``: the carried colours are also the next frame's hints). Per frame: ab MAE against the original (model units, as validation reports it) and mean CIEDE2000;
per pair of frames within a shot (a pair across a detected scene cut has no flow; ``evaluate`` leaves
it out too), the temporal warp error of Lai et al. (ECCV 2018, ``palette_kit.metrics.temporal``, as
``palette-kit evaluate`` reports it for videos): the mean squared RGB difference (in [0, 1], reported x 1000)
between output frame t and output frame t-1 warped by the flow of the *original* frames (DIS on their gray
levels), over the pixels the forward-backward check finds visible in both, and the colour part alone (mean
|delta a*| + |delta b*| on the same pixels, CIE units: every output keeps its frame's lightness, so the RGB
error also holds the lightness's own, identical in both modes).
The original video's own warp errors are the floor (lighting changes, flow errors).

    python benchmarks/video_consistency.py --frames 20                     # fetches opencv-doc into a temp folder
    python benchmarks/video_consistency.py --videos DIR --checkpoint HINT_MODEL --height 480
    python benchmarks/video_consistency.py --videos DIR --start 100 --frames 40 --seeds 3   # another stretch

A checkpoint trained without hints cannot take carried colours as hints (``hints``); it is then warm-started
into a hint model (``Palette.warm_start``: the hint channels start at zero, so the network is the
checkpoint's) for all three, whose carried colours act through the hint base, the hinted pixels and the
full-resolution blend only. The table says which. A video shorter than ``--start`` + ``--frames`` gives its
last ``--frames`` frames (its row names them).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from palette_kit.metrics.picture import mean_ciede2000
from palette_kit.metrics.temporal import Motion
from palette_kit.model import Palette
from palette_kit.tasks import load_task
from palette_kit.video.frames import gray_histogram, restore_frames, scene_cut
from palette_kit.video.io import Frame, VideoReader
from palette_kit.video.synthetic import pan_zoom

DATA = "usr/share/doc/opencv-doc/examples/data"
VIDEOS = ("vtest.avi", "Megamind.avi", "tree.avi")


def fetch_opencv_doc(folder: Path) -> Path:
    """opencv-doc's example data, unpacked from its Debian package into ``folder``."""
    subprocess.run(["apt-get", "download", "opencv-doc"], cwd=folder, check=True, capture_output=True)
    deb = next(folder.glob("opencv-doc_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(folder / "x")], check=True)
    return folder / "x" / DATA


def read_frames(path: Path, count: int, height: int, start: int = 0) -> list[np.ndarray]:
    """``count`` frames of a video from frame ``start`` on, scaled to ``height`` (even width)."""
    frames = []
    with VideoReader(path) as reader:
        for index, frame in enumerate(reader):
            if index < start:
                continue
            h, w = frame.picture.shape[:2]
            width = max(2, round(w * height / h / 2) * 2)
            frames.append(cv2.resize(frame.picture, (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def shot_pairs(originals: list[np.ndarray]) -> list[int]:
    """The frames t whose pair (t-1, t) lies within a shot: a scene cut (``scene_cut``, as ``palette-kit
    evaluate`` has it) has no flow between its frames, so no warp error."""
    histograms = [gray_histogram(picture) for picture in originals]
    return [t for t in range(1, len(originals)) if not scene_cut(histograms[t - 1], histograms[t])]


def warp_errors(outputs: list[np.ndarray], originals: list[np.ndarray]) -> tuple[float, float]:
    """Lai et al.'s E_warp x 1000 and its colour part (``palette_kit.metrics.temporal``), averaged over the
    pairs within a shot."""
    pairs = [Motion(originals[t - 1], originals[t]).warp_error(outputs[t - 1], outputs[t])
             for t in shot_pairs(originals)]
    return float(np.mean([p["warp_error"] for p in pairs])), float(np.mean([p["warp_error_ab"] for p in pairs]))


def hint_model(checkpoint: Path | None) -> tuple[Palette, str]:
    """The checkpoint (default: the bundled model) as a model that takes hints, and how it was made."""
    checkpoint = checkpoint or load_task("colorization").default_checkpoint
    model = Palette.load(checkpoint)
    if model.task.settings["hints"]:
        return model, f"{checkpoint} (trained with hints)"
    config = model.config
    config["task"]["options"] = {**config["task"]["options"], "hints": True}
    config["unet"]["in_channels"] += 3  # the hint base (ab) and mask
    warm = Palette.from_config(config)
    warm.warm_start(model)
    warm.net.eval()
    return warm, f"{checkpoint} (trained without hints; warm-started into a hint model)"


#: The ways frames are coloured: on their own, or carried along the flow by colorization's ``--propagation``.
MODES = ("independent", "filter", "hints")


def measure(model: Palette, frames: list[np.ndarray], mode: str, steps: int | None,
            seeds: list[int]) -> tuple[list[dict[str, float]], float]:
    """Each seed's measures (each seed its own chain of frames) and the frames per second."""
    task = model.task
    if mode == "independent":
        task.carry = lambda previous, result, frame: None
    try:
        start = time.perf_counter()
        options = {} if mode == "independent" else {"propagation": mode}
        chains = list(zip(*(results for _, _, results in
                            restore_frames(model, (Frame(f, i) for i, f in enumerate(frames)), seeds, steps,
                                           options=options))))
        seconds = time.perf_counter() - start
    finally:
        task.__dict__.pop("carry", None)
    rows = []
    for outputs in chains:
        rgb, ab = warp_errors(list(outputs), frames)
        rows.append({"ab_mae": float(np.mean([task.metrics(o, f)["ab_mae"] for o, f in zip(outputs, frames)])),
                     "ciede2000": float(np.mean([mean_ciede2000(o, f) for o, f in zip(outputs, frames)])),
                     "warp_error": rgb, "ab_warp": ab})
    return rows, len(frames) * len(seeds) / seconds


def paired(after: list[dict[str, float]], before: list[dict[str, float]], key: str) -> tuple[float, float]:
    """Mean change of ``key`` from ``before`` to ``after``, seed by seed, and its standard error."""
    change = np.array([a[key] - b[key] for a, b in zip(after, before)])
    return float(change.mean()), float(change.std(ddof=1) / np.sqrt(len(change))) if len(change) > 1 else 0.0


#: The table's columns: measure, decimals, width.
COLUMNS = (("ab_mae", 4, 7), ("ciede2000", 3, 9), ("warp_error", 3, 9), ("ab_warp", 3, 8), ("fps", 2, 6))


def _cell(mean: float, spread: float, digits: int, width: int, with_spread: bool) -> str:
    text = f"{mean:.{digits}f}" + (f"±{spread:.{digits}f}" if with_spread and spread else "")
    return f"{text:>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="colorization model (default: the bundled one)")
    parser.add_argument("--videos", type=Path, default=None, help="folder with the videos (default: fetch opencv-doc)")
    parser.add_argument("--frames", type=int, default=20, help="frames per video")
    parser.add_argument("--start", type=int, default=0, help="first frame of each real video (a later stretch)")
    parser.add_argument("--height", type=int, default=240, help="frames scaled to this height")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the checkpoint's)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="chains per video and mode, seeds 0..N-1 (means, and with N > 1 the spread over seeds)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, made = hint_model(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.videos or fetch_opencv_doc(Path(tmp))
        clips = {}
        for name in VIDEOS:  # a video shorter than --start + --frames gives its last --frames frames
            frames = read_frames(data / name, args.start + args.frames, args.height)
            first = max(0, len(frames) - args.frames) if len(frames) < args.start + args.frames else args.start
            clips[f"{name}, {first}-{first + args.frames - 1}" if first else name] = frames[first:]
        photo = cv2.imread(str(data / "fruits.jpg"))
        height = args.height
        clips["pan/zoom fruits.jpg"] = pan_zoom(photo, args.frames, height, round(height * 4 / 3 / 2) * 2)
    short = [f"{name} ({len(frames)})" for name, frames in clips.items() if len(frames) < args.frames]
    if short:
        sys.exit(f"--start {args.start} --frames {args.frames}: too few frames in {', '.join(short)}")
    print(f"model: {made}; {args.frames} frames per video from frame {args.start} at {args.height} px; "
          f"steps {args.steps or model.sampling.steps}; {args.seeds} seed(s); warp error x 1000 (Lai et al. 2018)"
          + ("; mean ± standard deviation over seeds" if args.seeds > 1 else ""))
    print(f"{'video':<22} {'mode':<12} {'ab_mae':>7} {'ciede2000':>9} {'warp_err':>9} {'ab_warp':>8} {'fps':>6}")
    for name, frames in clips.items():
        floor = warp_errors(frames, frames)
        cuts = len(frames) - 1 - len(shot_pairs(frames))
        print(f"{name:<22} {'original':<12} {'':>7} {'':>9} {floor[0]:9.3f} {floor[1]:8.3f}"
              + (f"   ({cuts} pair(s) across a scene cut left out)" if cuts else ""))
        runs = {mode: measure(model, frames, mode, args.steps, list(range(args.seeds))) for mode in MODES}
        means = {}
        for mode, (rows, fps) in runs.items():
            means[mode] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
            cells = [(means[mode][key], float(np.std([r[key] for r in rows]))) for key in rows[0]] + [(fps, 0.0)]
            print(f"{name:<22} {mode:<12} " + " ".join(
                _cell(*cell, digits, width, args.seeds > 1) for cell, (_, digits, width) in zip(cells, COLUMNS)))
        for mode in MODES[1:]:
            lower = [100 * (1 - means[mode][k] / max(means["independent"][k], 1e-12)) for k in ("warp_error", "ab_warp")]
            line = f"{'':<22} {mode}: warp error {lower[0]:.0f}% lower, ab warp error {lower[1]:.0f}% lower"
            if args.seeds > 1:
                (mae, mae_se), (de, de_se) = (paired(runs[mode][0], runs["independent"][0], key)
                                              for key in ("ab_mae", "ciede2000"))
                line += (f"; against independent, seed by seed: ab MAE {mae:+.4f} ± {mae_se:.4f}, "
                         f"CIEDE2000 {de:+.3f} ± {de_se:.3f} (standard errors)")
            print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
