"""Reading fine-tuning jobs back from a provider: jobs, events, checkpoints, results, and the tables of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from lib.db import provenance_store
from lib.errors import StudioError
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig, calling

STATUSES = ("validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
UNKNOWN_DATASET = "unknown dataset"


def list_jobs(client: openai.OpenAI, config: ProviderConfig, limit: int = 100) -> list[FineTuningJob]:
    """The provider's newest jobs; what they say of the jobs the app started is recorded (see ``sync``)."""
    with calling(config):
        jobs = list(client.fine_tuning.jobs.list(limit=limit).data)
    record_outcomes(config, jobs)
    return jobs


def record_outcomes(config: ProviderConfig, jobs: list[FineTuningJob]) -> int:
    """Record the status and tuned model of each job the app started, where they changed; how many did."""
    known = provenance_store.job_provenance(config.kind)
    changed = 0
    for job in jobs:
        made = known.get(job.id)
        if made is not None and (made.status, made.fine_tuned_model) != (job.status, job.fine_tuned_model or None):
            provenance_store.set_outcome(config.kind, job.id, job.status, job.fine_tuned_model)
            changed += 1
    return changed


def sync(client: openai.OpenAI, config: ProviderConfig) -> int:
    """Record the tuned model and final status of every job the app started that had not finished when last
    seen, whichever screen is open (the app runs it at start, Jobs when it lists jobs, Evaluate and Scorecard
    before they look a tuned model up). How many records changed; a provider that does not answer changes none."""
    unfinished = [j for j, made in provenance_store.job_provenance(config.kind).items() if made.status not in FINISHED]
    if not unfinished:
        return 0
    try:
        with calling(config):
            listed = {job.id: job for job in client.fine_tuning.jobs.list(limit=100).data}
            older = [client.fine_tuning.jobs.retrieve(job_id) for job_id in unfinished[:20] if job_id not in listed]
    except StudioError:
        return 0
    return record_outcomes(config, [*listed.values(), *older])


def retrieve(client: openai.OpenAI, config: ProviderConfig, job_id: str) -> FineTuningJob:
    with calling(config):
        return client.fine_tuning.jobs.retrieve(job_id)


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
    "train_reward_accuracy": ("Training reward accuracy (DPO)", "accuracy"),  # the local provider's DPO jobs
    "valid_reward_accuracy": ("Validation reward accuracy (DPO)", "accuracy"),
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
                "Trained tokens": f"{job.trained_tokens:,}" if job.trained_tokens else "–",
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


def best_checkpoint(found: Sequence[FineTuningJobCheckpoint]) -> FineTuningJobCheckpoint | None:
    """The checkpoint with the lowest validation loss (None when no checkpoint has one)."""
    measured = [c for c in found if c.metrics.valid_loss is not None]
    return min(measured, key=lambda c: (c.metrics.valid_loss, -c.step_number)) if measured else None


def keeps_best_epoch(job: FineTuningJob) -> bool:
    """Whether the job's tuned model already has its best epoch's weights (the local provider's early stopping)."""
    extra = job.hyperparameters.model_extra or {}
    return bool(job.validation_file and extra.get("early_stopping_patience"))


def better_checkpoint(
    found: Sequence[FineTuningJobCheckpoint], job: FineTuningJob | None = None
) -> FineTuningJobCheckpoint | None:
    """The best checkpoint when it is better than the tuned model itself, else None.

    The tuned model is the last checkpoint's weights, unless early stopping kept the best epoch's.
    """
    if job is not None and keeps_best_epoch(job):
        return None
    best = best_checkpoint(found)
    last = max(found, key=lambda c: c.step_number, default=None)
    if best is None or last is None or best.step_number == last.step_number or last.metrics.valid_loss is None:
        return None
    return best
