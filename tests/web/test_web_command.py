"""``palette-kit serve`` itself: its bad options as one line, and the real command serving the app and a study."""
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from palette_kit.testing import assert_one_line_error, palette_kit_exe, run_cli

pytest.importorskip("uvicorn")


def test_bad_options_are_one_line(tiny_checkpoint, study_photos, tmp_path):
    assert_one_line_error(run_cli("serve", "--checkpoint", tiny_checkpoint, "--study", tmp_path, "--model", "oops"),
                          "--model 'oops'", "NAME=CHECKPOINT")
    assert_one_line_error(run_cli("serve", "--checkpoint", tiny_checkpoint, "--task", "inpainting"),
                          "is for task 'colorization', not 'inpainting'")
    assert_one_line_error(run_cli("serve", "--checkpoint", tiny_checkpoint, "--study", tmp_path / "none",
                                  cwd=tmp_path), "data folder not found")
    assert not list(tmp_path.iterdir())  # no database made for a study that cannot run
    (tmp_path / "notes.txt").write_text("not a database, " * 100)
    assert_one_line_error(run_cli("serve", "--checkpoint", tiny_checkpoint, "--study", study_photos,
                                  "--database", tmp_path / "notes.txt"), "--database", "cannot use it")


def test_serve_runs_the_app_and_the_study(tiny_checkpoint, study_photos, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [palette_kit_exe(), "serve", "--checkpoint", tiny_checkpoint, "--port", str(port), "--study", study_photos,
         "--model", f"tiny={tiny_checkpoint}", "--database", tmp_path / "answers.sqlite", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        lines = [server.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"palette-kit serve: colorization on http://127.0.0.1:{port}/"), lines
        results = re.search(r"results: (\S+)", lines[1]).group(1)
        assert "3 pairs" in lines[1]
        for _ in range(100):
            try:
                task = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task").read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert '"study":true' in task and '"task":"colorization"' in task
        assert "fool rate" in urllib.request.urlopen(results).read().decode()
    finally:
        server.terminate()
        server.wait(30)
    assert (tmp_path / "answers.sqlite").exists()
