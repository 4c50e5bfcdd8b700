"""Learning-rate schedules as pure functions of the optimizer step (set per iteration, nanoGPT-style)."""

from __future__ import annotations

import math

from seqnorm_repro.config import ScheduleConfig


def lr_factor(schedule: ScheduleConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """The multiplier of optim.lr at `step` (0-based) of `total_steps`; see ScheduleConfig."""
    warmup = round(schedule.warmup_epochs * steps_per_epoch)
    if schedule.name == "constant":
        return 1.0
    if schedule.name == "cosine":
        return _cosine(1.0, schedule.end_factor, step / max(total_steps, 1))
    if schedule.name == "warmup_cosine":
        if step < warmup:
            return _linear(schedule.start_factor, schedule.peak_factor, step / warmup)
        progress = (step - warmup) / max(total_steps - warmup, 1)
        return _cosine(schedule.peak_factor, schedule.end_factor, progress)
    if schedule.name == "onecycle":
        cooldown_end = warmup + round(schedule.cooldown_epochs * steps_per_epoch)
        if step < warmup:
            return _linear(schedule.start_factor, schedule.peak_factor, step / warmup)
        if step < cooldown_end:
            return _linear(
                schedule.peak_factor, schedule.start_factor, (step - warmup) / (cooldown_end - warmup)
            )
        progress = (step - cooldown_end) / max(total_steps - cooldown_end, 1)
        return _linear(schedule.start_factor, schedule.end_factor, progress)
    raise ValueError(f"schedule.name={schedule.name!r} is unknown")


def phase_epochs(schedule: ScheduleConfig) -> float:
    """The epochs `lr_factor` spends in warmup (and one cycle's cooldown) before its final decay."""
    if schedule.name == "onecycle":
        return schedule.warmup_epochs + schedule.cooldown_epochs
    return schedule.warmup_epochs if schedule.name == "warmup_cosine" else 0.0


def _linear(start: float, end: float, progress: float) -> float:
    return start + (end - start) * progress


def _cosine(start: float, end: float, progress: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
