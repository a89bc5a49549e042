"""The example task plugin of palette-kit: a clean photo generated from a noisy one."""
from palette_kit_example_denoising.task import Denoising

__all__ = ["Denoising"]
