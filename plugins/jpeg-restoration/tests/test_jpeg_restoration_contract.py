"""The JPEG restoration task passes the plugin-author kit's contract tests."""
from palette_kit.testing import TaskContractTest
from palette_kit_jpeg_restoration import JpegRestoration


class TestJpegRestorationContract(TaskContractTest):
    task_class = JpegRestoration
    # The target is the picture itself, so it round-trips exactly (up to float rounding).
    round_trip_tolerance = 0.5
