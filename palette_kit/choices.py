"""The names the command line offers as choices, in a module that imports nothing heavy.

``palette-kit --help`` and ``palette-kit tasks`` must start in well under a second, so the CLI takes
its choices from here: the modules that implement them (which import torch) use the name tuples below,
and ``tests/test_cli_startup.py`` checks that the presets, schedules and dtypes they define agree.
"""

#: UNet presets (``palette_kit.nn.unet.PRESETS``).
PRESETS = ("tiny", "small", "seed")
#: Noise-schedule presets (``palette_kit.diffusion.presets.SCHEDULES``).
SCHEDULES = ("palette", "ddpm", "seed")
#: Samplers: DDPM ancestral with our linear schedule or diffusers', DDIM, DPM-Solver++ (``make_scheduler``).
SAMPLERS = ("linear", "ddpm", "ddim", "dpmsolver")
#: What the backbone predicts (``palette_kit.diffusion.denoiser``).
PREDICTIONS = ("eps", "v")
#: How the UNet embeds the noise level (``palette_kit.nn.unet``).
NOISE_INPUTS = ("gamma", "log1p_snr")
#: Frozen pretrained encoders of the condition (``palette_kit.nn.encoders.ENCODERS``).
ENCODERS = ("efficientnet-lite0",)
#: ``--device`` (``palette_kit.runtime``).
DEVICES = ("auto", "cpu", "cuda")
#: Inference ``--dtype`` (``palette_kit.runtime.DTYPES``).
DTYPES = ("fp32", "bf16", "fp16")
#: Training ``--mixed-precision`` (``palette_kit.runtime.MIXED_PRECISION``).
MIXED_PRECISION = ("no", "fp16", "bf16")
