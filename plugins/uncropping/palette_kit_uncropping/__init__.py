"""The uncropping task plugin of palette-kit: a photo extended by generated margins."""
from palette_kit_uncropping.task import Uncropping

__all__ = ["Uncropping"]
