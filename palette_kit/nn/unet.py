"""Palette's backbone: the guided-diffusion UNet conditioned on the continuous noise level ``gamma``.

The network maps ``x`` (B, in_channels, H, W) and ``gamma`` (B,) in [0, 1] to a tensor
(B, out_channels, H, W); it knows nothing about tasks or noise schedules. H and W must be multiples
of ``2 ** (len(channel_mults) - 1)``.

Architecture: a sinusoidal embedding of the noise level feeds every residual block through a scale-shift
(FiLM) GroupNorm; the encoder has ``res_blocks`` residual blocks per level and a down-sampling
residual block between levels; the middle is residual - attention - residual; the decoder mirrors the
encoder with ``res_blocks + 1`` blocks per level, each taking one skip connection, and an
up-sampling residual block between levels. The last conv of every residual branch, every attention
projection and the output conv start at zero, so a fresh network outputs exactly zero.

Attention placement: ``attention_resolutions`` are feature-map sizes in pixels (level ``l`` of a
model works at ``image_size // 2 ** l``); the middle block always has attention.
The tutorial (and Palette's code) compares its ``attn_res = [16]`` with the down-sampling rate
(1, 2, 4, 8 for four levels), which never equals 16, so its UNet has attention in the middle block
only. Counted with in 3 / out 2 channels, 128 px, inner 64, mults 1-2-4-8, 2 res blocks:
attention in the middle only gives 62,639,042 parameters (the tutorial's 62.6 M), attention also at the
16x16 level gives 67,897,282 (67.9 M). The "seed" preset therefore sets ``attention_resolutions=()``.

Noise-level input (``noise_input``): Palette embeds ``gamma`` itself. Its sinusoids have periods of
2 pi and longer, so every gamma above about 0.99 maps to nearly the same embedding, and the network
cannot tell 1 - gamma = 1e-5 from 1e-3, the noise levels where the last sampling steps remove the
last speckles. ``"log1p_snr"`` embeds ``log(1 + gamma / (1 - gamma)) = -log(1 - gamma)`` instead: zero
at pure noise (so noise levels beyond the training schedule's end embed like its end, as with
gamma), and spread evenly over the decades of 1 - gamma near the clean end.

Context (``context_channels``): optional feature maps, one per level at that level's resolution (e.g. a
frozen pretrained encoder's, see ``palette_kit.nn.encoders``), each added into every residual block
whose output is at that level, through a zero-initialised 1x1 projection after the block's first conv:
a fresh network ignores them, and the backbone knows nothing of where they come from.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from palette_kit.choices import NOISE_INPUTS
from palette_kit.errors import InputError

NORM_GROUPS = 32


@dataclass(frozen=True)
class UNetConfig:
    """Everything that rebuilds a :class:`UNet`; ``attention_resolutions`` are feature-map sizes in pixels."""

    in_channels: int
    out_channels: int
    inner_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    head_channels: int = 32
    dropout: float = 0.2
    image_size: int = 128
    checkpointing: bool = False
    noise_input: str = "gamma"
    #: Channels of the context map given for each level (empty: no context).
    context_channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.noise_input not in NOISE_INPUTS:
            raise ValueError(f"noise_input must be one of {', '.join(NOISE_INPUTS)}, got {self.noise_input!r}")
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        object.__setattr__(self, "context_channels", tuple(self.context_channels))
        if self.context_channels and len(self.context_channels) != len(self.channel_mults):
            raise ValueError(f"context_channels {self.context_channels} must give one count per level "
                             f"({len(self.channel_mults)})")
        widths = [self.inner_channels * mult for mult in self.channel_mults]
        if not widths or any(width % NORM_GROUPS or width % self.head_channels for width in widths):
            raise ValueError(f"every level width {widths} must be a multiple of {NORM_GROUPS} (GroupNorm groups) "
                             f"and of head_channels={self.head_channels}")
        if self.image_size % self.size_multiple:
            raise ValueError(f"image_size {self.image_size} must be a multiple of {self.size_multiple} "
                             f"for {len(self.channel_mults)} levels")

    @property
    def size_multiple(self) -> int:
        """Input heights and widths must be multiples of this."""
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def level_sizes(self) -> list[int]:
        """Feature-map size of each level for a square ``image_size`` input."""
        return [self.image_size >> level for level in range(len(self.channel_mults))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        return cls(**data)


#: Named architectures; channel counts always come from the task.
PRESETS: dict[str, dict[str, Any]] = {
    # The tutorial's colorization UNet: 62.6 M parameters with in 3 / out 2, attention in the middle only.
    "seed": {"inner_channels": 64, "channel_mults": (1, 2, 4, 8), "res_blocks": 2, "attention_resolutions": (),
             "head_channels": 32, "dropout": 0.2, "image_size": 128},
    # For tests: well under 1 M parameters, fast on a CPU.
    "tiny": {"inner_channels": 32, "channel_mults": (1, 2), "res_blocks": 1, "attention_resolutions": (16,),
             "head_channels": 32, "dropout": 0.0, "image_size": 32},
    # A CPU-friendly shipped model: a few million parameters, fp16 weights well under 16 MiB.
    "small": {"inner_channels": 32, "channel_mults": (1, 2, 2, 4), "res_blocks": 2, "attention_resolutions": (16,),
              "head_channels": 32, "dropout": 0.1, "image_size": 64, "noise_input": "log1p_snr"},
}


def preset(name: str, in_channels: int, out_channels: int, **overrides: Any) -> UNetConfig:
    """The named preset with the task's channel counts and any field overridden."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
    try:
        return UNetConfig(in_channels, out_channels, **{**PRESETS[name], **overrides})
    except ValueError as exc:
        raise InputError(f"preset {name!r}: {exc}") from exc


