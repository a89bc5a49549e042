"""v-prediction: the EpsModel turns v into eps, the loss is the MSE of v, checkpoints remember the choice."""
import json

import pytest
import torch

from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.loss import PaletteLoss
from palette_kit.errors import CheckpointError
from palette_kit.model import Palette
from palette_kit.nn.unet import UNet
from palette_kit.tasks import load_task

from test_training import overfit


class Constant(torch.nn.Module):
    """A backbone that outputs a fixed tensor, whatever it is given."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        return self.out


def test_v_output_becomes_eps():
    v, y_t = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    gamma = torch.tensor([0.3, 0.9])
    eps = EpsModel(Constant(v), "v")(y_t, torch.zeros(2, 1, 4, 4), gamma)
    g = gamma.view(-1, 1, 1, 1)
    torch.testing.assert_close(eps, g.sqrt() * v + (1 - g).sqrt() * y_t)
    # The exact v gives the exact eps: y_t = sqrt(g) y_0 + sqrt(1 - g) eps, v = sqrt(g) eps - sqrt(1 - g) y_0.
    y_0, true_eps = torch.rand(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    y_t = g.sqrt() * y_0 + (1 - g).sqrt() * true_eps
    exact = EpsModel(Constant(g.sqrt() * true_eps - (1 - g).sqrt() * y_0), "v")
    torch.testing.assert_close(exact(y_t, torch.zeros(2, 1, 4, 4), gamma), true_eps, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="prediction must be one of eps, v"):
        EpsModel(Constant(v), "x0")


def test_v_loss_is_the_mse_of_v():
    torch.manual_seed(0)
    y_0, y_cond, v_hat = torch.rand(3, 2, 4, 4) * 2 - 1, torch.zeros(3, 1, 4, 4), torch.randn(3, 2, 4, 4)
    gammas = torch.linspace(0.999, 0.01, 50)
    loss = PaletteLoss(gammas, "v")(EpsModel(Constant(v_hat), "v"), y_0, y_cond, torch.Generator().manual_seed(5))
    # The same draws, by hand.
    generator = torch.Generator().manual_seed(5)
    t = torch.randint(1, 50, (3,), generator=generator)
    u = torch.rand(3, generator=generator)
    g = (gammas[t] + (gammas[t - 1] - gammas[t]) * u).view(3, 1, 1, 1)
    eps = torch.randn(y_0.shape, generator=generator)
    v = g.sqrt() * eps - (1 - g).sqrt() * y_0
    torch.testing.assert_close(loss, (v_hat - v).square().mean(), rtol=1e-4, atol=1e-6)


def make_model(prediction: str) -> Palette:
    torch.manual_seed(0)
    task = load_task("colorization")()
    return Palette.create(task, "tiny", steps=5, prediction=prediction, image_size=32, noise_input="log1p_snr")


def test_tiny_v_model_overfits_a_fixed_batch(photo_folder):
    """200 Adam steps on one batch of 4 must cut the v loss by at least 4x."""
    model = make_model("v")
    before, after, y_cond = overfit(model, photo_folder)
    assert after < before / 4, (before, after)
    sample = model.sample(y_cond, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (4, 2, 32, 32) and sample.abs().max() <= 1


def test_checkpoints_remember_the_prediction(tmp_path):
    model = make_model("v")
    model.save(tmp_path / "v")
    again = Palette.load(tmp_path / "v")
    assert again.prediction == "v" and again.net.prediction == "v" and again.loss().prediction == "v"
    config = json.loads((tmp_path / "v" / "config.json").read_text())
    del config["prediction"]  # a checkpoint from before the option
    assert Palette.from_config(config).prediction == "eps"
    with pytest.raises(CheckpointError, match="prediction must be one of"):
        Palette.from_config({**config, "prediction": "x0"})
    assert isinstance(again.net.backbone, UNet)
