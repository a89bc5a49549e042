"""benchmarks/bench.py end to end on the tiny preset (no timing thresholds: only that it measures and agrees)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import bench  # noqa: E402


def test_bench_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench.py"), "--preset", "tiny", "--batch", "2", "--steps", "3",
         "--train-steps", "1", "--device", "cpu", "--dtype", "fp32", "--threads", "1", "--matmul-size", "512",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(out.read_text())
    assert "| palette_kit |" in result.stdout and "| tutorial |" in result.stdout
    assert report["parameters"] == 827_202
    assert report["forward_gflop_per_image"] > 0
    assert report["train_gflop_per_image"] > 2 * report["forward_gflop_per_image"]  # backward ~ 2x forward
    assert report["peak_matmul_tflops"] > 0
    for name in ("palette_kit", "tutorial"):
        for key in ("sample_images_per_s", "sample_tflops", "train_images_per_s", "train_tflops", "sample_peak_mib"):
            assert report[name][key] > 0, (name, key)
    comparison = report["comparison"]
    assert comparison["sample_speedup"] > 0 and comparison["train_speedup"] > 0
    assert comparison["eps_max_abs_diff_fp32"] < 1e-4  # float32 rounding only
    assert comparison["restored_max_abs_diff"] < 1e-2  # that rounding amplified by the sampler (test_reference)


def test_bench_without_reference(tmp_path):
    report = bench.main(["--preset", "tiny", "--image-size", "16", "--steps", "2", "--train-steps", "1",
                         "--device", "cpu", "--no-reference", "--matmul-size", "256"])
    assert report["args"]["image_size"] == 16
    assert report["palette_kit"]["sample_images_per_s"] > 0
    assert "tutorial" not in report and "comparison" not in report


def test_peak_matmul_in_bf16():
    # The dtype the CUDA path measures its peak in; on a CPU only the arithmetic is checked.
    assert bench.peak_matmul_tflops(torch.device("cpu"), torch.bfloat16, n=64, repeats=1) > 0


def test_train_overhead_prints_both_rates():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "train_overhead.py"), "--preset", "tiny", "--batch", "2",
                             "--rounds", "1", "--block", "1", "--device", "cpu"],
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ") and "images/s" not in line]
    assert [row[1].strip() for row in rows] == ["bare Adam step", "Trainer step (EMA, clip, scaler, schedule)"]
    assert all(float(row[2]) > 0 for row in rows) and float(rows[0][3]) == 1.0


def test_end_to_end_infer_benchmark_reports_every_size():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "infer_e2e.py"), "--sizes", "64x48", "130x70", "--steps", "2"],
        capture_output=True, text=True, timeout=300, check=True, env=env)
    lines = result.stdout.splitlines()
    assert any(line.startswith("one 128 px colorization, model loaded: ") and line.endswith(" s") for line in lines)
    rows = [line for line in lines if line.startswith("| 64 x 48") or line.startswith("| 130 x 70")]
    assert len(rows) == 2 and all(row.endswith(" MB |") for row in rows), result.stdout


def test_bench_of_a_checkpoint_samples_at_its_own_sampler_and_steps(tmp_path):
    from palette_kit.model import Palette
    from palette_kit.tasks import load_task

    torch.manual_seed(0)
    model = Palette.create(load_task("colorization")(hints=True), "tiny", sampler="ddim", steps=3)
    model.save(tmp_path / "ckpt")
    report = bench.main(["--checkpoint", str(tmp_path / "ckpt"), "--batch", "2", "--device", "cpu",
                         "--json", str(tmp_path / "bench.json")])
    parameters = sum(p.numel() for p in model.net.parameters())
    assert (report["sampler"], report["steps"], report["parameters"]) == ("ddim", 3, parameters)
    assert report["sample_images_per_s"] > 0 and report["sample_peak_mib"] > 0
    assert json.loads((tmp_path / "bench.json").read_text())["steps"] == 3
    assert bench.main(["--checkpoint", str(tmp_path / "ckpt"), "--steps", "1", "--device", "cpu"])["steps"] == 1
