"""The tutorial's model code, re-implemented faithfully: the baseline the benchmark compares palette-kit with.

What this keeps of the tutorial's UNet (Palette's copy of the guided-diffusion UNet):

* everything in float32; SiLU written as ``x * sigmoid(x)``; GroupNorm(32) computed in float32;
* the noise level ``gamma`` embedded with cosines then sines, then Linear - SiLU - Linear;
* residual blocks with scale-shift (FiLM) conditioning that also up/down-sample (nearest / average pooling);
* attention over flattened positions with 1-D convolutions, in the "legacy" QKV layout: the ``qkv`` channels
  are ordered heads x (q, k, v) x head_channels, q and k are each scaled by ``head_channels ** -1/4`` and
  attention is two ``einsum`` products with a float32 softmax; every attention block runs under gradient
  checkpointing, whatever the configuration says (activations are recomputed in the backward pass);
* attention placed where the *down-sampling rate* (1, 2, 4, ...) is in ``attn_res``. The tutorial's
  ``attn_res=[16]`` is a feature-map size, so with four levels its UNet has attention in the middle block
  only; palette-kit's "seed" preset is that network.

The printed listing lost characters in places (``[:-1]`` for ``[::-1]``, ``ds // 2`` for ``ds //= 2``);
this follows the runnable reading, which is guided-diffusion's. Options the tutorial never uses (learned
re-sampling convolutions, additive instead of scale-shift conditioning, float16) are left out.

The restoration loop is the tutorial's: condition on ``gamma_t``, predict eps, step, under ``torch.no_grad``.
Where the tutorial takes its own DDPM posterior step, :func:`restoration` takes any scheduler's; with the
``linear`` scheduler it is exactly the tutorial's step.

:func:`load_unet_weights` gives this network the weights of a palette-kit :class:`UNet` (renaming every tensor
and permuting ``qkv`` into the legacy layout), so both compute the same function.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from palette_kit.diffusion.sampler import Scheduler
from palette_kit.nn.unet import UNet, UNetConfig

#: The tutorial's ``unet_config`` for colorization (62.6 M parameters).
SEED_CONFIG: dict[str, Any] = {"in_channel": 3, "out_channel": 2, "inner_channel": 64, "channel_mults": [1, 2, 4, 8],
                               "attn_res": [16], "num_head_channels": 32, "res_blocks": 2, "dropout": 0.2,
                               "image_size": 128}


class SiLU(nn.Module):
    """``x * sigmoid(x)``, spelled out as the tutorial does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups on a float32 copy of the input, cast back to the input's dtype."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def zero_module(module: nn.Module) -> nn.Module:
    """``module`` with its parameters zeroed in place."""
    for param in module.parameters():
        param.detach().zero_()
    return module


