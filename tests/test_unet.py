"""The backbone: shapes, the seed preset's size, zero init, gamma wiring, attention, checkpointing, config."""
import json
import math

import pytest
import torch

from palette_kit.errors import InputError
from palette_kit.nn import unet as unet_module
from palette_kit.nn.unet import PRESETS, AttentionBlock, UNet, UNetConfig, gamma_embedding, noise_features, preset


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def perturbed(model: UNet, seed: int = 0) -> UNet:
    """``model`` with every parameter nudged, so that the zero-initialised layers pass signal."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=gen))
    return model


@pytest.fixture
def tiny() -> UNet:
    torch.manual_seed(0)
    return UNet(preset("tiny", 3, 2)).eval()


@pytest.mark.parametrize("height, width", [(32, 32), (64, 64), (16, 48)])
def test_output_shape(tiny, height, width):
    with torch.no_grad():
        out = tiny(torch.randn(2, 3, height, width), torch.rand(2))
    assert out.shape == (2, 2, height, width)
    assert out.dtype == torch.float32


def test_input_size_must_fit_the_levels(tiny):
    with pytest.raises(ValueError, match="multiple of 2"):
        tiny(torch.randn(1, 3, 33, 32), torch.rand(1))


def test_seed_preset_has_the_tutorials_size():
    assert abs(n_params(UNet(preset("seed", 3, 2))) - 62.6e6) <= 0.05e6


def test_seed_preset_attends_in_the_middle_only():
    model = UNet(preset("seed", 3, 2))
    assert sum(isinstance(m, AttentionBlock) for m in model.modules()) == 1
    assert isinstance(model.middle[1], AttentionBlock)


def test_attention_resolutions_are_feature_map_sizes():
    # tiny at 32 px: level 0 works at 32x32, level 1 at 16x16 (3 blocks there) plus the middle block.
    def attention_blocks(size: int) -> int:
        model = UNet(preset("tiny", 3, 2, attention_resolutions=(size,)))
        return sum(isinstance(m, AttentionBlock) for m in model.modules())

    counts = {size: attention_blocks(size) for size in (32, 16, 8)}
    assert counts == {32: 1 + 3, 16: 1 + 3, 8: 1}


def test_small_and_tiny_presets_fit_their_purpose():
    assert n_params(UNet(preset("tiny", 3, 2))) < 1_000_000
    small = n_params(UNet(preset("small", 3, 2)))
    assert 3_000_000 < small < 8_000_000 and 2 * small < 16 * 2**20


def test_fresh_network_outputs_zero(tiny):
    with torch.no_grad():
        out = tiny(torch.randn(2, 3, 32, 32), torch.rand(2))
    assert torch.equal(out, torch.zeros_like(out))


def test_gamma_changes_the_output(tiny):
    model = perturbed(tiny)
    x = torch.randn(1, 3, 32, 32).expand(2, -1, -1, -1)
    with torch.no_grad():
        out = model(x, torch.tensor([0.1, 0.9]))
        again = model(x, torch.tensor([0.1, 0.1]))
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    assert torch.allclose(again[0], again[1], atol=1e-6)
    assert torch.allclose(again[0], out[0], atol=1e-6)


def test_log1p_snr_input_separates_the_low_noise_levels_gamma_does_not():
    gamma = torch.tensor([1 - 1e-3, 1 - 1e-5])
    near = {kind: gamma_embedding(noise_features(gamma, kind), 32) for kind in ("gamma", "log1p_snr")}
    assert (near["gamma"][0] - near["gamma"][1]).abs().max() < 1e-3
    assert (near["log1p_snr"][0] - near["log1p_snr"][1]).abs().max() > 0.5
    features = noise_features(torch.tensor([0.0, 1e-20, 0.5, 1 - 1e-6, 1.0]), "log1p_snr")
    expected = torch.tensor([0.0, 0.0, math.log(2), math.log(1e6)])
    assert torch.allclose(features[:4], expected, rtol=2e-2) and torch.isfinite(features[4])


def test_noise_input_is_checked_and_saved():
    assert preset("small", 3, 2).noise_input == "log1p_snr" and preset("seed", 3, 2).noise_input == "gamma"
    with pytest.raises(InputError, match="noise_input must be one of gamma, log1p_snr"):
        preset("tiny", 3, 2, noise_input="t")
    legacy = {k: v for k, v in preset("small", 3, 2).to_dict().items() if k != "noise_input"}
    assert UNetConfig.from_dict(legacy).noise_input == "gamma"  # checkpoints from before the option


def test_attention_matches_a_plain_softmax_reference():
    torch.manual_seed(0)
    block = AttentionBlock(64, head_channels=32)
    torch.nn.init.normal_(block.proj.weight, std=0.1)
    x = torch.randn(2, 64, 6, 5)
    b, c, h, w = x.shape
    qkv = block.qkv(block.norm(x)).reshape(b, 3, block.heads, c // block.heads, h * w)
    q, k, v = qkv.unbind(dim=1)  # (B, heads, head_channels, HW)
    weights = torch.softmax(torch.einsum("bhct,bhcs->bhts", q, k) / (c // block.heads) ** 0.5, dim=-1)
    attended = torch.einsum("bhts,bhcs->bhct", weights, v).reshape(b, c, h, w)
    expected = x + block.proj(attended)
    with torch.no_grad():
        assert torch.allclose(block(x), expected, atol=1e-5)


def test_checkpointing_gives_the_same_gradients(monkeypatch):
    calls = []

    def counting_checkpoint(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return torch.utils.checkpoint.checkpoint(*args, **kwargs)

    monkeypatch.setattr(unet_module, "checkpoint", counting_checkpoint)
    torch.manual_seed(0)
    plain = perturbed(UNet(preset("tiny", 3, 2))).train()
    checkpointed = UNet(preset("tiny", 3, 2, checkpointing=True)).train()
    checkpointed.load_state_dict(plain.state_dict())
    x, gamma = torch.randn(2, 3, 32, 32), torch.rand(2)
    for model in (plain, checkpointed):
        model(x, gamma).square().mean().backward()
    assert calls and set(calls) == {False}
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-5), name


def test_unknown_preset_is_an_input_error():
    with pytest.raises(InputError, match="unknown preset 'huge'; choose from: "):
        preset("huge", 3, 2)


def test_invalid_image_size_is_an_input_error():
    with pytest.raises(InputError, match="multiple of 8"):
        preset("small", 3, 2, image_size=100)


def test_channels_come_from_the_caller():
    assert all("in_channels" not in p and "out_channels" not in p for p in PRESETS.values())
    config = preset("tiny", 7, 5, image_size=64)
    assert (config.in_channels, config.out_channels, config.image_size) == (7, 5, 64)


def test_config_round_trip():
    config = preset("small", 3, 2, checkpointing=True)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["channel_mults"] == [1, 2, 2, 4] and data["attention_resolutions"] == [16]
    restored = UNetConfig.from_dict(data)
    assert restored == config
    assert isinstance(restored.channel_mults, tuple) and isinstance(restored.attention_resolutions, tuple)
