"""The hand-written linear schedule against numpy's formulas and against diffusers' DDPMScheduler."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from palette_kit.diffusion.presets import make_scheduler, schedule_preset
from palette_kit.diffusion.schedule import LinearSchedule
from palette_kit.errors import InputError

PALETTE_SAMPLE = schedule_preset("palette").sample


class ScheduleContract:
    """Checks every scheduler we sample with must pass (subclassed per implementation)."""

    kind: str

    def make(self, **overrides):
        return make_scheduler(self.kind, replace(PALETTE_SAMPLE, **overrides))

    @pytest.mark.parametrize("steps", [1, 7, 20, 1000])
    def test_timesteps_start_noisiest_and_descend(self, steps):
        s = self.make()
        s.set_timesteps(steps)
        t = s.timesteps
        assert len(t) == steps and int(t[0]) == 999
        assert torch.all(t[:-1] > t[1:])

    def test_add_noise_matches_formula(self):
        s = self.make()
        y_0, eps = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
        t = torch.tensor([0, 500, 999])
        gamma = s.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        expected = gamma.sqrt() * y_0 + (1 - gamma).sqrt() * eps
        torch.testing.assert_close(s.add_noise(y_0, eps, t), expected, rtol=1e-5, atol=1e-6)

    def test_step_from_exact_eps_recovers_y0_at_last_step(self):
        s = self.make()
        s.set_timesteps(10)
        y_0, eps = torch.rand(2, 2, 8, 8) * 2 - 1, torch.randn(2, 2, 8, 8)
        t = int(s.timesteps[-1])
        y_t = s.add_noise(y_0, eps, torch.tensor([t]))
        out = s.step(eps, t, y_t, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out.pred_original_sample, y_0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(out.prev_sample, y_0, rtol=1e-4, atol=1e-4)


class TestLinearSchedule(ScheduleContract):
    kind = "linear"

    def test_gammas_match_numpy_in_float64(self):
        s = LinearSchedule(2000, 1e-6, 1e-2)
        betas = np.linspace(1e-6, 1e-2, 2000, dtype=np.float64)
        assert s.gammas.dtype == torch.float64
        np.testing.assert_allclose(s.gammas.numpy(), np.cumprod(1 - betas), rtol=1e-12)

    def test_palette_presets_reach_pure_noise_and_seed_does_not(self):
        for part in ("train", "sample"):
            assert getattr(schedule_preset("palette"), part).linear().gammas[-1] < 1e-3
        seed_gamma_T = float(schedule_preset("seed").train.linear().gammas[-1])
        assert 0.35 < seed_gamma_T < 0.42  # the tutorial's flaw: sampling starts far noisier than training saw

    def test_posterior_matches_ddpm_formula_at_full_steps(self):
        s = LinearSchedule(20, 1e-4, 0.09)
        betas = np.linspace(1e-4, 0.09, 20)
        gammas = np.cumprod(1 - betas)
        t = 10
        y_0, y_t = torch.rand(1, 2, 4, 4).double() * 2 - 1, torch.randn(1, 2, 4, 4).double()
        eps = (y_t - np.sqrt(gammas[t]) * y_0) / np.sqrt(1 - gammas[t])
        coef1 = betas[t] * np.sqrt(gammas[t - 1]) / (1 - gammas[t])
        coef2 = (1 - gammas[t - 1]) * np.sqrt(1 - betas[t]) / (1 - gammas[t])
        variance = betas[t] * (1 - gammas[t - 1]) / (1 - gammas[t])
        noise = torch.randn(y_t.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        expected = coef1 * y_0 + coef2 * y_t + np.sqrt(variance) * noise
        out = s.step(eps, t, y_t, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(out.prev_sample, expected, rtol=1e-10, atol=1e-10)

    def test_save_and_load_config(self, tmp_path):
        s = LinearSchedule(num_train_timesteps=123, beta_start=2e-4, beta_end=0.05, clip_sample=False)
        s.save_pretrained(tmp_path)
        again = LinearSchedule.from_pretrained(tmp_path)
        assert dict(again.config) == dict(s.config)
        torch.testing.assert_close(again.gammas, s.gammas)

    def test_bad_steps(self):
        with pytest.raises(ValueError):
            LinearSchedule(20).set_timesteps(21)


class TestDDPMScheduler(ScheduleContract):
    kind = "ddpm"


def test_unknown_schedule_and_sampler():
    with pytest.raises(InputError, match="unknown schedule 'cosine'"):
        schedule_preset("cosine")
    with pytest.raises(InputError, match="unknown sampler 'euler'"):
        make_scheduler("euler", PALETTE_SAMPLE)


def test_linear_and_ddpm_agree_on_gammas():
    ours, theirs = make_scheduler("linear", PALETTE_SAMPLE), make_scheduler("ddpm", PALETTE_SAMPLE)
    torch.testing.assert_close(ours.alphas_cumprod.float(), theirs.alphas_cumprod, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("steps", [1000, 50, 10])
def test_linear_and_ddpm_agree_on_every_sampling_step(steps):
    """Same eps, same sample, same generator seed: the same next sample, at every step of a schedule."""
    ours, theirs = make_scheduler("linear", PALETTE_SAMPLE), make_scheduler("ddpm", PALETTE_SAMPLE)
    ours.set_timesteps(steps)
    theirs.set_timesteps(steps)
    torch.testing.assert_close(ours.timesteps, theirs.timesteps)
    y_t = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    for i, t in enumerate(ours.timesteps):
        eps = torch.randn(y_t.shape, generator=torch.Generator().manual_seed(100 + i))
        a = ours.step(eps, t, y_t, generator=torch.Generator().manual_seed(i))
        b = theirs.step(eps, t, y_t, generator=torch.Generator().manual_seed(i))
        torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a.prev_sample, b.prev_sample, rtol=1e-4, atol=1e-4)
        y_t = a.prev_sample
