"""The ``palette-kit`` command: ``tasks``, ``train``, ``infer``, ``evaluate``, ``distill`` (from
``palette_kit.distillation``) and ``serve`` (the web app, ``palette_kit.web``). It knows no task by name.

Start-up stays well under a second: this module imports only click and light palette-kit modules;
torch and everything built on it are imported inside the commands that need them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from palette_kit import __version__
from palette_kit.choices import (DEVICES, DTYPES, ENCODERS, MIXED_PRECISION, PREDICTIONS, PRESETS, SAMPLERS,
                                 SCHEDULES)
from palette_kit.distillation.command import distill
from palette_kit.errors import CheckpointError, InputError, PaletteError, file_problem
from palette_kit.task_params import TaskChoice, TaskCommand
from palette_kit.tasks import load_task, task_names
from palette_kit.web.command import serve

if TYPE_CHECKING:
    from palette_kit.model import Palette

SAMPLER_HELP = ("Sampler: DDPM ancestral with our hand-written linear schedule (linear) or diffusers' (ddpm), "
                "deterministic DDIM (ddim), DPM-Solver++ 2M (dpmsolver).")
TASK_HELP = "Task plugin name (see `palette-kit tasks`)."
#: Validation restores with this few-step sampler by default; it is saved as the inference default.
DEFAULT_SAMPLER, DEFAULT_SAMPLE_STEPS = "dpmsolver", 50


def _one_line(exc: BaseException) -> str:
    """The message of ``exc``; for errors re-raised by DataLoader workers, the original message."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
    last = lines[-1]
    if len(lines) > 1 and ": " in last and last.split(": ", 1)[0].endswith("Error"):
        return last.split(": ", 1)[1]
    return last


