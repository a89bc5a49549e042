"""Every sampler: gamma mapping, determinism, agreement between samplers, per-sample seeds."""
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from palette_kit.diffusion.constraints import keep_known
from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.presets import SAMPLERS, make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import restore
from palette_kit.nn.unet import UNet, preset

SAMPLE = schedule_preset("palette").sample  # 1000 steps; the model trains on another (2000-step) schedule


def perturbed_tiny_net(seed: int = 0) -> EpsModel:
    """A tiny fixed network whose output is not zero (its output convs start at zero)."""
    torch.manual_seed(seed)
    net = EpsModel(UNet(preset("tiny", 3, 2))).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return net


def oracle(y_0: torch.Tensor):
    """The perfect eps-model for a single known target: eps = (y_t - sqrt(gamma) y_0) / sqrt(1 - gamma).

    It uses the gamma it is given, so it recovers ``y_0`` through a scheduler only if the sampler
    hands the model the gamma of the scheduler's own timestep.
    """
    def net(y_t, y_cond, gamma):
        g = gamma.view(-1, 1, 1, 1)
        return (y_t - g.sqrt() * y_0) / (1 - g).sqrt()
    return net


def gaussian_eps_model(mu: float, s: float):
    """The exact eps-model when every pixel of y_0 is drawn from N(mu, s^2)."""
    def net(y_t, y_cond, gamma):
        g = gamma.view(-1, 1, 1, 1).double()
        eps = (1 - g).sqrt() * (y_t.double() - g.sqrt() * mu) / (g * s ** 2 + 1 - g)
        return eps.to(y_t.dtype)
    return net


