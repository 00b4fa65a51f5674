"""Launching fine-tuning jobs and reading them back: plain functions over the openai SDK."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import openai
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.job_create_params import Method
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from lib import store
from lib.datasets import check_rows
from lib.errors import DatasetError
from lib.formats import split, to_jsonl
from lib.providers import ProviderConfig, calling
from lib.store import Dataset, Provenance, Row
from lib.tokens import ExampleTokens
from lib.validation import Finding

STATUSES = ("validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
UNKNOWN_DATASET = "unknown dataset"
ExampleChoice = str  # "all but rejected" or "approved only"
EXAMPLE_CHOICES = ("All but rejected", "Approved only")
MINIMUM_EXAMPLES = 10


@dataclass(frozen=True)
class LaunchSettings:
    """What the user chose on the launch screen; None means "auto"."""

    base_model: str
    examples: ExampleChoice = EXAMPLE_CHOICES[0]
    validation_fraction: float = 0.0
    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    suffix: str = ""
    seed: int | None = None

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "n_epochs": self.n_epochs or "auto",
            "batch_size": self.batch_size or "auto",
            "learning_rate_multiplier": self.learning_rate_multiplier or "auto",
        }


def chosen_rows(rows: Sequence[Row], choice: ExampleChoice) -> list[Row]:
    if choice == "Approved only":
        return [row for row in rows if row.status == "approved"]
    return [row for row in rows if row.status != "rejected"]


def split_rows(rows: Sequence[Row], settings: LaunchSettings) -> tuple[list[Row], list[Row]]:
    """Training and validation rows: a repeatable split (the seed, or 0, fixes it)."""
    return split(list(rows), settings.validation_fraction, settings.seed or 0)


def training_counts(
    rows: Sequence[Row], counts: Sequence[ExampleTokens], settings: LaunchSettings
) -> list[ExampleTokens]:
    """Token counts of the examples that will be trained on (``counts`` is aligned with ``rows``)."""
    by_id = {row.id: count for row, count in zip(rows, counts, strict=True)}
    training_rows, _ = split_rows(chosen_rows(rows, settings.examples), settings)
    return [by_id[row.id] for row in training_rows]


def blocking_findings(
    rows: Sequence[Row], choice: ExampleChoice, findings: Sequence[Finding] | None = None
) -> list[Finding]:
    """The errors in the chosen examples that stop a launch (warnings do not); lines are dataset rows.

    ``findings``: the rows' findings when already known (the screens cache them per version).
    """
    chosen = {row.id for row in chosen_rows(rows, choice)}
    return [
        finding
        for finding in (check_rows(rows) if findings is None else findings)
        if finding.severity == "error" and (finding.line is None or rows[finding.line - 1].id in chosen)
    ]


def launch(
    client: openai.OpenAI,
    config: ProviderConfig,
    dataset: Dataset,
    rows: Sequence[Row],
    settings: LaunchSettings,
    progress: Callable[[float, str], None] = lambda fraction, text: None,
) -> FineTuningJob:
    """Check, upload and start training on the chosen ``rows``; record which data made the job."""
    if errors := blocking_findings(rows, settings.examples):
        raise DatasetError(f"The chosen examples have {len(errors)} errors; fix them before training.")
    chosen = chosen_rows(rows, settings.examples)
    training_rows, validation_rows = split_rows(chosen, settings)
    if len(training_rows) < MINIMUM_EXAMPLES:
        raise DatasetError(
            f"Training needs at least {MINIMUM_EXAMPLES} examples; this choice has {len(training_rows)}."
        )
    stem = f"{dataset.name}-v{dataset.version_id}"
    with calling(config):
        progress(0.1, f"Uploading {len(training_rows)} training examples…")
        training_file = client.files.create(
            file=(f"{stem}-train.jsonl", to_jsonl(r.example for r in training_rows)), purpose="fine-tune"
        )
        validation_id = None
        if validation_rows:
            progress(0.4, f"Uploading {len(validation_rows)} validation examples…")
            validation_file = client.files.create(
                file=(f"{stem}-validation.jsonl", to_jsonl(r.example for r in validation_rows)), purpose="fine-tune"
            )
            validation_id = validation_file.id
        progress(0.7, "Creating the fine-tuning job…")
        job = client.fine_tuning.jobs.create(
            model=settings.base_model,
            training_file=training_file.id,
            validation_file=validation_id or openai.omit,
            method=cast(Method, {"type": "supervised", "supervised": {"hyperparameters": settings.hyperparameters()}}),
            suffix=settings.suffix.strip() or openai.omit,
            seed=settings.seed if settings.seed is not None else openai.omit,
            metadata={"dataset": dataset.name[:500], "dataset_version": str(dataset.version_id)},
        )
    store.record_job(
        Provenance(
            provider=config.kind,
            job_id=job.id,
            dataset_id=dataset.id,
            dataset_name=dataset.name,
            version_id=dataset.version_id,
            n_examples=len(chosen),
            training_file=training_file.id,
            validation_file=validation_id,
            base_model=settings.base_model,
        )
    )
    progress(1.0, f"Started {job.id}.")
    return job


def list_jobs(client: openai.OpenAI, config: ProviderConfig, limit: int = 100) -> list[FineTuningJob]:
    with calling(config):
        return list(client.fine_tuning.jobs.list(limit=limit).data)


def retrieve(client: openai.OpenAI, config: ProviderConfig, job_id: str) -> FineTuningJob:
    with calling(config):
        job = client.fine_tuning.jobs.retrieve(job_id)
    if job.fine_tuned_model:
        known = store.job_provenance(config.kind).get(job_id)
        if known and known.fine_tuned_model != job.fine_tuned_model:
            store.set_tuned_model(config.kind, job_id, job.fine_tuned_model)
    return job


def cancel(client: openai.OpenAI, config: ProviderConfig, job_id: str) -> FineTuningJob:
    with calling(config):
        return client.fine_tuning.jobs.cancel(job_id)


def new_events(
    client: openai.OpenAI, config: ProviderConfig, job_id: str, known: Sequence[FineTuningJobEvent]
) -> list[FineTuningJobEvent]:
    """All events, newest first: fetches only pages newer than the ``known`` ones."""
    seen = {event.id for event in known}
    fresh: list[FineTuningJobEvent] = []
    with calling(config):
        page = client.fine_tuning.jobs.list_events(job_id, limit=100)
        while True:
            for event in page.data:
                if event.id in seen:
                    return fresh + list(known)
                fresh.append(event)
            if not page.has_next_page():
                return fresh + list(known)
            page = page.get_next_page()


def checkpoints(client: openai.OpenAI, config: ProviderConfig, job_id: str) -> list[FineTuningJobCheckpoint]:
    with calling(config):
        return list(client.fine_tuning.jobs.checkpoints.list(job_id, limit=10).data)


def result_file(client: openai.OpenAI, config: ProviderConfig, job: FineTuningJob) -> bytes | None:
    if not job.result_files:
        return None
    with calling(config):
        return client.files.content(job.result_files[0]).content


# ---- what the screens show -----------------------------------------------------------------

METRICS = {
    "train_loss": ("Training loss", "loss"),
    "valid_loss": ("Validation loss", "loss"),
    "train_mean_token_accuracy": ("Training token accuracy", "accuracy"),
    "valid_mean_token_accuracy": ("Validation token accuracy", "accuracy"),
}


def metric_points(events: Sequence[FineTuningJobEvent]) -> list[dict[str, Any]]:
    """Long-form metrics for charts: one row per step and metric, oldest step first."""
    points = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type != "metrics" or "step" not in data:
            continue
        for key, (name, kind) in METRICS.items():
            value = data.get(key)
            if isinstance(value, int | float):
                points.append({"step": int(data["step"]), "metric": name, "kind": kind, "value": float(value)})
    return sorted(points, key=lambda p: (p["step"], p["metric"]))


def progress(events: Sequence[FineTuningJobEvent]) -> tuple[int, int] | None:
    """(step, total steps) of the newest metrics event."""
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "metrics" and data.get("total_steps"):
            return int(data["step"]), int(data["total_steps"])
    return None


def timestamp(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def duration_seconds(job: FineTuningJob, now: float | None = None) -> float:
    end = job.finished_at or now or datetime.now(UTC).timestamp()
    return max(0.0, end - job.created_at)


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def job_table(jobs: Sequence[FineTuningJob], provenance: dict[str, Provenance]) -> list[dict[str, Any]]:
    """One row per job for the jobs list."""
    rows = []
    for job in jobs:
        known = provenance.get(job.id)
        rows.append(
            {
                "Job": job.id,
                "Status": job.status,
                "Base model": job.model,
                "Dataset": f"{known.dataset_name} (version {known.version_id})" if known else UNKNOWN_DATASET,
                "Created": timestamp(job.created_at),
                "Duration": format_duration(duration_seconds(job)),
                "Trained tokens": job.trained_tokens,
                "Tuned model": job.fine_tuned_model or "",
            }
        )
    return rows


def timeline(events: Sequence[FineTuningJobEvent]) -> list[dict[str, Any]]:
    """The job's messages (everything but per-step metrics), oldest first."""
    return [
        {"Time": timestamp(event.created_at), "Level": event.level, "Message": event.message}
        for event in reversed(events)
        if event.type != "metrics"
    ]


def checkpoint_table(found: Sequence[FineTuningJobCheckpoint]) -> list[dict[str, Any]]:
    rows = []
    for checkpoint in found:
        metrics = checkpoint.metrics
        rows.append(
            {
                "Step": checkpoint.step_number,
                "Model": checkpoint.fine_tuned_model_checkpoint,
                "Training loss": metrics.train_loss,
                "Validation loss": metrics.valid_loss,
                "Validation accuracy": metrics.valid_mean_token_accuracy,
            }
        )
    return rows
