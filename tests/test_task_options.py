"""Task options: declared by plugins, validated in Python, offered and checked on the command line."""
import subprocess

import pytest

from palette_kit.errors import InputError
from palette_kit.tasks import load_task

from palette_kit.testing import palette_kit_exe


def test_options_default_convert_and_validate(with_test_plugins):
    invert = load_task("invert")
    assert invert().config == {"gain": 1.0}
    assert invert(gain="0.5").settings == {"gain": 0.5}  # converted by the option's click type
    with pytest.raises(InputError, match=r"--gain: 3.0 is not in the range 0<=x<=1"):
        invert(gain=3)
    with pytest.raises(InputError, match=r"task 'invert' has no option --strength \(its options: --gain\)"):
        invert(strength=1)


def test_tasks_without_options_reject_any():
    with pytest.raises(InputError, match=r"has no option --gain \(its options: none\)"):
        load_task("uncropping")(gain=1)


def cli(env, *args):
    return subprocess.run([palette_kit_exe(), *map(str, args)], capture_output=True, text=True, env=env)


def test_help_lists_the_named_tasks_options(with_test_plugins):
    train_help = cli(with_test_plugins, "train", "--task", "invert", "--help").stdout
    infer_help = cli(with_test_plugins, "infer", "--task", "invert", "--help").stdout
    assert "--gain" in train_help and "[invert] scales the negative (default: 1.0)" in " ".join(train_help.split())
    assert "--flip" in infer_help and "--gain" not in infer_help
    assert "--gain" not in cli(with_test_plugins, "train", "--task", "colorization", "--help").stdout


def test_unknown_and_invalid_task_options_are_clear_errors(with_test_plugins, tmp_path):
    unknown = cli(with_test_plugins, "train", "--task", "invert", "--data", tmp_path, "--strength", "2")
    assert unknown.returncode == 2 and "No such option '--strength'" in unknown.stderr
    invalid = cli(with_test_plugins, "train", "--task", "invert", "--data", tmp_path, "--gain", "7")
    assert invalid.returncode == 2 and "Invalid value for '--gain'" in invalid.stderr
    assert "Traceback" not in unknown.stderr + invalid.stderr
