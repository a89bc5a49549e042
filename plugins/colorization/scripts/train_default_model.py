"""Recipe of the colorization model that ships with the plugin (``palette_kit_colorization/default_model``).

    python plugins/colorization/scripts/train_default_model.py fetch  --work data/photos
    python plugins/colorization/scripts/train_default_model.py train  --work data/photos --run runs/default
    python plugins/colorization/scripts/train_default_model.py export --run runs/default --work data/photos
    python plugins/colorization/scripts/train_default_model.py table  --work data/photos

``fetch`` downloads the Debian packages of ``photo-corpus.tsv`` and of ``corpus.sources.SOURCES``
(``apt-get download``, then ``dpkg -x``; no root install) and builds the corpus in ``--work``: ``train/``,
``val/`` (a pre-split folder that ``Task.dataset`` reads as it is), ``photo-attribution.tsv`` (file, package, path in package, licence, author, split, stratum, and the
photo a cut-out was composited on) and ``dropped.tsv`` (what was left out, and why). Its steps live in the
``corpus`` package beside this script, one job per module:

- ``corpus/debian.py`` downloads and unpacks the packages;
- ``corpus/sources.py`` knows where the photos are in each package (one function per source) and yields
  them with their provenance; ``corpus/rcc.py`` reads gcompris's Qt resource bundles, ``corpus/pzl.py``
  cuts the picture out of jigzo's puzzles, ``corpus/attribution.py`` reads licences and authors from
  Debian copyright files and gcompris's READMEs (the 67 photos of ``photo-corpus.tsv`` keep the licences
  read by hand, ``corpus/photo-corpus-attribution.tsv``);
- ``corpus/photos.py`` works on one picture: downscaling to a shorter side of 320 px (never up), chroma
  (black-and-white pictures are dropped), the clip-art test of tuxpaint's stamps (share of equal
  neighbouring pixels), cropping cut-outs to their opaque box and compositing them onto a crop of a photo
  of the same split (seeded by the file name);
- ``corpus/dedupe.py`` drops near-duplicates, also across sources: a 256-bit dHash of a gray thumbnail
  (and of its mirror image) within a Hamming distance of 16; the first in source order is kept;
- ``corpus/split.py`` chooses the validation split: in every stratum (a package; gcompris's folders and
  tuxpaint's stamp folders are strata of their own) of at least 4 photos, the 9% (at least one) with the
  smallest SHA-256 of ``palette-kit:FILE``; never chosen by hand;
- ``corpus/build.py`` puts these together and writes the folders only when everything succeeded.

``train`` trains the ``small`` preset (v-prediction) with random crops (50-100% of the shorter side), flips
and Palette's schedules. ``export`` writes the best checkpoint with float16 weights into the package, with
``--work``'s attribution manifest beside it. ``table`` measures the exported model on the validation photos at
every sampler and step count of ``GRID`` (``palette_kit.evaluate``, seed 0) and prints the model card's
steps-vs-quality table. ``train --hints`` trains the hint model (``--init CKPT`` starts it from a model
without hints); ``hints --checkpoint CKPT`` measures it against Levin et al. for 0-100 hints
(``hint_curves.py``) and writes the model card's plot and example grid. ``export --checkpoint CKPT`` exports
that checkpoint instead of ``--run``'s best (a distilled student keeps its own DDIM steps; the student comes
from ``palette-kit distill``, see the model card); ``compare --models NAME=CKPT@SAMPLER:STEPS ... --eval-hints K``
prints the model card's teacher-against-student rows; ``examples --models ... --out FILE.png`` draws their
results on every tenth validation photo, without hints (a column per photo: gray, the models, the truth).
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from palette_kit.checkpoint import read_config
from palette_kit.diffusion.presets import Sampling
from palette_kit.evaluate import evaluate, summarise
from palette_kit.imageio import grid, list_images, read_image, resize, write_image
from palette_kit.inference import restore_files
from palette_kit.metrics.sets import BASELINE, SetMetrics
from palette_kit.model import Palette
from palette_kit.training.state import check_compatible, load_state, resolve_resume
from palette_kit.training.tracking import Run
from palette_kit.training.trainer import TrainSettings, train
from palette_kit_colorization import Colorization

from corpus import build, debian, sources  # beside this script
from hint_curves import hint_curves

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[3] / "shared" / "data" / "photo-corpus.tsv"  # ../shared beside the checkout
EXPORT = HERE.parent / "palette_kit_colorization" / "default_model"
#: Licences and authors of the photos of ``photo-corpus.tsv``, read from their copyright files by hand.
ATTRIBUTION_V1 = HERE / "corpus" / "photo-corpus-attribution.tsv"
SAMPLING = Sampling("ddim", 20)  # of validation during training
VAL_SAMPLES = 24  # validation photos restored each epoch (all of them go into ``table``)
#: The default sampling of an exported model that is not a distilled student: of the settings measured on the 63
#: validation photos (model card), the one with the lower CIEDE2000 both without hints and with 10 (DDIM 10 against
#: DPM-Solver++ 20), and the faster.
SHIPPED_SAMPLING = Sampling("ddim", 10)
EMA_DECAY = 0.998
#: Sampler and step counts of the model card's quality table.
GRID = [("linear", 1000), ("linear", 250), ("linear", 50), ("linear", 20), ("ddim", 10), ("ddim", 20), ("ddim", 50),
        ("dpmsolver", 10), ("dpmsolver", 20), ("dpmsolver", 50)]


def fetch(corpus: Path, work: Path) -> None:
    packages = sorted({r[0] for r in csv.reader(corpus.open(), delimiter="\t") if r and not r[0].startswith("#")})
    with tempfile.TemporaryDirectory() as tmp:
        root = debian.unpack(packages + list(sources.SOURCES), Path(tmp))
        counts = build.build(root, corpus, ATTRIBUTION_V1, work)
    for package in sorted({p for p, _ in counts}):
        print(f"{package:28} {counts[package, 'train']:4} train {counts[package, 'val']:3} val")
    print(f"{len(list_images(work / 'train'))} train and {len(list_images(work / 'val'))} val photos in {work}")


def train_model(work: Path, run_dir: Path, epochs: int, samples_per_epoch: int, batch_size: int, lr: float,
                encoder: str | None, hints: bool, init: Path | None, resume: bool) -> None:
    """Train (or, with ``resume``, continue) the recipe's model; ``encoder``: the frozen encoder, if any;
    ``hints``: with colour hints; ``init``: a checkpoint to start from (``Palette.warm_start``)."""
    task = Colorization(hints=hints)
    torch.manual_seed(0)
    model = Palette.create(task, "small", sampler=SAMPLING.sampler, steps=SAMPLING.steps, prediction="v",
                           encoder=encoder)
    if init is not None and not resume:
        model.warm_start(Palette.load(init))
    train_data = task.dataset(work, "train", model.condition_size, seed=0)
    val_data = task.dataset(work, "val", model.condition_size, seed=0)
    # A run of about 2000 optimizer steps: an EMA over the last ~500 of them, not Palette's 0.9999.
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, val_samples=VAL_SAMPLES,
                             sample_steps=SAMPLING.steps, samples_per_epoch=samples_per_epoch,
                             ema_decay=EMA_DECAY, grad_clip=1.0, warmup_steps=100, checkpoint_every=50)
    state = None
    if resume:
        state = load_state(resolve_resume("latest", run_dir))
        check_compatible(state.config, model.config, run_dir)
    run = Run(run_dir, {"recipe": "default colorization model", "settings": vars(settings), "model": model.config},
              use_wandb=True, project="palette-kit-default-model", run_id=state.progress.get("wandb_id") if state else None)
    try:
        train(model, train_data, val_data, settings, run, resume=state)
    finally:
        run.finish()


def export(checkpoint: Path, work: Path) -> None:
    """``checkpoint`` as the bundled model in float16: a distilled student keeps its own sampling and record,
    any other model samples with ``SHIPPED_SAMPLING``."""
    model, record = Palette.load(checkpoint), read_config(checkpoint).get("distillation")
    if record is None:
        model.sampling = SHIPPED_SAMPLING
    extra = {"distillation": record} if record else {}
    model.save(EXPORT, dtype=torch.float16, recipe="plugins/colorization/scripts/train_default_model.py", **extra)
    shutil.copy(work / "photo-attribution.tsv", EXPORT / "photo-attribution.tsv")
    print(f"exported {checkpoint} to {EXPORT}")


def _model_spec(spec: str, sampler: str, steps: int) -> tuple[str, Path, Sampling]:
    """``NAME=CHECKPOINT`` or ``NAME=CHECKPOINT@SAMPLER:STEPS`` (else ``sampler`` and ``steps``)."""
    name, checkpoint = spec.split("=", 1)
    checkpoint, _, how = checkpoint.partition("@")
    chosen, _, count = how.partition(":")
    return name, Path(checkpoint), Sampling(chosen or sampler, int(count or steps))


def example_grid(work: Path, models: list[str], sampler: str, steps: int, out: Path, every: int = 10) -> None:
    """Every ``every``-th validation photo as a column, 120 px tall: gray, each model of ``models``
    (``compare``'s ``NAME=CHECKPOINT@SAMPLER:STEPS``, no hints, seed 0) in order, and the truth."""
    paths = list_images(work / "val")[::every]
    columns: list[list[np.ndarray]] = [[] for _ in paths]
    for spec in models:
        name, checkpoint, how = _model_spec(spec, sampler, steps)
        model = Palette.load(checkpoint)
        for column, restored in zip(columns, restore_files(model, paths, [0], how.steps, how.sampler, 16)):
            if restored.error:
                raise SystemExit(f"{restored.source}: {restored.error}")
            column += [model.task.baseline(restored.prepared)] if not column else []
            column.append(restored.results[0])
        print(f"row {len(columns[0])}: {name} ({how.sampler} {how.steps})", flush=True)
    for column, path in zip(columns, paths):
        column.append(read_image(path))
        h, w = column[-1].shape[:2]
        column[:] = [resize(picture, round(w * 120 / h), 120) for picture in column]
    write_image(out, grid(columns))
    print(f"{out}: rows gray, {', '.join(spec.split('=', 1)[0] for spec in models)}, truth; "
          f"{len(paths)} photos: {', '.join(p.name for p in paths)}")


def compare(work: Path, models: list[str], sampler: str, steps: int, hints: int = 0) -> None:
    """Markdown rows: every ``NAME=CHECKPOINT`` (or ``NAME=CHECKPOINT@SAMPLER:STEPS``) on all validation photos
    and on the real ones alone (without the composited cut-outs), FID-Inception KID and CA over all of them,
    then the gray baseline; ``hints``: simulated hints per photo (``evaluate --hints``) for hint models."""
    paths = list_images(work / "val")
    attribution = csv.DictReader((work / "photo-attribution.tsv").open(newline=""), delimiter="\t")
    composites = {row["file"] for row in attribution if row.get("background")}
    print("| model | photos | ab MAE | CIEDE2000 | colourfulness (% of truth) | KID x 1000 | CA |")
    print("|---|---|---|---|---|---|---|")

    def line(name: str, subset: str, m: dict[str, float], kid: str = "", ca: str = "") -> None:
        share = 100 * m["colourfulness"] / m["colourfulness_truth"]
        print(f"| {name} | {subset} | {m['ab_mae']:.4f} | {m['ciede2000']:.2f} | {m['colourfulness']:.1f} "
              f"({share:.0f}%) | {kid} | {ca} |", flush=True)

    for spec in models:
        name, checkpoint, how = _model_spec(spec, sampler, steps)
        model, sets = Palette.load(checkpoint), SetMetrics.load()
        options = {"hints": hints} if model.task.config.get("hints") else {}
        rows, failures = evaluate(model, paths, how.steps, how.sampler, seed=0, batch_size=16, progress=False,
                                  sets=sets, task_options=options)
        if failures:
            raise SystemExit(f"could not evaluate {failures}")
        whole = sets.summary()
        real = [row for row in rows if Path(row["image"]).name not in composites]
        line(name, f"all {len(rows)}", summarise(rows), f"{1000 * whole['kid']:.1f} ± {1000 * whole['kid_se']:.1f}",
             f"{whole['ca']:.3f}")
        line(name, f"real {len(real)}", summarise(real))
    for subset, chosen in ((f"all {len(rows)}", rows), (f"real {len(real)}", real)):
        m = {k.removeprefix(BASELINE): v for k, v in summarise(chosen).items() if k.startswith(BASELINE)}
        m["colourfulness_truth"] = summarise(chosen)["colourfulness_truth"]
        kid = f"{1000 * whole['baseline_kid']:.1f} ± {1000 * whole['baseline_kid_se']:.1f}" if "all" in subset else ""
        line("gray (ab = 0)", subset, m, kid, f"{whole['baseline_ca']:.3f}" if "all" in subset else "")


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
    parser.add_argument("step", choices=["fetch", "train", "export", "table", "compare", "hints", "examples"])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--work", type=Path, default=Path("data/photos"))
    parser.add_argument("--run", type=Path, default=Path("runs/default-model"))
    parser.add_argument("--checkpoint", type=Path, default=EXPORT, help="the model ``table`` measures")
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--samples-per-epoch", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--encoder", default=None, help="frozen encoder of the condition, e.g. efficientnet-lite0")
    parser.add_argument("--models", nargs="+", default=[], help="``compare``: NAME=CHECKPOINT ...")
    parser.add_argument("--sampler", default="dpmsolver", help="``compare``: sampler")
    parser.add_argument("--steps", type=int, default=50, help="``compare``: sampling steps")
    parser.add_argument("--hints", action="store_true", help="train with simulated colour hints")
    parser.add_argument("--eval-hints", type=int, default=0, help="``compare``: simulated hints per photo")
    parser.add_argument("--init", type=Path, default=None, help="checkpoint to start from (e.g. a model without hints)")
    parser.add_argument("--levin-cache", type=Path, default=Path("levin-cache.json"),
                        help="``hints``: where Levin et al.'s results are kept between runs")
    parser.add_argument("--out", type=Path, default=Path("hint-curves"),
                        help="``hints``: folder of the curves, plot and grid; ``examples``: the grid's PNG")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run from its latest checkpoint")
    args = parser.parse_args()
    if args.step == "fetch":
        fetch(args.corpus, args.work)
    elif args.step == "train":
        train_model(args.work, args.run, args.epochs, args.samples_per_epoch, args.batch_size, args.lr, args.encoder,
                    args.hints, args.init, args.resume)
    elif args.step == "hints":
        hint_curves(args.checkpoint, list_images(args.work / "val"), args.levin_cache, args.sampler, args.steps,
                    args.out)
    elif args.step == "compare":
        compare(args.work, args.models, args.sampler, args.steps, args.eval_hints)
    elif args.step == "examples":
        example_grid(args.work, args.models, args.sampler, args.steps, args.out)
    elif args.step == "export":
        export(args.checkpoint if args.checkpoint != EXPORT else args.run / "best", args.work)
    else:
        quality_table(args.work, args.checkpoint)


if __name__ == "__main__":
    main()
