"""The one owner of a fine-tuning job's state: every status change goes through here, atomically.

    validating_files -> queued -> running -> succeeded
           |              |         |  \\-> paused -> queued (resume)
           +--------------+---------+----> failed | cancelled

A change is applied only while the job is still in a state it may leave (``LocalStore.transition``),
so a cancel that lands after the last training step stays a cancel: the worker cannot overwrite it.
"""

from __future__ import annotations

from typing import Any

from lib.local.config import ServerSettings
from lib.local.files import read_examples
from lib.local.store import LocalStore, new_id, now
from lib.openai_format.rules import MIN_EXAMPLES

FINISHED = ("succeeded", "failed", "cancelled")
ACTIVE = ("validating_files", "queued", "running", "paused")


class JobStateError(Exception):
    """The job is not in a state that allows what was asked (answered as a 400 ``invalid_state``)."""


def event(store: LocalStore, job_id: str, message: str, data: dict[str, Any] | None = None) -> None:
    obj = {
        "object": "fine_tuning.job.event",
        "id": new_id("ftevent"),
        "created_at": now(),
        "level": "info",
        "message": message,
        "type": "metrics" if data else "message",
        "data": data or {},
    }
    store.insert("events", obj, job_id=job_id)


def create(store: LocalStore, job: dict[str, Any]) -> dict[str, Any]:
    """Record a new job, waiting for its files to be validated."""
    job = job | {"status": "validating_files"}
    store.insert("jobs", job, status="validating_files")
    event(store, job["id"], f"Created fine-tuning job: {job['id']}")
    return job


def method_of(job: dict[str, Any]) -> str:
    return str((job.get("method") or {}).get("type") or "supervised")


def validate(store: LocalStore, settings: ServerSettings, job_id: str) -> None:
    """validating_files -> queued, or failed with the line and reason of the first problem."""
    job = store.get("jobs", job_id)
    if job is None or job["status"] != "validating_files":
        return
    for param in ("training_file", "validation_file"):
        file_id = job.get(param)
        if not file_id:
            continue
        event(store, job_id, f"Validating {param.replace('_', ' ')}: {file_id}")
        minimum = MIN_EXAMPLES if param == "training_file" else 1
        _, problem = read_examples(settings, file_id, minimum, method_of(job), keep=False)
        if problem:
            name = param.replace("_", " ").capitalize()
            fail(store, job_id, f"invalid_{param}", f"{name} {file_id}: {problem}", param)
            return
    if store.transition(job_id, ("validating_files",), status="queued"):  # not if cancelled meanwhile
        event(store, job_id, "Files validated, moving job to queued state")


def start_next(store: LocalStore) -> dict[str, Any] | None:
    """queued -> running for the oldest queued job (the worker's next job), or None."""
    return store.claim_next_job()


def cancel(store: LocalStore, job_id: str) -> dict[str, Any]:
    """Cancel a job that has not finished; a running job stops before its next step."""
    store.request_stop(job_id, "cancel")
    job = store.transition(job_id, ACTIVE, status="cancelled", finished_at=now(), estimated_finish=None)
    if job is None:
        store.request_stop(job_id, None)
        status = (store.get("jobs", job_id) or {}).get("status")
        raise JobStateError(f"Job {job_id} has already {status} and cannot be cancelled.")
    event(store, job_id, "Fine-tuning job cancelled")
    return job


def pause(store: LocalStore, job_id: str) -> dict[str, Any]:
    """A queued job is paused at once; a running one is asked to stop and pauses before its next step."""
    if job := store.transition(job_id, ("queued",), status="paused"):
        event(store, job_id, "Fine-tuning job paused")
        return job
    job = store.get("jobs", job_id) or {}
    if job.get("status") != "running":
        raise JobStateError(f"Only a queued or running job can be paused; {job_id} is {job.get('status')}.")
    store.request_stop(job_id, "pause")
    return job


def resume(store: LocalStore, job_id: str) -> dict[str, Any]:
    job = store.transition(job_id, ("paused",), status="queued")
    if job is None:
        status = (store.get("jobs", job_id) or {}).get("status")
        raise JobStateError(f"Only a paused job can be resumed; {job_id} is {status}.")
    event(store, job_id, "Fine-tuning job resumed: it trains again from its first step")
    return job


def stopped(store: LocalStore, job_id: str) -> None:
    """The worker stopped training on request: running -> paused, or the cancel already recorded stands."""
    request = store.stop_request(job_id)
    store.request_stop(job_id, None)
    if request == "pause" and store.transition(job_id, ("running",), status="paused", estimated_finish=None):
        event(store, job_id, "Fine-tuning job paused")


def succeed(store: LocalStore, job_id: str, fine_tuned_model: str, **fields: Any) -> bool:
    """running -> succeeded with the tuned model; False when the job was cancelled meanwhile (nothing changes)."""
    done = store.transition(
        job_id,
        ("running",),
        status="succeeded",
        finished_at=now(),
        estimated_finish=None,
        fine_tuned_model=fine_tuned_model,
        **fields,
    )
    if done is None:
        return False
    event(store, job_id, f"New fine-tuned model created: {fine_tuned_model}")
    event(store, job_id, "The job has successfully completed")
    return True


def fail(store: LocalStore, job_id: str, code: str, message: str, param: str | None = None) -> None:
    """Any unfinished state -> failed, with the reason a user can act on."""
    error = {"code": code, "message": message, "param": param}
    if store.transition(job_id, ACTIVE, status="failed", finished_at=now(), estimated_finish=None, error=error):
        event(store, job_id, f"Fine-tuning job failed: {message}")
    store.request_stop(job_id, None)


def recover(store: LocalStore) -> None:
    """After a restart: a job that was running cannot go on; say so. Queued jobs stay queued."""
    for job in store.jobs_with_status("running"):
        fail(
            store,
            job["id"],
            "server_restarted",
            "The local server stopped while this job was training. Create the job again to retrain.",
        )
