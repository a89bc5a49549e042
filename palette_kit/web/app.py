"""The web app's routes (Starlette): the page and its static files, picture uploads, colorize jobs and their
files, the study's trials and answers, and the results behind a token.

Every response carries a Content-Security-Policy that lets the page load nothing but this server's own files.
"""
from __future__ import annotations

import csv
import hmac
import html
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from palette_kit.choices import SAMPLERS
from palette_kit.errors import InputError
from palette_kit.imageio import read_image, write_image
from palette_kit.video import is_video
from palette_kit.web.form import describe, is_file, read_options
from palette_kit.web.jobs import Job, Worker
from palette_kit.web.store import ANSWER_COLUMNS
from palette_kit.web.study import Study

STATIC = Path(__file__).parent / "static"
HEADERS = {"Content-Security-Policy": "default-src 'self'; object-src 'none'; "
                                      "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
MAX_SAMPLES = 8
MEDIA_TYPES = {".png": "image/png", ".webm": "video/webm"}


@dataclass(frozen=True)
class Limits:
    """What one upload may be: bytes of the file, pixels of the picture (of a video's frame), frames of a video."""

    max_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_frames: int = 1000


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > request.app.state.limits.max_bytes * 2):
            return JSONResponse({"error": "request too large"}, 413, headers=HEADERS)
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


