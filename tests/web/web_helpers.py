"""What the web app's tests share besides fixtures: the sample picture and the app built on a model."""
from pathlib import Path

SAMPLE = Path(__file__).parents[2] / "samples" / "seeding-gray.jpg"


def build_app(model, folder: Path, pairs=None, trials: int = 3, practice: int = 1, show_seconds: float = 0.2,
              limits=None):
    """The app (and its state) on ``model`` with files under ``folder`` and, given ``pairs``, a study."""
    from palette_kit.web.app import App, Limits, create_app
    from palette_kit.web.jobs import Shelf, Worker
    from palette_kit.web.store import Store
    from palette_kit.web.study import Study, StudySettings

    study = None
    if pairs is not None:
        study = Study(pairs, Store(folder / "study.sqlite"), StudySettings(trials, practice, show_seconds),
                      {"tiny": {"model": "tiny", "seed": "0"}})
    files = folder / "files"
    files.mkdir(parents=True)
    state = App(Worker(model, {"software": "palette-kit test", "task": model.task.name}, Shelf(files)),
                limits or Limits(), study, "the-token")
    return create_app(state), state
