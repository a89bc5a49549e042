"""Flicker of colorized videos: colours carried along the optical flow against every frame on its own.

Real colour videos (opencv-doc's ``vtest.avi``, ``Megamind.avi``, ``tree.avi``; see ../shared/data/README.md)
and a synthetic pan/zoom over a still photo (opencv-doc's ``fruits.jpg``) are colorized from their lightness
twice with the same model and seeds: once with propagation (``Task.carry``), once with every frame on its
own. Per frame: ab MAE against the original (model units, as validation reports it) and mean CIEDE2000;
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
    python benchmarks/video_consistency.py --videos DIR --start 100 --frames 40   # another stretch

A checkpoint trained without hints cannot use carried colours; it is then warm-started into a hint model
(``Palette.warm_start``: the hint channels start at zero, so the network is the checkpoint's), whose
carried colours act through the hint base, the hinted pixels and the full-resolution blend only. The table
says which.
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


def measure(model: Palette, frames: list[np.ndarray], carry: bool, steps: int | None) -> dict[str, float]:
    task = model.task
    if not carry:
        task.carry = lambda previous, result, frame: None
    try:
        start = time.perf_counter()
        outputs = [results[0] for _, _, results in
                   restore_frames(model, (Frame(f, i) for i, f in enumerate(frames)), [0], steps)]
        seconds = time.perf_counter() - start
    finally:
        task.__dict__.pop("carry", None)
    rgb, ab = warp_errors(outputs, frames)
    return {"ab_mae": float(np.mean([task.metrics(o, f)["ab_mae"] for o, f in zip(outputs, frames)])),
            "ciede2000": float(np.mean([mean_ciede2000(o, f) for o, f in zip(outputs, frames)])),
            "warp_error": rgb, "ab_warp": ab, "fps": len(frames) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="colorization model (default: the bundled one)")
    parser.add_argument("--videos", type=Path, default=None, help="folder with the videos (default: fetch opencv-doc)")
    parser.add_argument("--frames", type=int, default=20, help="frames per video")
    parser.add_argument("--start", type=int, default=0, help="first frame of each real video (a later stretch)")
    parser.add_argument("--height", type=int, default=240, help="frames scaled to this height")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the checkpoint's)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, made = hint_model(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.videos or fetch_opencv_doc(Path(tmp))
        clips = {name: read_frames(data / name, args.frames, args.height, args.start) for name in VIDEOS}
        photo = cv2.imread(str(data / "fruits.jpg"))
        height = args.height
        clips["pan/zoom fruits.jpg"] = pan_zoom(photo, args.frames, height, round(height * 4 / 3 / 2) * 2)
    short = [f"{name} ({len(frames)})" for name, frames in clips.items() if len(frames) < args.frames]
    if short:
        sys.exit(f"--start {args.start} --frames {args.frames}: too few frames in {', '.join(short)}")
    print(f"model: {made}; {args.frames} frames per video from frame {args.start} at {args.height} px; "
          f"steps {args.steps or model.sampling.steps}; warp error x 1000 (Lai et al. 2018)")
    print(f"{'video':<22} {'mode':<12} {'ab_mae':>7} {'ciede2000':>9} {'warp_err':>9} {'ab_warp':>8} {'fps':>6}")
    for name, frames in clips.items():
        floor = warp_errors(frames, frames)
        cuts = len(frames) - 1 - len(shot_pairs(frames))
        print(f"{name:<22} {'original':<12} {'':>7} {'':>9} {floor[0]:9.3f} {floor[1]:8.3f}"
              + (f"   ({cuts} pair(s) across a scene cut left out)" if cuts else ""))
        rows = {mode: measure(model, frames, mode == "propagated", args.steps)
                for mode in ("independent", "propagated")}
        for mode, row in rows.items():
            print(f"{name:<22} {mode:<12} {row['ab_mae']:7.4f} {row['ciede2000']:9.3f} {row['warp_error']:9.3f} "
                  f"{row['ab_warp']:8.3f} {row['fps']:6.2f}")
        lower = [100 * (1 - rows["propagated"][k] / max(rows["independent"][k], 1e-12))
                 for k in ("warp_error", "ab_warp")]
        print(f"{'':<22} with propagation: warp error {lower[0]:.0f}% lower, ab warp error {lower[1]:.0f}% lower")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
