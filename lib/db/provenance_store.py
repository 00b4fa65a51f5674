"""Which dataset version, uploaded as which files, made which fine-tuning job and tuned model.

Train records here the decisions later steps read instead of making again: the exact rows it
trained on and held out for validation, and the training cost it estimated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, update

from lib.db.connection import connect, now, transaction, upsert
from lib.db.schema import job_provenance as provenance_table
from lib.retrieve.source import TrainingPassages
from lib.train.provenance import Provenance

_COLUMNS = (
    "provider", "job_id", "dataset_id", "dataset_name", "version_id", "n_examples", "training_file",
    "validation_file", "base_model", "fine_tuned_model", "created_at", "training_rows", "validation_rows",
    "estimated_cost_usd", "status", "knowledge",
)  # fmt: skip


def record_job(record: Provenance) -> None:
    values = (
        record.provider,
        record.job_id,
        record.dataset_id,
        record.dataset_name,
        record.version_id,
        record.n_examples,
        record.training_file,
        record.validation_file,
        record.base_model,
        record.fine_tuned_model,
        record.created_at or now(),
        json.dumps(list(record.training_rows)),
        json.dumps(list(record.validation_rows)),
        record.estimated_cost_usd,
        record.status,
        json.dumps(asdict(record.passages)) if record.passages else None,
    )
    with transaction() as conn:
        upsert(conn, provenance_table, dict(zip(_COLUMNS, values, strict=True)), ["provider", "job_id"])


def set_outcome(provider: str, job_id: str, status: str, model: str | None) -> None:
    """Note a recorded job's status and the tuned model it produced (once it has one)."""
    values: dict[str, Any] = {"status": status} | ({"fine_tuned_model": model} if model else {})
    with transaction() as conn:
        p = provenance_table.c
        conn.execute(update(provenance_table).where(p.provider == provider, p.job_id == job_id).values(**values))


def _provenance(row: Sequence[Any]) -> Provenance:
    provider, job_id, dataset_id, dataset_name, version_id, n_examples, training_file, validation_file = row[:8]
    base_model, fine_tuned_model, created_at, training_rows, validation_rows, cost, status, knowledge = row[8:]
    return Provenance(
        provider,
        job_id,
        dataset_id,
        dataset_name,
        version_id,
        n_examples,
        training_file,
        validation_file,
        base_model,
        fine_tuned_model,
        created_at,
        training_rows=tuple(json.loads(training_rows or "[]")),
        validation_rows=tuple(json.loads(validation_rows or "[]")),
        estimated_cost_usd=cost,
        status=status or "",
        passages=TrainingPassages(**json.loads(knowledge)) if knowledge else None,
    )


def job_provenance(provider: str) -> dict[str, Provenance]:
    """The recorded jobs of a provider, by job id."""
    with connect() as conn:
        columns = [provenance_table.c[name] for name in _COLUMNS]
        found = conn.execute(select(*columns).where(provenance_table.c.provider == provider)).fetchall()
    return {row[1]: _provenance(row) for row in found}


def provenance_of_model(provider: str, model: str) -> Provenance | None:
    """The recorded job that made a tuned model (or the checkpoint ``model``), if the app launched it."""
    return next((p for p in job_provenance(provider).values() if p.made(model)), None)
