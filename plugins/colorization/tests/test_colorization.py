"""The colorization plugin: Lab conversion, datasets and splits, prepare/finish and pictures."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from palette_kit.errors import InputError
from palette_kit.tasks.base import Task
from palette_kit_colorization import Colorization
from palette_kit_colorization import lab as lab_module
from palette_kit_colorization.lab import bgr_to_lab, lab_to_bgr, lab_to_bgr_keeping_lightness

SIZE = 16


def photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colourful BGR picture: a gradient between two random colours, plus a third in a disc."""
    colours = rng.integers(0, 256, size=(3, 3))
    ramp = np.linspace(0, 1, width)[None, :, None]
    picture = np.repeat((1 - ramp) * colours[0] + ramp * colours[1], height, axis=0)
    yy, xx = np.mgrid[:height, :width]
    picture[(yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (min(height, width) / 4) ** 2] = colours[2]
    return picture.round().astype(np.uint8)


def write_photos(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), photo(rng, 20 + i % 5, 30 - i % 7))
        paths.append(path)
    return paths


def names(dataset) -> list[str]:
    return [p.name for p in dataset.paths]


@pytest.fixture
def task() -> Colorization:
    return Colorization()


# --- Lab conversion -------------------------------------------------------------------------------

def all_colours() -> np.ndarray:
    """Every 8-bit BGR colour, as a 4096 x 4096 picture."""
    v = np.arange(256, dtype=np.uint8)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(4096, 4096, 3)


def test_bgr_to_lab_is_opencv_lab_scaled_to_unit_range():
    bgr = np.random.default_rng(0).integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    lab = bgr_to_lab(bgr)
    assert lab.dtype == np.float32 and lab.shape == bgr.shape
    assert np.array_equal(lab, cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32) * 2 / 255 - 1)
    assert lab.min() >= -1 and lab.max() <= 1


def test_lab_round_trip_is_close():
    # 8-bit Lab quantises L to 100/255 and a, b to whole units: over all 16.7 M colours OpenCV's own
    # round trip is off by 0.70 levels on average and by at most 27 (in very dark, saturated colours).
    bgr = all_colours()
    back = lab_to_bgr(bgr_to_lab(bgr))
    assert back.dtype == np.uint8 and back.shape == bgr.shape
    assert np.array_equal(back, cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB), cv2.COLOR_LAB2BGR))
    diff = np.abs(back.astype(np.int16) - bgr)
    assert diff.mean() < 1 and diff.max() <= 27


def test_lab_functions_take_batches():
    rng = np.random.default_rng(1)
    batch = np.stack([photo(rng, 9, 7) for _ in range(3)])
    lab = bgr_to_lab(batch)
    for picture, converted in zip(batch, lab):
        np.testing.assert_array_equal(converted, bgr_to_lab(picture))
    np.testing.assert_array_equal(lab_to_bgr(lab)[1], lab_to_bgr(lab[1]))


def test_lab_to_bgr_clips_out_of_range_values():
    lab = np.array([[[1.5, -3.0, 2.0]]], np.float32)
    np.testing.assert_array_equal(lab_to_bgr(lab), lab_to_bgr(np.clip(lab, -1, 1)))


# --- datasets ---------------------------------------------------------------------------------------

def test_keeping_lightness_scales_chroma_into_the_gamut_and_keeps_l(monkeypatch):
    rng = np.random.default_rng(7)
    lightness8 = rng.integers(0, 256, (37, 23)).astype(np.uint8)
    ab = rng.uniform(-1, 1, (37, 23, 2)).astype(np.float32)  # mostly far outside sRGB
    monkeypatch.setattr(lab_module, "BAND_PIXELS", 100)  # several bands, the last one short
    out = lab_to_bgr_keeping_lightness(lightness8, ab)
    assert out.shape == (37, 23, 3) and out.dtype == np.uint8
    assert np.abs(lab_module.lightness(out).astype(int) - lightness8).max() <= 1  # 8-bit rounding only
    # Hue is kept: the output's ab points the way the requested ab does, wherever it has chroma.
    got = bgr_to_lab(out)[..., 1:] * 127.5 + 0.5
    wanted = ab * 127.5 - 0.5
    strong = np.hypot(*np.moveaxis(got, -1, 0)) > 20
    cosine = (got * wanted).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(wanted, axis=-1) + 1e-6)
    assert strong.mean() > 0.5 and cosine[strong].min() > 0.95
    # Colours inside the gamut are untouched: they match OpenCV's plain conversion.
    inside = bgr_to_lab(photo(rng, 40, 30))
    level = np.round((inside[..., 0] + 1) * 127.5).astype(np.uint8)
    assert np.abs(lab_to_bgr_keeping_lightness(level, inside[..., 1:]).astype(int) - lab_to_bgr(inside)).max() <= 1