class App:
    """The state the routes share: the model's worker, the server's own files, the study, the results token."""

    def __init__(self, worker: Worker, limits: Limits, study: Study | None, token: str) -> None:
        self.worker, self.limits, self.study, self.token = worker, limits, study, token
        self.shelf = worker.shelf

    @property
    def model(self):
        return self.worker.model

    def _hidden(self, exc: Exception) -> str:
        """The message of ``exc`` without the server's own folder."""
        return str(exc).replace(str(self.shelf.folder), "upload")

    async def _upload(self, upload: UploadFile, what: str) -> Path:
        """``upload`` saved under a random name of ours, if it is a picture within the limits."""
        data = await upload.read(self.limits.max_bytes + 1)
        if len(data) > self.limits.max_bytes:
            raise InputError(f"{what} is larger than {self.limits.max_bytes // 2**20} MB")
        try:
            with Image.open(io.BytesIO(data)) as picture:
                width, height = picture.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise InputError(f"{what} is not a picture (jpg, png, webp, bmp, tif)") from None
        if width * height > self.limits.max_pixels:
            raise InputError(f"{what} is {width} x {height}, more than {self.limits.max_pixels:,} pixels")
        path = self.shelf.new(".upload")[1]
        path.write_bytes(data)
        return path

    async def task(self, request: Request) -> JSONResponse:
        task, sampling = self.model.task, self.model.sampling
        return JSONResponse({
            "task": task.name, "description": task.description,
            "options": [describe(o) for o in type(task).infer_options],
            "samplers": list(SAMPLERS), "sampler": sampling.sampler, "steps": sampling.steps,
            "max_steps": self.model.schedules.sample.num_train_timesteps, "max_samples": MAX_SAMPLES,
            "max_mb": self.limits.max_bytes // 2**20, "study": self.study is not None})

    async def picture(self, request: Request) -> JSONResponse:
        form = await request.form(max_files=1, max_fields=4, max_part_size=self.limits.max_bytes + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _error("send the picture as the form's 'file'")
        name, raw = upload.filename or "picture", None
        try:
            if is_video(name):
                return await self._video(upload, name)
            raw = await self._upload(upload, name)
            image = await run_in_threadpool(read_image, raw)
        except InputError as exc:
            return _error(self._hidden(exc))
        finally:
            await form.close()
            if raw is not None:
                raw.unlink()
        picture_id, path = self.shelf.new()
        await run_in_threadpool(write_image, path, image)  # decoded and oriented once, as the model sees it
        self.shelf.add(picture_id, path)
        return JSONResponse({"picture": picture_id, "url": f"/api/files/{picture_id}",
                             "width": int(image.shape[1]), "height": int(image.shape[0]), "name": name})

    async def _video(self, upload: UploadFile, name: str) -> JSONResponse:
        """A video saved under a name of ours (only its suffix, one of the known ones, comes from the user), and
        its first frame as the picture hints are painted on."""
        data = await upload.read(self.limits.max_bytes + 1)
        if len(data) > self.limits.max_bytes:
            return _error(f"{name} is larger than {self.limits.max_bytes // 2**20} MB")
        video_id, path = self.shelf.new(Path(name).suffix.lower())
        path.write_bytes(data)
        try:
            first = await run_in_threadpool(self._first_frame, path, name)
        except InputError as exc:
            path.unlink()
            return _error(self._hidden(exc))
        poster_id, poster = self.shelf.new()
        await run_in_threadpool(write_image, poster, first)
        self.shelf.add(poster_id, poster)
        self.shelf.add(video_id, path)
        return JSONResponse({"picture": video_id, "url": f"/api/files/{poster_id}", "video": True,
                             "width": int(first.shape[1]), "height": int(first.shape[0]), "name": name})

    def _first_frame(self, path: Path, name: str):
        from palette_kit.video.io import VideoReader

        with VideoReader(path) as reader:
            info = reader.info
            if info.width * info.height > self.limits.max_pixels or info.frames > self.limits.max_frames:
                raise InputError(f"{name} is {info.width} x {info.height} pixels, {info.frames} frames: more than "
                                 f"{self.limits.max_pixels:,} pixels or {self.limits.max_frames} frames")
            for frame in reader:
                return frame.picture
        raise InputError(f"{name} has no frames")

    async def submit(self, request: Request) -> JSONResponse:
        form = await request.form(max_files=8, max_fields=64, max_part_size=self.limits.max_bytes + 1)
        uploads: dict[str, Path] = {}
        try:
            picture = self.shelf.get(str(form.get("picture", "")))
            if picture is None:
                raise InputError("unknown picture: upload it first")
            seed, samples = _integer(form, "seed", 0), _integer(form, "samples", 1)
            steps = _integer(form, "steps", 0) or None
            sampler = str(form.get("sampler", "")) or None
            if not 1 <= samples <= MAX_SAMPLES:
                raise InputError(f"samples must be 1..{MAX_SAMPLES}")
            total = self.model.schedules.sample.num_train_timesteps
            if steps is not None and not 1 <= steps <= total:
                raise InputError(f"steps must be 1..{total}")
            if sampler is not None and sampler not in SAMPLERS:
                raise InputError(f"sampler must be one of {', '.join(SAMPLERS)}")
            declared = type(self.model.task).infer_options
            fields = {}
            for option in declared:
                value = form.get(f"option.{option.name}")
                if isinstance(value, UploadFile):
                    if is_file(option):
                        uploads[option.name] = path = await self._upload(value, option.flag)
                        self.shelf.add(path.stem, path)  # kept for the job, deleted with the shelf's oldest
                elif value is not None:
                    fields[option.name] = str(value)
            options = read_options(declared, fields, uploads, self.model.task.name)
            self.model.task.check_run_options(options)
            name = str(form.get("name", "picture"))[:200]
        except InputError as exc:
            for path in uploads.values():
                path.unlink()
            return _error(self._hidden(exc))
        finally:
            await form.close()
        job = self.worker.submit(Job(picture, name, [seed + k for k in range(samples)], steps, sampler, options))
        return JSONResponse({"job": job.id, "status": f"/api/jobs/{job.id}"})

    async def job(self, request: Request) -> JSONResponse:
        status = self.worker.status(request.path_params["job"])
        return _error("unknown job", 404) if status is None else JSONResponse(status)

    async def file(self, request: Request) -> Response:
        path = self.shelf.get(request.path_params["file"])
        if path is None:
            return _error("unknown file", 404)
        media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        if request.query_params.get("download"):
            return FileResponse(path, media_type=media, filename=f"palette-kit-{path.stem}{path.suffix}")
        return FileResponse(path, media_type=media)

    async def next_trial(self, request: Request) -> JSONResponse:
        if self.study is None:
            return _error("no study is running", 404)
        body = await _json(request)
        rater = body.get("rater")
        if not (isinstance(rater, str) and 8 <= len(rater) <= 64 and rater.replace("-", "").replace("_", "").isalnum()):
            rater = secrets.token_urlsafe(12)
        trial = await run_in_threadpool(self.study.next_trial, rater)
        return JSONResponse({**trial, "rater": rater})

    async def answer(self, request: Request) -> JSONResponse:
        if self.study is None:
            return _error("no study is running", 404)
        body = await _json(request)
        try:
            response_ms = float(body.get("response_ms"))
            result = await run_in_threadpool(self.study.answer, str(body.get("rater")), str(body.get("trial")),
                                             str(body.get("choice")), response_ms)
        except (TypeError, ValueError):
            return _error("response_ms must be a number")
        except InputError as exc:
            return _error(str(exc))
        return JSONResponse(result)

    async def study_image(self, request: Request) -> Response:
        data = self.study.image(request.path_params["name"]) if self.study else None
        if data is None:
            return _error("unknown picture", 404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    def _allowed(self, request: Request) -> bool:
        given = request.query_params.get("token", "")
        return self.study is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def results(self, request: Request) -> Response:
        if not self._allowed(request):
            return HTMLResponse("<p>A results token is needed (printed when the server started).</p>", 403)
        rows = "".join(f"<tr><td>{html.escape(r.model)}</td><td>{r.rate:.1%}</td><td>{r.interval[0]:.1%} – "
                       f"{r.interval[1]:.1%}</td><td>{r.n}</td></tr>" for r in self.study.store.fool_rates())
        token = html.escape(request.query_params["token"])
        page = (STATIC / "results.html").read_text().replace("{rows}", rows or '<tr><td colspan="4">no answers yet'
                                                             '</td></tr>').replace("{token}", token)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def results_csv(self, request: Request) -> Response:
        if not self._allowed(request):
            return _error("a results token is needed", 403)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ANSWER_COLUMNS)
        writer.writeheader()
        writer.writerows(self.study.store.answers())
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="study-answers.csv"', "Cache-Control": "no-store"})


def _integer(form, name: str, default: int) -> int:
    text = str(form.get(name, "")).strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise InputError(f"{name} must be a whole number, not {text[:20]!r}") from None


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def create_app(state: App) -> Starlette:
    """The Starlette application serving ``state``."""
    app = Starlette(routes=[
        Route("/", _index),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/task", state.task),
        Route("/api/pictures", state.picture, methods=["POST"]),
        Route("/api/jobs", state.submit, methods=["POST"]),
        Route("/api/jobs/{job}", state.job),
        Route("/api/files/{file}", state.file),
        Route("/api/study/next", state.next_trial, methods=["POST"]),
        Route("/api/study/answer", state.answer, methods=["POST"]),
        Route("/api/study/image/{name}", state.study_image),
        Route("/results", state.results),
        Route("/results.csv", state.results_csv),
    ], middleware=[Middleware(_Headers)])
    app.state.limits = state.limits
    return app
