"""The training record's domain: which dataset version, uploaded as which files, made which job and tuned model.

A plain, immutable value: the store (lib/db/provenance_store.py) reads and writes it, Train records it, Jobs,
Evaluate and the scorecard read it instead of deciding again.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.retrieve.source import TrainingPassages


@dataclass(frozen=True)
class Provenance:
    """Which dataset version, uploaded as which files, made which job and tuned model."""

    provider: str
    job_id: str
    dataset_id: int
    dataset_name: str
    version_id: int
    n_examples: int
    training_file: str
    validation_file: str | None
    base_model: str
    fine_tuned_model: str | None = None
    created_at: str = ""
    training_rows: tuple[int, ...] = ()  # row ids of the dataset version, in the order they were uploaded
    validation_rows: tuple[int, ...] = ()
    estimated_cost_usd: float | None = None  # None: no price was known (or the local provider: free)
    status: str = ""  # the job's last status the app saw ("" until the first sync)
    passages: TrainingPassages | None = None  # trained with retrieved passages in each prompt, else None

    def made(self, model: str) -> bool:
        """Whether ``model`` is this job's tuned model or one of its checkpoints."""
        tuned = self.fine_tuned_model
        return bool(tuned) and (model == tuned or model.startswith(f"{tuned}:ckpt-step-"))
