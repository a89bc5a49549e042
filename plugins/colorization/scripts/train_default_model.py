"""Recipe of the colorization model that ships with the plugin (``palette_kit_colorization/default_model``).

    python plugins/colorization/scripts/train_default_model.py fetch  --work data/photos
    python plugins/colorization/scripts/train_default_model.py train  --work data/photos --run runs/default
    python plugins/colorization/scripts/train_default_model.py export --run runs/default
    python plugins/colorization/scripts/train_default_model.py table  --work data/photos

``fetch`` downloads the Debian packages listed in ``photo-corpus.tsv`` (``apt-get download``, then
``dpkg -x``; no root install), copies the listed photos downscaled to a shorter side of 320 px,
and keeps ``HELD_OUT`` apart as the validation split (``WORK/train/`` and ``WORK/val/``, a pre-split
folder that ``Task.dataset`` reads as it is). ``train`` trains the ``small`` preset
(v-prediction) with random crops (50-100% of the shorter side), flips and Palette's schedules. ``export`` writes the
best checkpoint with float16 weights into the package, with the attribution manifest beside it.
``table`` measures the exported model on the validation photos at every sampler and step count of
``GRID`` (``palette_kit.evaluate``, seed 0) and prints the model card's steps-vs-quality table.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import torch

from palette_kit.diffusion.presets import Sampling
from palette_kit.evaluate import evaluate, summarise
from palette_kit.imageio import list_images, read_image, write_image
from palette_kit.model import Palette
from palette_kit.training.tracking import Run
from palette_kit.training.trainer import TrainSettings, train
from palette_kit_colorization import Colorization

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[3] / "shared" / "data" / "photo-corpus.tsv"  # ../shared beside the checkout
EXPORT = HERE.parent / "palette_kit_colorization" / "default_model"
#: Photos kept out of training, one per package: the validation split.
HELD_OUT = {"GreenMeadow.jpg", "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
            "Path.jpg", "orange.jpg"}
SHORT_SIDE = 320
SAMPLING = Sampling("linear", 50)  # of validation during training
#: The shipped default: in the model card's table, the fastest setting whose colourfulness is near
#: 60% of the ground truth's (DDPM gets there only at 250 steps, too slow for a CPU).
SHIPPED_SAMPLING = Sampling("dpmsolver", 50)
EMA_DECAY = 0.998
#: Sampler and step counts of the model card's quality table.
GRID = [("linear", 1000), ("linear", 250), ("linear", 50), ("linear", 20), ("ddim", 10), ("ddim", 20), ("ddim", 50),
        ("dpmsolver", 10), ("dpmsolver", 20), ("dpmsolver", 50)]


def photo_name(path: str) -> str:
    """A unique file name: plasma wallpapers are all called 2560x1600.jpg, so use their folder."""
    parts = Path(path).parts
    return f"{parts[-4]}.jpg" if parts[-2] == "images" else Path(path).name


def fetch(corpus: Path, work: Path) -> None:
    rows = [r for r in csv.reader(corpus.open(), delimiter="\t") if r and not r[0].startswith("#")]
    with tempfile.TemporaryDirectory() as tmp:
        for package in sorted({r[0] for r in rows}):
            subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True)
        for deb in Path(tmp).glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(Path(tmp) / "root")], check=True)
        for package, path in rows:
            name = photo_name(path)
            picture = read_image(Path(tmp) / "root" / path.lstrip("/"))
            scale = SHORT_SIDE / min(picture.shape[:2])
            if scale < 1:
                picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            split = "val" if name in HELD_OUT else "train"
            write_image(work / split / name, picture)
    print(f"{len(list_images(work / 'train'))} train and {len(list_images(work / 'val'))} val photos in {work}")


def train_model(work: Path, run_dir: Path, epochs: int, samples_per_epoch: int, batch_size: int, lr: float) -> None:
    task = Colorization()
    model = Palette.create(task, "small", sampler=SAMPLING.sampler, steps=SAMPLING.steps, prediction="v")
    train_data = task.dataset(work, "train", model.image_size, seed=0)
    val_data = task.dataset(work, "val", model.image_size, seed=0)
    # A run of about 2000 optimizer steps: an EMA over the last ~500 of them, not Palette's 0.9999.
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, val_samples=len(val_data),
                             sample_steps=SAMPLING.steps, samples_per_epoch=samples_per_epoch,
                             ema_decay=EMA_DECAY, grad_clip=1.0, warmup_steps=100)
    run = Run(run_dir, {"recipe": "default colorization model", "settings": vars(settings), "model": model.config},
              use_wandb=True, project="palette-kit-default-model")
    try:
        train(model, train_data, val_data, settings, run)
    finally:
        run.finish()


def export(run_dir: Path) -> None:
    model = Palette.load(run_dir / "best")
    model.sampling = SHIPPED_SAMPLING
    model.save(EXPORT, dtype=torch.float16, recipe="plugins/colorization/scripts/train_default_model.py")
    shutil.copy(HERE / "photo-attribution.tsv", EXPORT / "photo-attribution.tsv")
    print(f"exported {run_dir / 'best'} to {EXPORT}")


def quality_table(work: Path, checkpoint: Path) -> None:
    """Markdown rows: each setting of ``GRID`` on the validation photos, then the gray baseline."""
    model = Palette.load(checkpoint)
    paths = list_images(work / "val")
    print("| sampler, steps | ab MAE | PSNR (dB) | SSIM | CIEDE2000 | colourfulness (truth) | s per image |")
    print("|---|---|---|---|---|---|---|")
    for sampler, steps in GRID:
        start = time.perf_counter()
        rows, failures = evaluate(model, paths, steps, sampler, seed=0, batch_size=len(paths), progress=False)
        if failures:
            raise SystemExit(f"could not evaluate {failures}")
        seconds, m = (time.perf_counter() - start) / len(rows), summarise(rows)
        print(f"| {sampler} {steps} | {m['ab_mae']:.3f} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['ciede2000']:.2f} "
              f"| {m['colourfulness']:.1f} ({m['colourfulness_truth']:.1f}) | {seconds:.2f} |", flush=True)
    b = {k.removeprefix("baseline_"): v for k, v in m.items() if k.startswith("baseline_")}
    print(f"| gray baseline (ab = 0) | {b['ab_mae']:.3f} | {b['psnr']:.2f} | {b['ssim']:.3f} | {b['ciede2000']:.2f} "
          f"| {b['colourfulness']:.1f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["fetch", "train", "export", "table"])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--work", type=Path, default=Path("data/photos"))
    parser.add_argument("--run", type=Path, default=Path("runs/default-model"))
    parser.add_argument("--checkpoint", type=Path, default=EXPORT, help="the model ``table`` measures")
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--samples-per-epoch", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()
    if args.step == "fetch":
        fetch(args.corpus, args.work)
    elif args.step == "train":
        train_model(args.work, args.run, args.epochs, args.samples_per_epoch, args.batch_size, args.lr)
    elif args.step == "export":
        export(args.run)
    else:
        quality_table(args.work, args.checkpoint)


if __name__ == "__main__":
    main()
