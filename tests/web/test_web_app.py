"""HTTP-level tests of the colorize side of the web app: the page, the task's form, uploads and their limits,
jobs with progress and queue positions, results with provenance, and hints painted as an RGBA layer."""
import io
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from palette_kit.imageio import read_metadata  # noqa: E402
from palette_kit.web.app import STATIC, Limits  # noqa: E402
from palette_kit.web.jobs import Job, Shelf, Worker  # noqa: E402

from web_helpers import SAMPLE, build_app  # noqa: E402


@pytest.fixture
def client(tiny_model, tmp_path):
    app, _ = build_app(tiny_model, tmp_path)
    with TestClient(app) as client:
        yield client


def upload(client, data: bytes = SAMPLE.read_bytes(), name: str = "seeding-gray.jpg"):
    return client.post("/api/pictures", files={"file": (name, data, "image/jpeg")})


def run(client, picture: str, hints: bytes | None = None, option: str = "hints", **fields) -> dict:
    """The finished job of ``picture`` with the picture ``hints`` as the task's ``option`` and form ``fields``."""
    files = {f"option.{option}": ("paint.png", hints, "image/png")} if hints is not None else None
    submitted = client.post("/api/jobs", data={"picture": picture, **fields}, files=files)
    assert submitted.status_code == 200, submitted.text
    for _ in range(600):
        status = client.get(submitted.json()["status"]).json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError("the job never finished")


def png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_page_loads_only_its_own_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9]", text.replace("http://", "").replace("https://", "")) \
            and "://" not in text, f"{path.name} names another host"
        if path.name != "results.html":
            assert client.get(f"/static/{path.name}").status_code == 200
    for src in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
        assert src.startswith("/static/") and client.get(src).status_code == 200


def test_the_form_is_the_tasks_declared_options(client):
    from palette_kit.tasks import load_task

    task = client.get("/api/task").json()
    declared = load_task("colorization").infer_options
    assert [o["name"] for o in task["options"]] == [o.name for o in declared]
    kinds = {o["name"]: o for o in task["options"]}
    assert kinds["hints"]["kind"] == "picture" and kinds["hint"]["multiple"] is True
    assert kinds["hint_radius"]["kind"] == "number" and kinds["hint_radius"]["min"] == 0
    assert task["steps"] == 2 and task["sampler"] == "ddim" and "dpmsolver" in task["samplers"]


def test_a_picture_is_restored_with_progress_and_downloads_with_provenance(client, tmp_path):
    picture = upload(client).json()
    assert (picture["width"], picture["height"]) == (480, 270)
    status = run(client, picture["picture"], seed="5", samples="2")
    assert status["state"] == "done" and status["step"] == status["total"] == 2 and status["seeds"] == [5, 6]
    assert len(status["results"]) == 2
    download = client.get(status["results"][1], params={"download": "1"})
    assert download.headers["content-disposition"].startswith("attachment") and download.headers[
        "content-type"] == "image/png"
    (tmp_path / "got.png").write_bytes(download.content)
    meta = read_metadata(tmp_path / "got.png")
    assert meta["seed"] == "6" and meta["task"] == "colorization" and meta["input"] == "picture" \
        and meta["steps"] == "2"
    assert Image.open(io.BytesIO(download.content)).size == (480, 270)


def test_painted_hints_change_the_result_and_the_same_seed_repeats(client):
    picture = upload(client).json()["picture"]
    plain = [client.get(run(client, picture, seed="1")["results"][0]).content for _ in range(2)]
    layer = np.zeros((270, 480, 4), np.uint8)
    layer[100:170, 200:300] = (220, 30, 30, 255)
    hinted = client.get(run(client, picture, hints=png(layer, "RGBA"), seed="1")["results"][0]).content
    assert plain[0] == plain[1] and hinted != plain[0]
    red = np.asarray(Image.open(io.BytesIO(hinted)).convert("RGB"), np.int16)[135, 250]
    gray = np.asarray(Image.open(io.BytesIO(plain[0])).convert("RGB"), np.int16)[135, 250]
    assert red[0] - red[2] > gray[0] - gray[2]  # redder where the hint was painted