class _Group(click.Group):
    """Turns palette-kit's errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PaletteError as exc:
            raise click.ClickException(_one_line(exc)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="palette-kit")
def main() -> None:
    """Palette-style image-to-image diffusion; tasks come from plugins."""


@main.command()
def tasks() -> None:
    """List the installed task plugins."""
    names = task_names()
    if not names:
        raise PaletteError("no task plugins installed (entry-point group palette_kit.tasks)")
    failed = False
    for name in names:
        try:
            task = load_task(name)()  # with its default options: its channels may depend on them
        except PaletteError as exc:
            failed = True
            click.echo(f"{name:<20} BROKEN: {_one_line(exc)}")
            continue
        click.echo(f"{name:<20} cond {task.cond_channels} -> target {task.target_channels}  {task.description}")
    if failed:
        raise click.exceptions.Exit(1)


@main.command(cls=TaskCommand, which="options")
@click.option("--task", "task_name", type=TaskChoice(), required=True, help=TASK_HELP)
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Folder of training images (searched recursively; DATA/train + DATA/val or CelebA are split "
                   "as given, any other folder by a seeded 95/5 split).")
@click.option("--preset", "preset_name", type=click.Choice(PRESETS), default="small", show_default=True,
              help="UNet preset: tiny (tests), small (CPU-friendly, 64 px), seed (the tutorial's 62.6 M, 128 px).")
@click.option("--image-size", type=click.IntRange(8), default=None, help="Model resolution (default: the preset's).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="palette", show_default=True,
              help="Noise schedules: palette (train 2000 / sample 1000 linear steps) or seed (the tutorial's 20).")
@click.option("--prediction", type=click.Choice(PREDICTIONS), default="eps", show_default=True,
              help="What the UNet predicts: eps (Palette) or v (better behaved when the target's spread is small).")
@click.option("--sampler", "--scheduler", "sampler", type=click.Choice(SAMPLERS), default=DEFAULT_SAMPLER,
              show_default=True, help=SAMPLER_HELP + " Restores the validation samples, and is saved in "
              "checkpoints as the inference default.")
@click.option("--encoder", type=click.Choice(ENCODERS), default=None,
              help="A frozen pretrained encoder of the condition whose features the UNet is given (default: none).")
@click.option("--sample-steps", type=click.IntRange(1), default=None,
              help=f"Steps of that sampler (default: {DEFAULT_SAMPLE_STEPS}, or all of the sampling schedule's "
                   "if fewer, e.g. 20 for --schedule seed); also saved as the inference default.")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Passes over the training set.")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="Pictures per micro-batch and process.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=5e-5, show_default=True,
              help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights, the split, the data order and the noise.")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True, help="DataLoader workers.")
@click.option("--samples-per-epoch", type=click.IntRange(1), default=None,
              help="Training items drawn per epoch (default: the training set's size).")
@click.option("--val-samples", type=click.IntRange(1), default=8, show_default=True,
              help="Validation images restored each epoch for MAE and pictures.")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Stop after this many optimizer steps (default: run all epochs).")
@click.option("--grad-accum", type=click.IntRange(1), default=1, show_default=True,
              help="Micro-batches per optimizer step.")
@click.option("--warmup-steps", type=click.IntRange(0), default=0, show_default=True,
              help="Linear learning-rate warm-up.")
@click.option("--grad-clip", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Max gradient norm; 0 turns clipping off.")
@click.option("--ema-decay", type=click.FloatRange(0, 1), default=0.9999, show_default=True,
              help="EMA of the weights (validated and saved); warmed up as min(decay, (1+k)/(10+k)).")
@click.option("--mixed-precision", type=click.Choice(list(MIXED_PRECISION)), default="no", show_default=True,
              help="Autocast dtype for training; fp16 uses a gradient scaler. Keep 'no' on a CPU.")
@click.option("--checkpoint-every", type=click.IntRange(1), default=None,
              help="Optimizer steps between training checkpoints (one is also written after every epoch).")
@click.option("--keep-last", type=click.IntRange(1), default=3, show_default=True,
              help="Training checkpoints kept in RUN/checkpoints.")
@click.option("--log-every", type=click.IntRange(1), default=50, show_default=True,
              help="Optimizer steps between train-loss logs.")
@click.option("--init", "init_from", type=click.Path(path_type=Path), default=None,
              help="Start from this checkpoint's weights where they fit (new condition channels start at zero).")
@click.option("--resume", default=None,
              help="Continue a run: 'latest' (with --out RUN), a checkpoint folder (step_NNNNNNNN also from inside "
                   "RUN/checkpoints), RUN/checkpoints or a run folder. Pass the same model and data options as the "
                   "first time; a finished run says so and does nothing.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder (default: runs/TASK-TIME).")
@click.option("--wandb/--no-wandb", "use_wandb", default=True, show_default=True,
              help="Track with Weights & Biases (offline when no API key is configured).")
@click.option("--wandb-project", default="palette-kit", show_default=True, help="Weights & Biases project.")
def train(task_name: str, data: Path, preset_name: str, image_size: int | None, schedule: str, prediction: str,
          sampler: str, encoder: str | None, sample_steps: int | None, init_from: Path | None, resume: str | None,
          device: str, out: Path | None, use_wandb: bool,
          wandb_project: str, task_options: dict | None = None, **settings) -> None:
    """Train a model for a task on a folder of images (`--task NAME --help` lists the task's options).

    Several processes (GPUs, or CPUs with gloo) train together when started by torchrun, e.g.
    `torchrun --nproc-per-node 8 -m palette_kit train ...`; rank 0 writes the run folder.
    """
    import torch

    from palette_kit.data import dataset_warnings
    from palette_kit.diffusion.presets import schedule_preset
    from palette_kit.model import Palette
    from palette_kit.training.distributed import join, leave
    from palette_kit.training.state import check_compatible, load_state, resolve_resume
    from palette_kit.training.tracking import Run
    from palette_kit.training.trainer import TrainSettings, train as run_training

    task = load_task(task_name)(**(task_options or {}))
    overrides = {"image_size": image_size} if image_size else {}
    total = schedule_preset(schedule).sample.num_train_timesteps
    steps = sample_steps or min(DEFAULT_SAMPLE_STEPS, total)
    if steps > total:
        raise InputError(f"--sample-steps must be at most {total}")
    torch.manual_seed(settings["seed"])  # the initial weights, the same on every rank and every rerun
    model = Palette.create(task, preset_name, schedule, sampler, steps, prediction, encoder, **overrides)
    if init_from is not None and resume is None:
        model.warm_start(Palette.load(init_from))
    ts = TrainSettings(**{**settings, "grad_clip": settings["grad_clip"] or None}, sample_steps=steps)
    state = None
    if resume is not None:
        if resume == "latest" and out is None:
            raise InputError("--resume latest needs --out RUN_FOLDER (the run to continue)")
        checkpoint = resolve_resume(resume, out)
        out = checkpoint.parents[1]
        state = load_state(checkpoint)
        check_compatible(state.config, model.config, checkpoint)
        if ts.finished(state.progress):
            click.echo(f"run {out} is already finished (step {state.progress['step']}, --epochs {ts.epochs}, "
                       f"--max-steps {ts.max_steps}); nothing to do: raise --epochs or --max-steps to go on")
            return
    train_data = task.dataset(data, "train", model.condition_size, settings["seed"])
    val_data = task.dataset(data, "val", model.condition_size, settings["seed"])
    for warning in dataset_warnings(train_data, val_data):
        click.echo(f"warning: {warning}", err=True)
    out = out or Path("runs") / f"{task.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if state is None and out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} exists and is not empty; choose a new run folder or --resume latest")
    world = join(device)
    run = None
    if world.is_main:
        n_params = sum(p.numel() for p in model.net.parameters())
        click.echo(f"{task.name}: {len(train_data)} train / {len(val_data)} val images, UNet {preset_name} "
                   f"{n_params / 1e6:.2f} M parameters at {model.image_size} px, {world.size} process(es) on "
                   f"{world.device}, run folder {out}" + (f", resuming step {state.progress['step']}" if state else ""))
        run = Run(out, {"train": dataclasses.asdict(ts), "model": model.config, "data": str(data), "preset": preset_name},
                  use_wandb, wandb_project, run_id=state.progress.get("wandb_id") if state else None)
    try:
        result = run_training(model, train_data, val_data, ts, run, world, state)
    except BaseException:
        if run is not None:
            run.finish()
            if state is None and not (out / "best").exists() and not (out / "checkpoints").exists():
                shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping yet: leave no half-made run
        raise
    finally:
        leave(world)
    if run is not None:
        run.finish()
        skipped = f"; {result.skipped} unreadable picture(s) skipped" if result.skipped else ""
        click.echo(f"best val_mae {result.best_val_mae:.4f} at epoch {result.best_epoch}; "
                   f"checkpoint {out / 'best'}{skipped}")


def _load_model(task_name: str, checkpoint: Path | None, steps: int | None) -> tuple[Palette, Path]:
    """The checkpoint (default: the one the task ships) as a model for ``task_name``, checked against ``steps``."""
    from palette_kit.model import Palette

    checkpoint = checkpoint or load_task(task_name).default_checkpoint
    if checkpoint is None:
        raise InputError(f"task {task_name!r} ships no default model; pass --checkpoint")
    model = Palette.load(checkpoint)
    if model.task.name != task_name:
        raise CheckpointError(f"checkpoint {checkpoint} is for task {model.task.name!r}, not {task_name!r}")
    total = model.schedules.sample.num_train_timesteps
    if steps and steps > total:
        raise InputError(f"--steps must be at most {total} for this checkpoint")
    return model, checkpoint


@main.command(cls=TaskCommand, which="eval_options")
@click.option("--task", "task_name", type=TaskChoice(), required=True, help=TASK_HELP)
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Folder of ground-truth pictures and videos (searched recursively).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Checkpoint folder (default: the model the task plugin ships).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Sampling steps (default: the checkpoint's).")
@click.option("--sampler", "--scheduler", "sampler", type=click.Choice(SAMPLERS), default=None,
              help=SAMPLER_HELP + " Default: the checkpoint's.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every picture's sampling.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Pictures sampled together.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate only the first N pictures (sorted).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for metrics.csv and metrics.json (default: evaluation-TASK-TIME).")
def evaluate(task_name: str, data: Path, checkpoint: Path | None, steps: int | None, sampler: str | None,
             seed: int, batch_size: int, limit: int | None, device: str, out: Path | None,
             task_options: dict | None = None) -> None:
    """Measure a model on ground-truth pictures and videos: PSNR, SSIM, CIEDE2000, colourfulness and the task's
    metrics, for videos per frame and the temporal warp error, and over the pictures FID, KID and classification
    accuracy (when their networks are installed).

    Each picture or frame is restored from the task's condition (colorization: its gray version) and compared with
    the original; the task's baseline (colorization: the gray picture) is measured the same way. Under torchrun
    each process evaluates its share; rank 0 writes the reports.
    """
    from palette_kit.evaluate import evaluate as run_evaluation, format_table, gather, summarise, write_reports
    from palette_kit.imageio import list_images
    from palette_kit.metrics.sets import SetMetrics, unavailable
    from palette_kit.runtime import Runtime
    from palette_kit.tasks.base import resolve_options
    from palette_kit.training.distributed import join, leave

    paths = list_images(data, videos=True)[:limit]
    model, checkpoint = _load_model(task_name, checkpoint, steps)
    options = resolve_options(model.task.eval_options, task_options or {}, task_name)
    model.task.check_run_options(options)
    world = join(device)  # under torchrun: one process per device, each with its share of the files
    try:
        model.to(dataclasses.replace(Runtime.pick(device), device=world.device))
        missing = unavailable()
        sets = None if missing else SetMetrics.load(world.device)
        rows, failures = run_evaluation(model, paths, steps, sampler, seed, batch_size, sets=sets,
                                        task_options=options, world=world)
        rows, failures = gather(world, paths, rows, failures, sets)
    finally:
        leave(world)
    if not world.is_main:  # rank 0 reports for every process, and its exit status is the run's
        return
    for path, reason in failures:
        click.echo(f"error: {file_problem(str(path), reason)}", err=True)
    if not rows:
        raise InputError(f"none of the {len(paths)} files in {data} could be evaluated")
    summary = summarise(rows)
    out = out or Path(f"evaluation-{task_name}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    whole = sets.summary() if sets else None
    csv_path, json_path = write_reports(rows, summary, out, failures, whole)
    click.echo(f"{task_name}: mean of {len(rows)} files ({checkpoint})\n{format_table(summary)}")
    if whole:
        click.echo(f"whole set, n = {whole['n']} (FID is biased upward below ~2,000 pictures; KID is not, "
                   f"kid_se is its standard error)\n{format_table({k: v for k, v in whole.items() if k != 'n'})}")
    else:
        click.echo(missing)
    click.echo(f"reports: {csv_path} {json_path}")
    if failures:
        raise click.ClickException(f"{len(rows)} evaluated, {len(failures)} failed")


@main.command(cls=TaskCommand, which="infer_options")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--task", "task_name", type=TaskChoice(), required=True, help=TASK_HELP)
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Checkpoint folder (default: the model the task plugin ships).")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Output file (one input) or folder, mirroring the inputs' folders "
                   "(default: NAME.TASK.EXT beside each input).")
@click.option("--ext", type=click.Choice(["png", "jpg", "webp"]), default="png", show_default=True,
              help="Format of outputs named by palette-kit (an --output file's own suffix wins).")
@click.option("--output-quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="Quality of jpg and webp outputs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them).")
@click.option("--num-samples", type=click.IntRange(1), default=1, show_default=True,
              help="Results per input, with seeds --seed, --seed+1, ...; their names get .sSEED.")
@click.option("--compare", is_flag=True, help="Also write NAME.TASK.compare.png: input | output(s) | ground truth.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Sampling steps (default: the checkpoint's).")
@click.option("--sampler", "--scheduler", "sampler", type=click.Choice(SAMPLERS), default=None,
              help=SAMPLER_HELP + " Default: the checkpoint's.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Samples computed together; each has its own seed, so results do not depend on the batch.")
@click.option("--dtype", type=click.Choice(["auto", *DTYPES]), default="auto", show_default=True,
              help="Autocast dtype; auto: bf16 on CUDA, fp32 on a CPU.")
@click.option("--compile", "compile_net", is_flag=True, help="torch.compile the network (pays off on large batches).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the first sample of every input; the same seed gives the same picture.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
def infer(inputs: tuple[str, ...], task_name: str, checkpoint: Path | None, output: Path | None, ext: str,
          output_quality: int, overwrite: bool, num_samples: int, compare: bool, steps: int | None,
          sampler: str | None, batch_size: int, dtype: str, compile_net: bool, seed: int, device: str,
          task_options: dict | None = None) -> None:
    """Run a task on pictures and videos: files, folders (recursive) or glob patterns (`--task NAME --help` lists
    the task's options). A file that fails is reported on one line and the others are still written.

    Under torchrun (`torchrun --nproc-per-node N -m palette_kit infer ...`) each process takes its share of the
    inputs; rank 0 reports for all."""
    from palette_kit import inference
    from palette_kit.checkpoint import read_config
    from palette_kit.imageio import collect_inputs
    from palette_kit.outputs import drop_outputs, plan
    from palette_kit.runtime import Runtime
    from palette_kit.tasks.base import resolve_options
    from palette_kit.training.distributed import join, leave

    model, checkpoint = _load_model(task_name, checkpoint, steps)
    infer_options = resolve_options(type(model.task).infer_options, task_options or {}, task_name)
    model.task.check_run_options(infer_options)
    sources, problems = collect_inputs(list(inputs))
    sources, ours = drop_outputs(sources, inputs, task_names(), output)
    seeds = [seed + k for k in range(num_samples)]
    targets = plan(sources, task_name, output, seeds, ext, compare)  # before any sampling: refusals cost nothing
    if not sources and len(problems) == 1:
        raise InputError(f"{problems[0][0]}: {problems[0][1]}")
    world = join(device)  # under torchrun: one process per device, each with its share of the inputs
    if ours and world.is_main:
        click.echo(f"ignored {len(ours)} output(s) of palette-kit found among the inputs (e.g. {ours[0]})")
    try:
        model.to(dataclasses.replace(Runtime.pick(device, dtype, compile_net), device=world.device))
        sha = read_config(checkpoint)["weights_sha256"]
        report = inference.run(model, targets, seeds, steps, sampler, batch_size, overwrite,
                               inference.provenance(model, checkpoint, sha, sampler, steps), infer_options,
                               output_quality, world)
        report = inference.Report.merged(world.gather(report))
    finally:
        leave(world)
    failed = [file_problem(name, reason) for name, reason in problems + report.failed]
    if not world.is_main:  # rank 0 reports for every process, and its exit status is the run's
        return
    if len(failed) == 1 and not report.written and not report.skipped:
        raise InputError(failed[0])
    for reason in failed:
        click.echo(f"error: {reason}", err=True)
    summary = f"{len(report.written)} written, {len(report.skipped)} skipped (exist; --overwrite replaces)" \
        if report.skipped else f"{len(report.written)} written"
    if failed:
        raise click.ClickException(f"{summary}, {len(failed)} failed")
    if len(report.written) + len(report.skipped) > 1 or report.skipped:
        click.echo(summary)


main.add_command(distill)
main.add_command(serve)
