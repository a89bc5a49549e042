"""Noise schedules, the training loss and the sampler: Palette's diffusion, independent of tasks."""
