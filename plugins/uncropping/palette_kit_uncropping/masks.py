"""Which pixels the model generates: training borders drawn at random, and their masks.

Training follows Palette's uncropping: a border is hidden on one side (left, right, top or bottom,
``ONE_SIDE`` of the picture's side) or on all four (``ALL_SIDES`` each, drawn independently).
"""
from __future__ import annotations

from palette_kit.lazy import lazy

from palette_kit_uncropping.margin import SIDES, Border

torch = lazy("torch")

KINDS = (*SIDES, "all")
#: Range of the hidden fraction of the side: one side alone, or each side when all are hidden.
ONE_SIDE = (0.10, 0.50)
ALL_SIDES = (0.10, 0.25)


def _fractions(bounds: tuple[float, float], n: int, generator: torch.Generator | None) -> list[float]:
    low, high = bounds
    return (low + (high - low) * torch.rand(n, generator=generator)).tolist()


def random_border(size: int, generator: torch.Generator | None = None) -> Border:
    """A border to hide in a ``size`` x ``size`` picture, drawn from ``generator`` (default: torch's global RNG)."""
    kind = KINDS[int(torch.randint(len(KINDS), (), generator=generator))]
    if kind == "all":
        return Border(*(max(1, round(f * size)) for f in _fractions(ALL_SIDES, 4, generator)))
    width = max(1, round(_fractions(ONE_SIDE, 1, generator)[0] * size))
    return Border(*(width if side == kind else 0 for side in SIDES))


def border_mask(border: Border, height: int, width: int) -> torch.Tensor:
    """A (1, height, width) float mask: 1 in the border (generated), 0 inside it (known)."""
    mask = torch.ones(1, height, width)
    mask[:, border.top:height - border.bottom, border.left:width - border.right] = 0
    return mask


def scaled_border(border: Border, height: int, width: int, size: int) -> Border:
    """``border`` of a ``height`` x ``width`` canvas squashed to ``size`` x ``size``.

    A model pixel counts as known only if it lies wholly inside the known part, so pixels that
    straddle the edge are generated.
    """
    def outer(margin: int, total: int) -> int:  # ceil(margin * size / total)
        return -(-margin * size // total)

    return Border(outer(border.left, width), outer(border.right, width),
                  outer(border.top, height), outer(border.bottom, height))
