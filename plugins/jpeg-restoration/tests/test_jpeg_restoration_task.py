"""The JPEG restoration task in Python: degradation, quality draws, options, prepare and finish."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from palette_kit.errors import InputError
from palette_kit.imageio import resize, square, to_pictures, to_tensor
from palette_kit.testing import synthetic_photo
from palette_kit_jpeg_restoration import JpegRestoration

SIZE = 32


def cv2_jpeg(picture: np.ndarray, quality: int) -> np.ndarray:
    """The reference degradation, written out with OpenCV independently of the plugin."""
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def photo(seed: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    return synthetic_photo(np.random.default_rng(seed), height, width)


@pytest.fixture
def photos(tmp_path) -> Path:
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), photo(i, 40 + 3 * i, 52))
    return tmp_path


def matching_qualities(item: dict[str, torch.Tensor]) -> set[int]:
    """Every JPEG quality at which OpenCV turns the item's target into exactly its condition."""
    target, condition = to_pictures(item["y_0"]), to_pictures(item["y_cond"])
    return {q for q in range(1, 101) if np.array_equal(cv2_jpeg(target, q), condition)}


# --- the degradation --------------------------------------------------------------------------------

def test_training_condition_is_the_jpeg_at_the_drawn_quality():
    task, picture = JpegRestoration(), photo(1)
    for seed in range(5):
        torch.manual_seed(seed)
        quality = task.draw_quality()
        torch.manual_seed(seed)
        item = task.train_pair(picture, None)
        assert torch.equal(item["y_cond"], to_tensor(cv2_jpeg(picture, quality)))
        assert torch.equal(item["y_0"], to_tensor(picture))
        assert not torch.equal(item["y_cond"], item["y_0"])


def test_training_items_use_qualities_of_the_range_only_and_repeat_under_a_seed(photos):
    task = JpegRestoration(quality_min=10, quality_max=20)
    data = task.dataset(photos, "train", SIZE, seed=0)

    def draw() -> list[set[int]]:
        torch.manual_seed(3)
        return [matching_qualities(data[i % len(data)]) for i in range(40)]

    found = draw()
    assert all(found) and set().union(*found) <= set(range(10, 21))
    assert len(set().union(*found)) >= 6  # spread over the range, not one fixed quality
    assert draw() == found


def test_quality_draws_cover_the_range_and_repeat_under_a_seed():
    task = JpegRestoration()
    torch.manual_seed(11)
    draws = [task.draw_quality() for _ in range(2000)]
    assert min(draws) == 5 and max(draws) == 30 and len(set(draws)) == 26
    torch.manual_seed(11)
    assert [task.draw_quality() for _ in range(2000)] == draws
    single = JpegRestoration(quality_min=42, quality_max=42)
    assert {single.draw_quality() for _ in range(20)} == {42}


def test_validation_uses_the_middle_quality_whatever_the_seed(photos):
    task = JpegRestoration(quality_min=10, quality_max=20)
    assert task.val_quality == 15
    assert JpegRestoration().val_quality == 17 and JpegRestoration(quality_min=7, quality_max=7).val_quality == 7
    data = task.dataset(photos, "val", SIZE, seed=0)
    torch.manual_seed(0)
    first = data[0]
    torch.manual_seed(1)
    again = data[0]
    assert torch.equal(first["y_cond"], again["y_cond"]) and torch.equal(first["y_0"], again["y_0"])
    picture = square(cv2.imread(str(data.paths[0])), SIZE)
    assert torch.equal(first["y_cond"], to_tensor(cv2_jpeg(picture, 15)))
    assert torch.equal(first["y_0"], to_tensor(picture))


def test_pictures_show_target_and_condition():
    task, picture = JpegRestoration(), photo(2)
    item = task.pair(picture, 10)
    y_cond, y_0 = item["y_cond"][None], item["y_0"][None]
    np.testing.assert_array_equal(task.to_bgr(y_cond, y_0)[0], picture)
    np.testing.assert_array_equal(task.cond_to_bgr(y_cond)[0], cv2_jpeg(picture, 10))


