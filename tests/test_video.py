"""Videos through ``infer``: streamed frames, the same size, frame rate, frame count, duration, audio and
rotation; the lightness of every frame kept; all-or-nothing outputs; one line per bad video; the carry hook."""
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from palette_kit.errors import InputError
from palette_kit.imageio import collect_inputs
from palette_kit.model import Palette
from palette_kit.testing import run_cli, synthetic_photo
from palette_kit.video.frames import gray_histogram, restore_video, scene_cut
from palette_kit.video.io import VideoReader, VideoWriter, read_tags
from palette_kit.video.synthetic import pan_zoom, write_video
from palette_kit_colorization import Colorization
from palette_kit_colorization.lab import lightness

#: Largest mean |L| difference (8-bit OpenCV Lab levels; 3 is 1.2 L*) between a frame and its result after
#: H.264 at CRF 16 with 4:2:0 chroma: the codec's loss, measured 2.3 on these clips with smooth colours.
L_TOLERANCE = 3.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "ckpt"
    torch.manual_seed(0)
    Palette.create(Colorization(), "tiny", steps=2).save(path)
    return path


def _clip(path: Path, frames: int = 8, seed: int = 0, **options) -> Path:
    photo = synthetic_photo(np.random.default_rng(seed), 96, 128)
    write_video(path, pan_zoom(photo, frames, 24, 32), **options)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.picture for frame in reader]


def _streams(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first = next(container.decode(video))
        return {"size": (video.width, video.height), "rate": video.average_rate, "frames": video.frames,
                "duration": container.duration, "audio": [s.codec_context.name for s in container.streams.audio],
                "rotation": first.rotation}


def _smooth_colours(self, y_cond, steps=None, sampler=None, generator=None):
    """Sampling replaced by smooth colours (an untrained model's are per-pixel noise, which 4:2:0 chroma
    cannot hold, and that moves L by ~12 levels; a trained model's colours are smooth)."""
    ramp = torch.linspace(-0.3, 0.3, y_cond.shape[-1])
    return torch.stack([ramp.expand(y_cond.shape[-2], -1), -ramp[:, None].expand(-1, y_cond.shape[-1]).T])[None] \
        .expand(y_cond.shape[0], -1, -1, -1)


def test_a_video_keeps_size_rate_frames_duration_audio_rotation_and_lightness(tmp_path, checkpoint, monkeypatch):
    clip = _clip(tmp_path / "clip.mp4", rotation=90)
    monkeypatch.setattr(Palette, "sample", _smooth_colours)
    done = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, clip)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "clip.colorization.mp4"
    assert _streams(out) == _streams(clip) == {**_streams(clip), "frames": 8, "audio": ["aac"], "rotation": 90}
    for given, result in zip(_frames(clip), _frames(out), strict=True):
        assert np.abs(lightness(result).astype(float) - lightness(given)).mean() < L_TOLERANCE
    tags = read_tags(out)
    assert tags["software"].startswith("palette-kit") and tags["seed"] == "0" and tags["input"] == "clip.mp4"
    again = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, tmp_path)
    assert again.returncode == 0 and "->" not in again.stdout, again.stderr  # the output is never an input


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mov", ".avi"])
def test_every_container_round_trips_with_its_audio(tmp_path, suffix):
    codec, audio = {".webm": ("libvpx-vp9", "libopus"), ".avi": ("mpeg4", "mp3")}.get(suffix, ("libx264", "aac"))
    clip = _clip(tmp_path / f"clip{suffix}", codec=codec, audio_codec=audio)
    with VideoReader(clip) as reader, VideoWriter(tmp_path / f"out{suffix}", clip, reader.info) as writer:
        for frame in reader:
            writer.write(255 - frame.picture, frame.pts)
    assert _streams(tmp_path / f"out{suffix}")["audio"] == _streams(clip)["audio"] != []
    given, written = _frames(clip), _frames(tmp_path / f"out{suffix}")
    assert len(given) == len(written) == 8
    assert np.abs(written[3].astype(float) - (255 - given[3])).mean() < 4


def test_variable_frame_rates_keep_every_timestamp(tmp_path):
    clip, pts = tmp_path / "vfr.mkv", [0, 1, 3, 4, 8, 9]
    with av.open(str(clip), "w") as container:
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        for index, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * index, np.uint8), format="bgr24")
            frame.pts, frame.time_base = t, Fraction(1, 12)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    with VideoReader(clip) as reader, VideoWriter(tmp_path / "out.mkv", clip, reader.info) as writer:
        given = [(frame.pts, writer.write(frame.picture, frame.pts))[0] for frame in reader]
    with VideoReader(tmp_path / "out.mkv") as reader:
        assert [frame.pts for frame in reader] == given and len(given) == len(pts)


def test_compare_and_several_samples_make_one_video_each(tmp_path, checkpoint):
    clip = _clip(tmp_path / "clip.mp4", audio=False)
    done = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, clip, "--num-samples", "2",
                   "--seed", "5", "--compare", "--output", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["clip.colorization.compare.mp4", "clip.colorization.s5.mp4", "clip.colorization.s6.mp4"]
    assert read_tags(tmp_path / "out" / "clip.colorization.s6.mp4")["seed"] == "6"
    assert _streams(tmp_path / "out" / "clip.colorization.compare.mp4")["size"] == (3 * 32 + 2 * 4, 24)
    assert _streams(tmp_path / "out" / "clip.colorization.s5.mp4")["audio"] == []


