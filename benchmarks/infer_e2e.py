"""End-to-end speed and memory of `palette-kit infer` with the shipped colorization model.

Runs the installed ``palette-kit`` executable once per input size as a fresh process (start-up,
reading, sampling, colour composition and writing included) and reports wall time and peak resident
memory (``ru_maxrss`` of that child). Also times one colorization of a 128 px picture inside a
warm process (model loaded: prepare, sample, finish), the issue's "one 128 px colorization".

    python benchmarks/infer_e2e.py [--sizes 128x128 4000x3000 6000x4000] [--steps N --sampler S]

Inputs are the repository's sample photo resized to each size and saved as JPEG in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

from palette_kit.model import Palette
from palette_kit.runtime import Runtime
from palette_kit_colorization import Colorization

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "seeding-gray.jpg"


def run_infer(picture: Path, extra: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``palette-kit infer`` process."""
    exe = shutil.which("palette-kit") or str(Path(sys.executable).with_name("palette-kit"))
    command = [exe, "infer", "--task", "colorization", str(picture), "--overwrite", *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def warm_128(steps: int | None, sampler: str | None, repeats: int = 5) -> float:
    """Median seconds of one 128 px colorization in a process that has the model loaded."""
    model = Palette.load(Colorization.default_checkpoint).to(Runtime.pick("cpu"))  # as ``infer`` runs it
    task = model.task  # with the options it was trained with (hints)
    picture = cv2.resize(cv2.imread(str(SAMPLE)), (128, 128), interpolation=cv2.INTER_AREA)
    times = []
    for seed in range(repeats + 1):
        start = time.perf_counter()
        prepared = task.prepare(picture, model.condition_size)
        y_0 = model.sample(prepared.y_cond[None], steps, sampler, [torch.Generator().manual_seed(seed)])
        task.finish(prepared, y_0[0])
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first call warms up allocators and kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["128x128", "4000x3000", "6000x4000"])
    parser.add_argument("--steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--sampler", default=None, help="default: the model's")
    args = parser.parse_args()
    extra = (["--steps", str(args.steps)] if args.steps else []) + (["--sampler", args.sampler] if args.sampler else [])
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"one 128 px colorization, model loaded: {warm_128(args.steps, args.sampler):.2f} s")
    print("| input | wall time (incl. start-up) | peak RSS |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            picture = Path(tmp) / f"photo-{size}.jpg"
            cv2.imwrite(str(picture), cv2.resize(cv2.imread(str(SAMPLE)), (width, height),
                                                 interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 92])
            seconds, rss = run_infer(picture, extra)
            megapixels = width * height / 1e6
            print(f"| {width} x {height} ({megapixels:.1f} MP) | {seconds:.1f} s | {rss:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