# --- options ----------------------------------------------------------------------------------------

def test_options_default_to_palettes_range_and_rebuild_from_config():
    task = JpegRestoration()
    assert task.config == {"quality_min": 5, "quality_max": 30}
    assert JpegRestoration(**JpegRestoration(quality_min="7", quality_max=9).config).config == \
        {"quality_min": 7, "quality_max": 9}


def test_minimum_above_maximum_is_an_input_error_naming_both():
    with pytest.raises(InputError, match=r"--quality-min \(50\).*--quality-max \(10\)"):
        JpegRestoration(quality_min=50, quality_max=10)
    with pytest.raises(InputError, match="--quality-min.*--quality-max"):
        JpegRestoration(quality_min=31)  # above the default maximum


@pytest.mark.parametrize("options, flag", [({"quality_min": 0}, "--quality-min"),
                                           ({"quality_max": 101}, "--quality-max"),
                                           ({"quality_min": "high"}, "--quality-min")])
def test_out_of_range_option_is_an_input_error_naming_the_flag(options, flag):
    with pytest.raises(InputError, match=flag):
        JpegRestoration(**options)


# --- prepare and finish -----------------------------------------------------------------------------

def test_prepare_restores_the_picture_as_given_or_re_encoded():
    task, picture = JpegRestoration(), photo(3, 97, 61)
    as_given = task.prepare(picture, SIZE)
    assert as_given.image is picture
    assert torch.equal(as_given.y_cond, to_tensor(resize(picture, SIZE, SIZE)))
    re_encoded = task.prepare(picture, SIZE, quality=10)
    np.testing.assert_array_equal(re_encoded.image, cv2_jpeg(picture, 10))
    assert torch.equal(re_encoded.y_cond, to_tensor(resize(cv2_jpeg(picture, 10), SIZE, SIZE)))


def test_re_encoding_a_picture_too_wide_for_jpeg_is_an_input_error():
    with pytest.raises(InputError, match="70000x1 picture as JPEG"):
        JpegRestoration().prepare(np.zeros((1, 70000, 3), np.uint8), SIZE, quality=10)


@pytest.mark.parametrize("height, width", [(97, 61), (8, 11), (SIZE, SIZE), (300, 40)])
def test_finish_keeps_the_input_size(height, width):
    task = JpegRestoration()
    prepared = task.prepare(photo(4, height, width), SIZE, quality=20)
    result = task.finish(prepared, torch.rand(3, SIZE, SIZE) * 2 - 1)
    assert result.shape == (height, width, 3) and result.dtype == np.uint8


def test_finish_applies_the_models_correction_at_full_resolution():
    task, picture = JpegRestoration(), photo(5, 120, 90)
    prepared = task.prepare(picture, SIZE)
    # No correction: the full-resolution picture comes back untouched, fine detail included.
    np.testing.assert_array_equal(task.finish(prepared, prepared.y_cond.clone()), picture)
    # A uniform correction of +20 levels shifts every pixel by 20 (where it does not clip).
    brighter = task.finish(prepared, prepared.y_cond + 20 * 2 / 255)
    shift = brighter.astype(int) - picture
    unclipped = picture <= 235
    assert np.abs(shift[unclipped] - 20).max() <= 1 and (brighter[~unclipped] == 255).all()


def test_finish_at_model_size_returns_the_prediction():
    task = JpegRestoration()
    prepared = task.prepare(photo(6), SIZE, quality=8)
    prediction = torch.rand(1, 3, SIZE, SIZE, requires_grad=True) * 2 - 1  # as sampled, in a batch
    result = task.finish(prepared, prediction[0])
    assert np.abs(result.astype(int) - to_pictures(prediction[0])).max() <= 1