def gamma_embedding(gamma: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features (B, dim) of noise levels (B,): cosines then sines of ``gamma * freqs``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=gamma.device, dtype=torch.float32) / half)
    args = gamma.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(embedding, (0, dim % 2))


def noise_features(gamma: torch.Tensor, kind: str) -> torch.Tensor:
    """What the embedding sees of noise levels ``gamma`` (B,): gamma itself or ``-log(1 - gamma)``."""
    gamma = gamma.float()
    return gamma if kind == "gamma" else -torch.log1p(-gamma.clamp(max=1 - 1e-7))


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, computed in float32 whatever the input and parameter dtypes."""

    def __init__(self, channels: int) -> None:
        super().__init__(NORM_GROUPS, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps)
        return out.to(x.dtype)


def zero(module: nn.Module) -> nn.Module:
    """``module`` with every parameter set to zero."""
    for param in module.parameters():
        nn.init.zeros_(param)
    return module


def resample(x: torch.Tensor, mode: str | None) -> torch.Tensor:
    """Nearest 2x up-sampling (``"up"``), 2x average pooling (``"down"``) or nothing (``None``)."""
    if mode == "up":
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    if mode == "down":
        return F.avg_pool2d(x, 2)
    return x


class ResBlock(nn.Module):
    """Residual block conditioned on an embedding by scale and shift, optionally re-sampling by 2."""

    def __init__(self, in_channels: int, out_channels: int, emb_channels: int, dropout: float,
                 mode: str | None = None, level: int = 0, context_channels: int = 0) -> None:
        super().__init__()
        self.mode, self.level = mode, level  # ``level``: the UNet level of the output
        self.context = zero(nn.Conv2d(context_channels, out_channels, 1)) if context_channels else None
        self.in_norm = GroupNorm32(in_channels)
        self.in_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_norm = GroupNorm32(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = zero(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = resample(F.silu(self.in_norm(x)), self.mode)
        h = self.in_conv(h)
        if self.context is not None and context is not None:
            h = h + self.context(context.to(h.dtype))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        h = self.out_conv(self.dropout(F.silu(h)))
        return self.skip(resample(x, self.mode)) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, with a residual connection.

    The 1x1 ``qkv`` conv yields channels ordered (q, k, v) x heads x head_channels.
    """

    def __init__(self, channels: int, head_channels: int) -> None:
        super().__init__()
        self.heads = channels // head_channels
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, height * width)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # each (B, heads, HW, head_channels)
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(h.transpose(-1, -2).reshape(b, c, height, width))


