"""The data map (dataset cartography, Swayamdipta et al. 2020): what training says about each example.

The local trainer records each training example's loss in every epoch. From it: **confidence**, the
mean over epochs of exp(-loss) (the model's mean probability per answer token), and **variability**,
its standard deviation over epochs. Examples the model never learns (low confidence, steady) are often
wrong; those it always knew (high confidence, steady) are often redundant; those it keeps changing its
mind about (high variability) are ambiguous.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import openai
from openai.types.fine_tuning import FineTuningJob

from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig, calling

HARD, AMBIGUOUS, EASY = "hard to learn", "ambiguous", "easy"
STEADY = 0.05  # a change in probability between epochs below this is noise, never ambiguity
GROUPS = (HARD, AMBIGUOUS, EASY)


@dataclass(frozen=True)
class ExampleSignal:
    row_id: int
    mean_loss: float
    confidence: float
    variability: float
    group: str


def read_losses(data: bytes) -> dict[int, list[float]] | None:
    """Example number (1-based, in the training file's order) -> its loss per epoch; None for another file."""
    lines = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
    if not lines or lines[0][:1] != ["example"]:
        return None
    losses = {}
    for line in lines[1:]:
        try:
            losses[int(line[0])] = [float(value) for value in line[1:]]
        except (ValueError, IndexError):
            continue  # a damaged line is left out, not the whole map
    return losses


def fetch(client: openai.OpenAI, config: ProviderConfig, job: FineTuningJob) -> dict[int, list[float]] | None:
    """The per-example losses of a finished job: the local provider's second result file (None elsewhere)."""
    for file_id in job.result_files[1:]:
        with calling(config):
            found = read_losses(client.files.content(file_id).content)
        if found is not None:
            return found
    return None


def signals(losses: dict[int, list[float]], made: Provenance) -> list[ExampleSignal]:
    """Each trained row's signal. Groups are relative to this job: the most variable third is ambiguous (if it
    changed by STEADY or more); of the rest, those below the median confidence are hard to learn, the others easy."""
    rows = made.training_rows
    measured = []
    for number, values in sorted(losses.items()):
        if values and 1 <= number <= len(rows):
            probabilities = [math.exp(-v) for v in values]
            spread = statistics.pstdev(probabilities) if len(probabilities) > 1 else 0.0
            measured.append((rows[number - 1], statistics.fmean(values), statistics.fmean(probabilities), spread))
    if not measured:
        return []
    ordered = sorted(m[3] for m in measured)
    cut = max(STEADY, ordered[math.ceil(len(ordered) * 2 / 3) - 1]) if len(ordered) >= 3 else math.inf
    steady = [m[2] for m in measured if m[3] < cut]
    middle = statistics.median(steady) if steady else 0.0
    return [
        ExampleSignal(row_id, loss, confidence, spread,
                      AMBIGUOUS if spread >= cut else HARD if confidence < middle else EASY)
        for row_id, loss, confidence, spread in measured
    ]  # fmt: skip


def latest_job_of(dataset_id: int, provenance: Sequence[Provenance]) -> Provenance | None:
    """The newest job that trained a model on this dataset (any version)."""
    made = [p for p in provenance if p.dataset_id == dataset_id and p.fine_tuned_model]
    return max(made, key=lambda p: p.created_at, default=None)