def run(kind: str, net, y_T: torch.Tensor, steps: int, seed: int = 1, y_cond: torch.Tensor | None = None):
    y_cond = torch.zeros(y_T.shape[0], 1, *y_T.shape[2:]) if y_cond is None else y_cond
    return restore(net, y_cond, y_T, make_scheduler(kind, SAMPLE), steps, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", SAMPLERS)
@pytest.mark.parametrize("steps", [1, 7, 50])
def test_model_gets_the_gamma_of_each_scheduler_timestep(kind, steps):
    seen = []

    def net(y_t, y_cond, gamma):
        seen.append(gamma.clone())
        return torch.zeros_like(y_t)

    scheduler = make_scheduler(kind, SAMPLE)
    run(kind, net, torch.randn(2, 2, 8, 8), steps)
    scheduler.set_timesteps(steps)
    expected = scheduler.alphas_cumprod.float()[scheduler.timesteps]
    total = SAMPLE.num_train_timesteps
    assert len(seen) == steps and 0 <= total - 1 - scheduler.timesteps[0] <= total % steps  # starts at pure noise
    torch.testing.assert_close(torch.stack([g[0] for g in seen]), expected, rtol=0, atol=0)
    assert all(torch.equal(g, g[:1].expand(2)) for g in seen)


@pytest.mark.parametrize("kind", SAMPLERS)
@pytest.mark.parametrize("steps", [3, 20, 333])
def test_perfect_model_is_restored_exactly_at_any_step_count(kind, steps):
    y_0 = torch.rand(2, 2, 8, 8) * 1.8 - 0.9
    out = run(kind, oracle(y_0), torch.randn(2, 2, 8, 8), steps)
    torch.testing.assert_close(out, y_0, rtol=0, atol=2e-4)


@pytest.mark.parametrize("kind", ["ddim", "dpmsolver"])
@pytest.mark.parametrize("steps", [7, 20, 333])
def test_deterministic_samplers_tell_the_model_the_gamma_its_input_has(kind, steps):
    """With a perfect model of one target, the deterministic samplers move y_t along
    sqrt(gamma) y_0 + sqrt(1 - gamma) eps with the initial eps: so every y_t the model sees must
    be exactly that at the gamma it is given (a sampler stepping to another timestep than the
    one it calls the model at next would break this)."""
    y_0, eps = torch.rand(1, 2, 8, 8) * 1.8 - 0.9, torch.randn(1, 2, 8, 8)
    perfect, residuals = oracle(y_0), []

    def net(y_t, y_cond, gamma):
        g = gamma.view(-1, 1, 1, 1).double()
        residuals.append((y_t.double() - g.sqrt() * y_0 - (1 - g).sqrt() * eps).abs().max().item())
        return perfect(y_t, y_cond, gamma)

    run(kind, net, eps, steps)
    assert max(residuals) < 1e-3, residuals  # float32 steps from sigma = sqrt(1 - gamma) / sqrt(gamma) ~ 1e10


@pytest.mark.parametrize("kind", ["ddim", "dpmsolver"])
def test_deterministic_samplers_ignore_the_step_generator(kind):
    net, y_T = perturbed_tiny_net(), torch.randn(2, 2, 32, 32, generator=torch.Generator().manual_seed(0))
    a = run(kind, net, y_T, 10, seed=1)
    b = run(kind, net, y_T, 10, seed=2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(run("ddpm", net, y_T, 10, seed=1), run("ddpm", net, y_T, 10, seed=2))


def test_ddim_and_dpmsolver_converge_to_the_same_ode_solution():
    """DDIM and DPM-Solver++ solve the same probability-flow ODE: with many steps they meet; DPM-Solver,
    second order, gets there in fewer steps.

    The fixed model is the exact eps-model of Gaussian data plus a tiny random UNet scaled by
    sqrt(gamma): non-linear, varying over the picture, and its errors in y_0 stay bounded (a random
    UNet alone puts y_0 far outside [-1, 1] at high noise, and then clipping decides everything).
    """
    unet, gaussian = perturbed_tiny_net(), gaussian_eps_model(0.1, 0.3)

    def net(y_t, y_cond, gamma):
        return gaussian(y_t, y_cond, gamma) + 0.3 * gamma.view(-1, 1, 1, 1).sqrt() * unet(y_t, y_cond, gamma)

    y_T = torch.randn(1, 2, 32, 32, generator=torch.Generator().manual_seed(0))
    reference = run("ddim", net, y_T, 1000)

    def error(kind: str, steps: int) -> float:
        return (run(kind, net, y_T, steps) - reference).abs().mean().item()

    ddim = {n: error("ddim", n) for n in (10, 100)}
    dpm = {n: error("dpmsolver", n) for n in (10, 100)}
    assert ddim[100] < ddim[10] / 5 and dpm[100] < dpm[10] / 20, (ddim, dpm)
    assert dpm[100] < ddim[100] / 5, (ddim, dpm)


@pytest.mark.parametrize("kind", ["ddim", "dpmsolver"])
def test_few_step_samplers_approach_the_ddpm_distribution(kind):
    """With the exact model of Gaussian data N(mu, s^2), the samples' spread with many steps comes
    close to that of the 1000-step DDPM ancestral sampler (and of the data); with few steps it is
    smaller: deterministic samplers shrink it when the steps are coarse. Worked out in closed form
    for this schedule: DDIM gives s = 0.095 / 0.150 / 0.187 / 0.197 at 20 / 50 / 200 / 1000 steps,
    DDPM 0.193 at 1000 steps (0.2 with the exact reverse variance)."""
    mu, s, shape = 0.3, 0.2, (4, 2, 32, 32)  # 8192 pixels; mu +- 3.5 s stays inside [-1, 1]
    net = gaussian_eps_model(mu, s)
    y_T = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    ddpm = run("linear", net, y_T, 1000)
    assert abs(ddpm.mean().item() - mu) < 0.01 and abs(ddpm.std().item() - 0.193) < 0.005
    few, many = run(kind, net, y_T, 20), run(kind, net, y_T, 200)
    assert abs(many.mean().item() - mu) < 0.01 and abs(few.mean().item() - mu) < 0.01
    gap_few, gap_many = abs(few.std() - ddpm.std()).item(), abs(many.std() - ddpm.std()).item()
    assert gap_many < 0.01 and gap_many < gap_few / 3, (gap_few, gap_many)


@pytest.mark.parametrize("kind", SAMPLERS)
def test_per_sample_generators_make_samples_independent_of_the_batch(kind):
    """Each sample's noise (start, steps and hook) comes from its own generator."""
    net = EpsModel(perturbed_tiny_net().backbone).eval()
    net.backbone.conv_in = torch.nn.Conv2d(6, 32, 3, padding=1)  # 4 condition channels, as for inpainting
    y_cond = torch.rand(3, 4, 32, 32) * 2 - 1
    known, unknown = torch.rand(3, 2, 32, 32), (torch.rand(3, 1, 32, 32) > 0.5).float()

    def sample(rows: list[int], seeds: list[int]) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        y_T = randn_tensor((len(rows), 2, 32, 32), generator=generators)
        hook = keep_known(known[rows], unknown[rows])
        return restore(net, y_cond[rows], y_T, make_scheduler(kind, SAMPLE), 5, generators, hook=hook)

    batch = sample([0, 1, 2], [10, 11, 12])
    alone = sample([1], [11])
    # equal up to float error: batched and single convolutions round differently
    torch.testing.assert_close(batch[1:2], alone, rtol=0, atol=1e-3)
    assert not torch.allclose(sample([0, 1], [10, 10])[1], alone, atol=1e-2)  # the seed matters
    assert not torch.allclose(batch[0], batch[2])