class UNet(nn.Module):
    """Predicts (B, out_channels, H, W) from ``x`` (B, in_channels, H, W), noise levels ``gamma`` (B,)
    and, if configured, one context map per level."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        inner, emb_channels = config.inner_channels, 4 * config.inner_channels
        widths = [inner * mult for mult in config.channel_mults]
        last = len(widths) - 1

        def res(c_in: int, c_out: int, level: int, mode: str | None = None) -> ResBlock:
            context = config.context_channels[level] if config.context_channels else 0
            return ResBlock(c_in, c_out, emb_channels, config.dropout, mode, level, context)

        def attends(level: int) -> bool:
            return config.image_size // 2 ** level in config.attention_resolutions

        self.embed = nn.Sequential(nn.Linear(inner, emb_channels), nn.SiLU(), nn.Linear(emb_channels, emb_channels))
        self.conv_in = nn.Conv2d(config.in_channels, widths[0], 3, padding=1)

        # Encoder: every stage ends in one skip connection (conv_in gives the first).
        skip_channels, ch = [widths[0]], widths[0]
        self.encoder = nn.ModuleList()
        for level, width in enumerate(widths):
            for _ in range(config.res_blocks):
                stage = [res(ch, width, level)] + ([AttentionBlock(width, config.head_channels)] if attends(level) else [])
                self.encoder.append(nn.ModuleList(stage))
                ch = width
                skip_channels.append(ch)
            if level != last:
                self.encoder.append(nn.ModuleList([res(ch, ch, level + 1, "down")]))
                skip_channels.append(ch)

        self.middle = nn.ModuleList([res(ch, ch, last), AttentionBlock(ch, config.head_channels),
                                     res(ch, ch, last)])

        # Decoder: every stage first concatenates one skip connection.
        self.decoder = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for i in range(config.res_blocks + 1):
                stage = [res(ch + skip_channels.pop(), width, level)]
                ch = width
                if attends(level):
                    stage.append(AttentionBlock(ch, config.head_channels))
                if level and i == config.res_blocks:
                    stage.append(res(ch, ch, level - 1, "up"))
                self.decoder.append(nn.ModuleList(stage))

        self.out_norm = GroupNorm32(ch)
        self.conv_out = zero(nn.Conv2d(ch, config.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, context: list[torch.Tensor] | None = None
                ) -> torch.Tensor:
        multiple = self.config.size_multiple
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"input size {tuple(x.shape[-2:])} must be a multiple of {multiple} in both dimensions")
        features = noise_features(gamma.reshape(-1), self.config.noise_input)
        emb = self.embed(gamma_embedding(features, self.config.inner_channels).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for stage in self.encoder:
            h = self._run(stage, h, emb, context)
            skips.append(h)
        h = self._run(self.middle, h, emb, context)
        for stage in self.decoder:
            h = self._run(stage, torch.cat([h, skips.pop()], dim=1), emb, context)
        return self.conv_out(F.silu(self.out_norm(h)))

    def _run(self, blocks: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor,
             context: list[torch.Tensor] | None) -> torch.Tensor:
        """Apply blocks in order, each under gradient checkpointing when configured and training."""
        use_checkpoint = self.config.checkpointing and self.training and torch.is_grad_enabled()
        for block in blocks:
            if isinstance(block, ResBlock):
                args = (h, emb, context[block.level]) if context and block.context is not None else (h, emb)
            else:
                args = (h,)
            h = checkpoint(block, *args, use_reentrant=False) if use_checkpoint else block(*args)
        return h
