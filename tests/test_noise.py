"""Noise draws: the same as diffusers' ``randn_tensor``, per-sample generators, and no diffusers import for them."""
import subprocess
import sys

import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from palette_kit.diffusion.noise import randn


@pytest.mark.parametrize("per_sample", [False, True])
def test_draws_are_diffusers_randn_tensor_draws(per_sample):
    def generators():
        gens = [torch.Generator().manual_seed(seed) for seed in (3, 1, 4)]
        return gens if per_sample else gens[0]

    ours = randn((3, 2, 5, 4), generators(), "cpu", torch.float64)
    theirs = randn_tensor((3, 2, 5, 4), generator=generators(), device=torch.device("cpu"), dtype=torch.float64)
    assert ours.dtype == torch.float64 and torch.equal(ours, theirs)


def test_a_sample_depends_on_its_own_generator_only():
    alone = randn((1, 2, 8, 8), [torch.Generator().manual_seed(7)], "cpu")
    batch = randn((2, 2, 8, 8), [torch.Generator().manual_seed(0), torch.Generator().manual_seed(7)], "cpu")
    assert torch.equal(batch[1:], alone) and not torch.equal(batch[:1], alone)
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        randn((3, 2), [torch.Generator(), torch.Generator()], "cpu")


def test_cli_and_the_training_loss_do_not_import_diffusers():
    """diffusers costs seconds to import: only making a sampler's scheduler (all are diffusers schedulers) does."""
    code = (
        "import sys, torch\n"
        "import palette_kit.cli\n"
        "from palette_kit.model import Palette\n"
        "from palette_kit.tasks import load_task\n"
        "model = Palette.create(load_task('colorization')(), 'tiny')\n"
        "model.loss()(model.net, torch.zeros(1, 2, 32, 32), torch.zeros(1, 1, 32, 32))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'diffusers'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code_sampler = code.replace("print(", "model.scheduler('linear')\nprint(")
    out = subprocess.run([sys.executable, "-c", code_sampler], capture_output=True, text=True, check=True)
    assert "diffusers" in out.stdout  # the check above can see an import
