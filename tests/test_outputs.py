"""Where infer writes, planned before any work: outputs are never inputs, inputs are never overwritten,
names never collide, and ``--output FILE`` takes one result."""
from pathlib import Path

import numpy as np
import pytest

from palette_kit.errors import InputError
from palette_kit.imageio import write_image
from palette_kit.outputs import drop_outputs, plan

TASKS = ["colorization", "inpainting"]


def picture(path: Path, metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.full((4, 4, 3), 128, np.uint8), metadata)
    return path


def test_outputs_of_any_task_and_the_output_folder_are_not_inputs(tmp_path):
    kept = picture(tmp_path / "q.png")
    found = [kept] + [picture(tmp_path / name) for name in
                      ("q.colorization.png", "q.inpainting.s3.png", "q.colorization.compare.png")]
    found.append(picture(tmp_path / "renamed.png", {"software": "palette-kit 0.1.0"}))
    found.append(picture(tmp_path / "out" / "q.png"))
    inputs, ours = drop_outputs(found, [str(tmp_path)], TASKS, tmp_path / "out")
    assert inputs == [kept] and len(ours) == 5


def test_a_file_named_on_the_command_line_stays_an_input(tmp_path):
    named = picture(tmp_path / "a.colorization.png")
    assert drop_outputs([named], [str(named)], TASKS, None) == ([named], [])


def test_no_output_overwrites_an_input_whatever_the_flags(tmp_path):
    a, b = picture(tmp_path / "a.png"), picture(tmp_path / "a.colorization.png")
    with pytest.raises(InputError, match="would overwrite the input .*a.colorization.png"):
        plan([a, b], "colorization", None, [0], "png", False)


def test_inputs_that_would_share_an_output_keep_their_extension(tmp_path):
    jpg, png, other = tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "b.png"
    targets = plan([jpg, png, other], "colorization", None, [0], "png", True)
    assert [t.outputs[0].name for t in targets] == ["a.jpg.colorization.png", "a.png.colorization.png",
                                                    "b.colorization.png"]
    assert targets[0].compare.name == "a.jpg.colorization.compare.png"


def test_an_output_file_name_takes_one_input_and_one_sample(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    with pytest.raises(InputError, match="--output .*x.png is a file name, but there are 2 inputs"):
        plan([a, b], "colorization", tmp_path / "x.png", [0], "png", False)
    with pytest.raises(InputError, match="1 inputs and 2 sample"):
        plan([a], "colorization", tmp_path / "x.png", [0, 1], "png", False)
    assert plan([a], "colorization", tmp_path / "x.png", [0], "png", False)[0].outputs == [tmp_path / "x.png"]
    assert not (tmp_path / "x.png").exists()
