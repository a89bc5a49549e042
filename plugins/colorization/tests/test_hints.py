"""Colour hints: Levin et al.'s propagation, hint layers and points, training draws, the residual model
and the command line."""
import numpy as np
import pytest
import torch
from PIL import Image

from palette_kit.errors import InputError
from palette_kit.imageio import write_image
from palette_kit.model import Palette
from palette_kit.testing import assert_one_line_error, run_cli, synthetic_photo
from palette_kit_colorization import Colorization
from palette_kit_colorization.hints import Hints, evaluation_hints, parse_colour, point_hints, read_hints, training_hints
from palette_kit_colorization.lab import bgr_to_lab
from palette_kit_colorization.propagation import propagate


def _two_regions(h: int = 24, w: int = 32) -> np.ndarray:
    """Lightness 60 on the left half, 200 on the right."""
    level = np.full((h, w), 60, np.uint8)
    level[:, w // 2:] = 200
    return level


def test_propagation_keeps_hints_and_stops_at_edges():
    level = _two_regions()
    ab = np.zeros((24, 32, 2), np.float32)
    mask = np.zeros((24, 32), bool)
    ab[5, 3], ab[20, 28] = (0.4, -0.2), (-0.3, 0.5)
    mask[5, 3] = mask[20, 28] = True
    out = propagate(level, ab, mask)
    assert np.allclose(out[mask], ab[mask])
    assert np.abs(out[:, :14] - (0.4, -0.2)).max() < 0.02 and np.abs(out[:, 18:] - (-0.3, 0.5)).max() < 0.02


def test_propagation_of_no_hints_is_neutral():
    assert not propagate(_two_regions(), np.ones((24, 32, 2), np.float32), np.zeros((24, 32), bool)).any()


def test_shrinking_keeps_a_one_pixel_hint_in_a_large_photo():
    hints = Hints.none(3000, 4000)
    hints.ab[1234, 2345], hints.mask[1234, 2345] = (0.25, -0.5), True
    small = hints.resized(64, 48)
    assert small.count == 1 and np.allclose(small.ab[small.mask], (0.25, -0.5))


def test_hint_layer_is_read_scaled_and_checked(tmp_path):
    rgba = np.zeros((50, 100, 4), np.uint8)
    rgba[10:20, 10:20] = (200, 40, 30, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "h.png")
    hints = read_hints(tmp_path / "h.png", 200, 100)
    assert hints.mask.shape == (100, 200) and hints.mask[20:40, 20:40].all() and hints.count == 400
    assert np.allclose(hints.ab[hints.mask], parse_colour("#c8281e"), atol=1e-3)
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="must be an RGBA picture"):
        read_hints(tmp_path / "rgb.png", 200, 100)
    with pytest.raises(InputError, match="not the aspect ratio"):
        read_hints(tmp_path / "h.png", 200, 150)


def test_points_take_css_names_and_refuse_bad_ones():
    hints = point_hints(("5,6,red", "20,10,#00ff00"), 2, 40, 30)
    assert hints.mask[6, 5] and hints.mask[10, 20] and hints.count == 2 * 13
    assert np.allclose(hints.ab[6, 5], parse_colour("#ff0000"))
    for point, message in (("50,6,red", "outside"), ("5,6,notacolour", "not a colour"), ("5;6;red", "X,Y,COLOUR")):
        with pytest.raises(InputError, match=message):
            point_hints((point,), 2, 40, 30)


def test_training_draws_none_points_strokes_and_dense_hints():
    true_ab = np.random.default_rng(0).uniform(-0.5, 0.5, (64, 64, 2)).astype(np.float32)
    shares = [training_hints(true_ab, np.random.default_rng(s)).mask.mean() for s in range(200)]
    assert 0.2 < np.mean([s == 0 for s in shares]) < 0.4  # automatic colorization stays trained
    assert any(0 < s < 0.05 for s in shares) and any(s > 0.5 for s in shares)  # sparse and dense


def test_evaluation_hints_repeat_and_carry_the_true_patch_colour():
    lab = bgr_to_lab(synthetic_photo(np.random.default_rng(1), 120, 160))
    a, b = evaluation_hints(lab[..., 1:], 10, seed=0), evaluation_hints(lab[..., 1:], 10, seed=0)
    assert np.array_equal(a.mask, b.mask) and 0 < a.count <= 10 * 9
    assert not np.array_equal(a.mask, evaluation_hints(lab[..., 1:], 20, seed=0).mask)


def test_the_condition_grows_with_the_hints_option_and_the_base_is_the_propagation():
    assert Colorization().cond_channels == 1 and Colorization(hints=True).cond_channels == 4
    task = Colorization(hints=True)
    photo = synthetic_photo(np.random.default_rng(2), 40, 60)
    prepared = task.prepare(photo, 16, hint=("10,10,#ff8800",))
    y_cond = prepared.y_cond[None]
    assert y_cond.shape == (1, 4, 16, 16) and (y_cond[:, 3] > 0).any()
    assert torch.equal(task.base(y_cond), y_cond[:, 1:3]) and Colorization().base(y_cond[:, :1]) is None
    with pytest.raises(InputError, match="trained without colour hints"):
        Colorization().prepare(photo, 16, hint=("10,10,red",))


