"""The colorize queue: one worker thread samples the jobs one at a time, in the order they came; everyone
sees their place in the queue and the sampler's progress."""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from palette_kit.errors import PaletteError
from palette_kit.video import is_video

#: What a job can fail with (a bad picture or video, an option the task refuses); the server goes on.
JOB_ERRORS = (PaletteError, OSError, ValueError)


@dataclass
class Job:
    """One picture to restore with ``seeds`` (one result each), ``steps`` and ``sampler`` (None: the model's),
    and the task's run options."""

    picture: Path
    name: str
    seeds: list[int]
    steps: int | None
    sampler: str | None
    options: dict[str, Any]
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = "queued"  # queued, running, done, failed
    step: int = 0
    total: int = 0
    results: list[str] = field(default_factory=list)  # file ids
    error: str | None = None


class Shelf:
    """The server's own files under ``folder``, by random id; past ``keep`` files the oldest are deleted."""

    def __init__(self, folder: Path, keep: int = 1000) -> None:
        self.folder, self.keep = Path(folder), keep
        self._paths: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()

    def new(self, suffix: str = ".png") -> tuple[str, Path]:
        """A fresh id and the path its file is to be written to (then ``add`` it)."""
        file_id = secrets.token_urlsafe(12)
        return file_id, self.folder / f"{file_id}{suffix}"

    def add(self, file_id: str, path: Path) -> None:
        with self._lock:
            self._paths[file_id] = path
            while len(self._paths) > self.keep:
                self._paths.popitem(last=False)[1].unlink(missing_ok=True)

    def get(self, file_id: str) -> Path | None:
        with self._lock:
            return self._paths.get(file_id)


class Worker:
    """Runs jobs on ``model`` in a daemon thread; results go on ``shelf``; the last ``keep`` jobs are kept."""

    def __init__(self, model, metadata: dict[str, str], shelf: Shelf, keep: int = 200) -> None:
        self.model, self.metadata, self.shelf = model, metadata, shelf
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep
        self._lock = threading.Condition()
        threading.Thread(target=self._run, name="palette-kit-worker", daemon=True).start()

    def submit(self, job: Job) -> Job:
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self._keep and next(iter(self.jobs.values())).state in ("done", "failed"):
                self.jobs.popitem(last=False)
            self._lock.notify()
        return job

    def status(self, job_id: str) -> dict | None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            before = list(self.jobs.values())[:list(self.jobs).index(job_id)]
            ahead = sum(other.state in ("queued", "running") for other in before)
            return {"state": job.state, "queue_position": ahead if job.state == "queued" else 0,
                    "step": job.step, "total": job.total, "error": job.error, "seeds": job.seeds,
                    "results": [f"/api/files/{r}" for r in job.results], "video": is_video(job.picture),
                    "unit": "frame" if is_video(job.picture) else "step"}

    def _next(self) -> Job:
        with self._lock:
            while True:
                job = next((j for j in self.jobs.values() if j.state == "queued"), None)
                if job is not None:
                    job.state = "running"
                    return job
                self._lock.wait()

    def _run(self) -> None:
        while True:
            job = self._next()
            try:
                self._restore(job)
                job.state = "done"
            except JOB_ERRORS as exc:
                job.error, job.state = str(exc).replace(str(self.shelf.folder), "upload"), "failed"

    def _progress(self, job: Job, i: int, *_) -> None:
        job.step = i + 1

    def _restore(self, job: Job) -> None:
        from palette_kit.inference import restore_files

        if is_video(job.picture):
            return self._restore_video(job)
        model = self.model
        job.total = job.steps or model.sampling.steps
        restored = next(restore_files(model, [job.picture], job.seeds, job.steps, job.sampler,
                                      prepare=partial(model.task.prepare, **job.options),
                                      callback=partial(self._progress, job)))
        if restored.error is not None:
            raise PaletteError(restored.error)
        meta = {**self.metadata, "steps": str(job.total), "input": job.name}
        if job.sampler:
            meta["sampler"] = job.sampler
        job.results = [self._save(result, {**meta, "seed": str(seed)})
                       for result, seed in zip(restored.results, job.seeds)]

    def _restore_video(self, job: Job) -> None:
        """One result video per seed (WebM, which browsers play), the hints of ``options`` on its first frame."""
        from palette_kit.video.frames import restore_video

        outputs = [self.shelf.new(".webm") for _ in job.seeds]
        meta = {**self.metadata, "steps": str(job.steps or self.model.sampling.steps)}
        if job.sampler:
            meta["sampler"] = job.sampler

        def progress(done: int, total: int) -> None:
            job.step, job.total = done, max(total, done)

        restore_video(self.model, job.picture, [path for _, path in outputs], job.seeds, job.steps, job.sampler,
                      job.options, meta, progress=progress)
        for file_id, path in outputs:
            self.shelf.add(file_id, path)
        job.results = [file_id for file_id, _ in outputs]

    def _save(self, picture, metadata: dict[str, str]) -> str:
        from palette_kit.imageio import write_image

        file_id, path = self.shelf.new()
        write_image(path, picture, metadata)
        self.shelf.add(file_id, path)
        return file_id
