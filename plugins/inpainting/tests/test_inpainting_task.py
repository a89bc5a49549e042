"""The inpainting task: conditions, options, prepare/finish with mask files, and the sampling hook."""
import cv2
import numpy as np
import pytest
import torch

from palette_kit.diffusion.constraints import unknown_of
from palette_kit.errors import InputError
from palette_kit.imageio import resize, square, to_pictures, to_tensor
from palette_kit.model import Palette
from palette_kit.testing import synthetic_photo
from palette_kit_inpainting import Inpainting
from palette_kit_inpainting.masks import shrink_mask
from palette_kit_inpainting.task import HOLE_BGR

SIZE = 32


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread; more only spin when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def picture() -> np.ndarray:
    return synthetic_photo(np.random.default_rng(4), 45, 70)


def hole_mask(height: int, width: int) -> np.ndarray:
    """A white box with a diagonal line on black, as a mask file would hold it."""
    mask = np.zeros((height, width), np.uint8)
    mask[5:20, 10:40] = 255
    cv2.line(mask, (0, height - 1), (width - 1, 0), 255, 3)
    return mask


def test_options_are_checked():
    assert Inpainting().settings == {"fill": "noise"}
    assert Inpainting(fill="zeros").config == {"fill": "zeros"}
    with pytest.raises(InputError, match="--fill"):
        Inpainting(fill="blur")
    with pytest.raises(InputError, match="no option --margin"):
        Inpainting(margin=3)


@pytest.mark.parametrize("fill", ["noise", "zeros"])
def test_validation_items_hide_a_hole_the_same_way_every_time(tmp_path, picture, fill):
    cv2.imwrite(str(tmp_path / "only.png"), picture)
    data = Inpainting(fill=fill).dataset(tmp_path, "val", SIZE, seed=0)
    item, again = data[0], data[0]
    torch.testing.assert_close(item["y_cond"], again["y_cond"], rtol=0, atol=0)
    expected = to_tensor(square(picture, SIZE))
    torch.testing.assert_close(item["y_0"], expected, rtol=0, atol=0)
    assert set(item["y_cond"][3].unique().tolist()) == {-1.0, 1.0}
    hole = unknown_of(item["y_cond"]).bool().expand(3, -1, -1)
    assert 0.1 <= hole[0].float().mean() <= 0.6
    assert torch.equal(item["y_cond"][:3][~hole], expected[~hole])  # known pixels as they are
    filled = item["y_cond"][:3][hole]
    if fill == "zeros":
        assert not filled.any()
    else:
        assert filled.std() > 0.4 and filled.abs().max() <= 1


def test_cond_to_bgr_paints_the_hole(picture):
    task = Inpainting()
    small = resize(picture, SIZE, SIZE)
    y_cond = task.prepare(picture, SIZE).y_cond[None]
    shown = task.cond_to_bgr(y_cond)[0]
    hole = unknown_of(y_cond)[0, 0].numpy() > 0
    assert (shown[hole] == HOLE_BGR).all()
    np.testing.assert_array_equal(shown[~hole], small[~hole])


def test_prepare_without_a_mask_fills_the_centre(picture):
    prepared = Inpainting().prepare(picture, SIZE)
    mask = prepared.context["mask"]
    assert mask.shape == (45, 70) and mask[11:34, 17:53].all() and mask.sum() == 23 * 36
    hole = unknown_of(prepared.y_cond)[0]  # rows 11..33 of 45 and columns 17..52 of 70, at 32 px
    assert hole[7:25, 7:25].all() and hole.sum() == 18 * 18
    again = Inpainting().prepare(picture, SIZE)
    torch.testing.assert_close(prepared.y_cond, again.y_cond, rtol=0, atol=0)  # same noise for the same picture


def test_prepare_with_a_mask_file(tmp_path, picture):
    cv2.imwrite(str(tmp_path / "mask.png"), hole_mask(45, 70))
    prepared = Inpainting(fill="zeros").prepare(picture, SIZE, mask=tmp_path / "mask.png")
    full = hole_mask(45, 70) >= 128
    np.testing.assert_array_equal(prepared.context["mask"], full)
    np.testing.assert_array_equal(unknown_of(prepared.y_cond)[0].numpy(), shrink_mask(full, SIZE))
    assert prepared.y_cond.shape == (4, SIZE, SIZE) and prepared.image is picture


def test_prepare_rejects_unusable_masks_naming_them(tmp_path, picture):
    cases = {"wrong-size.png": (hole_mask(40, 70), "is 70x40 pixels but the image is 70x45"),
             "black.png": (np.zeros((45, 70), np.uint8), "is all black"),
             "white.png": (np.full((45, 70, 3), 255, np.uint8), "is all white")}
    for name, (mask, message) in cases.items():
        cv2.imwrite(str(tmp_path / name), mask)
        with pytest.raises(InputError) as info:
            Inpainting().prepare(picture, SIZE, mask=tmp_path / name)
        assert f"mask {tmp_path / name} {message}" in str(info.value)
    (tmp_path / "notes.png").write_text("not a picture")
    for name, message in (("notes.png", "not a readable image"), ("missing.png", "image not found")):
        with pytest.raises(InputError) as info:
            Inpainting().prepare(picture, SIZE, mask=tmp_path / name)
        assert str(info.value).startswith(f"mask: {message}: {tmp_path / name}")


def test_finish_keeps_known_pixels_and_the_size(tmp_path, picture):
    cv2.imwrite(str(tmp_path / "mask.png"), hole_mask(45, 70))
    task = Inpainting()
    prepared = task.prepare(picture, SIZE, mask=tmp_path / "mask.png")
    y_0 = torch.rand(3, SIZE, SIZE) * 2 - 1
    result = task.finish(prepared, y_0)
    assert result.shape == picture.shape and result.dtype == np.uint8
    known = ~prepared.context["mask"]
    np.testing.assert_array_equal(result[known], picture[known])
    predicted = resize(to_pictures(y_0), 70, 45)
    np.testing.assert_array_equal(result[~known], predicted[~known])


def test_sampling_keeps_known_pixels_exactly(picture):
    torch.manual_seed(0)
    task = Inpainting()
    model = Palette.create(task, "tiny", steps=3, image_size=SIZE)
    model.net.eval()
    y_cond = torch.stack([task.prepare(picture, SIZE).y_cond, task.prepare(picture[::-1].copy(), SIZE).y_cond])
    y_0 = model.sample(y_cond, generator=torch.Generator().manual_seed(0))
    known = unknown_of(y_cond).expand(-1, 3, -1, -1) == 0
    assert known.any() and (~known).any()
    assert torch.equal(y_0[known], y_cond[:, :3][known])
    first = known[0, 0].numpy()
    np.testing.assert_array_equal(to_pictures(y_0)[0][first], resize(picture, SIZE, SIZE)[first])
