"""Progressive distillation as rounds of ordinary training runs, each halving the steps of the model before it.

Round r trains a v-predicting student, started from the previous model's weights, with ``DistillationLoss``
in the training loop every model uses (checkpoints, exact resumption, EMA, wandb, torchrun); its best EMA
weights teach the next round. A killed run resumes inside its round; finished rounds are not redone.
The last round's student is saved as an ordinary checkpoint that samples with DDIM at its steps by default
and records its teacher (weights checksum) and the distillation settings.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from palette_kit.diffusion.presets import Sampling, Schedules
from palette_kit.distillation.loss import DistillationLoss
from palette_kit.errors import InputError
from palette_kit.model import Palette
from palette_kit.training.distributed import World
from palette_kit.training.state import check_compatible, find_checkpoints, load_state
from palette_kit.training.tracking import Run
from palette_kit.training.trainer import TrainSettings, train

#: Students predict v: their first steps start from (almost) pure noise, where eps says nothing about y_0.
STUDENT_PREDICTION = "v"


@dataclass(frozen=True)
class Plan:
    """Halve ``teacher_steps`` (the steps of the teacher's DDIM that the first student learns) down to ``steps``."""

    teacher_steps: int
    steps: int

    def rounds(self, total: int) -> list[int]:
        """The student's steps in each round; ``total``: the steps of the students' sampling schedule."""
        if self.teacher_steps <= self.steps or self.teacher_steps % self.steps \
                or (self.teacher_steps // self.steps) & (self.teacher_steps // self.steps - 1):
            raise InputError(f"--teacher-steps ({self.teacher_steps}) must be --steps ({self.steps}) times a "
                             "power of two, e.g. 4 x steps for two rounds")
        if total % self.steps:
            raise InputError(f"--steps ({self.steps}) must divide the sampling schedule's {total} steps, so that "
                             "`--sampler ddim` samples the student on the grid it learnt")
        if self.teacher_steps > total:
            raise InputError(f"--teacher-steps must be at most the sampling schedule's {total} steps")
        steps, out = self.teacher_steps // 2, []
        while steps >= self.steps:
            out.append(steps)
            steps //= 2
        return out


def student_of(teacher: Palette, schedules: Schedules, steps: int) -> Palette:
    """A v-predicting copy of ``teacher`` (same task, network and encoder) that samples with DDIM in ``steps``
    over ``schedules.sample``."""
    encoder = teacher.encoder.spec.name if teacher.encoder is not None else None
    student = Palette.build(teacher.task, teacher.unet_config, schedules, Sampling("ddim", steps),
                            STUDENT_PREDICTION, encoder)
    student.warm_start(teacher)
    return student


@dataclass
class Distillation:
    """One distillation run under ``root``: ``round-R-N-steps`` folders, then ``student``."""

    teacher: Palette
    teacher_sha256: str
    plan: Plan
    schedules: Schedules  # the students'
    settings: TrainSettings  # per round
    root: Path
    world: World = dataclasses.field(default_factory=World)
    use_wandb: bool = False
    wandb_project: str = "palette-kit"

    def run(self, train_data: Dataset, val_data: Dataset) -> Path:
        """Every round not yet finished, then the student checkpoint; returns its folder."""
        model, rounds = self.teacher, self.plan.rounds(self.schedules.sample.num_train_timesteps)
        folders = [self.root / f"round-{r}-{steps}-steps" for r, steps in enumerate(rounds, 1)]
        for steps, folder in zip(rounds, folders):
            model = self._round(model, steps, folder, train_data, val_data)
        out = self.root / "student"
        if self.world.is_main:
            model.save(out, distillation=self.record(rounds, folders))
        return out

    def record(self, rounds: list[int], folders: list[Path]) -> dict[str, Any]:
        """What the student's config says of how it was made (the checkpoint schema's ``distillation``);
        ``seconds``: the rounds' epochs, as their ``metrics.jsonl`` logged them (work lost to a kill excluded)."""
        s = self.settings
        rows = [json.loads(line) for folder in folders for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return {"method": "progressive", "teacher_sha256": self.teacher_sha256,
                "teacher_steps": self.plan.teacher_steps, "rounds": rounds, "epochs_per_round": s.epochs,
                "samples_per_epoch": s.samples_per_epoch, "batch_size": s.batch_size * self.world.size,
                "lr": s.lr, "ema_decay": s.ema_decay, "seed": s.seed,
                "seconds": round(sum(row["seconds"] for row in rows), 1)}

    def _round(self, teacher: Palette, steps: int, folder: Path, train_data: Dataset, val_data: Dataset) -> Palette:
        """Train (or resume, or skip when finished) the round whose student samples in ``steps``."""
        student = student_of(teacher, self.schedules, steps)
        settings = dataclasses.replace(self.settings, sample_steps=steps)
        found = find_checkpoints(folder)
        state = load_state(found[-1]) if found else None
        if state is not None:
            check_compatible(state.config, student.config, found[-1])
            if settings.finished(state.progress):
                return Palette.load(folder / "best")
        teacher.net.to(self.world.device)
        loss = DistillationLoss(teacher.net, self.schedules.sample.gammas(), steps)
        run = None
        if self.world.is_main:
            config = {"distill": dataclasses.asdict(settings), "model": student.config, "teacher_steps": steps * 2}
            run = Run(folder, config, self.use_wandb, self.wandb_project,
                      run_id=state.progress.get("wandb_id") if state else None)
        try:
            train(student, train_data, val_data, settings, run, self.world, state, loss)
        finally:
            if run is not None:
                run.finish()
        self.world.barrier()  # rank 0 has written the round's best weights
        return Palette.load(folder / "best")
