"""palette-kit: Palette-style image-to-image diffusion with task plugins."""

__version__ = "0.1.0"
