"""palette-kit's UNet against the tutorial's model code (benchmarks/tutorial_unet.py) for equal weights.

Tolerances are float32 ones: one attention block agrees to 1e-5, a whole UNet (outputs of order 1) to
1e-4. A restoration divides eps by sqrt(gamma), tiny at its noisiest steps, so it amplifies those 1e-6
differences to about 1e-3: the two networks' restorations are compared to 1e-2 (a wrong weight mapping
differs by more than 0.1), the two loops on one network to 1e-6.
"""
import sys
from pathlib import Path

import pytest
import torch

from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.presets import make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import restore
from palette_kit.nn.unet import AttentionBlock, UNet, preset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import tutorial_unet as tutorial


def pair(**overrides) -> tuple[UNet, tutorial.TutorialUNet]:
    """A tiny palette-kit UNet with random weights, and the tutorial's UNet given the same weights."""
    config = preset("tiny", 3, 2, **overrides)
    unet = tutorial.randomize(UNet(config)).eval()
    return unet, tutorial.load_unet_weights(tutorial.TutorialUNet(**tutorial.tutorial_config(config)), unet).eval()


def test_sdpa_attention_equals_einsum_attention():
    ours = tutorial.randomize(AttentionBlock(128, head_channels=32))  # 4 heads: the qkv order matters
    theirs = tutorial.AttentionBlock(128, num_head_channels=32)
    theirs.load_state_dict(tutorial.map_block_state(ours.state_dict(), head_channels=32))
    x = torch.randn(2, 128, 8, 8)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
        # The legacy layout is really different: unpermuted weights compute something else.
        theirs.qkv.weight.copy_(ours.qkv.weight.squeeze(-1))
        theirs.qkv.bias.copy_(ours.qkv.bias)
        assert (theirs(x) - expected).abs().max() > 0.1


@pytest.mark.parametrize("attention", [(), (16,), (32, 16)], ids=["middle-only", "one-level", "every-level"])
def test_unet_equals_tutorial_unet(attention):
    unet, reference = pair(attention_resolutions=attention)
    x, gamma = torch.randn(2, 3, 32, 32), torch.tensor([0.3, 0.9])
    with torch.no_grad():
        expected = reference(x, gamma)
        assert expected.abs().max() > 0.5  # not the trivial zero of freshly initialised networks
        torch.testing.assert_close(unet(x, gamma), expected, rtol=1e-4, atol=1e-4)


def test_gradients_through_checkpointed_attention_are_equal():
    unet, reference = pair()
    unet.train(), reference.train()  # the tiny preset has no dropout
    x, gamma = torch.randn(2, 3, 32, 32), torch.tensor([0.3, 0.9])
    unet(x, gamma).square().mean().backward()
    reference(x, gamma).square().mean().backward()
    grads = tutorial.map_state_dict({name: p.grad for name, p in unet.named_parameters()}, head_channels=32)
    for name, param in reference.named_parameters():
        torch.testing.assert_close(grads[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)


def restorations(sampler: str, ours: EpsModel, theirs) -> tuple[torch.Tensor, torch.Tensor]:
    """``restore()`` with ``ours`` and the tutorial's loop with ``theirs``, from the same noise, 5 steps."""
    inputs = torch.Generator().manual_seed(0)
    y_cond, y_T = torch.randn(2, 1, 32, 32, generator=inputs), torch.randn(2, 2, 32, 32, generator=inputs)
    scheduler = make_scheduler(sampler, schedule_preset("palette").sample)
    a = restore(ours, y_cond, y_T, scheduler, 5, generator=torch.Generator().manual_seed(1))
    b = tutorial.restoration(theirs, y_cond, y_T, scheduler, 5, generator=torch.Generator().manual_seed(1))
    assert b.std() > 0.1
    return a, b


@pytest.mark.parametrize("sampler", ["ddim", "linear"])
def test_tutorial_loop_equals_restore(sampler):
    unet, _ = pair()
    torch.testing.assert_close(*restorations(sampler, EpsModel(unet), unet), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sampler", ["ddim", "linear"])
def test_tutorial_restoration_equals_restore(sampler):
    unet, reference = pair()
    torch.testing.assert_close(*restorations(sampler, EpsModel(unet), reference),
                               rtol=0, atol=1e-2)


def test_seed_preset_is_the_tutorials_network():
    reference = tutorial.TutorialUNet(**tutorial.SEED_CONFIG)
    assert sum(p.numel() for p in reference.parameters()) == 62_639_042
    tutorial.load_unet_weights(reference, UNet(preset("seed", 3, 2)))  # attn_res [16]: the middle block only
    assert tutorial.tutorial_config(preset("seed", 3, 2))["attn_res"] == []


@pytest.mark.parametrize("change, message", [({"attn_res": [1]}, "attention_levels"),
                                             ({"inner_channel": 64}, "inner_channel 64"),
                                             ({"num_head_channels": 16}, "num_head_channels")])
def test_mapping_rejects_other_architectures(change, message):
    config = preset("tiny", 3, 2)
    reference = tutorial.TutorialUNet(**{**tutorial.tutorial_config(config), **change})
    with pytest.raises(ValueError, match=message):
        tutorial.load_unet_weights(reference, UNet(config))


def test_legacy_qkv_order():
    # channels (q, k, v) x 2 heads x 1 channel -> 2 heads x (q, k, v)
    order = tutorial.legacy_qkv(torch.arange(6), heads=2)
    assert order.tolist() == [0, 2, 4, 1, 3, 5]
