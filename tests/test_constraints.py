"""The known-pixel sampling hook, alone and inside the restoration loop."""
import torch

from palette_kit.diffusion.constraints import keep_known
from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.presets import make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import restore
from palette_kit.nn.unet import UNet, preset


def test_hook_keeps_unknown_pixels_and_noises_known_ones_to_gamma():
    known = torch.rand(2, 3, 8, 8) * 2 - 1
    unknown = torch.zeros(2, 1, 8, 8)
    unknown[..., :4] = 1
    y_t = torch.randn(2, 3, 8, 8)
    hook = keep_known(known, unknown)
    out = hook(y_t, torch.full((2,), 0.25), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[..., :4], y_t[..., :4])
    eps = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[..., 4:], (0.5 * known + 0.75 ** 0.5 * eps)[..., 4:])
    torch.testing.assert_close(hook(y_t, torch.ones(2), None)[..., 4:], known[..., 4:])


def test_restore_with_the_hook_returns_known_pixels_exactly():
    torch.manual_seed(0)
    net = EpsModel(UNet(preset("tiny", 7, 3))).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    known = torch.rand(1, 3, 32, 32) * 2 - 1
    unknown = torch.zeros(1, 1, 32, 32)
    unknown[..., 8:24, 8:24] = 1
    y_cond = torch.cat([known * (1 - unknown), unknown * 2 - 1], dim=1)
    scheduler = make_scheduler("linear", schedule_preset("palette").sample)
    y_T = torch.randn(known.shape, generator=torch.Generator().manual_seed(0))
    out = restore(net, y_cond, y_T, scheduler, 5, torch.Generator().manual_seed(1), hook=keep_known(known, unknown))
    torch.testing.assert_close(out * (1 - unknown), known * (1 - unknown))
    assert not torch.allclose(out * unknown, known * unknown)
