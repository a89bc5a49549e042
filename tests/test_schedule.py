"""Every sampler's scheduler against one contract; the linear schedule against numpy's formulas, against
diffusers' DDPMScheduler, and as a diffusers scheduler (config files, compatible schedulers, custom timesteps)."""
import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from palette_kit.diffusion.presets import SAMPLERS, make_scheduler, schedule_preset
from palette_kit.diffusion.schedule import LinearSchedule
from palette_kit.errors import InputError

PALETTE_SAMPLE = schedule_preset("palette").sample
SAMPLE_CONFIG = asdict(PALETTE_SAMPLE)


class ScheduleContract:
    """Checks every scheduler we sample with must pass (subclassed per implementation)."""

    kind: str
    reports_y_0 = True  # whether ``step`` returns the y_0 it predicted (pred_original_sample)

    def make(self, **overrides):
        return make_scheduler(self.kind, replace(PALETTE_SAMPLE, **overrides))

    def first_timestep(self, steps: int) -> int:
        """Where sampling starts: the noisiest step, T - 1."""
        return 999

    @pytest.mark.parametrize("steps", [1, 7, 20, 1000])
    def test_timesteps_start_noisiest_and_descend(self, steps):
        s = self.make()
        s.set_timesteps(steps)
        t = s.timesteps
        assert len(t) == steps and int(t[0]) == self.first_timestep(steps)
        assert torch.all(t[:-1] > t[1:]) and int(t[-1]) >= 0

    def test_add_noise_matches_formula(self):
        s = self.make()
        s.set_timesteps(1000)  # diffusers' DPM-Solver orders its sigmas like its timesteps only from here on
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
        if self.reports_y_0:
            torch.testing.assert_close(out.pred_original_sample, y_0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(out.prev_sample, y_0, rtol=1e-4, atol=1e-4)


def test_the_contract_covers_every_sampler():
    assert {cls.kind for cls in ScheduleContract.__subclasses__()} == set(SAMPLERS)


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
        public = [{k: v for k, v in c.config.items() if not k.startswith("_")} for c in (again, s)]
        assert public[0] == public[1] and public[0]["num_train_timesteps"] == 123
        torch.testing.assert_close(again.gammas, s.gammas)

    def test_bad_steps(self):
        with pytest.raises(ValueError):
            LinearSchedule(20).set_timesteps(21)


# ---------------------------------------------------------------- LinearSchedule as a diffusers scheduler

def test_config_written_by_earlier_versions_still_loads(tmp_path):
    old = {"_class_name": "LinearSchedule", "num_train_timesteps": 123, "beta_start": 2e-4, "beta_end": 0.05,
           "clip_sample": False}
    (tmp_path / "scheduler_config.json").write_text(json.dumps(old))
    s = LinearSchedule.from_pretrained(tmp_path)
    assert {k: s.config[k] for k in old if k != "_class_name"} == {k: v for k, v in old.items() if k != "_class_name"}
    torch.testing.assert_close(s.gammas, LinearSchedule(123, 2e-4, 0.05).gammas, rtol=0, atol=0)


def test_a_diffusers_ddpm_config_loads_and_choices_it_does_not_offer_are_refused(tmp_path):
    common = {**SAMPLE_CONFIG, "beta_schedule": "linear", "timestep_spacing": "trailing"}
    DDPMScheduler(**common, variance_type="fixed_small").save_config(tmp_path)
    ours, theirs = LinearSchedule.from_pretrained(tmp_path), DDPMScheduler.from_pretrained(tmp_path)
    torch.testing.assert_close(ours.alphas_cumprod.float(), theirs.alphas_cumprod, rtol=1e-5, atol=1e-7)
    ours.set_timesteps(50)
    theirs.set_timesteps(50)
    torch.testing.assert_close(ours.timesteps, theirs.timesteps)
    for option, value in [("prediction_type", "v_prediction"), ("beta_schedule", "squaredcos_cap_v2"),
                          ("variance_type", "fixed_large"), ("timestep_spacing", "leading")]:
        DDPMScheduler(**{**common, option: value}).save_config(tmp_path)
        with pytest.raises(ValueError, match=f"only {option}="):
            LinearSchedule.from_pretrained(tmp_path)


@pytest.mark.parametrize("cls", [DDPMScheduler, DDIMScheduler, DPMSolverMultistepScheduler])
def test_compatible_diffusers_schedulers_build_from_its_config(cls):
    s = LinearSchedule(**SAMPLE_CONFIG)
    assert cls in s.compatibles
    other = cls.from_config(s.config, timestep_spacing="trailing")  # options left at their defaults get
    # the other scheduler's defaults (diffusers' rule), so the spacing is named
    torch.testing.assert_close(other.alphas_cumprod, s.alphas_cumprod.float(), rtol=1e-5, atol=1e-7)
    s.set_timesteps(20)
    other.set_timesteps(20)
    torch.testing.assert_close(other.timesteps.long(), s.timesteps)
    back = LinearSchedule.from_config(other.config)
    assert {k: back.config[k] for k in s.config if not k.startswith("_")} == \
        {k: v for k, v in s.config.items() if not k.startswith("_")}


def test_step_output_is_a_dict_or_a_tuple():
    s = LinearSchedule(**SAMPLE_CONFIG)
    s.set_timesteps(10)
    y_t, eps, t = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4), s.timesteps[3]
    out = s.step(eps, t, y_t, generator=torch.Generator().manual_seed(5))
    assert list(out.keys()) == ["prev_sample", "pred_original_sample"] and out["prev_sample"] is out.prev_sample
    as_tuple = s.step(eps, t, y_t, generator=torch.Generator().manual_seed(5), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    for a, b in zip(as_tuple, out.to_tuple()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pipeline_api_and_config_attributes():
    s = LinearSchedule(**SAMPLE_CONFIG)
    x = torch.randn(1, 2, 4, 4)
    assert s.init_noise_sigma == 1.0 and s.order == 1 and len(s) == 1000
    assert s.scale_model_input(x, 999) is x
    assert s.config.num_train_timesteps == 1000 and s.config["beta_end"] == PALETTE_SAMPLE.beta_end


def test_custom_timesteps_are_walked_in_order():
    s = LinearSchedule(**SAMPLE_CONFIG)
    s.set_timesteps(timesteps=[700, 450, 87, 3, 0])
    assert s.timesteps.tolist() == [700, 450, 87, 3, 0] and s.num_inference_steps == 5
    assert [int(s.previous_timestep(t)) for t in s.timesteps] == [450, 87, 3, 0, -1]
    y_0 = torch.rand(1, 2, 4, 4) * 2 - 1
    y_t = torch.randn(1, 2, 4, 4)
    for t in s.timesteps:  # the perfect eps at every step: the walk ends on y_0
        gamma = s.gammas[t].float()
        eps = (y_t - gamma.sqrt() * y_0) / (1 - gamma).sqrt()
        y_t = s.step(eps, t, y_t, generator=torch.Generator().manual_seed(int(t))).prev_sample
    torch.testing.assert_close(y_t, y_0, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", [
    {"timesteps": [100, 87, 87, 0]}, {"timesteps": [1, 5]}, {"timesteps": [1000, 3]}, {"timesteps": [5, -1]},
    {"timesteps": []}, {"num_inference_steps": 5, "timesteps": [5, 0]}, {}, {"num_inference_steps": 0}])
def test_bad_timesteps_are_refused(bad):
    with pytest.raises(ValueError):
        LinearSchedule(**SAMPLE_CONFIG).set_timesteps(**bad)


@pytest.mark.parametrize("steps", [1000, 10])
def test_posterior_variance_is_ddpms(steps):
    ours = LinearSchedule(**SAMPLE_CONFIG)
    theirs = make_scheduler("ddpm", PALETTE_SAMPLE)
    ours.set_timesteps(steps)
    theirs.set_timesteps(steps)
    for t in ours.timesteps[[0, steps // 2, -1]]:
        torch.testing.assert_close(ours._get_variance(t).float(), theirs._get_variance(t).clamp(min=0),
                                   rtol=1e-4, atol=1e-7)


def test_drives_a_diffusers_pipeline():
    from diffusers import DDPMPipeline, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8,), layers_per_block=1,
                       down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",), norm_num_groups=4).eval()
    s = LinearSchedule(**SAMPLE_CONFIG)
    pipe = DDPMPipeline(unet=unet, scheduler=s)
    pipe.set_progress_bar_config(disable=True)
    images = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=4, output_type="np")
    generator = torch.Generator().manual_seed(0)
    y_t = torch.randn(2, 3, 8, 8, generator=generator)
    s.set_timesteps(4)
    with torch.no_grad():
        for t in s.timesteps:
            y_t = s.step(unet(y_t, t).sample, t, y_t, generator=generator).prev_sample
    expected = (y_t / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(images.images, expected, rtol=0, atol=1e-6)


class TestDDPMScheduler(ScheduleContract):
    kind = "ddpm"


class TestDDIMScheduler(ScheduleContract):
    kind = "ddim"

    def first_timestep(self, steps: int) -> int:
        """DDIM's step always jumps by T // steps: it starts at steps * (T // steps) - 1, within T mod steps."""
        return steps * (1000 // steps) - 1

    @pytest.mark.parametrize("steps", [4, 7, 10])
    def test_matches_diffusers_ddim_step_by_step(self, steps):
        """Ours against diffusers' DDIMScheduler (eta 0, clip, set_alpha_to_one) on the timesteps its step jumps
        between, with eps large enough that the clip of y_0 matters."""
        ours = self.make()
        theirs = DDIMScheduler(**SAMPLE_CONFIG, beta_schedule="linear", clip_sample=True, set_alpha_to_one=True)
        ours.set_timesteps(steps)
        theirs.set_timesteps(steps)
        theirs.timesteps = ours.timesteps.clone()
        generator = torch.Generator().manual_seed(0)
        y_a = y_b = torch.randn(2, 2, 8, 8, generator=generator)
        for t in ours.timesteps:
            eps = 1.5 * torch.randn(2, 2, 8, 8, generator=generator)
            a, b = ours.step(eps, t, y_a), theirs.step(eps, t, y_b)
            torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(a.prev_sample, b.prev_sample, rtol=1e-5, atol=1e-5)
            y_a, y_b = a.prev_sample, b.prev_sample

    def test_imports_no_diffusers(self):
        import subprocess
        import sys

        code = ("import sys; from palette_kit.diffusion.presets import make_scheduler, schedule_preset; "
                "make_scheduler('ddim', schedule_preset('palette').sample).set_timesteps(4); "
                "print('diffusers' in sys.modules)")
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


class TestDPMSolverScheduler(ScheduleContract):
    kind = "dpmsolver"
    reports_y_0 = False  # diffusers' multistep solvers return prev_sample alone


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
