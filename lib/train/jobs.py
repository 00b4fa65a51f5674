"""Train's record for the screens: the jobs the app launched, the data that made each, the tuned models they made.

Pages and lib/ui call this module, never lib/db. Launching a job is launch.py, reading jobs back from the provider
(and keeping this record up to date) tracking.py.
"""

from __future__ import annotations

from lib.db.provenance_store import job_provenance, provenance_of_model
from lib.retrieve.source import TrainingPassages
from lib.train.provenance import Provenance

__all__ = ["held_out_jobs", "job_provenance", "provenance_of_model", "trained_with"]


def held_out_jobs(provider: str) -> list[Provenance]:
    """The provider's recorded jobs that held validation rows out: their prompts can be evaluated."""
    return [made for made in job_provenance(provider).values() if made.validation_rows]


def trained_with(provider: str, model: str) -> TrainingPassages | None:
    """The passages ``model`` was trained with, when this studio launched its job (None: none, or not known)."""
    made = provenance_of_model(provider, model) if provider else None
    return made.passages if made is not None else None