def test_bad_uploads_are_refused_with_a_message(tiny_model, tmp_path):
    app, state = build_app(tiny_model, tmp_path, limits=Limits(max_bytes=60_000, max_pixels=200_000))
    with TestClient(app) as client:
        cases = [(upload(client, b"hello, not a picture", "notes.txt"), "not a picture"),
                 (upload(client, b"x" * 70_000, "big.jpg"), "larger than"),
                 (upload(client, png(np.zeros((500, 500), np.uint8), "L"), "huge.png"), "more than 200,000 pixels"),
                 (client.post("/api/pictures", data={"nothing": "here"}), "form's 'file'"),
                 (client.post("/api/pictures", content=b"x", headers={"content-length": "999999999"}),
                  "request too large")]
        picture = upload(client).json()["picture"]
        for fields, message in [({"picture": "nope"}, "unknown picture"),
                                ({"picture": picture, "option.hints": "/etc/passwd"}, "send a picture, not a path"),
                                ({"picture": picture, "samples": "99"}, "samples must be"),
                                ({"picture": picture, "steps": "x"}, "steps must be a whole number"),
                                ({"picture": picture, "sampler": "magic"}, "sampler must be one of")]:
            cases.append((client.post("/api/jobs", data=fields), message))
        cases.append((client.post("/api/jobs", data={"picture": picture},
                                  files={"option.hints": ("h.png", b"not a png", "image/png")}), "not a picture"))
        for response, message in cases:
            assert response.status_code in (400, 413) and message in response.json()["error"], response.text
            assert str(tmp_path) not in response.text  # our own paths never reach the user
        assert not list((tmp_path / "files").glob("*.upload"))  # refused uploads leave nothing
        failed = run(client, picture, **{"option.hint": "1,2"})  # the task reads its options when it prepares
        assert failed["state"] == "failed" and "is not X,Y,COLOUR" in failed["error"] and not failed["results"]


def test_hints_need_a_model_trained_with_them(tmp_path):
    import torch

    from palette_kit.model import Palette
    from palette_kit.tasks import load_task

    torch.manual_seed(0)
    Palette.create(load_task("colorization")(), "tiny", sampler="ddim", steps=1).save(tmp_path / "plain")
    app, _ = build_app(Palette.load(tmp_path / "plain"), tmp_path)
    with TestClient(app) as client:
        picture = upload(client).json()["picture"]
        refused = client.post("/api/jobs", data={"picture": picture, "option.hint": "10,10,red"})
        assert refused.status_code == 400 and "trained without colour hints" in refused.json()["error"]


