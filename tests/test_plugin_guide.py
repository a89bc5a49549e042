"""The plugin guide's example, built and installed by pip from its folder, works through the CLI,
and every code block the guide marks as quoting one of its files is that file's real text.

Such a block is announced by a line ``<!-- file: plugins/example-denoising/... -->`` right before it.
The development environment may have the example installed (editable) too: the fresh build comes
first on PYTHONPATH, so it is the one found, and the checks hold either way.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import synthetic_photo

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "example-denoising"
GUIDE = ROOT / "docs" / "writing-a-task-plugin.md"
TASK = "example-denoising"
DESCRIPTION = "Remove Gaussian noise from photos (the plugin guide's example task)."
MARKER = re.compile(r"<!-- file: (\S+) -->")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site folder holding only the example plugin, built by pip from a copy of its folder."""
    work = tmp_path_factory.mktemp("example-plugin")
    source = shutil.copytree(PLUGIN, work / "src",
                             ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True)
    return site


def palette_kit(site: Path, *args) -> subprocess.CompletedProcess:
    """The installed ``palette-kit`` with ``site`` first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled"}
    return subprocess.run([str(Path(sys.executable).with_name("palette-kit")), *map(str, args)],
                          capture_output=True, text=True, env=env)


def test_pip_installs_the_package_and_its_entry_point(site):
    assert (site / "palette_kit_example_denoising" / "task.py").is_file()
    (entry_points,) = site.glob("palette_kit_example_denoising-*.dist-info/entry_points.txt")
    text = entry_points.read_text()
    assert "[palette_kit.tasks]" in text and f"{TASK} = palette_kit_example_denoising:Denoising" in text


def test_tasks_lists_the_example(site):
    result = palette_kit(site, "tasks")
    assert result.returncode == 0, result.stdout + result.stderr  # 1 if some installed plugin is broken
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert TASK in lines, result.stdout + result.stderr
    assert "cond 3 -> target 3" in lines[TASK] and DESCRIPTION in lines[TASK]


def test_train_help_lists_the_task_option(site):
    result = palette_kit(site, "train", "--task", TASK, "--help")
    assert result.returncode == 0, result.stderr
    assert "--sigma" in result.stdout and f"[{TASK}]" in result.stdout


def test_train_and_infer_end_to_end(site, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "data").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "data" / f"p{i}.png"), synthetic_photo(rng, 36, 44))
    run = tmp_path / "run"
    result = palette_kit(site, "train", "--task", TASK, "--data", tmp_path / "data", "--preset", "tiny",
                         "--epochs", 1, "--batch-size", 2, "--sample-steps", 2, "--val-samples", 1, "--out", run,
                         "--no-wandb", "--sigma", 0.3)
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["task"] == {"name": TASK, "options": {"sigma": 0.3}}
    assert (run / "samples" / "epoch_001.png").is_file()

    cv2.imwrite(str(tmp_path / "noisy.png"), synthetic_photo(rng, 45, 70))
    result = palette_kit(site, "infer", "--task", TASK, "--checkpoint", run / "best", tmp_path / "noisy.png",
                         "--output", tmp_path / "clean.png")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "clean.png")).shape == (45, 70, 3)


def quoted_blocks() -> list[tuple[str, str]]:
    """(file, text) of every code block the guide marks as quoting a file."""
    lines, blocks = GUIDE.read_text().splitlines(), []
    for i, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if not marker:
            continue
        assert lines[i + 1] in ("```python", "```toml"), f"line {i + 2}: a quoted block must follow {line!r}"
        end = lines.index("```", i + 2)
        blocks.append((marker.group(1), "\n".join(lines[i + 2:end]) + "\n"))
    return blocks


def test_guide_quotes_the_example_verbatim():
    blocks = quoted_blocks()
    for name, text in blocks:
        assert name.startswith("plugins/example-denoising/"), name
        assert text in (ROOT / name).read_text(), f"the guide's quote of {name} is not in that file:\n{text}"
    quoted = {name: "".join(text for n, text in blocks if n == name) for name, _ in blocks}
    pyproject = "plugins/example-denoising/pyproject.toml"
    assert quoted[pyproject] == (ROOT / pyproject).read_text()  # quoted whole
    task = ROOT / "plugins/example-denoising/palette_kit_example_denoising/task.py"
    missing = [line for line in task.read_text().splitlines()
               if line.strip() and line not in quoted[str(task.relative_to(ROOT))].splitlines()]
    assert not missing, f"lines of {task.name} the guide does not quote: {missing}"
