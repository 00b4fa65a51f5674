"""Train's record for the screens: the jobs the app launched, the data that made each, the tuned models they made.

Pages and lib/ui call this module, never lib/db. Launching a job is launch.py, reading jobs back from the provider
(and keeping this record up to date) tracking.py.
"""

from __future__ import annotations

from lib.db.provenance_store import job_provenance, provenance_of_model
from lib.train.provenance import Provenance

__all__ = ["held_out_jobs", "job_provenance", "provenance_of_model", "trained_passages"]


def held_out_jobs(provider: str) -> list[Provenance]:
    """The provider's recorded jobs that held validation rows out: their prompts can be evaluated."""
    return [made for made in job_provenance(provider).values() if made.validation_rows]


def trained_passages(provider: str, model: str) -> int | None:
    """How many passages per prompt ``model`` was trained with (None: it was not trained with passages)."""
    made = provenance_of_model(provider, model) if provider else None
    return made.passages.k if made is not None and made.passages is not None else None