def _bad_videos(folder: Path) -> dict[str, str]:
    """Bad videos in ``folder``, each with what its error line says."""
    whole = _clip(folder / "whole.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[:len(whole) // 2])
    with av.open(str(folder / "sound.mp4"), "w") as container:  # audio only
        sound = container.add_stream("aac", rate=8000)
        sound.layout = "mono"
        tone = av.AudioFrame.from_ndarray(np.zeros((1, 4000), np.float32), format="fltp", layout="mono")
        tone.sample_rate, tone.pts = 8000, 0
        container.mux(sound.encode(tone))
        container.mux(sound.encode(None))
    write_video(folder / "empty.avi", [], audio=False, codec="mpeg4")
    avi = _clip(folder / "odd.avi", codec="mpeg4", audio=False).read_bytes()
    (folder / "odd.avi").write_bytes(avi.replace(b"FMP4", b"QQQQ").replace(b"mp4v", b"qqqq"))  # no such codec
    (folder / "whole.mp4").unlink()
    return {"truncated.mp4": "cannot read the video", "sound.mp4": "no video stream",
            "empty.avi": "no frames", "odd.avi": "unsupported video codec"}


def test_bad_videos_are_one_line_each_and_the_others_are_done(tmp_path, checkpoint):
    expected = _bad_videos(tmp_path)
    _clip(tmp_path / "good.mp4")
    done = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(expected) and "1 written, 4 failed" in done.stderr
    for name, fragment in expected.items():
        assert any(name in line and fragment in line for line in errors), (name, errors)
    assert sorted(p.name for p in tmp_path.iterdir() if "colorization" in p.name) == ["good.colorization.mp4"]


def test_a_video_truncated_after_its_index_fails_whole(tmp_path, checkpoint):
    clip = tmp_path / "clip.mp4"
    _clip(tmp_path / "whole.mp4", frames=12, audio=False)
    faststart = {"movflags": "faststart"}  # the index first: decoding then finds the frames missing
    with av.open(str(tmp_path / "whole.mp4")) as source, av.open(str(clip), "w", options=faststart) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = clip.read_bytes()
    clip.write_bytes(data[:len(data) - len(data) // 4])  # the index says 12 frames; the last ones are gone
    done = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, clip)
    assert done.returncode == 1 and "truncated" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "whole.mp4"]


def test_a_failed_run_leaves_no_output_nor_temporary(tmp_path, checkpoint):
    clip = _clip(tmp_path / "clip.mp4")
    model = Palette.load(checkpoint)
    finish, calls = model.task.finish, []

    def failing(prepared, y_0):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as a user's Ctrl-C in the middle of the video
        return finish(prepared, y_0)

    model.task.finish = failing
    with pytest.raises(KeyboardInterrupt):
        restore_video(model, clip, [tmp_path / "clip.colorization.mp4"], [0], None, None, {}, {},
                      tmp_path / "clip.colorization.compare.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_killed_runs_temporary_is_not_an_input(tmp_path):
    shutil.copy(_clip(tmp_path / "clip.mp4"), tmp_path / ".clip.colorization.mp4.x1y2.partial")
    assert collect_inputs([str(tmp_path)])[0] == [tmp_path / "clip.mp4"]


def test_the_carry_hook_gets_the_previous_result_and_a_scene_cut_resets_it(tmp_path, checkpoint):
    rng = np.random.default_rng(7)
    first, second = synthetic_photo(rng, 96, 128) // 4, 255 - synthetic_photo(rng, 96, 128) // 4
    clip = tmp_path / "cut.mp4"
    write_video(clip, pan_zoom(first, 4, 24, 32) + pan_zoom(second, 4, 24, 32), audio=False)
    model = Palette.load(checkpoint)
    task, results, carried, seen = model.task, [], [], []
    finish, prepare_frame = task.finish, task.prepare_frame

    def carry(previous, result, frame):
        seen.append((previous, result, frame))
        return len(seen)

    def recording_prepare(frame, image_size, carry_in, index, **options):
        carried.append(carry_in)
        return prepare_frame(frame, image_size, None, index, **options)  # what is carried is the task's own

    task.carry, task.prepare_frame = carry, recording_prepare
    task.finish = lambda prepared, y_0: results.append(finish(prepared, y_0)) or results[-1]
    restore_video(model, clip, [tmp_path / "out.mp4"], [0], None, None, {}, {})
    assert carried == [None, 1, 2, 3, None, 4, 5, 6]  # nothing carried into the first frame after the cut
    frames = _frames(clip)
    for (previous, result, frame), before, index in zip(seen, [0, 1, 2, 4, 5, 6], [1, 2, 3, 5, 6, 7]):
        assert result is results[before] and np.array_equal(previous.image, frames[before])
        assert np.array_equal(frame, frames[index])


def test_scene_cuts_are_told_from_camera_motion():
    photo = synthetic_photo(np.random.default_rng(8), 96, 128)
    views = pan_zoom(photo, 10, 48, 64)
    assert not any(scene_cut(gray_histogram(a), gray_histogram(b)) for a, b in zip(views, views[1:]))
    other = 255 - synthetic_photo(np.random.default_rng(9), 48, 64) // 3
    assert scene_cut(gray_histogram(views[-1]), gray_histogram(other))


def test_a_picture_output_name_for_a_video_is_refused(tmp_path, checkpoint):
    clip = _clip(tmp_path / "clip.mp4", audio=False)
    done = run_cli("infer", "--task", "colorization", "--checkpoint", checkpoint, clip, "--output", tmp_path / "x.png")
    assert done.returncode == 1 and "give a video file name" in done.stderr
    with pytest.raises(InputError, match="cannot write videos as"):
        VideoWriter(tmp_path / "x.gif", clip, VideoReader(clip).info)
