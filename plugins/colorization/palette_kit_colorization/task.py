"""The colorization task: the model sees a photo's Lab lightness L and generates its colours ab.

With the ``hints`` option the condition also holds colour hints: L, the hints spread over the picture by
Levin et al.'s propagation (``propagation.py``) and the hint mask. That propagation is the task's ``base``:
the model generates only what it changes (residual diffusion), so it starts from the classical method.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import click
import numpy as np

from palette_kit.errors import InputError
from palette_kit.imageio import resize, to_unit
from palette_kit.lazy import lazy
from palette_kit.tasks.base import Item, Option, Prepared, Task

from palette_kit_colorization.flow import Carried, carried_colours
from palette_kit_colorization.hints import (Hints, evaluation_hints, keyframe_layers, point_hints, read_hints,
                                            training_hints)
from palette_kit_colorization.lab import bgr_to_lab, lab_to_bgr, lab_to_bgr_keeping_lightness, lightness
from palette_kit_colorization.propagation import propagate

cv2 = lazy("cv2")
torch = lazy("torch")


#: Side of the square on which hints are propagated (Levin et al.) for the condition: a model's resolution,
#: where the solve takes milliseconds, whatever size the condition is made at (224 px with an encoder).
PROPAGATION_SIZE = 64
#: How a video's colours travel from frame to frame (``flow.carried_colours``).
PROPAGATIONS = ("filter", "hints")


def _channels_last(tensor: torch.Tensor) -> np.ndarray:
    """(..., C, H, W) tensor as a float32 (..., H, W, C) array on the CPU."""
    return tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy()


@cache
def _gray_for_lightness() -> np.ndarray:
    """For every 8-bit L, the gray level (B = G = R) whose 8-bit L is closest, ties by exact CIE L*.

    Grays have neutral colour (8-bit a = b = 128) and reach 238 of the 256 L levels exactly; the other
    18 get a gray one level off (no gray has them).
    """
    grays = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)
    levels = lightness(grays)[0].astype(np.float64)
    exact = cv2.cvtColor(grays.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[0, :, 0] * (255 / 100)
    wanted = np.arange(256, dtype=np.float64)[:, None]
    cost = np.abs(levels - wanted) * 1000 + np.abs(exact - wanted)
    return cost.argmin(axis=1).astype(np.uint8)


class Colorization(Task):
    """Grayscale to colour in OpenCV 8-bit Lab: condition L (1 channel), target ab (2 channels).

    With ``hints``, the condition is L, the propagated hint ab (2) and the hint mask (1): 4 channels.
    """

    name = "colorization"
    description = "Colour grayscale photos: generates Lab colour (ab) for the photo's lightness (L)."
    target_channels = 2
    default_checkpoint = Path(__file__).parent / "default_model"
    options = (Option("hints", click.BOOL, False,
                      "Train with simulated colour hints (none in 30% of pairs), so the model takes hints "
                      "and colours automatically without them."),)
    infer_options = (
        Option("hints", click.Path(path_type=Path), None,
               "RGBA picture of colour hints over the photo (any size, same aspect ratio): pixels with "
               "alpha > 0 are hints of their RGB colour (lightness ignored). For a video: the first frame's, "
               "or a folder of one per keyframe named by frame index (0.png, 48.png, ...)."),
        Option("hint", str, None, "A colour hint X,Y,COLOUR (X, Y in the photo's pixels; COLOUR #rrggbb or "
               "a CSS name); repeatable.", multiple=True),
        Option("hint_radius", click.IntRange(0), 3, "Radius in the photo's pixels of each --hint."),
        Option("propagation", click.Choice(PROPAGATIONS), "filter",
               "Videos: how colours travel from frame to frame along the optical flow. filter: every frame is "
               "coloured afresh and blended with the previous frame's colours (given hints travel along); "
               "hints: the previous frame's colours are the next frame's hints (steadier, but errors add up "
               "over a shot; needs a model trained with hints)."),
    )
    eval_options = (Option("hints", click.IntRange(0, 10_000), 0,
                           "Hints per picture drawn from its true colours (seeded: the same K, the same "
                           "hints); the baseline is then Levin et al.'s propagation of the same hints."),)

    @property
    def cond_channels(self) -> int:
        return 4 if self.settings["hints"] else 1

    def _condition(self, lab: np.ndarray, hints: Hints | None) -> torch.Tensor:
        """(C, S, S) condition from a picture's Lab (S, S, 3) in [-1, 1] and its hints at that size."""
        channels = [lab[..., :1]]
        if self.settings["hints"]:
            size = lab.shape[:2]
            hints = hints or Hints.none(*size)
            small = hints.resized(PROPAGATION_SIZE, PROPAGATION_SIZE)
            level = resize((lab[..., 0] + 1) * 127.5, PROPAGATION_SIZE, PROPAGATION_SIZE)
            base = resize(propagate(level, small.ab, small.mask), size[1], size[0])
            channels += [base.reshape(*size, 2), hints.mask[..., None].astype(np.float32) * 2 - 1]
        return torch.from_numpy(np.concatenate(channels, axis=-1)).permute(2, 0, 1).contiguous()

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """A square BGR picture as (condition, ab) in [-1, 1]; the hints are drawn from ``rng``."""
        lab = bgr_to_lab(picture)
        hints = None
        if self.settings["hints"]:
            seed = int(torch.randint(2**62, (1,), generator=rng))
            hints = training_hints(lab[..., 1:], np.random.default_rng(seed))
        y_0 = torch.from_numpy(lab[..., 1:]).permute(2, 0, 1).contiguous()
        return {"y_cond": self._condition(lab, hints), "y_0": y_0}

    def base(self, y_cond: torch.Tensor) -> torch.Tensor | None:
        """With hints, their propagation: the model generates the colours' difference from it."""
        return y_cond[:, 1:3] if self.settings["hints"] else None

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The lightness as gray pictures (B, G and R averaged: they can differ by a level); hinted pixels
        in their hint's colour."""
        neutral = self.to_bgr(y_cond, torch.zeros_like(y_cond[:, :1]).expand(-1, 2, -1, -1))
        gray = np.repeat(neutral.mean(axis=-1).round().astype(np.uint8)[..., None], 3, axis=-1)
        if not self.settings["hints"]:
            return gray
        hinted = _channels_last(y_cond[:, 3:4] > 0)
        return np.where(hinted, self.to_bgr(y_cond, y_cond[:, 1:3]), gray)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The lightness as the gray sRGB picture of the same L (CIE L* -> luminance Y -> sRGB), in [-1, 1]."""
        l_star = (y_cond[:, :1] + 1) * 50  # 8-bit OpenCV L is L* * 255 / 100
        y = torch.where(l_star > 8, ((l_star + 16) / 116) ** 3, l_star / 903.3)
        srgb = torch.where(y > 0.0031308, 1.055 * y.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * y)
        return (srgb * 2 - 1).expand(-1, 3, -1, -1)

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return lab_to_bgr(_channels_last(torch.cat([y_cond[..., :1, :, :], y_0], dim=-3)))

    def prepare(self, image: np.ndarray, image_size: int, hints: Path | None = None, hint: tuple[str, ...] = (),
                hint_radius: int = 3, propagation: str = "filter") -> Prepared:
        """The picture's L channel, the whole frame resized (not cropped) to ``image_size`` squared, with the
        hints of the ``hints`` picture and of the ``hint`` points (one-line errors for bad ones);
        ``propagation`` is for a video's frames (``prepare_frame``)."""
        self.check_run_options({"hints": hints, "hint": hint, "propagation": propagation})
        if hints is not None and Path(hints).is_dir():
            raise InputError(f"--hints {hints}: a folder of hints (one per keyframe) is for videos; a picture "
                             f"takes one RGBA picture")
        return self._prepared(image, image_size, self._given(image, hints, hint, hint_radius), None, propagation)

    @staticmethod
    def _given(image: np.ndarray, layer: Path | None, points: tuple[str, ...], radius: int) -> Hints | None:
        """The hints of a ``layer`` picture with ``points`` painted over them, at ``image``'s size (None: none)."""
        height, width = image.shape[:2]
        given = read_hints(layer, width, height) if layer is not None else None
        if points:
            dots = point_hints(tuple(points), radius, width, height)
            given = dots if given is None else given.merged(dots)
        return given

    def prepare_for_evaluation(self, image: np.ndarray, image_size: int, hints: int = 0) -> Prepared:
        """``prepare`` with ``hints`` point hints drawn from the picture's own colours (``evaluation_hints``)."""
        if not hints:
            return self._prepared(image, image_size, None)
        self.check_run_options({"hints": hints})
        return self._prepared(image, image_size, evaluation_hints(bgr_to_lab(image)[..., 1:], hints, seed=0))

    def carry(self, previous: Prepared, result: np.ndarray, frame: np.ndarray) -> Carried:
        """The previous result's colours moved along the optical flow onto the next frame
        (``flow.carried_colours``), what its result is blended with at full resolution, as the video's
        ``propagation`` says: with ``filter`` the hints the previous frame was given travel along as the next
        one's; with ``hints`` the carried colours are the next frame's hints where the flow is sure."""
        context = previous.context
        return carried_colours(previous.image, result, frame, context["hints"], context["propagation"] == "hints")

    def prepare_frame(self, frame: np.ndarray, image_size: int, carried: Carried | None, index: int,
                      **options: Any) -> Prepared:
        """A frame with the colours ``carried`` from the one before (``carry``), and the hints they bring
        (the given ones moved along, or with ``propagation`` ``hints`` the carried colours). The hints given
        for a video (``--hints FILE``, ``--hint``) are the first frame's, and travel along the flow from
        there; with ``--hints FOLDER`` every keyframe with a layer there (``keyframe_layers``) gets its hints
        too, painted over those carried to it (a keyframe after a scene cut starts from its hints alone)."""
        layer, points = options.get("hints"), options.get("hint", ()) if index == 0 else ()
        if layer is not None and Path(layer).is_dir():
            layer = keyframe_layers(Path(layer)).get(index)
        elif index > 0:
            layer = None
        given = self._given(frame, layer, points, options.get("hint_radius", 3))
        if carried is not None and carried.hints.count:
            given = carried.hints if given is None else carried.hints.merged(given)
        return self._prepared(frame, image_size, given, carried, options.get("propagation", "filter"))

    def check_run_options(self, options: dict[str, Any]) -> None:
        """Hints (``--hints``, ``--hint``, ``--propagation hints``) need a model trained with them."""
        if not self.settings["hints"] and (options.get("hints") or options.get("hint")):
            raise InputError("this model was trained without colour hints: --hints and --hint need a model "
                             "trained with --hints yes")
        if not self.settings["hints"] and options.get("propagation") == "hints":
            raise InputError("this model was trained without colour hints: --propagation hints needs a model "
                             "trained with --hints yes (--propagation filter works with any)")

    def _prepared(self, image: np.ndarray, image_size: int, hints: Hints | None, carried: Carried | None = None,
                  propagation: str = "filter") -> Prepared:
        """The full-resolution L (``context["lightness"]``), hints (``context["hints"]``) and colours carried
        from the frame before (``context["carried"]``) are kept for ``finish`` and ``baseline``, the hints and
        the ``propagation`` (``context["propagation"]``) for ``carry``."""
        full = lightness(image)
        small = to_unit(resize(full, image_size, image_size))[..., None]
        small_hints = hints.resized(image_size, image_size) if hints is not None else None
        lab = np.concatenate([small, np.zeros_like(small).repeat(2, axis=-1)], axis=-1)
        return Prepared(y_cond=self._condition(lab, small_hints), image=image,
                        context={"lightness": full, "hints": hints, "carried": carried, "propagation": propagation})

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The generated ab resized to the original frame, blended with the colours carried from the frame
        before (``Carried.blended``), hinted pixels set to their hint, under the original's full-resolution L."""
        height, width = prepared.image.shape[:2]
        ab = resize(_channels_last(y_0), width, height)
        hints, carried = prepared.context["hints"], prepared.context["carried"]
        if carried is not None:
            ab = carried.blended(ab)
        if hints is not None:
            ab = np.where(hints.mask[..., None], hints.ab, ab)
        return lab_to_bgr_keeping_lightness(prepared.context["lightness"], ab)

    def baseline(self, prepared: Prepared) -> np.ndarray:
        """What a user has without the model: the gray picture (neutral ab) with the original's L, or with
        hints, Levin et al.'s propagation of them at full resolution."""
        full, hints = prepared.context["lightness"], prepared.context["hints"]
        if hints is not None and hints.count:
            return lab_to_bgr_keeping_lightness(full, propagate(full, hints.ab, hints.mask))
        return np.repeat(_gray_for_lightness()[full][..., None], 3, axis=-1)

    def metrics(self, output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """``ab_mae``: mean |ab - true ab| in the model's [-1, 1] units (8-bit OpenCV Lab), as validation has it."""
        ab, true_ab = bgr_to_lab(output)[..., 1:].astype(np.float64), bgr_to_lab(truth)[..., 1:]
        return {"ab_mae": float(np.abs(ab - true_ab).mean())}
