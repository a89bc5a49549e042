"""The example denoising task passes the contract kit; its validation noise has sigma and is fixed."""
import cv2
import numpy as np
import torch

from palette_kit.testing import TaskContractTest, synthetic_photo
from palette_kit_example_denoising import Denoising


class TestDenoisingContract(TaskContractTest):
    task_class = Denoising
    task_options = {"sigma": 0.3}


def test_validation_noise_has_sigma_and_is_fixed(tmp_path):
    cv2.imwrite(str(tmp_path / "only.png"), synthetic_photo(np.random.default_rng(0), 64, 64))
    task = Denoising(sigma=0.1)
    val = task.dataset(tmp_path, "val", 32, seed=0)
    first, again = val[0], val[0]
    assert torch.equal(first["y_cond"], again["y_cond"])
    assert abs((first["y_cond"] - first["y_0"]).std().item() - 0.1) < 0.02
