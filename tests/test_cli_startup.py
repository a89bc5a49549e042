"""The CLI starts without torch: ``--help`` and ``tasks`` import only click and light modules (the plugins
bind torch and OpenCV with ``palette_kit.lazy``); every option has help text;
the choices the CLI offers are the ones the implementing modules know."""
import json
import subprocess
import sys

import click

import palette_kit.choices as choices
from palette_kit.cli import main

HEAVY = ("torch", "diffusers", "cv2", "wandb", "safetensors")
#: Runs the commands given as JSON in argv[1], then prints their output and, last, which of the modules
#: named after it were really loaded (a lazy placeholder of ``palette_kit.lazy`` does not count).
PROBE = """
import json, sys
from palette_kit.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, standalone_mode=False)
    except SystemExit:
        pass
print(" ".join(m for m in sys.argv[2:] if type(sys.modules.get(m)).__name__ == "module"))
"""


def _run_probe(*commands: list[str]) -> list[str]:
    """The output lines of ``commands`` run in a fresh interpreter, the last one naming the heavy modules loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands), *HEAVY], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_help_imports_nothing_heavy():
    loaded = _run_probe(["--help"], ["train", "--help"], ["infer", "--help"], ["evaluate", "--help"],
                        ["serve", "--help"])[-1]
    assert loaded == "", f"--help imported {loaded}"


def test_tasks_lists_every_plugin_without_loading_torch_or_opencv():
    *listing, loaded = _run_probe(["tasks"])
    assert {line.split()[0] for line in listing} >= {"colorization", "inpainting", "uncropping", "jpeg-restoration"}
    assert loaded == "", f"tasks loaded {loaded}"


def test_lazy_module_becomes_the_real_one_on_first_use():
    done = subprocess.run([sys.executable, "-c", (
        "import sys; from palette_kit.lazy import lazy; m = lazy('json'); "
        "lazy_type = type(m).__name__; m.dumps; print(lazy_type, type(m).__name__, m is sys.modules['json'])")],
        capture_output=True, text=True)
    assert done.stdout.split() == ["_LazyModule", "module", "True"], done.stderr


def test_every_option_has_help_text():
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"palette-kit {name} {param.opts[0]} has no help text"


def test_named_values_are_choices_the_implementations_know():
    from palette_kit.diffusion.presets import SCHEDULES
    from palette_kit.nn.encoders import ENCODERS
    from palette_kit.nn.unet import PRESETS
    from palette_kit.runtime import DTYPES, MIXED_PRECISION

    assert set(choices.PRESETS) == set(PRESETS) and set(choices.SCHEDULES) == set(SCHEDULES)
    assert set(choices.ENCODERS) == set(ENCODERS)
    assert choices.DTYPES == tuple(DTYPES) and choices.MIXED_PRECISION == tuple(MIXED_PRECISION)
    train = {p.name: p for p in main.commands["train"].params}
    for name in ("task_name", "preset_name", "schedule", "sampler", "prediction"):
        assert isinstance(train[name].type, click.Choice), name
    assert "colorization" in train["task_name"].type.choices


def test_validation_samples_with_a_few_step_sampler_saved_as_the_inference_default():
    train = {p.name: p for p in main.commands["train"].params}
    assert train["sampler"].default in ("ddim", "dpmsolver")
    assert "inference default" in train["sampler"].help and "inference default" in train["sample_steps"].help


def test_a_tiny_or_shared_validation_split_warns(tmp_path):
    from palette_kit.data import PictureDataset, dataset_warnings

    one = PictureDataset([tmp_path / "a.png"], 32, False, pair=None, left_out=[(tmp_path / "x.png", "truncated")])
    two = PictureDataset([tmp_path / "a.png", tmp_path / "b.png"], 32, True, pair=None)
    warnings = dataset_warnings(two, one)
    assert len(warnings) == 3 and "left out" in warnings[0] and "x.png: truncated" in warnings[0]
    assert "1 picture" in warnings[1] and "also training pictures" in warnings[2]
    assert dataset_warnings(PictureDataset([tmp_path / "c.png"], 32, True, pair=None), two) == []