def gamma_embedding(gammas: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features (N, dim) of noise levels (N,): cosines then sines, zero-padded to an odd ``dim``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half).to(gammas.device)
    args = gammas[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class Upsample(nn.Module):
    """Nearest-neighbour 2x up-sampling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class ResBlock(nn.Module):
    """Residual block with scale-shift conditioning on the embedding; ``up``/``down`` re-sample by 2."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channel: int | None = None,
                 up: bool = False, down: bool = False) -> None:
        super().__init__()
        out_channel = out_channel or channels
        self.in_layers = nn.Sequential(GroupNorm32(channels), SiLU(), nn.Conv2d(channels, out_channel, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(), Upsample()
        elif down:
            self.h_upd, self.x_upd = nn.AvgPool2d(2), nn.AvgPool2d(2)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(SiLU(), nn.Linear(emb_channels, 2 * out_channel))
        self.out_layers = nn.Sequential(GroupNorm32(out_channel), SiLU(), nn.Dropout(dropout),
                                        zero_module(nn.Conv2d(out_channel, out_channel, 3, padding=1)))
        self.skip_connection = nn.Identity() if out_channel == channels else nn.Conv2d(channels, out_channel, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.h_upd(self.in_layers[:-1](x))
            x = self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        scale, shift = torch.chunk(emb_out, 2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        h = self.out_layers[1:](h)
        return self.skip_connection(x) + h


class QKVAttentionLegacy(nn.Module):
    """Attention on (N, heads * 3 * C, T) input, split into heads first, then into q, k and v."""

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        bs, width, length = qkv.shape
        ch = width // (3 * self.n_heads)
        q, k, v = qkv.reshape(bs * self.n_heads, 3 * ch, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        return torch.einsum("bts,bcs->bct", weight, v).reshape(bs, -1, length)


class AttentionBlock(nn.Module):
    """Self-attention over all positions with a residual connection, always gradient-checkpointed."""

    def __init__(self, channels: int, num_head_channels: int) -> None:
        super().__init__()
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.attention = QKVAttentionLegacy(channels // num_head_channels)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(self._forward, x, use_reentrant=False)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        h = self.proj_out(self.attention(self.qkv(self.norm(x))))
        return (x + h).reshape(b, c, *spatial)


class EmbedSequential(nn.Sequential):
    """Runs its layers in order, giving the embedding to the residual blocks."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class TutorialUNet(nn.Module):
    """The tutorial's UNet: predicts eps (N, out_channel, H, W) from ``x`` (N, in_channel, H, W) and ``gammas``."""

    def __init__(self, image_size: int, in_channel: int, inner_channel: int, out_channel: int, res_blocks: int,
                 attn_res: Sequence[int], dropout: float = 0.0, channel_mults: Sequence[int] = (1, 2, 4, 8),
                 num_head_channels: int = 32) -> None:
        super().__init__()
        self.config = {"image_size": image_size, "in_channel": in_channel, "inner_channel": inner_channel,
                       "out_channel": out_channel, "res_blocks": res_blocks, "attn_res": list(attn_res),
                       "dropout": dropout, "channel_mults": list(channel_mults),
                       "num_head_channels": num_head_channels}
        self.inner_channel = inner_channel
        emb_channels = 4 * inner_channel
        self.cond_embed = nn.Sequential(nn.Linear(inner_channel, emb_channels), SiLU(),
                                        nn.Linear(emb_channels, emb_channels))

        def res(c_in: int, c_out: int, **kwargs: bool) -> ResBlock:
            return ResBlock(c_in, emb_channels, dropout, c_out, **kwargs)

        ch = input_ch = channel_mults[0] * inner_channel
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(in_channel, ch, 3, padding=1))])
        chans, ds = [ch], 1
        for level, mult in enumerate(channel_mults):
            for _ in range(res_blocks):
                layers: list[nn.Module] = [res(ch, mult * inner_channel)]
                ch = mult * inner_channel
                if ds in attn_res:
                    layers.append(AttentionBlock(ch, num_head_channels))
                self.input_blocks.append(EmbedSequential(*layers))
                chans.append(ch)
            if level != len(channel_mults) - 1:
                self.input_blocks.append(EmbedSequential(res(ch, ch, down=True)))
                chans.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(res(ch, ch), AttentionBlock(ch, num_head_channels), res(ch, ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mults))[::-1]:
            for i in range(res_blocks + 1):
                layers = [res(ch + chans.pop(), mult * inner_channel)]
                ch = mult * inner_channel
                if ds in attn_res:
                    layers.append(AttentionBlock(ch, num_head_channels))
                if level and i == res_blocks:
                    layers.append(res(ch, ch, up=True))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch), SiLU(), zero_module(nn.Conv2d(input_ch, out_channel, 3, padding=1)))

    def forward(self, x: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
        emb = self.cond_embed(gamma_embedding(gammas.view(-1), self.inner_channel))
        h, hs = x.type(torch.float32), []
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


@torch.no_grad()
def restoration(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y_cond: torch.Tensor,
                y_T: torch.Tensor, scheduler: Scheduler, steps: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The tutorial's restoration loop from the noise ``y_T``, stepping with ``scheduler``.

    ``model`` maps ``concat(y_cond, y_t)`` and ``gamma`` (N, 1) to eps, e.g. a :class:`TutorialUNet`.
    """
    scheduler.set_timesteps(steps)
    gammas = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float32).to(y_T.device)
    y_t = y_T
    for t in map(int, scheduler.timesteps):
        gamma = gammas[t].repeat(y_T.shape[0], 1)
        eps = model(torch.cat([y_cond, y_t], dim=1), gamma)
        y_t = scheduler.step(eps, t, y_t, generator=generator).prev_sample
    return y_t


def tutorial_config(config: UNetConfig) -> dict[str, Any]:
    """The tutorial's ``unet_config`` for the network a palette-kit config describes.

    Attention sizes become down-sampling rates: level ``l`` (rate ``2 ** l``) attends when
    ``image_size // 2 ** l`` is one of ``config.attention_resolutions``.
    """
    levels = range(len(config.channel_mults))
    return {"in_channel": config.in_channels, "out_channel": config.out_channels,
            "inner_channel": config.inner_channels, "channel_mults": list(config.channel_mults),
            "attn_res": [2 ** level for level in levels
                         if config.image_size // 2 ** level in config.attention_resolutions],
            "num_head_channels": config.head_channels, "res_blocks": config.res_blocks, "dropout": config.dropout,
            "image_size": config.image_size}


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """What decides a tutorial UNet's function: its config with ``attn_res`` as the levels that attend."""
    levels = range(len(config["channel_mults"]))
    return {**{key: value for key, value in config.items() if key not in ("attn_res", "image_size")},
            "attention_levels": [level for level in levels if 2 ** level in config["attn_res"]]}


def legacy_qkv(tensor: torch.Tensor, heads: int) -> torch.Tensor:
    """Reorder the leading dim of a ``qkv`` weight or bias from (q, k, v) x heads x C to heads x (q, k, v) x C."""
    return tensor.reshape(3, heads, -1, *tensor.shape[1:]).transpose(0, 1).reshape(tensor.shape)


#: Our layer names inside a residual or attention block -> the tutorial's.
BLOCK_LAYERS = {"in_norm": "in_layers.0", "in_conv": "in_layers.2", "film": "emb_layers", "out_norm": "out_layers.0",
                "out_conv": "out_layers.3", "skip": "skip_connection", "norm": "norm", "qkv": "qkv",
                "proj": "proj_out"}
#: Our layers outside the blocks -> the tutorial's.
TOP_LAYERS = {"embed": "cond_embed", "conv_in": "input_blocks.0.0", "out_norm": "out.0", "conv_out": "out.2"}


def map_block_state(state: dict[str, torch.Tensor], head_channels: int) -> dict[str, torch.Tensor]:
    """A residual or attention block's tensors, renamed and laid out as the tutorial's block has them."""
    mapped = {}
    for key, value in state.items():
        layer, tail = key.split(".", 1)
        if layer == "qkv":
            value = legacy_qkv(value, value.shape[0] // 3 // head_channels)
        if layer in ("qkv", "proj") and tail == "weight":
            value = value.squeeze(-1)  # 1x1 Conv2d -> Conv1d
        mapped[f"{BLOCK_LAYERS[layer]}.{tail}"] = value
    return mapped


def map_state_dict(state: dict[str, torch.Tensor], head_channels: int) -> dict[str, torch.Tensor]:
    """A palette-kit UNet state dict as a :class:`TutorialUNet` state dict (names, qkv order, conv shapes)."""
    blocks: dict[str, dict[str, torch.Tensor]] = {}
    mapped = {}
    for key, value in state.items():
        top, rest = key.split(".", 1)
        if top in TOP_LAYERS:
            mapped[f"{TOP_LAYERS[top]}.{rest}"] = value
            continue
        *index, inner = rest.split(".", 2 if top != "middle" else 1)
        if top == "encoder":
            index[0] = str(int(index[0]) + 1)  # the tutorial's first input block is the input conv
        prefix = ".".join([{"encoder": "input_blocks", "middle": "middle_block", "decoder": "output_blocks"}[top],
                           *index])
        blocks.setdefault(prefix, {})[inner] = value
    for prefix, block in blocks.items():
        mapped.update({f"{prefix}.{key}": value for key, value in map_block_state(block, head_channels).items()})
    return mapped


def load_unet_weights(reference: TutorialUNet, unet: UNet) -> TutorialUNet:
    """Copy ``unet``'s weights into ``reference`` (in place) so both compute the same function.

    Raises ``ValueError`` naming the differences when the two are not the same architecture.
    """
    theirs, ours = architecture(reference.config), architecture(tutorial_config(unet.config))
    differences = [f"{key} {theirs[key]} (tutorial) vs {ours[key]} (palette-kit)" for key in ours
                   if theirs[key] != ours[key]]
    if differences:
        raise ValueError("the tutorial UNet and the palette-kit UNet differ in " + ", ".join(differences))
    reference.load_state_dict(map_state_dict(unet.state_dict(), unet.config.head_channels))
    return reference


@torch.no_grad()
def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random non-zero weights, in place: a fresh UNet's zero-initialised layers make it output exactly zero.

    Conv and Linear weights ~ N(0, 1 / fan_in), biases ~ N(0, 0.1^2), GroupNorm scales ~ 1 + N(0, 0.1^2).
    """
    generator = torch.Generator().manual_seed(seed)

    def normal(param: torch.Tensor, std: float, mean: float = 0.0) -> None:
        param.copy_(mean + std * torch.randn(param.shape, generator=generator))

    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            normal(module.weight, 1 / math.sqrt(module.weight[0].numel()))
            normal(module.bias, 0.1)
        elif isinstance(module, nn.GroupNorm):
            normal(module.weight, 0.1, mean=1.0)
            normal(module.bias, 0.1)
    return net
