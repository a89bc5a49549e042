"""The JPEG restoration task plugin of palette-kit: a clean photo generated from its JPEG-compressed copy."""
from palette_kit_jpeg_restoration.task import JpegRestoration

__all__ = ["JpegRestoration"]
