"""The colorization task passes the plugin-author kit's contract tests."""
from palette_kit.testing import TaskContractTest
from palette_kit_colorization import Colorization


class TestColorizationContract(TaskContractTest):
    task_class = Colorization


class TestColorizationWithHintsContract(TaskContractTest):
    task_class = Colorization
    task_options = {"hints": True}
    infer_options = {"hint": ("3,4,#c03020",)}