def test_chroma_limits_are_the_gamut_boundary():
    """Each entry is the gamut's largest chroma at one end of its step of hue, and fits at the other."""
    limit = torch.from_numpy(lab_module._max_chroma())
    assert limit.shape == (256, lab_module.HUE_STEPS)
    level = torch.arange(256)[:, None].expand_as(limit)
    ends = torch.linspace(0, 2 * np.pi, lab_module.HUE_STEPS + 1)
    assert max(limit[0].max(), limit[255].max()) < 2 and limit[128].min() > 20  # little at black and white

    def fits(chroma: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
        hue = hue.expand_as(limit)
        return lab_module._in_srgb_gamut(level, chroma * torch.cos(hue), chroma * torch.sin(hue))

    start, stop = ends[:-1], ends[1:]
    assert (fits(limit, start) & fits(limit, stop)).all()
    assert (~fits(limit + 0.05, start) | ~fits(limit + 0.05, stop)).all()  # 0.05 CIE units further is outside


def test_keeping_lightness_takes_panoramas_wider_than_opencv_maps():
    lightness8 = np.full((2, 40_000), 128, np.uint8)  # OpenCV's remap refuses widths from 32767 on
    ab = np.full((2, 40_000, 2), 0.5, np.float32)
    out = lab_to_bgr_keeping_lightness(lightness8, ab)
    assert out.shape == (2, 40_000, 3) and (out == out[0, 0]).all()


def test_task_attributes(task):
    assert isinstance(task, Task)
    assert (task.name, task.cond_channels, task.target_channels) == ("colorization", 1, 2)
    assert isinstance(task.description, str) and task.description


def test_dataset_items_from_nested_mixed_folder(task, tmp_path):
    files = ["a.jpg", "b.PNG", "sub/c.jpeg", "sub/deeper/d.webp", "sub/e.bmp", "sub/f.png"]
    write_photos(tmp_path, files)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub" / "data.npy").write_bytes(b"\x00\x01")
    train, val = (task.dataset(tmp_path, split, SIZE, seed=0) for split in ("train", "val"))
    assert sorted(names(train) + names(val)) == sorted(Path(f).name for f in files)
    assert len(val) == 1
    for dataset in (train, val):
        for index in range(len(dataset)):
            item = dataset[index]
            assert set(item) == {"y_cond", "y_0"}
            assert item["y_cond"].shape == (1, SIZE, SIZE) and item["y_0"].shape == (2, SIZE, SIZE)
            for tensor in item.values():
                assert tensor.dtype == torch.float32
                assert tensor.min() >= -1 and tensor.max() <= 1


def test_dataset_item_is_centre_cropped_photo_in_lab(task, tmp_path):
    picture = photo(np.random.default_rng(2), 20, 36)
    cv2.imwrite(str(tmp_path / "only.png"), picture)
    item = task.dataset(tmp_path, "val", SIZE, seed=0)[0]
    expected = bgr_to_lab(cv2.resize(picture[:, 8:28], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(torch.cat([item["y_cond"], item["y_0"]]).permute(1, 2, 0).numpy(), expected)


def test_training_items_are_random_crops_and_flips(task, tmp_path):
    picture = photo(np.random.default_rng(4), 60, 80)
    cv2.imwrite(str(tmp_path / "one.png"), picture)
    train = task.dataset(tmp_path, "train", SIZE, seed=0)
    torch.manual_seed(0)
    items = [train[0] for _ in range(30)]
    assert all(i["y_0"].shape == (2, SIZE, SIZE) and i["y_cond"].shape == (1, SIZE, SIZE) for i in items)
    assert len({i["y_cond"].numpy().tobytes() for i in items}) > 20  # crops differ
    torch.manual_seed(0)
    again = [train[0] for _ in range(30)]
    assert all(torch.equal(a["y_0"], b["y_0"]) for a, b in zip(items, again))  # seeded: reproducible


def test_random_square_covers_the_scale_range(tmp_path):
    from palette_kit.imageio import random_square
    ramp = np.tile(np.arange(100, dtype=np.uint8)[None, :, None], (100, 1, 3))
    torch.manual_seed(0)
    sides = [random_square(ramp, 100, 0.5) for _ in range(50)]
    spans = [int(s[0, -1, 0]) - int(s[0, 0, 0]) for s in sides]  # horizontal extent of each crop, in pixels
    assert min(spans) >= 48 and max(spans) <= 99 and max(spans) - min(spans) > 25


def test_single_picture_serves_both_splits(task, tmp_path):
    write_photos(tmp_path, ["one.png"])
    train, val = task.dataset(tmp_path, "train", SIZE, 0), task.dataset(tmp_path, "val", SIZE, 0)
    assert names(train) == names(val) == ["one.png"]


def test_seeded_split_is_deterministic_disjoint_and_seed_dependent(task, tmp_path):
    write_photos(tmp_path, [f"img{i:02d}.png" for i in range(40)])

    def split(seed: int) -> tuple[list[str], list[str]]:
        return names(task.dataset(tmp_path, "train", SIZE, seed)), names(task.dataset(tmp_path, "val", SIZE, seed))

    train, val = split(7)
    assert split(7) == (train, val)
    assert len(val) == 2 and len(train) == 38
    assert not set(train) & set(val)
    assert {split(seed)[1] == val for seed in range(8)} == {True, False}


def write_celeba(images: Path, partition: Path) -> None:
    write_photos(images, [f"{i:06d}.jpg" for i in range(1, 7)])
    partition.write_text("".join(f"{i:06d}.jpg {i % 3}\n" for i in range(1, 7)) + "000099.jpg 0\n")


@pytest.mark.parametrize("layout", ["beside", "parent"])
@pytest.mark.parametrize("given", ["images", "container"])
def test_celeba_official_split(task, tmp_path, layout, given):
    if layout == "beside":  # celeba/img_align_celeba/*.jpg, celeba/list_eval_partition.txt
        container, partition = tmp_path / "celeba", tmp_path / "celeba" / "list_eval_partition.txt"
    else:  # Kaggle: celeba/img_align_celeba/img_align_celeba/*.jpg, celeba/list_eval_partition.txt
        container, partition = tmp_path / "celeba" / "img_align_celeba", tmp_path / "celeba" / "list_eval_partition.txt"
    images = container / "img_align_celeba"
    write_celeba(images, partition)
    write_photos(container / "other", ["stray.png"])  # outside img_align_celeba: not part of CelebA
    root = images if given == "images" else container
    assert names(task.dataset(root, "train", SIZE, 0)) == ["000003.jpg", "000006.jpg"]
    assert names(task.dataset(root, "val", SIZE, 0)) == ["000001.jpg", "000004.jpg"]
    assert task.dataset(root, "val", SIZE, 0)[0]["y_0"].shape == (2, SIZE, SIZE)


def test_celeba_folder_without_partition_file_gets_seeded_split(task, tmp_path):
    write_photos(tmp_path / "img_align_celeba", [f"{i:06d}.jpg" for i in range(1, 5)])
    train, val = (names(task.dataset(tmp_path, split, SIZE, 0)) for split in ("train", "val"))
    assert len(val) == 1 and sorted(train + val) == [f"{i:06d}.jpg" for i in range(1, 5)]


def test_empty_or_missing_folder_is_an_input_error(task, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here")
    with pytest.raises(InputError, match="no images"):
        task.dataset(tmp_path / "empty", "train", SIZE, 0)
    with pytest.raises(InputError, match="not found"):
        task.dataset(tmp_path / "missing", "train", SIZE, 0)


def test_split_of_only_a_corrupt_picture_is_an_input_error_naming_it(task, tmp_path):
    """The up-front scan of a split leaves unreadable pictures out; a split left empty is refused, naming them."""
    write_photos(tmp_path, ["good.png"])
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        for split in ("train", "val"):  # the seeded split puts one picture in each
            task.dataset(tmp_path, split, SIZE, 0)


# --- pictures, prepare and finish -------------------------------------------------------------------

def test_to_bgr_and_cond_to_bgr(task):
    y_cond, y_0 = torch.rand(3, 1, SIZE, SIZE) * 2 - 1, torch.rand(3, 2, SIZE, SIZE) * 2 - 1
    pictures = task.to_bgr(y_cond, y_0)
    gray = task.cond_to_bgr(y_cond)
    for result in (pictures, gray):
        assert result.shape == (3, SIZE, SIZE, 3) and result.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    np.testing.assert_array_equal(pictures[2], lab_to_bgr(torch.cat([y_cond[2], y_0[2]]).permute(1, 2, 0).numpy()))


def test_to_bgr_restores_the_dataset_picture(task, tmp_path):
    write_photos(tmp_path, ["one.png"])
    item = task.dataset(tmp_path, "val", SIZE, 0)[0]
    picture = task.to_bgr(item["y_cond"][None], item["y_0"][None])[0]
    lab = np.concatenate([item["y_cond"], item["y_0"]]).transpose(1, 2, 0)
    np.testing.assert_array_equal(bgr_to_lab(picture)[..., 0], bgr_to_lab(lab_to_bgr(lab))[..., 0])


def lightness(picture: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(picture, cv2.COLOR_BGR2LAB)[..., 0].astype(int)


@pytest.mark.parametrize("colour", [False, True])
def test_prepare_reduces_the_whole_picture_to_its_lightness(task, colour):
    picture = photo(np.random.default_rng(3), 97, 61)
    if not colour:
        picture = cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    prepared = task.prepare(picture, SIZE)
    assert prepared.y_cond.shape == (1, SIZE, SIZE) and prepared.y_cond.dtype == torch.float32
    assert prepared.image is picture
    squashed = cv2.resize(lightness(picture).astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(prepared.y_cond[0].numpy(), squashed.astype(np.float32) * 2 / 255 - 1)


def test_prepare_enlarges_small_pictures(task):
    prepared = task.prepare(photo(np.random.default_rng(4), 5, 9), SIZE)
    assert prepared.y_cond.shape == (1, SIZE, SIZE)
    assert prepared.y_cond.min() >= -1 and prepared.y_cond.max() <= 1


@pytest.mark.parametrize("height, width", [(97, 61), (8, 11)])
def test_finish_keeps_size_and_lightness_of_the_original(task, height, width):
    picture = photo(np.random.default_rng(5), height, width)
    prepared = task.prepare(picture, SIZE)
    # The picture's own colours at model resolution, as a perfect model would predict them.
    small = cv2.resize(picture, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    y_0 = torch.from_numpy(bgr_to_lab(small)[..., 1:]).permute(2, 0, 1)
    # Measured over 200 random pictures: with neutral ab, L moves by at most 1 level (8-bit Lab -> BGR
    # rounding); with the picture's own ab resized back from model resolution, by 0.27 levels on average
    # at worst and at most 13 levels, where blurred ab at a colour edge falls outside the sRGB gamut for
    # that L and LAB2BGR clips it. (Arbitrary ab far outside the gamut can move L much more.)
    for ab, max_diff in ((y_0, 16), (torch.zeros_like(y_0), 1)):
        result = task.finish(prepared, ab)
        assert result.shape == picture.shape and result.dtype == np.uint8
        diff = np.abs(lightness(result) - lightness(picture))
        assert diff.mean() < 1 and diff.max() <= max_diff
        assert np.median(diff) == 0
    # The colours come from y_0: away from edges they match the original's.
    colour_diff = np.abs(task.finish(prepared, y_0).astype(int) - picture)
    assert np.median(colour_diff) <= 3


def test_finish_accepts_a_prediction_from_a_batch(task):
    picture = photo(np.random.default_rng(6), 30, 20)
    y_0 = (torch.rand(1, 2, SIZE, SIZE, requires_grad=True) * 2 - 1)[0]
    assert task.finish(task.prepare(picture, SIZE), y_0).shape == (30, 20, 3)