def test_unknown_jobs_and_files_are_not_found(client):
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/files/nope").status_code == 404
    assert client.get("/api/files/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert client.post("/api/study/next", json={}).status_code == 404  # no study on this server
    assert client.post("/api/study/answer", json={}).status_code == 404
    assert client.get("/api/study/image/x").status_code == 404
    assert client.get("/results", params={"token": "the-token"}).status_code == 403


def test_the_oldest_files_go_past_the_shelfs_limit(tmp_path):
    shelf = Shelf(tmp_path, keep=2)
    ids = []
    for k in range(3):
        file_id, path = shelf.new()
        path.write_bytes(b"%d" % k)
        shelf.add(file_id, path)
        ids.append(file_id)
    assert shelf.get(ids[0]) is None and not list(tmp_path.glob(f"{ids[0]}*"))
    assert shelf.get(ids[2]).read_bytes() == b"2"


class _Held(Worker):
    """A worker whose jobs wait for ``release``, so queue positions can be read."""

    def __init__(self, folder) -> None:
        self.release = threading.Event()
        super().__init__(None, {}, Shelf(folder))

    def _restore(self, job: Job) -> None:
        job.total = 3
        self.release.wait(10)
        job.step = 3


def test_jobs_run_one_at_a_time_and_see_their_place_in_the_queue(tmp_path):
    worker = _Held(tmp_path)
    jobs = [worker.submit(Job(tmp_path / "x.png", "x", [0], None, None, {})) for _ in range(3)]
    for _ in range(200):
        if worker.status(jobs[0].id)["state"] == "running":
            break
        time.sleep(0.01)
    states = [worker.status(job.id) for job in jobs]
    assert [s["state"] for s in states] == ["running", "queued", "queued"]
    assert [s["queue_position"] for s in states] == [0, 1, 2]
    worker.release.set()
    for _ in range(500):
        if all(worker.status(job.id)["state"] == "done" for job in jobs):
            break
        time.sleep(0.01)
    assert all(worker.status(job.id)["state"] == "done" for job in jobs)


def test_another_task_works_through_its_own_options(tmp_path):
    """Inpainting's --mask is a picture option too: the same form and routes restore a painted hole."""
    import torch

    from palette_kit.model import Palette
    from palette_kit.tasks import load_task

    torch.manual_seed(0)
    Palette.create(load_task("inpainting")(), "tiny", sampler="ddim", steps=1).save(tmp_path / "inpaint")
    app, _ = build_app(Palette.load(tmp_path / "inpaint"), tmp_path)
    with TestClient(app) as client:
        assert [o["name"] for o in client.get("/api/task").json()["options"]] == ["mask"]
        photo = np.zeros((40, 60, 3), np.uint8)
        photo[:, 30:] = (40, 200, 90)
        picture = upload(client, png(photo, "RGB"), "photo.png").json()["picture"]
        mask = np.zeros((40, 60), np.uint8)
        mask[10:30, 20:40] = 255
        status = run(client, picture, png(mask, "L"), option="mask")
        assert status["state"] == "done", status
        result = np.asarray(Image.open(io.BytesIO(client.get(status["results"][0]).content)).convert("RGB"))
        assert (result[:5] == photo[:5]).all()  # the known pixels are kept exactly


def test_a_video_is_restored_frame_by_frame_and_refused_when_too_long(tiny_model, tmp_path):
    from palette_kit.testing import synthetic_photo
    from palette_kit.video.io import VideoReader, read_tags
    from palette_kit.video.synthetic import pan_zoom, write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, pan_zoom(synthetic_photo(np.random.default_rng(0), 60, 80), 4, 32, 48), audio=False)
    app, _ = build_app(tiny_model, tmp_path, limits=Limits(max_frames=3))
    with TestClient(app) as client:
        refused = upload(client, clip.read_bytes(), "clip.mp4")
        assert refused.status_code == 400 and "4 frames" in refused.json()["error"]
        bad = upload(client, b"not a video at all", "clip.webm")
        assert bad.status_code == 400 and bad.json()["error"] and str(tmp_path) not in bad.text
    app, _ = build_app(tiny_model, tmp_path / "again", limits=Limits())
    with TestClient(app) as client:
        video = upload(client, clip.read_bytes(), "clip.mp4").json()
        assert video["video"] is True and (video["width"], video["height"]) == (48, 32)
        assert client.get(video["url"]).headers["content-type"] == "image/png"  # its first frame, to paint on
        layer = np.zeros((32, 48, 4), np.uint8)
        layer[8:24, 8:24] = (220, 30, 30, 255)
        status = run(client, video["picture"], png(layer, "RGBA"), seed="3")
        assert status["state"] == "done" and status["video"] and status["unit"] == "frame", status
        assert status["step"] == status["total"] == 4
        got = client.get(status["results"][0], params={"download": "1"})
        assert got.headers["content-type"] == "video/webm" and ".webm" in got.headers["content-disposition"]
        (tmp_path / "got.webm").write_bytes(got.content)
        with VideoReader(tmp_path / "got.webm") as reader:
            assert (reader.info.width, reader.info.height) == (48, 32) and len(list(reader)) == 4
        assert read_tags(tmp_path / "got.webm")["seed"] == "3"
