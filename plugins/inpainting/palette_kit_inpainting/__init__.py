"""The inpainting task plugin of palette-kit: holes in a photo generated, known pixels kept."""
from palette_kit_inpainting.task import Inpainting

__all__ = ["Inpainting"]
