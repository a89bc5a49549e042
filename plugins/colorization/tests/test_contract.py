"""The colorization task passes the plugin-author kit's contract tests."""
from palette_kit.testing import TaskContractTest
from palette_kit_colorization import Colorization


class TestColorizationContract(TaskContractTest):
    task_class = Colorization
