"""How long the local provider takes to train a dataset: the one model behind the Train and Tokens screens.

Its figures come from ``python -m bench.train --scale`` (docs/benchmarks.md): the local trainer's real
tokens/s at the batch sizes "auto" picks for 40, 400 and 4,000 examples. The screens count tokens as
OpenAI does (o200k_base); the trainer's own tokens (SmolLM2's chat template) are ~10% more on the same
data. Once this machine has finished supervised jobs, the figures are scaled by how fast those ran
against the benchmark at their own batch sizes.
"""

from __future__ import annotations

import itertools
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Real tokens/s of the local trainer by batch size: one epoch of 40, 400 and 4,000 generated examples
# (python -m bench.train --scale, 2026-11-22; 2-core Xeon @ 2.50 GHz, AVX-512, no native bf16).
BENCHMARK_TOKENS_PER_SECOND = {1: 117.3, 6: 229.7, 8: 202.2}
TRAINER_TOKENS_PER_COUNTED_TOKEN = 1.10  # the same examples: SmolLM2's template against OpenAI's count
JOB_START_SECONDS = 4.0  # a job besides training: load the model, save the adapter and checkpoints


@dataclass(frozen=True)
class JobSpeed:
    """A finished supervised job of this machine: its real tokens/s and batch size."""

    tokens_per_second: float
    batch_size: int


@dataclass(frozen=True)
class TrainingEstimate:
    seconds: float
    tokens_per_second: float  # counted (o200k) tokens per second
    measured_here: bool  # scaled by this machine's own jobs, not only the benchmark machine's figures


def benchmark_speed(batch_size: int) -> float:
    """The benchmark machine's trainer tokens/s at ``batch_size``: linear between measured sizes, flat beyond."""
    sizes = sorted(BENCHMARK_TOKENS_PER_SECOND)
    if batch_size <= sizes[0]:
        return BENCHMARK_TOKENS_PER_SECOND[sizes[0]]
    for low, high in itertools.pairwise(sizes):
        if batch_size <= high:
            share = (batch_size - low) / (high - low)
            low_speed, high_speed = BENCHMARK_TOKENS_PER_SECOND[low], BENCHMARK_TOKENS_PER_SECOND[high]
            return low_speed + share * (high_speed - low_speed)
    return BENCHMARK_TOKENS_PER_SECOND[sizes[-1]]


def machine_factor(jobs: Sequence[JobSpeed]) -> float | None:
    """How much faster (>1) or slower this machine trains than the benchmark's: the median over its jobs."""
    ratios = [job.tokens_per_second / benchmark_speed(job.batch_size) for job in jobs]
    return statistics.median(ratios) if ratios else None


def training_estimate(
    counted_tokens: int, n_epochs: int, batch_size: int, factor: float | None = None
) -> TrainingEstimate:
    """Time from launch to the tuned model for ``counted_tokens`` per epoch (as the Tokens screen counts them)."""
    speed = benchmark_speed(batch_size) * (factor or 1.0) / TRAINER_TOKENS_PER_COUNTED_TOKEN
    seconds = JOB_START_SECONDS + n_epochs * counted_tokens / speed if counted_tokens > 0 else 0.0
    return TrainingEstimate(seconds, speed, factor is not None)


def busy_slowdown(load: float, cores: int) -> float:
    """How many times longer training may take while other work keeps the cores busy: the one-minute load average
    shared with the job (1.0 on an idle machine)."""
    return 1.0 + max(0.0, load) / max(1, cores)


def this_machine_slowdown() -> tuple[float, float, int]:
    """(slowdown, load, cores) of the machine the app runs on (slowdown 1.0 where no load average is known)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return 1.0, 0.0, cores
    return busy_slowdown(load, cores), load, cores


def rough_duration(seconds: float) -> str:
    """An estimate's duration, no more precise than an estimate is: "40 s", "2 min", "1 h 05 min"."""
    if seconds < 90:
        return f"{max(10, round(seconds / 10) * 10)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"
