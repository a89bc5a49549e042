"""Pictures for the core and every task: read, write, collect, list, resize, crop, tile, and map to [-1, 1].

Pictures are OpenCV-style BGR ``uint8`` arrays (H, W, 3); model tensors hold values in [-1, 1]. One module per
job: ``decode`` (real-world files), ``encode`` (atomic writes with provenance metadata), ``inputs`` (finding
pictures) and ``arrays`` (value mapping, resizing, crops, grids); their public names are all here.
"""
from palette_kit.imageio.arrays import grid, random_square, resize, square, to_pictures, to_tensor, to_uint8, to_unit
from palette_kit.imageio.decode import MAX_PIXELS, read_image
from palette_kit.imageio.encode import read_metadata, write_image
from palette_kit.imageio.inputs import IMAGE_SUFFIXES, collect_inputs, list_images

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "collect_inputs", "grid", "list_images", "random_square", "read_image",
           "read_metadata", "resize", "square", "to_pictures", "to_tensor", "to_uint8", "to_unit", "write_image"]
