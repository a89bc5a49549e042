"""Training: the loss learns, and a run writes its metrics, pictures, best checkpoint and wandb log."""
import json

import cv2
import pytest
import torch

from palette_kit.model import Palette
from palette_kit.tasks import load_task
from palette_kit.training.tracking import Run
from palette_kit.training.trainer import TrainSettings, train

from wandb_log import read_run


def make_model(image_size: int = 32, seed: int = 0) -> Palette:
    torch.manual_seed(seed)
    task = load_task("colorization")()
    return Palette.create(task, "tiny", steps=5, image_size=image_size)


def fixed_loss(model: Palette, y_0, y_cond, draws: int = 8) -> float:
    """Palette's loss averaged over the same draws of t, gamma and eps every time it is called."""
    loss, generator = model.loss(), torch.Generator().manual_seed(1234)
    with torch.no_grad():
        return sum(loss(model.net, y_0, y_cond, generator).item() for _ in range(draws)) / draws


def overfit(model: Palette, photo_folder, steps: int = 200) -> tuple[float, float, torch.Tensor]:
    """``steps`` Adam steps on one fixed batch of 4: the fixed loss before and after, and the batch's y_cond."""
    data = model.task.dataset(photo_folder, "train", 32, seed=0)
    batch = [data[i] for i in range(4)]
    y_0 = torch.stack([b["y_0"] for b in batch])
    y_cond = torch.stack([b["y_cond"] for b in batch])
    before = fixed_loss(model, y_0, y_cond)
    loss_fn, optimizer = model.loss(), torch.optim.Adam(model.net.parameters(), lr=2e-3)
    model.net.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model.net, y_0, y_cond).backward()
        optimizer.step()
    model.net.eval()
    return before, fixed_loss(model, y_0, y_cond), y_cond


def test_tiny_model_overfits_a_fixed_batch(photo_folder):
    """200 Adam steps on one batch of 4 must cut the loss by at least 4x (measured: about 10x)."""
    before, after, _ = overfit(make_model(), photo_folder)
    assert before == pytest.approx(1.0, abs=0.1)  # zero-initialised output: eps_hat = 0
    assert after < before / 4, (before, after)


def test_run_writes_metrics_pictures_best_checkpoint_and_wandb(photo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    model = make_model()
    train_data = model.task.dataset(photo_folder, "train", 32, seed=0)
    val_data = model.task.dataset(photo_folder, "val", 32, seed=0)
    settings = TrainSettings(epochs=3, batch_size=4, lr=1e-3, val_samples=2, sample_steps=4)
    run = Run(tmp_path / "run", {"lr": settings.lr, "epochs": settings.epochs}, use_wandb=True)
    result = train(model, train_data, val_data, settings, run)
    run.finish()

    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    maes = [r["val_mae"] for r in rows]
    assert result.best_val_mae == min(maes) and result.best_epoch == maes.index(min(maes)) + 1
    assert [r["best_val_mae"] for r in rows] == [min(maes[:i + 1]) for i in range(3)]
    best = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert best["epoch"] == result.best_epoch and best["val_mae"] == result.best_val_mae
    # the model in hand was reloaded with the best weights
    reloaded = Palette.load(tmp_path / "run" / "best")
    for (name, a), b in zip(model.net.state_dict().items(), reloaded.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    rows_shown = min(settings.val_samples, len(val_data))
    for epoch in (1, 2, 3):
        picture = cv2.imread(str(tmp_path / "run" / "samples" / f"epoch_{epoch:03d}.png"))
        assert picture.shape == (rows_shown * 32, 3 * 32 + 2 * 2, 3)  # rows of (gray | prediction | truth)

    [run_file] = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    config, history = read_run(run_file)
    assert config["lr"] == 1e-3 and config["epochs"] == 3
    logged = {}
    for row in history:
        logged.setdefault(row["_step"], {}).update(row)
    assert [r["step"] for r in rows] == [3, 6, 9]  # wandb's step is the optimizer step
    for epoch, row in zip((1, 2, 3), rows):
        at = logged[row["step"]]
        for key in ("train_loss", "val_loss", "val_mae"):
            assert at[key] == pytest.approx(row[key])
        shown = range(rows_shown)
        assert at["prediction/captions"] == [f"epoch {epoch} prediction {i}" for i in shown]
        assert at["ground_truth/captions"] == [f"epoch {epoch} ground truth {i}" for i in shown]
        for name in at["prediction/filenames"]:
            assert (run_file.parent / "files" / name).is_file()


def test_disabled_wandb_writes_no_wandb_folder(photo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    model = make_model()
    data = model.task.dataset(photo_folder, "val", 32, seed=0)
    run = Run(tmp_path / "run", {}, use_wandb=True)
    train(model, data, data, TrainSettings(epochs=1, val_samples=1, sample_steps=2), run)
    run.finish()
    assert not (tmp_path / "run" / "wandb").exists()
    assert (tmp_path / "run" / "metrics.jsonl").is_file() and (tmp_path / "run" / "best").is_dir()
