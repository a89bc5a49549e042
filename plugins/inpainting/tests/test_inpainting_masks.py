"""Training masks (random boxes and strokes), the default centre box, and mask files."""
import cv2
import numpy as np
import pytest
import torch

from palette_kit.errors import InputError
from palette_kit_inpainting.masks import (Box, Stroke, centre_box, paint, random_mask, random_shapes,
                                          read_mask, shrink_mask)


def test_random_masks_are_reproducible_under_a_seed():
    torch.manual_seed(3)
    first = [random_mask(32) for _ in range(5)]
    torch.manual_seed(3)
    again = [random_mask(32) for _ in range(5)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, first[1:]))
    seeded = [random_mask(32, torch.Generator().manual_seed(9)) for _ in range(2)]
    np.testing.assert_array_equal(*seeded)


def test_a_generator_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    random_mask(32, torch.Generator().manual_seed(1))
    after = torch.rand(())
    torch.manual_seed(0)
    assert torch.rand(()) == after


@pytest.mark.parametrize("size", [16, 32, 64])
def test_random_masks_cover_10_to_60_percent(size):
    torch.manual_seed(size)
    for _ in range(200):
        mask = random_mask(size)
        assert mask.shape == (size, size) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        assert 0.10 <= mask.mean() <= 0.60


def test_masks_are_made_of_boxes_strokes_or_both():
    torch.manual_seed(1)
    kinds = [frozenset(type(shape) for shape in random_shapes(32)) for _ in range(100)]
    assert {frozenset({Box}), frozenset({Stroke}), frozenset({Box, Stroke})} <= set(kinds)
    torch.manual_seed(1)
    shapes = random_shapes(32)
    torch.manual_seed(1)
    np.testing.assert_array_equal(random_mask(32), paint(shapes, 32))


def test_shapes_paint_what_they_describe():
    box = paint([Box(top=1, left=2, height=3, width=4)], 8)
    assert box.sum() == 12 and box[1:4, 2:6].all()
    stroke = paint([Stroke(points=((2, 10), (17, 10), (17, 3)), thickness=3)], 20)
    assert stroke[8:13, 2:18].all() and stroke[3:11, 15:20].all()  # both segments, 5 pixels wide
    assert not stroke[:1].any() and not stroke[13:].any() and stroke[:, 0].sum() == 1  # round ends


def test_centre_box_covers_the_middle_half():
    mask = centre_box(8, 12)
    assert mask.dtype == bool and mask.sum() == 4 * 6 and mask[2:6, 3:9].all()


def test_shrink_mask_fills_every_pixel_the_hole_touches():
    mask = np.zeros((40, 60), bool)
    mask[:, 31] = True  # a one-pixel line, thinner than a pixel at 16 px
    mask[5, 7] = True  # a dot straddling two small pixels (3.75 columns each)
    small = shrink_mask(mask, 16)
    assert small.dtype == np.uint8 and small.shape == (16, 16)
    assert small[:, 8].all() and small[2, 1:3].all() and small.sum() == 16 + 2
    np.testing.assert_array_equal(shrink_mask(np.ones((3, 5), bool), 16), np.ones((16, 16), np.uint8))


def write(path, picture):
    assert cv2.imwrite(str(path), picture)
    return path


def test_read_mask_thresholds_gray_and_colour_pictures(tmp_path):
    levels = np.array([[0, 127, 128, 255]], np.uint8)
    expected = np.array([[False, False, True, True]])
    np.testing.assert_array_equal(read_mask(write(tmp_path / "gray.png", levels), 1, 4), expected)
    colour = np.stack([levels] * 3, axis=-1)
    colour[0, 3] = (255, 255, 200)  # a near-white tint still fills
    np.testing.assert_array_equal(read_mask(write(tmp_path / "colour.png", colour), 1, 4), expected)


def test_read_mask_rejects_masks_it_cannot_use(tmp_path):
    half = np.zeros((10, 12), np.uint8)
    half[:, 6:] = 255
    with pytest.raises(InputError, match=r"small\.png.*12x10.*20x16") as info:
        read_mask(write(tmp_path / "small.png", half), 16, 20)
    assert str(tmp_path / "small.png") in str(info.value)
    with pytest.raises(InputError, match=r"black\.png is all black"):
        read_mask(write(tmp_path / "black.png", np.zeros((10, 12), np.uint8)), 10, 12)
    with pytest.raises(InputError, match=r"white\.png is all white"):
        read_mask(write(tmp_path / "white.png", np.full((10, 12), 200, np.uint8)), 10, 12)
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(InputError, match="mask: not a readable image: .*text.png"):
        read_mask(tmp_path / "text.png", 10, 12)
    with pytest.raises(InputError, match="mask: image not found: .*gone.png"):
        read_mask(tmp_path / "gone.png", 10, 12)
