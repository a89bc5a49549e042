"""The uncropping plugin: the --margin grammar, training borders, prepare/finish and the sampling hook."""
import cv2
import numpy as np
import pytest
import torch

from palette_kit.diffusion.sampler import restore
from palette_kit.errors import InputError
from palette_kit.imageio import resize, to_tensor
from palette_kit.model import Palette
from palette_kit.testing import synthetic_photo
from palette_kit_uncropping import Uncropping
from palette_kit_uncropping.margin import Border, Length, parse_margin
from palette_kit_uncropping.masks import KINDS, border_mask, random_border, scaled_border
from palette_kit_uncropping.task import UNKNOWN_BGR

SIZE = 32


@pytest.fixture
def task() -> Uncropping:
    return Uncropping()


def photo(seed: int, height: int, width: int) -> np.ndarray:
    return synthetic_photo(np.random.default_rng(seed), height, width)


# --- the --margin grammar ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec, border", [
    ("0.25", Border(20, 20, 10, 10)),
    (".5", Border(40, 40, 20, 20)),
    ("1", Border(80, 80, 40, 40)),
    ("4", Border(320, 320, 160, 160)),
    ("64px", Border(64, 64, 64, 64)),
    ("0.5,0,0,0", Border(40, 0, 0, 0)),
    (" 10px, 0.1 ,0 ,2 ", Border(10, 8, 0, 80)),
    ("0,0,0,160px", Border(0, 0, 0, 160)),
])
def test_margins_in_pixels_for_a_40_by_80_picture(spec, border):
    assert parse_margin(spec).border(40, 80) == border


def test_lengths_are_fractions_unless_given_in_pixels():
    assert parse_margin("2").lengths == (Length(2.0, in_pixels=False),) * 4
    assert parse_margin("0.1,3px,0,1.").lengths == (Length(0.1, False), Length(3, True), Length(0, False),
                                                    Length(1.0, False))


@pytest.mark.parametrize("spec, fragment", [
    ("", "'' is not a length"),
    ("abc", "'abc' is not a length"),
    ("2.5px", "'2.5px' is not a length"),
    ("1e-1", "is not a length"),
    ("0.1,0.2", "give one length or four (left,right,top,bottom), not 2"),
    ("0.1,0.2,0.3,0.4,0.5", "not 5"),
    ("-0.1", "the margin '-0.1' is negative"),
    ("0,-5px,0,0", "the right margin '-5px' is negative"),
    ("5", "the margin 5 is more than the limit of 4 times the picture's width and height"),
    ("0,0,4.5,0", "the top margin 4.5 is more than the limit of 4 times the picture's height"),
])
def test_malformed_margins_are_input_errors_naming_the_option(spec, fragment):
    with pytest.raises(InputError) as error:
        parse_margin(spec)
    assert str(error.value).startswith(f"--margin {spec!r}: ")
    assert fragment in str(error.value)


def test_margins_past_the_limit_in_pixels_or_adding_nothing_are_input_errors():
    with pytest.raises(InputError, match=r"--margin '0,0,0,161px': the bottom margin of 161 px is more than the "
                                         r"limit of 4 times the picture's height \(40 px\)"):
        parse_margin("0,0,0,161px").border(40, 80)
    for spec in ("0", "0px", "0,0,0,0px", "0.005"):  # 0.5% of 40 x 80 rounds to nothing
        with pytest.raises(InputError, match="--margin .* adds no pixels to a 80x40 picture: nothing to generate"):
            parse_margin(spec).border(40, 80)


# --- training borders -------------------------------------------------------------------------------

def draws(n: int) -> list[Border]:
    return [random_border(SIZE) for _ in range(n)]


def kind(border: Border) -> str:
    sides = [side for side, width in border._asdict().items() if width]
    return sides[0] if len(sides) == 1 else "all" if len(sides) == 4 else "?"


def test_training_borders_follow_torch_global_seed():
    torch.manual_seed(5)
    first = draws(20)
    torch.manual_seed(5)
    assert draws(20) == first
    assert len(set(first)) > 10


def test_training_borders_cover_every_kind_within_palettes_ranges():
    torch.manual_seed(0)
    borders = draws(300)
    assert {kind(b) for b in borders} == set(KINDS)
    one_side = [max(b) for b in borders if kind(b) != "all"]
    all_sides = [w for b in borders if kind(b) == "all" for w in b]
    assert min(one_side) == 3 and max(one_side) == 16  # 10-50% of 32 px
    assert min(all_sides) == 3 and max(all_sides) == 8  # 10-25% of 32 px


