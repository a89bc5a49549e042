"""The fast paths (autocast, channels-last) agree with plain float32; device and dtype choices."""
import pytest
import torch

from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.errors import InputError
from palette_kit.model import Palette
from palette_kit.nn.unet import UNet, preset
from palette_kit.runtime import Runtime, pick_device
from palette_kit.tasks import load_task

CPU = torch.device("cpu")


def perturbed(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


#: Bounds on ||fast - fp32|| / ||fp32|| for one forward of a tiny UNet with attention (GroupNorm in float32).
BOUNDS = [
    (Runtime(CPU, torch.float32, channels_last=True), 1e-5),
    (Runtime(CPU, torch.bfloat16), 3e-2),  # 8 mantissa bits
    (Runtime(CPU, torch.bfloat16, channels_last=True), 3e-2),
    (Runtime(CPU, torch.float16), 5e-3),  # 11 mantissa bits
]


@pytest.mark.parametrize("runtime,bound", BOUNDS, ids=lambda v: v.name if isinstance(v, Runtime) else str(v))
def test_fast_paths_agree_with_float32(runtime, bound):
    net = perturbed(EpsModel(UNet(preset("tiny", 4, 2))))
    y_t, y_cond, gamma = torch.randn(2, 2, 32, 32), torch.randn(2, 2, 32, 32), torch.tensor([0.1, 0.9])
    with torch.inference_mode():
        reference = net(y_t, y_cond, gamma)
        fast = runtime.prepare(net)(y_t, y_cond, gamma)
    assert fast.dtype == torch.float32 and fast.shape == reference.shape
    error = relative_error(fast, reference)
    assert 0 <= error < bound, error
    if runtime.dtype != torch.float32:
        assert error > 1e-6  # autocast really ran in low precision
    if runtime.channels_last:
        assert net.backbone.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_group_norm_stays_float32_under_autocast():
    net = UNet(preset("tiny", 3, 2))
    seen = []
    net.out_norm.register_forward_hook(lambda module, args, out: seen.append((args[0].dtype, out.dtype)))
    with Runtime(CPU, torch.bfloat16).autocast():
        net(torch.randn(1, 3, 32, 32), torch.rand(1))
    assert seen == [(torch.bfloat16, torch.bfloat16)]  # computed in float32 inside, handed on in bf16
    x = torch.randn(2, 32, 8, 8, dtype=torch.bfloat16) * 100 + 50
    norm = net.out_norm
    with torch.no_grad():
        expected = torch.nn.functional.group_norm(x.float(), 32, norm.weight, norm.bias, norm.eps)
        torch.testing.assert_close(norm(x).float(), expected, rtol=1e-2, atol=1e-2)


def test_sampling_under_a_runtime_returns_float32_targets():
    """Whole samples are not compared: near pure noise, y_0 = (y_t - sqrt(1 - gamma) eps) / sqrt(gamma)
    turns any rounding difference into a different clipped y_0, for float32 reorderings too."""
    task = load_task("colorization")()
    model = Palette.create(task, "tiny", sampler="ddim", steps=3)
    perturbed(model.net)
    y_cond = torch.rand(2, 1, 32, 32) * 2 - 1
    plain = model.sample(y_cond, generator=torch.Generator().manual_seed(0))
    fast = model.to(Runtime(CPU, torch.bfloat16, channels_last=True)).sample(
        y_cond, generator=torch.Generator().manual_seed(0))
    assert fast.dtype == plain.dtype == torch.float32 and fast.shape == plain.shape == (2, 2, 32, 32)
    assert model.runtime.name == "cpu bf16 channels-last"
    assert fast.abs().max() <= 1 and not torch.equal(fast, plain)


def test_pick_defaults_and_errors():
    assert Runtime.pick("cpu") == Runtime(CPU, torch.float32, channels_last=True)
    assert Runtime.pick("cpu", "bf16").dtype == torch.bfloat16
    with pytest.raises(InputError, match="dtype"):
        Runtime.pick("cpu", "fp8")
    with pytest.raises(InputError, match="device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            Runtime.pick("cuda")
        assert Runtime.pick("auto").device == CPU
    else:
        fast = Runtime.pick("cuda")
        assert fast.dtype == torch.bfloat16 and fast.channels_last
