"""The colorization Turing test (Zhang et al. 2016): pairs of a real photo and a model's restoration of its
condition, shown side by side for a moment; the rater says which one is real.

Both pictures of a pair are re-encoded the same way (same size, JPEG, no metadata) and served under opaque
random names made afresh for every trial, so nothing but the pixels tells them apart.
"""
from __future__ import annotations

import io
import json
import math
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from palette_kit.errors import InputError
from palette_kit.web.store import Store, Trial

if TYPE_CHECKING:
    from palette_kit.model import Palette

#: Longest side of the pictures raters see, and their JPEG quality.
SHOW_SIDE, SHOW_QUALITY = 512, 92
SIDES = ("left", "right")
_random = secrets.SystemRandom()


def shown(picture: np.ndarray, width: int, height: int) -> bytes:
    """A BGR picture as the rater sees it: ``width`` x ``height``, baseline JPEG, no metadata at all."""
    rgb = Image.fromarray(np.ascontiguousarray(picture[..., ::-1]))
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=SHOW_QUALITY, optimize=False, progressive=False)
    return buffer.getvalue()


def display_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) of a picture scaled so its longest side is at most ``SHOW_SIDE``."""
    scale = min(1.0, SHOW_SIDE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Pair:
    """A real photo and a model's picture made from it, both as the rater sees them."""

    pair: str
    model: str
    real: bytes
    generated: bytes


def make_pair(pair: str, model: str, real: np.ndarray, generated: np.ndarray) -> Pair:
    """The pair of ``real`` and ``generated`` (any size: it is shown at the real one's)."""
    width, height = display_size(*real.shape[:2])
    return Pair(pair, model, shown(real, width, height), shown(generated, width, height))


@dataclass(frozen=True)
class StudySettings:
    trials: int = 10
    practice: int = 2
    show_seconds: float = 1.0


class Study:
    """Trials for raters drawn from ``pairs``, their answers kept in ``store``; ``settings`` of each model
    (checkpoint, sampler, steps, seed) are saved with every answer."""

    def __init__(self, pairs: list[Pair], store: Store, settings: StudySettings,
                 model_settings: dict[str, dict[str, str]]) -> None:
        if not pairs:
            raise InputError("the study has no pairs: no picture of --study could be restored")
        self.pairs = {pair.pair: pair for pair in pairs}
        self.store, self.settings = store, settings
        self._saved = {model: json.dumps({**given, "show_seconds": settings.show_seconds}, sort_keys=True)
                       for model, given in model_settings.items()}
        self._images: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._practice: dict[str, int] = {}

    def next_trial(self, rater: str) -> dict:
        """The rater's next trial as the page needs it (opaque picture names only), or ``{"done": True}``."""
        with self._lock:
            practised = self._practice.get(rater, 0)
            answered, seen, open_trial = self.store.rater_progress(rater)
            if practised < self.settings.practice and not answered and open_trial is None:
                self._practice[rater] = practised + 1
                trial = self._draw(rater, set(), practice=True)
            elif answered >= self.settings.trials:
                return {"done": True, "answered": answered}
            elif open_trial is not None and open_trial.pair in self.pairs:
                trial = open_trial
            else:
                trial = self._draw(rater, seen, practice=False)
            left, right = self._names(trial)
        number = practised + 1 if trial.practice else answered + 1
        return {"trial": trial.trial, "practice": trial.practice, "number": number,
                "of": self.settings.practice if trial.practice else self.settings.trials,
                "left": f"/api/study/image/{left}", "right": f"/api/study/image/{right}",
                "show_seconds": self.settings.show_seconds}

    def _draw(self, rater: str, seen: set[str], practice: bool) -> Trial:
        fresh = [name for name in self.pairs if name not in seen] or list(self.pairs)
        pair = self.pairs[_random.choice(fresh)]
        trial = Trial(secrets.token_urlsafe(12), rater, pair.pair, pair.model, _random.choice(SIDES), practice)
        self.store.add_trial(trial, self._saved[pair.model])
        return trial

    def _names(self, trial: Trial) -> tuple[str, str]:
        """Fresh opaque names of the trial's left and right pictures."""
        pair = self.pairs[trial.pair]
        real, generated = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self._images[real], self._images[generated] = pair.real, pair.generated
        return (real, generated) if trial.real_side == "left" else (generated, real)

    def image(self, name: str) -> bytes | None:
        return self._images.get(name)

    def answer(self, rater: str, trial_id: str, choice: str, response_ms: float) -> dict:
        """Record ``choice`` for a study trial (practice trials get feedback instead); the same answer twice
        counts once."""
        trial = self.store.trial(trial_id)
        if trial is None or trial.rater != rater:
            raise InputError("unknown trial")
        if choice not in SIDES:
            raise InputError("choice must be 'left' or 'right'")
        if not (math.isfinite(response_ms) and 0 <= response_ms <= 3_600_000):
            raise InputError("response_ms must be a time in milliseconds")
        if trial.practice:
            return {"practice": True, "correct": choice == trial.real_side, "real": trial.real_side}
        return {"practice": False, "recorded": self.store.answer(trial, choice, response_ms)}


def prepare_pairs(root: Path, photos: list[Path], models: dict[str, Palette], seed: int,
                  report: Callable[[str], None]) -> list[Pair]:
    """A pair per photo (under ``root``, which names them) and model: the photo and the model's restoration of
    the task's condition of it (colorization: of its gray version), sampled with ``seed``. Photos that cannot be
    read are reported."""
    from palette_kit.inference import restore_files

    pairs = []
    for name, model in models.items():
        for restored in restore_files(model, photos, [seed]):
            if restored.error is not None:
                report(f"skipped {restored.source}: {restored.error}")
                continue
            key = f"{name}:{restored.source.relative_to(root).as_posix()}"
            pairs.append(make_pair(key, name, restored.image, restored.results[0]))
            report(f"prepared {key}")
    return pairs
