"""``palette-kit distill``: a few-step student of any checkpoint (imports only click until it runs)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from palette_kit.choices import DEVICES, SCHEDULES
from palette_kit.errors import InputError


@click.command()
@click.option("--checkpoint", "teacher_path", required=True, type=click.Path(path_type=Path),
              help="The teacher: any palette-kit checkpoint folder.")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Training pictures, split as `train` splits them (the teacher's task makes the pairs).")
@click.option("--steps", type=click.IntRange(1), default=4, show_default=True,
              help="DDIM steps of the final student (saved as its default).")
@click.option("--teacher-steps", type=click.IntRange(2), default=None,
              help="DDIM steps of the teacher that the first student learns in half as many; --steps times a "
                   "power of two (default: 4 x --steps, two rounds).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=None,
              help="The students' sampling schedule, whose evenly spaced timesteps they learn (default: the "
                   "teacher's; ddpm spreads a few steps over all noise levels).")
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True, help="Epochs of each round.")
@click.option("--samples-per-epoch", type=click.IntRange(1), default=None,
              help="Training items drawn per epoch (default: the training set's size).")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="Pictures per step and process.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=5e-5, show_default=True,
              help="Adam learning rate.")
@click.option("--ema-decay", type=click.FloatRange(0, 1), default=0.999, show_default=True,
              help="EMA of the student's weights (validated, saved and passed to the next round).")
@click.option("--warmup-steps", type=click.IntRange(0), default=0, show_default=True,
              help="Linear learning-rate warm-up in each round.")
@click.option("--val-samples", type=click.IntRange(1), default=8, show_default=True,
              help="Validation pictures restored at the end of each epoch (val_mae at the student's steps).")
@click.option("--checkpoint-every", type=click.IntRange(1), default=None,
              help="Optimizer steps between training checkpoints (one is also written after every epoch).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, data order and noise.")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True, help="DataLoader workers.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder (default: runs/distill-TIME); the student is written to OUT/student.")
@click.option("--resume", is_flag=True, help="Continue the run in --out where it stopped.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
@click.option("--wandb/--no-wandb", "use_wandb", default=True, show_default=True,
              help="Track each round with Weights & Biases (offline when no API key is configured).")
@click.option("--wandb-project", default="palette-kit", show_default=True, help="Weights & Biases project.")
def distill(teacher_path: Path, data: Path, steps: int, teacher_steps: int | None, schedule: str | None,
            epochs: int, samples_per_epoch: int | None, batch_size: int, lr: float, ema_decay: float,
            warmup_steps: int, val_samples: int, checkpoint_every: int | None, seed: int, workers: int,
            out: Path | None, resume: bool, device: str, use_wandb: bool, wandb_project: str) -> None:
    """Distil a checkpoint into a student that samples in --steps DDIM steps (progressive distillation,
    Salimans & Ho 2022), for any task. The student is an ordinary checkpoint: OUT/student.

    Several processes share the work when started by torchrun, as for `train`.
    """
    import dataclasses

    from palette_kit.checkpoint import read_config
    from palette_kit.diffusion.presets import schedule_preset
    from palette_kit.distillation.rounds import Distillation, Plan
    from palette_kit.model import Palette
    from palette_kit.training.distributed import join, leave
    from palette_kit.training.trainer import TrainSettings

    if resume and out is None:
        raise InputError("--resume needs --out RUN_FOLDER (the run to continue)")
    out = out or Path("runs") / f"distill-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if not resume and out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} exists and is not empty; choose a new run folder or pass --resume")
    teacher = Palette.load(teacher_path)
    sample = schedule_preset(schedule).sample if schedule else teacher.schedules.sample
    plan = Plan(teacher_steps or 4 * steps, steps)
    plan.rounds(sample.num_train_timesteps)  # refuse a bad plan before reading any data
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, ema_decay=ema_decay, seed=seed,
                             warmup_steps=warmup_steps, workers=workers, samples_per_epoch=samples_per_epoch,
                             val_samples=val_samples, checkpoint_every=checkpoint_every)
    task = teacher.task
    train_data = task.dataset(data, "train", teacher.condition_size, seed)
    val_data = task.dataset(data, "val", teacher.condition_size, seed)
    world = join(device)
    try:
        job = Distillation(teacher, read_config(teacher_path)["weights_sha256"], plan,
                           dataclasses.replace(teacher.schedules, sample=sample), settings, out, world,
                           use_wandb, wandb_project)
        student = job.run(train_data, val_data)
    finally:
        leave(world)
    if world.is_main:
        click.echo(f"student: {student} (DDIM, {steps} steps; teacher {teacher_path})")
