"""Task plugins are found through really installed entry points; broken ones are named with their cause."""
import subprocess

import pytest

from palette_kit.errors import PluginError
from palette_kit.tasks import Task, load_task, task_names

from palette_kit.testing import palette_kit_exe


def test_installed_plugin_is_discovered_and_loaded(with_test_plugins):
    assert {"invert", "broken", "not-a-task", "half-done"} <= set(task_names())
    cls = load_task("invert")
    assert issubclass(cls, Task) and cls.name == "invert"
    assert (cls.cond_channels, cls.target_channels) == (1, 1)


def test_builtin_colorization_goes_through_the_same_lookup():
    cls = load_task("colorization")
    assert cls.__module__.startswith("palette_kit_colorization")


def test_import_failure_names_the_entry_point_and_keeps_the_cause(with_test_plugins):
    with pytest.raises(PluginError, match=r"entry point 'broken' \(pk_test_broken:Broken\) failed to load") as info:
        load_task("broken")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert "palette_kit_missing_dependency" in str(info.value)


@pytest.mark.parametrize("name, problem", [
    ("not-a-task", "is not a palette_kit.tasks.Task subclass"),
    ("half-done", "cond_channels must be a positive int"),
    ("half-done", "does not implement cond_to_bgr, finish, prepare, to_bgr, train_pair"),
])
def test_contract_violations_are_reported(with_test_plugins, name, problem):
    with pytest.raises(PluginError, match="breaks the task contract|is not a") as info:
        load_task(name)
    assert problem in str(info.value) and repr(name) in str(info.value)


def test_unknown_task_lists_installed_ones():
    with pytest.raises(PluginError, match=r"unknown task 'nope'; installed tasks: .*colorization"):
        load_task("nope")


def test_cli_lists_tasks_and_flags_broken_ones(with_test_plugins):
    result = subprocess.run([palette_kit_exe(), "tasks"], capture_output=True, text=True, env=with_test_plugins)
    assert result.returncode == 1
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "cond 1 -> target 2" in lines["colorization"]
    assert "cond 1 -> target 1" in lines["invert"] and "negative" in lines["invert"]
    assert "BROKEN" in lines["broken"] and "pk_test_broken:Broken" in lines["broken"]
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_unknown_and_broken_task_give_one_line_errors(with_test_plugins, tmp_path):
    """An unknown task is a usage error of the --task choice (click's exit status 2, the installed tasks
    listed); a broken one is one line naming it (status 1). Neither shows a traceback."""
    for task, status in (("nope", 2), ("broken", 1)):
        result = subprocess.run([palette_kit_exe(), "train", "--task", task, "--data", str(tmp_path)],
                                capture_output=True, text=True, env=with_test_plugins)
        assert result.returncode == status
        error = [line for line in result.stderr.splitlines() if line.startswith("Error") or "error" in line]
        assert len(error) == 1 and repr(task) in error[0] and "Traceback" not in result.stderr
    nope = subprocess.run([palette_kit_exe(), "train", "--task", "nope", "--data", str(tmp_path)],
                          capture_output=True, text=True, env=with_test_plugins)
    assert "'colorization'" in nope.stderr  # the installed tasks are offered
