"""The uncropping task passes the plugin-author kit's contract tests."""
from palette_kit.testing import TaskContractTest
from palette_kit_uncropping import Uncropping


class TestUncroppingContract(TaskContractTest):
    task_class = Uncropping

    def expected_output_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The default margin, a quarter of the dimension, is added on every side."""
        height, width, channels = image_shape
        return height + 2 * round(height / 4), width + 2 * round(width / 4), channels
