"""The ``--margin`` option: how far to extend a picture on each side.

Grammar (spaces around values are ignored)::

    MARGIN := LENGTH                              the same on all four sides
            | LENGTH "," LENGTH "," LENGTH "," LENGTH    left, right, top, bottom
    LENGTH := NUMBER                              a fraction of that side's dimension (width for
                                                  left/right, height for top/bottom): 0.25 is a
                                                  quarter of it, 1 as much again, 0 nothing
            | DIGITS "px"                         a whole number of pixels, e.g. 64px

A bare number is always a fraction, however large (``2`` is twice the dimension); pixels always
carry ``px``. No side may exceed ``MAX_FACTOR`` times its dimension.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from palette_kit.errors import InputError

FLAG = "--margin"
SIDES = ("left", "right", "top", "bottom")
#: The largest margin on one side, as a multiple of the picture's dimension on that side.
MAX_FACTOR = 4
HELP = ("Margins to add: one length for all sides, or four 'left,right,top,bottom'. A length is a "
        f"fraction of that side's dimension (0.25, 1, 1.5) or whole pixels with 'px' (64px); at most "
        f"{MAX_FACTOR}x the dimension, e.g. 0.5,0,0,0 widens the picture by half on the left.")

_FRACTION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)")
_PIXELS = re.compile(r"(\d+)px")


class Border(NamedTuple):
    """Whole pixels on each side of a picture."""

    left: int
    right: int
    top: int
    bottom: int


@dataclass(frozen=True)
class Length:
    """One side's margin: ``value`` pixels, or ``value`` times that side's dimension."""

    value: float
    in_pixels: bool

    def to_pixels(self, dimension: int) -> int:
        return int(self.value) if self.in_pixels else round(self.value * dimension)


def _length(text: str, spec: str, side: str | None) -> Length:
    """One length of ``spec``; ``side`` is None when it applies to all four sides."""
    text = text.strip()
    what = f"the {side} margin" if side else "the margin"
    if text.startswith("-"):
        raise InputError(f"{FLAG} {spec!r}: {what} {text!r} is negative; margins are 0 or more")
    if match := _PIXELS.fullmatch(text):
        return Length(int(match[1]), in_pixels=True)
    if _FRACTION.fullmatch(text):
        value = float(text)
        if value > MAX_FACTOR:
            dimension = _dimension(side) if side else "width and height"
            raise InputError(f"{FLAG} {spec!r}: {what} {text} is more than the limit of "
                             f"{MAX_FACTOR} times the picture's {dimension}")
        return Length(value, in_pixels=False)
    raise InputError(f"{FLAG} {spec!r}: {text!r} is not a length; give a fraction such as 0.25 or pixels "
                     "such as 64px")


def _dimension(side: str) -> str:
    return "width" if side in ("left", "right") else "height"


@dataclass(frozen=True)
class Margin:
    """Parsed margins of the four sides, in the order of ``SIDES``; ``spec`` is the text given."""

    lengths: tuple[Length, Length, Length, Length]
    spec: str

    def border(self, height: int, width: int) -> Border:
        """The margins in pixels for a ``height`` x ``width`` picture; ``InputError`` past the limit or if all 0."""
        pixels = []
        for side, length in zip(SIDES, self.lengths):
            dimension = width if _dimension(side) == "width" else height
            value = length.to_pixels(dimension)
            if value > MAX_FACTOR * dimension:
                raise InputError(f"{FLAG} {self.spec!r}: the {side} margin of {value} px is more than the limit of "
                                 f"{MAX_FACTOR} times the picture's {_dimension(side)} ({dimension} px)")
            pixels.append(value)
        border = Border(*pixels)
        if not any(border):
            raise InputError(f"{FLAG} {self.spec!r} adds no pixels to a {width}x{height} picture: "
                             "nothing to generate; give at least one side a margin")
        return border


def parse_margin(spec: str) -> Margin:
    """``spec`` read by the grammar above; ``InputError`` naming ``--margin`` if it does not fit."""
    parts = spec.split(",")
    if len(parts) not in (1, 4):
        raise InputError(f"{FLAG} {spec!r}: give one length or four (left,right,top,bottom), not {len(parts)}")
    if len(parts) == 1:
        lengths = (_length(parts[0], spec, None),) * 4
    else:
        lengths = tuple(_length(text, spec, side) for side, text in zip(SIDES, parts))
    return Margin(lengths, spec)