def test_the_model_generates_the_residual_from_the_base():
    task = Colorization(hints=True)
    model = Palette.create(task, "tiny")
    y_cond = task.prepare(synthetic_photo(np.random.default_rng(3), 32, 32), 32, hint=("4,4,#3060c0",)).y_cond[None]
    y_0 = torch.rand(1, 2, 32, 32) * 2 - 1
    _, target, _ = model.inputs(y_cond, y_0)
    assert torch.allclose(target, y_0 - y_cond[:, 1:3])
    with_base = model.sample(y_cond, steps=2, generator=torch.Generator().manual_seed(0))
    task.base = lambda y: None
    without = model.sample(y_cond, steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(with_base, (without + y_cond[:, 1:3]).clamp(-1, 1), atol=1e-6)


def test_warm_start_from_a_model_without_hints_starts_as_it():
    torch.manual_seed(0)
    source = Palette.create(Colorization(), "tiny")
    with torch.no_grad():
        for p in source.net.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # no zero-initialised layers: every weight matters
    model = Palette.create(Colorization(hints=True), "tiny")
    model.warm_start(source)
    photo = synthetic_photo(np.random.default_rng(4), 32, 32)
    y_old, y_new = source.task.prepare(photo, 32).y_cond[None], model.task.prepare(photo, 32).y_cond[None]
    same = [m.sample(y, steps=3, generator=torch.Generator().manual_seed(1)) for m, y in ((source, y_old), (model, y_new))]
    assert torch.allclose(*same, atol=1e-5)


@pytest.fixture(scope="module")
def hint_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("hints") / "ckpt"
    torch.manual_seed(0)
    Palette.create(Colorization(hints=True), "tiny", steps=2).save(path)
    return path


@pytest.fixture(scope="module")
def plain_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("plain") / "ckpt"
    Palette.create(Colorization(), "tiny", steps=2).save(path)
    return path


def test_infer_applies_points_and_layers_and_keeps_hinted_colours(tmp_path, hint_checkpoint):
    photo = synthetic_photo(np.random.default_rng(5), 48, 64)
    write_image(tmp_path / "p.png", photo)
    lab = bgr_to_lab(photo)
    colour = lab[20, 30, 1:]  # an in-gamut colour at that lightness: the photo's own
    rgba = np.zeros((24, 32, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "empty.png")
    hex_colour = "#%02x%02x%02x" % tuple(photo[20, 30, ::-1])
    done = run_cli("infer", "--task", "colorization", "--checkpoint", hint_checkpoint, "--hints", tmp_path / "empty.png",
                   "--hint", f"30,20,{hex_colour}", "--hint-radius", "2", tmp_path / "p.png")
    assert done.returncode == 0, done.stderr
    out = bgr_to_lab(np.asarray(Image.open(tmp_path / "p.colorization.png"))[..., ::-1].copy())
    assert np.abs(out[20, 30, 1:] - colour).max() * 127.5 < 3


def test_hint_errors_are_one_line(tmp_path, hint_checkpoint, plain_checkpoint):
    write_image(tmp_path / "p.png", synthetic_photo(np.random.default_rng(6), 48, 64))
    outside = run_cli("infer", "--task", "colorization", "--checkpoint", hint_checkpoint, "--hint", "99,5,red",
                      tmp_path / "p.png")
    assert "outside the 64 x 48 picture" in outside.stderr and "Traceback" not in outside.stderr
    no_hints = run_cli("infer", "--task", "colorization", "--checkpoint", plain_checkpoint, "--hint", "5,5,red",
                       tmp_path / "p.png")
    assert_one_line_error(no_hints, "trained without colour hints")


def test_evaluate_draws_seeded_hints_against_levins_baseline(tmp_path, hint_checkpoint, plain_checkpoint):
    for i in range(2):
        write_image(tmp_path / "data" / f"{i}.png", synthetic_photo(np.random.default_rng(10 + i), 40, 40))
    runs = [run_cli("evaluate", "--task", "colorization", "--checkpoint", hint_checkpoint, "--data", tmp_path / "data",
                    "--hints", "5", "--out", tmp_path / f"e{i}") for i in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert (tmp_path / "e0" / "metrics.csv").read_text() == (tmp_path / "e1" / "metrics.csv").read_text()
    no_hints = run_cli("evaluate", "--task", "colorization", "--checkpoint", plain_checkpoint, "--data",
                       tmp_path / "data", "--hints", "5", "--out", tmp_path / "e2")
    assert_one_line_error(no_hints, "trained without colour hints")
