"""The inpainting task passes the plugin-author kit's contract tests."""
import pytest
import torch

from palette_kit.testing import TaskContractTest
from palette_kit_inpainting import Inpainting


class TestInpaintingContract(TaskContractTest):
    task_class = Inpainting

    @pytest.fixture(autouse=True)
    def _one_thread(self):
        """Tiny models run fastest on one thread; more only spin when the CPU is shared."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
