"""The colorization task plugin of palette-kit: Lab ``ab`` generated from ``L``."""
from palette_kit_colorization.task import Colorization

__all__ = ["Colorization"]
