"""`palette-kit infer` over real-world batches: folders and globs, names, seeds and samples, provenance,
comparison pictures, and bad files reported one line each while the good ones are written."""
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.imageio import read_metadata
from palette_kit.tasks import load_task
from palette_kit.testing import run_cli, synthetic_photo, untrained_checkpoint

ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny colorization model (random non-zero weights): inference needs no training."""
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny", load_task("colorization")())


def infer(checkpoint: Path, *args) -> subprocess.CompletedProcess:
    """``palette-kit infer`` in this process (``run_cli``; tests/test_cli.py runs the executable)."""
    return run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, *args, env=ENV)


def photo(path: Path, seed: int, height: int = 30, width: int = 40, gray: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = synthetic_photo(np.random.default_rng(seed), height, width)
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY) if gray else picture)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but holds none: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_folders_and_globs_mirror_into_the_output_folder(checkpoint, tmp_path):
    photo(tmp_path / "in" / "a.jpg", 1)
    photo(tmp_path / "in" / "sub" / "a.jpg", 2)  # same name, other folder
    photo(tmp_path / "more" / "b.png", 3)
    result = infer(checkpoint, tmp_path / "in", str(tmp_path / "more" / "*.png"), "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["in/a.colorization.png", "in/sub/a.colorization.png", "more/b.colorization.png"]
    assert "3 written" in result.stdout


def test_existing_outputs_are_skipped_unless_overwrite(checkpoint, tmp_path):
    source = photo(tmp_path / "p.png", 4)
    assert infer(checkpoint, source).returncode == 0
    target = tmp_path / "p.colorization.png"
    target.write_bytes(b"keep me")
    result = infer(checkpoint, source)
    assert result.returncode == 0 and "0 written, 1 skipped" in result.stdout and target.read_bytes() == b"keep me"
    assert infer(checkpoint, source, "--overwrite").returncode == 0
    assert cv2.imread(str(target)).shape == (30, 40, 3)


def test_seeds_samples_and_provenance(checkpoint, tmp_path):
    source = photo(tmp_path / "p.png", 5)
    assert infer(checkpoint, source, "--seed", 7, "-o", tmp_path / "one.png").returncode == 0
    assert infer(checkpoint, source, "--seed", 7, "-o", tmp_path / "two.png").returncode == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()  # same seed, same bytes
    meta = read_metadata(tmp_path / "one.png")
    assert meta["seed"] == "7" and meta["sampler"] == "ddim" and meta["steps"] == "2"
    assert meta["model"] == f"{checkpoint.parent.name}/{checkpoint.name}"  # by name, not the absolute path
    assert len(meta["model_sha256"]) == 64 and str(tmp_path) not in json.dumps(meta)
    assert meta["task"] == "colorization" and meta["input"] == "p.png"

    result = infer(checkpoint, source, "--seed", 7, "--num-samples", 3, "--ext", "jpg", "--sampler", "ddpm")
    assert result.returncode == 0, result.stderr
    outputs = [tmp_path / f"p.colorization.s{s}.jpg" for s in (7, 8, 9)]
    pictures = [cv2.imread(str(p)) for p in outputs]
    assert all(p.shape == (30, 40, 3) for p in pictures)
    assert not np.array_equal(pictures[0], pictures[1])  # diverse samples
    assert [read_metadata(p)["seed"] for p in outputs] == ["7", "8", "9"]
    assert read_metadata(outputs[0])["sampler"] == "ddpm"


def test_compare_shows_ground_truth_only_for_colour_inputs(checkpoint, tmp_path):
    colour = photo(tmp_path / "colour.png", 6, 40, 40)
    gray = photo(tmp_path / "gray.png", 6, 40, 40, gray=True)
    result = infer(checkpoint, colour, gray, "--compare", "--num-samples", 2)
    assert result.returncode == 0, result.stderr
    colour_panels = cv2.imread(str(tmp_path / "colour.colorization.compare.png"))
    gray_panels = cv2.imread(str(tmp_path / "gray.colorization.compare.png"))
    # square panels of 384 px, 6 px apart: input | 2 outputs | ground truth, and no ground truth for gray
    assert colour_panels.shape[1] == 4 * 384 + 3 * 6 and gray_panels.shape[1] == 3 * 384 + 2 * 6


def test_bad_files_fail_one_line_each_and_good_ones_are_written(checkpoint, tmp_path):
    folder = tmp_path / "batch"
    good = [photo(folder / "ảnh màu 1.jpg", 7), photo(folder / "ok.png", 8)]
    jpeg = cv2.imencode(".jpg", synthetic_photo(np.random.default_rng(9), 40, 40))[1].tobytes()
    bad = {
        "truncated.jpg": jpeg[:len(jpeg) // 2],
        "text.jpg": b"this is not a picture",
        "empty.png": b"",
        "bomb.png": png_header_only(20000, 20000),
        "zero.png": png_header_only(0, 0),
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    (folder / "loop").mkdir()
    (folder / "loop" / "again").symlink_to(folder / "loop", target_is_directory=True)
    result = infer(checkpoint, folder, "--output", tmp_path / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for name in bad:
        assert sum(str(folder / name) in line for line in errors) == 1, (name, result.stderr)
    assert f"Error: 2 written, {len(errors)} failed" in result.stderr
    assert "samples:" not in result.stderr  # no progress bar residue when stderr is not a terminal
    for source in good:
        out = tmp_path / "out" / f"{source.stem}.colorization.png"
        assert cv2.imread(str(out)) is not None or out.is_file()
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".")]  # no temp files left


def test_unreadable_file_is_reported(checkpoint, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    source = photo(tmp_path / "secret.png", 10)
    source.chmod(0)
    result = infer(checkpoint, source)
    assert result.returncode == 1 and "permission denied" in result.stderr and str(source) in result.stderr


def test_a_second_identical_run_writes_nothing_and_says_so(checkpoint, tmp_path):
    photo(tmp_path / "in" / "q.png", 8)
    for _ in range(2):
        result = infer(checkpoint, tmp_path / "in")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["q.colorization.png", "q.png"]
    assert "0 written, 1 skipped" in result.stdout and "->" not in result.stdout + result.stderr
    assert "ignored 1 output(s) of palette-kit" in result.stdout
    for _ in range(2):  # an --output folder inside the input folder is never read back
        assert infer(checkpoint, tmp_path / "in", "--output", tmp_path / "in" / "out").returncode == 0
    assert sorted(str(p.relative_to(tmp_path / "in")) for p in (tmp_path / "in").rglob("*.png")) == \
        ["out/q.colorization.png", "q.colorization.png", "q.png"]


def test_overwrite_never_replaces_an_input(checkpoint, tmp_path):
    a, b = photo(tmp_path / "a.png", 9), photo(tmp_path / "a.colorization.png", 10)
    before = b.read_bytes()
    result = infer(checkpoint, "--overwrite", a, b)
    assert result.returncode == 1 and "would overwrite the input" in result.stderr
    assert b.read_bytes() == before