def test_border_mask_and_its_model_resolution():
    mask = border_mask(Border(1, 2, 3, 0), 6, 5)
    assert mask.shape == (1, 6, 5)
    assert mask[0].tolist() == [[1] * 5] * 3 + [[1, 0, 0, 1, 1]] * 3
    # A 90 px wide canvas with 30 px on the left, squashed to 32: the model pixel straddling x = 30 is generated.
    assert scaled_border(Border(30, 0, 0, 0), 40, 90, SIZE) == Border(11, 0, 0, 0)
    assert scaled_border(Border(45, 45, 8, 8), 16, 90, SIZE) == Border(16, 16, 16, 16)


def test_dataset_items_hide_a_border_and_validation_repeats_it(task, tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), photo(i, 40, 50))
    val = task.dataset(tmp_path, "val", SIZE, seed=0)
    item, again = val[0], val[0]
    assert torch.equal(item["y_cond"], again["y_cond"]) and torch.equal(item["y_0"], again["y_0"])
    generate = item["y_cond"][3:] > 0
    assert torch.equal(item["y_cond"][3].unique(), torch.tensor([-1.0, 1.0]))
    assert torch.equal(item["y_cond"][:3], torch.where(generate, 0.0, item["y_0"]))
    torch.manual_seed(0)
    train = task.dataset(tmp_path, "train", SIZE, seed=0)
    masks = {train[0]["y_cond"][3].numpy().tobytes() for _ in range(10)}
    assert len(masks) > 5


# --- pictures, prepare, finish ----------------------------------------------------------------------

def test_cond_to_bgr_shows_the_known_canvas_and_a_flat_unknown(task):
    picture = photo(1, SIZE, SIZE)
    y_cond = task.train_pair(picture, torch.Generator().manual_seed(0))["y_cond"]
    shown = task.cond_to_bgr(y_cond[None])[0]
    known = y_cond[3].numpy() < 0
    assert (shown[~known] == UNKNOWN_BGR).all() and (~known).any()
    np.testing.assert_array_equal(shown[known], picture[known])
    np.testing.assert_array_equal(task.to_bgr(y_cond[None], to_tensor(picture)[None])[0], picture)


def test_prepare_squashes_the_canvas_with_the_picture_in_place(task):
    picture = photo(2, 40, 60)
    prepared = task.prepare(picture, SIZE, margin="0.5,0,0,0")  # canvas 40 x 90
    assert prepared.y_cond.shape == (4, SIZE, SIZE) and prepared.image is picture
    assert prepared.context["border"] == Border(30, 0, 0, 0)
    mask = prepared.y_cond[3]
    assert torch.equal(mask[:, :11], torch.ones(SIZE, 11)) and torch.equal(mask[:, 11:], -torch.ones(SIZE, 21))
    assert torch.equal(prepared.y_cond[:3, :, :11], torch.zeros(3, SIZE, 11))
    canvas = cv2.copyMakeBorder(picture, 0, 0, 30, 0, cv2.BORDER_CONSTANT)
    expected = to_tensor(resize(canvas, SIZE, SIZE))[:, :, 11:]
    torch.testing.assert_close(prepared.y_cond[:3, :, 11:], expected, rtol=0, atol=0)


@pytest.mark.parametrize("height, width, margin, border", [
    (45, 70, "0.5,0,0,0", Border(35, 0, 0, 0)),
    (45, 70, "8px,0.1,2,1px", Border(8, 7, 90, 1)),
    (9, 13, "4", Border(52, 52, 36, 36)),
    (300, 200, "0,0,0.1,0", Border(0, 0, 30, 0)),
])
def test_finish_adds_the_margins_and_keeps_the_original_bytes(task, height, width, margin, border):
    picture = photo(3, height, width)
    prepared = task.prepare(picture, SIZE, margin=margin)
    result = task.finish(prepared, torch.rand(3, SIZE, SIZE) * 2 - 1)
    assert result.dtype == np.uint8
    assert result.shape == (height + border.top + border.bottom, width + border.left + border.right, 3)
    inside = result[border.top:border.top + height, border.left:border.left + width]
    assert inside.tobytes() == picture.tobytes()


def test_sampling_hook_keeps_the_known_pixels(task):
    torch.manual_seed(0)
    model = Palette.create(task, "tiny", steps=3, image_size=SIZE)
    model.net.eval()
    y_cond = task.prepare(photo(4, 40, 40), SIZE, margin="0.25,0,0.25,0").y_cond[None]
    known = y_cond[:, 3:] < 0
    sample = model.sample(y_cond, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sample[:, :3][known.expand(-1, 3, -1, -1)], y_cond[:, :3][known.expand(-1, 3, -1, -1)])
    y_T = torch.randn(sample.shape, generator=torch.Generator().manual_seed(1))
    free = restore(model.net, y_cond, y_T, model.scheduler(), 3, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(free[known.expand(-1, 3, -1, -1)], sample[known.expand(-1, 3, -1, -1)])
