"""Colours carried along the optical flow from frame to frame: the flow's checks, the carry hook in its two
ways (``filter`` for any model, ``hints`` for a hint model), given hints moved along the flow, first-frame and
keyframe hints, the full-resolution blend with the carried colours, and steadier colours in a colorized video."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from palette_kit.errors import InputError
from palette_kit.metrics.temporal import Motion
from palette_kit.model import Palette
from palette_kit.tasks.base import Prepared
from palette_kit.testing import synthetic_photo
from palette_kit.video.flow import optical_flow, reliable, warp
from palette_kit.video.frames import restore_video
from palette_kit.video.io import VideoReader
from palette_kit.video.synthetic import pan_zoom, write_video
from palette_kit_colorization import Colorization
from palette_kit_colorization.flow import PERSISTENCE, Carried, carried_colours
from palette_kit_colorization.hints import parse_colour
from palette_kit_colorization.lab import bgr_to_lab, lab_to_bgr_keeping_lightness, lightness


def _textured(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A colour photo with texture everywhere (optical flow needs some)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), 2)
    return ((synthetic_photo(rng, h, w).astype(np.uint16) + noise) // 2).astype(np.uint8)


def test_a_shifted_frame_gets_the_previous_colours_where_it_was_seen():
    photo = _textured(0)
    before, after = photo[:, 4:-4], photo[:, :-8]  # the camera moves 4 px left: content moves right
    filtered = carried_colours(before, before, after)
    carried = carried_colours(before, before, after, as_hints=True)
    hints = carried.hints
    inner = hints.mask[8:-8, 12:-8]
    assert inner.mean() > 0.9 and not hints.mask[:, :2].any()  # the new strip on the left is left to the model
    true_ab = bgr_to_lab(after)[..., 1:]
    assert np.abs(hints.ab[hints.mask] - true_ab[hints.mask]).mean() * 127.5 < 1.5
    assert (carried.confidence[hints.mask] == 1).all() and (carried.confidence[:, :2] == 0).all()
    assert filtered.hints.count == 0 and np.allclose(filtered.confidence, PERSISTENCE * carried.confidence)
    assert np.array_equal(filtered.ab, carried.ab)


def test_the_forward_backward_check_finds_occlusions():
    h, w = 40, 50
    backward = np.zeros((h, w, 2), np.float32)
    forward = np.zeros((h, w, 2), np.float32)
    backward[10:20, 10:20] = (5, 0)  # these pixels say they come from 5 px to the right ...
    assert reliable(backward, forward)[:5].all()
    assert not reliable(backward, forward)[12:18, 12:18].any()  # ... where no forward flow comes from
    forward[10:20, 15:25] = (-5, 0)
    assert reliable(backward, forward)[12:18, 12:18].all()
    assert np.allclose(warp(np.arange(w, dtype=np.float32)[None].repeat(h, 0), backward)[15, 12], 17)
    assert optical_flow(np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)).shape == (h, w, 2)


def _first(task: Colorization, frame: np.ndarray, **options) -> Prepared:
    return task.prepare_frame(frame, 16, None, 0, **options)


def test_any_model_carries_its_colours_and_a_hint_model_may_take_them_as_hints():
    frames = pan_zoom(_textured(1), 2, 24, 32)
    plain = Colorization()
    filtered = plain.carry(_first(plain, frames[0]), frames[0], frames[1])
    assert filtered.hints.count == 0 and 0.5 < filtered.confidence.max() <= PERSISTENCE
    assert plain.prepare_frame(frames[1], 16, filtered, 1).context["hints"] is None
    with pytest.raises(InputError, match="--propagation hints needs a model trained with --hints yes"):
        plain.check_run_options({"propagation": "hints"})
    task = Colorization(hints=True)
    carried = task.carry(_first(task, frames[0], propagation="hints"), frames[0], frames[1])
    assert carried.hints.count > 0
    context = task.prepare_frame(frames[1], 16, carried, 1, propagation="hints").context
    assert context["hints"] is carried.hints and context["carried"] is carried and context["propagation"] == "hints"
    first = task.prepare_frame(frames[0], 16, None, 0, hint=("3,3,red",)).context["hints"]
    assert first.mask[3, 3] and task.prepare_frame(frames[1], 16, None, 5, hint=("3,3,red",)).context["hints"] is None


def test_a_folder_of_hints_gives_each_keyframe_its_own_over_the_carried_colours(tmp_path):
    frames = pan_zoom(_textured(1), 3, 24, 32)
    layer = np.zeros((24, 32, 4), np.uint8)
    layer[4:8, 5:9] = (200, 40, 30, 255)
    (tmp_path / "keys").mkdir()
    Image.fromarray(layer, "RGBA").save(tmp_path / "keys" / "2.png")
    task = Colorization(hints=True)
    assert task.prepare_frame(frames[0], 16, None, 0, hints=tmp_path / "keys").context["hints"] is None  # no 0.png
    carried = task.carry(task.prepare_frame(frames[1], 16, None, 1, propagation="hints"), frames[1], frames[2])
    keyed = task.prepare_frame(frames[2], 16, carried, 2, hints=tmp_path / "keys").context["hints"]
    assert keyed.mask[4:8, 5:9].all() and np.allclose(keyed.ab[6, 6], parse_colour("#c8281e"), atol=1e-3)
    outside = np.ones_like(keyed.mask)
    outside[4:8, 5:9] = False
    assert (keyed.mask[outside] == carried.hints.mask[outside]).all() and carried.hints.count > 16  # they stay
    after_cut = task.prepare_frame(frames[2], 16, None, 2, hints=tmp_path / "keys").context["hints"]
    assert after_cut.count == 16
    with pytest.raises(InputError, match="for videos"):
        task.prepare(frames[0], 16, hints=tmp_path / "keys")
    (tmp_path / "keys" / "frame9.png").write_bytes(b"")
    with pytest.raises(InputError, match="named by frame index"):
        task.prepare_frame(frames[1], 16, carried, 1, hints=tmp_path / "keys")


def _finished(task: Colorization, frame: np.ndarray, carried) -> np.ndarray:
    """``frame`` composed with the colours ``carried`` to it, as if the model had generated gray (ab = 0)."""
    return task.finish(task.prepare_frame(frame, 16, carried, 1), torch.zeros(2, 16, 16))


def test_a_still_frame_keeps_the_colours_it_was_shown_in():
    frame = _textured(3, 48, 64)
    ab = cv2.GaussianBlur(bgr_to_lab(frame)[..., 1:], (0, 0), 3) + 0.003  # a model's: between 8-bit levels
    shown = lab_to_bgr_keeping_lightness(lightness(frame), ab)
    task = Colorization(hints=True)
    again = _finished(task, frame, task.carry(_first(task, frame, propagation="hints"), shown, frame))
    assert (again == shown).all(-1).mean() > 0.75  # 8-bit ab (rounded to whole CIE units) keeps under half
    assert Motion(frame, frame).warp_error(shown, again)["warp_error_ab"] < 0.3


def test_where_the_lightness_changed_the_result_is_blended_with_the_carried_colours():
    photo = _textured(4)
    before = photo[:, 4:-4]
    after = cv2.add(photo[:, :-8], 25)  # moved, and brighter than a hint allows (the model would decide alone)
    task = Colorization(hints=True)
    shown = lab_to_bgr_keeping_lightness(lightness(before), bgr_to_lab(before)[..., 1:])
    carried = task.carry(_first(task, before, propagation="hints"), shown, after)
    assert carried.hints.mask.mean() < 0.5
    seen = carried.confidence[carried.confidence > 0]
    assert seen.size > 0.8 * carried.confidence.size and seen.min() < 1  # reliable flow, partly trusted
    motion = Motion(before, after)
    blended = motion.warp_error(shown, _finished(task, after, carried))["warp_error_ab"]
    hinted_only = Carried(carried.ab, carried.hints.mask.astype(np.float32), carried.hints)
    assert blended < 0.5 * motion.warp_error(shown, _finished(task, after, hinted_only))["warp_error_ab"]


def test_given_hints_travel_along_the_flow_with_the_filter():
    photo = _textured(0)
    before, after = photo[:, 4:-4], photo[:, :-8]  # the camera moves 4 px left: content moves right
    task = Colorization(hints=True)
    first = _first(task, before, hint=("40,30,red",), hint_radius=3)
    given = first.context["hints"]
    moved = task.carry(first, before, after).hints
    assert moved.count == given.count
    (ys, xs), (moved_ys, moved_xs) = np.nonzero(given.mask), np.nonzero(moved.mask)
    assert abs(moved_xs.mean() - xs.mean() - 4) < 0.5 and abs(moved_ys.mean() - ys.mean()) < 0.5
    assert np.allclose(moved.ab[moved.mask], parse_colour("red"), atol=1e-3)
    assert task.prepare_frame(after, 16, task.carry(first, before, after), 1).context["hints"].count == moved.count
    dot = _first(task, before, hint=("40,30,red",), hint_radius=0)  # one pixel stays one pixel
    assert dot.context["hints"].count == 1
    assert np.argwhere(task.carry(dot, before, after).hints.mask).tolist() == [[30, 44]]


@pytest.fixture(scope="module")
def hint_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("video-hints") / "ckpt"
    torch.manual_seed(0)
    Palette.create(Colorization(hints=True), "tiny", steps=2).save(path)
    return path


def _ab(path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [bgr_to_lab(frame.picture)[..., 1:] * 127.5 for frame in reader]


def test_carried_colours_make_a_video_steadier(tmp_path, hint_checkpoint):
    clip = tmp_path / "pan.mp4"
    write_video(clip, pan_zoom(_textured(2, 192, 256), 6, 48, 64, zoom=1.1, pan=0.1), audio=False)
    model = Palette.load(hint_checkpoint)
    restore_video(model, clip, [tmp_path / "filter.mp4"], [0], None, None, {}, {})
    restore_video(model, clip, [tmp_path / "hints.mp4"], [0], None, None, {"propagation": "hints"}, {})
    model.task.carry = lambda previous, result, frame: None  # every frame on its own, the same seed
    restore_video(model, clip, [tmp_path / "independent.mp4"], [0], None, None, {}, {})
    with VideoReader(clip) as reader:
        given = [lightness(frame.picture) for frame in reader]
    change = {}
    for name in ("filter", "hints", "independent"):  # Lai et al.'s warp error of ab, along the input's own flow
        ab = _ab(tmp_path / f"{name}.mp4")
        errors = []
        for t in range(1, len(ab)):
            backward, forward = optical_flow(given[t], given[t - 1]), optical_flow(given[t - 1], given[t])
            seen = reliable(backward, forward)
            errors.append(np.abs(ab[t] - warp(ab[t - 1], backward))[seen].mean())
        change[name] = float(np.mean(errors))
    assert max(change["filter"], change["hints"]) < 0.5 * change["independent"], change
