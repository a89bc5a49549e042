"""``palette-kit serve``: the web app (colorize with hints, and the Turing-test study) on a local port.

Only click and light palette-kit modules are imported here; the model, Starlette and uvicorn are imported when
the command runs, so ``palette-kit --help`` stays fast.
"""
from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import click

from palette_kit.choices import DEVICES
from palette_kit.errors import CheckpointError, InputError
from palette_kit.task_params import TaskChoice
from palette_kit.tasks import load_task, task_names


def _named_checkpoint(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--model {text!r}: give NAME=CHECKPOINT (NAME of letters, digits, - and _)")
    return name, Path(path)


def load_model(task_name: str | None, checkpoint: Path | None):
    """The checkpoint (default: the model shipped by ``task_name``, or by the first installed task that ships
    one) as a model, checked against ``task_name``."""
    from palette_kit.model import Palette

    if checkpoint is None:
        shipped = [n for n in ([task_name] if task_name else task_names()) if load_task(n).default_checkpoint]
        if not shipped:
            raise InputError(f"task {task_name!r} ships no default model; pass --checkpoint" if task_name
                             else "no installed task ships a model; pass --checkpoint")
        checkpoint = load_task(shipped[0]).default_checkpoint
    model = Palette.load(checkpoint)
    if task_name and model.task.name != task_name:
        raise CheckpointError(f"checkpoint {checkpoint} is for task {model.task.name!r}, not {task_name!r}")
    return model, checkpoint


def _provenance(model, checkpoint: Path) -> dict[str, str]:
    from palette_kit.checkpoint import read_config
    from palette_kit.inference import provenance

    return provenance(model, checkpoint, read_config(checkpoint)["weights_sha256"], None, None)


@click.command()
@click.option("--task", "task_name", type=TaskChoice(), default=None,
              help="Task plugin (default: the checkpoint's, or the first installed task that ships a model).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Checkpoint folder of the colorize page (default: the model the task plugin ships).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens the app to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--study", "study_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of real photos: also run the Turing test (which picture is real?) on them.")
@click.option("--model", "models", multiple=True,
              help="NAME=CHECKPOINT of a model in the study; repeatable (default: the colorize page's model).")
@click.option("--trials", type=click.IntRange(1), default=10, show_default=True, help="Study trials per rater.")
@click.option("--practice", type=click.IntRange(0), default=2, show_default=True,
              help="Practice trials (with feedback, not recorded) before them.")
@click.option("--show-seconds", type=click.FloatRange(0.05, 60), default=1.0, show_default=True,
              help="How long a study pair is shown (Zhang et al.: 1 s).")
@click.option("--database", type=click.Path(path_type=Path), default=Path("palette-kit-study.sqlite"),
              show_default=True, help="SQLite file of the study's answers; reopened as it is when it exists.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the study's generated pictures.")
@click.option("--max-upload-mb", type=click.IntRange(1, 1024), default=20, show_default=True,
              help="Largest picture file accepted.")
@click.option("--max-pixels", type=click.IntRange(1), default=40_000_000, show_default=True,
              help="Largest picture (width x height) accepted.")
@click.option("--max-frames", type=click.IntRange(1), default=1000, show_default=True,
              help="Longest video accepted, in frames.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
def serve(task_name: str | None, checkpoint: Path | None, host: str, port: int, study_dir: Path | None,
          models: tuple[str, ...], trials: int, practice: int, show_seconds: float, database: Path, seed: int,
          max_upload_mb: int, max_pixels: int, max_frames: int, device: str) -> None:
    """A local web app: colorize pictures with colour hints painted on them and compare, and (with --study)
    the Turing test, whose answers are kept in SQLite. Works offline; needs `pip install palette-kit[web]`."""
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("the web app needs its extra: pip install 'palette-kit[web]'") from None
    from palette_kit.imageio import list_images
    from palette_kit.runtime import Runtime
    from palette_kit.web.app import App, Limits, create_app
    from palette_kit.web.jobs import Shelf, Worker
    from palette_kit.web.store import Store
    from palette_kit.web.study import Study, StudySettings, prepare_pairs

    named = [_named_checkpoint(text) for text in models]
    model, checkpoint = load_model(task_name, checkpoint)
    runtime = Runtime.pick(device)
    model.to(runtime)
    study, token = None, secrets.token_urlsafe(18)
    if study_dir is not None:
        photos = list_images(study_dir)
        store = Store(database)  # both checked before any picture is restored
        checkpoints = dict(named) or {Path(checkpoint).name: checkpoint}
        study_models = {name: model if path == checkpoint else load_model(model.task.name, path)[0].to(runtime)
                        for name, path in checkpoints.items()}
        pairs = prepare_pairs(study_dir, photos, study_models, seed, lambda line: click.echo(line, err=True))
        settings = {name: {**_provenance(study_models[name], path), "seed": str(seed)}
                    for name, path in checkpoints.items()}
        study = Study(pairs, store, StudySettings(trials, practice, show_seconds), settings)
    with tempfile.TemporaryDirectory(prefix="palette-kit-serve-") as folder:
        worker = Worker(model, _provenance(model, checkpoint), Shelf(Path(folder)))
        app = create_app(App(worker, Limits(max_upload_mb * 2**20, max_pixels, max_frames), study, token))
        click.echo(f"palette-kit serve: {model.task.name} on http://{host}:{port}/")
        if study is not None:
            click.echo(f"study: {len(study.pairs)} pairs, answers in {database}; results: "
                       f"http://{host}:{port}/results?token={token}")
        uvicorn.run(app, host=host, port=port, log_level="warning")
