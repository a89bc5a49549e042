"""Hostile checkpoint configs: every value is checked against the schema, and the weights' shapes against
the config, before anything is built. The loads run in a child process with a memory limit, so a
regression fails the test instead of exhausting the machine."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from palette_kit.errors import CheckpointError
from palette_kit.schema import validate_config
from palette_kit_colorization.task import Colorization

#: Address space of the child process: loading the small bundled model needs far less.
MEMORY_LIMIT = 3 << 30
LOADER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from palette_kit.errors import PaletteError
from palette_kit.model import Palette
for folder in sys.argv[2:]:
    try:
        Palette.load(folder)
        print("loaded")
    except PaletteError as exc:
        print(str(exc).replace("\\n", " "))
"""


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _base() -> dict:
    return json.loads((Colorization.default_checkpoint / "config.json").read_text())


CASES = {
    "inner_channels": (lambda c: c["unet"].update(inner_channels=32768), "unet.inner_channels"),
    "res_blocks": (lambda c: c["unet"].update(res_blocks=10**7), "unet.res_blocks"),
    "timesteps": (lambda c: c["schedule"]["sample"].update(num_train_timesteps=10**11),
                  "schedule.sample.num_train_timesteps"),
    "steps": (lambda c: c["sampling"].update(steps=10**9), "sampling.steps"),
    "negative": (lambda c: c["unet"].update(out_channels=-2), "unet.out_channels"),
    "string": (lambda c: c["unet"].update(image_size="64"), "unet.image_size"),
    "mults": (lambda c: c["unet"].update(channel_mults=[1] * 1000), "unet.channel_mults"),
    "shapes": (lambda c: c["unet"].update(inner_channels=64), "do not match its config"),
    "untouched": (lambda c: None, "loaded"),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """One checkpoint folder per case: the bundled model's weights beside a doctored config."""
    root = tmp_path_factory.mktemp("hostile")
    folders = {}
    for name, (doctor, _) in CASES.items():
        config = _base()
        doctor(config)
        folder = root / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "model.safetensors").symlink_to(Colorization.default_checkpoint / "model.safetensors")
        folders[name] = folder
    deep = root / "deep"
    deep.mkdir()
    text = json.dumps(_base())
    (deep / "config.json").write_text(text[:-1] + ', "recipe": ' + _deep(100_000) + "}")
    (deep / "model.safetensors").symlink_to(Colorization.default_checkpoint / "model.safetensors")
    folders["deep"] = deep
    return folders


def test_each_hostile_config_is_one_error_line_under_a_memory_limit(hostile):
    names = list(hostile)
    done = subprocess.run([sys.executable, "-c", LOADER, str(MEMORY_LIMIT), *map(str, hostile.values())],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == len(names), done.stdout + done.stderr[-2000:]
    expected = {**{name: want for name, (_, want) in CASES.items()}, "deep": "nested too deeply"}
    for name, line in zip(names, lines):
        assert expected[name] in line, (name, line)
        if name != "untouched":
            assert str(hostile[name]) in line, (name, line)


@pytest.mark.parametrize("doctor, message", [
    (lambda c: c["sampling"].update(sampler="euler"), "sampling.sampler"),
    (lambda c: c.update(prediction="x0"), "prediction"),
    (lambda c: c["unet"].update(dropout=True), "unet.dropout"),
    (lambda c: c["schedule"]["train"].update(beta_start=0.5, beta_end=0.1), "beta_start"),
    (lambda c: c.update(extra={"nested": [1]}), "plain value"),
    (lambda c: c["unet"].update(extra_field=1), "unet.extra_field"),
    (lambda c: c.update(encoder={"name": "efficientnet-lite0", "weights_sha256": "x"}), "encoder.weights_sha256"),
])
def test_the_schema_names_the_bad_value(doctor, message):
    config = _base()
    doctor(config)
    with pytest.raises(CheckpointError, match=message):
        validate_config(config, Path("c/config.json"))


def test_the_schema_accepts_encoders_context_channels_and_older_keys():
    config = _base()
    config["unet"]["context_channels"] = [24, 40, 80, 112]
    config["encoder"] = {"name": "efficientnet-lite0", "weights_sha256": "0" * 64}
    assert validate_config(config, Path("c")) is config
    config["sampling"] = {"sampler": "ddim", "steps": 20}  # the current key; "scheduler" is the older one
    config["encoder"] = None
    assert validate_config(config, Path("c")) is config
