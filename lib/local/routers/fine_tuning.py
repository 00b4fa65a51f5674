"""/v1/fine_tuning/jobs: create, list, retrieve, cancel, pause and resume jobs; their events and checkpoints."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from lib.local import lifecycle
from lib.local.config import ORGANIZATION, ServerSettings
from lib.local.lifecycle import JobStateError
from lib.local.routers.common import APIError, existing, list_page, page_limit
from lib.local.store import LocalStore, new_id, now
from lib.local.tuned_models import base_of, tuned_models
from lib.openai_format.rules import suffix_problem

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    """Each "auto" (OpenAI's rules) or a number in OpenAI's range."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | Annotated[StrictInt, Field(ge=1, le=50)] = "auto"
    batch_size: Auto | Annotated[StrictInt, Field(ge=1, le=256)] = "auto"
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=100, strict=True)] = "auto"
    # The local provider's own: stop once validation loss has not improved for this many epochs
    early_stopping_patience: Annotated[StrictInt, Field(ge=1, le=10)] | None = None


class Supervised(BaseModel):
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class DpoHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | Annotated[StrictInt, Field(ge=1, le=50)] = "auto"
    batch_size: Auto | Annotated[StrictInt, Field(ge=1, le=256)] = "auto"
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=100, strict=True)] = "auto"
    beta: Auto | Annotated[float, Field(gt=0, le=2)] = "auto"  # how far from the reference it may move


class Dpo(BaseModel):
    hyperparameters: DpoHyperparameters = Field(default_factory=DpoHyperparameters)


class Method(BaseModel):
    model_config = ConfigDict(extra="allow")  # other methods' settings: refused below with a clear message

    type: str
    supervised: Supervised | None = None
    dpo: Dpo | None = None


class JobRequest(BaseModel):
    """The body of POST /v1/fine_tuning/jobs."""

    model: str
    training_file: str
    validation_file: str | None = None
    method: Method | None = None
    hyperparameters: Hyperparameters | None = None  # the older place for them
    suffix: Annotated[str, Field(max_length=64)] | None = None
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None


def fine_tuning_router(store: LocalStore, settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    def get_job(job_id: str) -> dict[str, Any]:
        found = store.get("jobs", job_id)
        if found is None:
            message = f"Fine-tuning job {job_id} not found. {existing(store, 'jobs', 'Jobs')}"
            raise APIError(404, message, param="fine_tuning_job_id")
        return found

    def check_file(param: str, file_id: str) -> None:
        found = store.get("files", file_id)
        if found is None:
            raise APIError(400, f"Invalid {param}: no such file '{file_id}'. Upload it first with files.create.", param)
        if found["purpose"] != "fine-tune":
            raise APIError(400, f"File {file_id} has purpose '{found['purpose']}'; it must be 'fine-tune'.", param)

    @router.post("/fine_tuning/jobs")
    def create_job(body: JobRequest, background: BackgroundTasks) -> dict[str, Any]:
        method = body.method or Method(type="supervised")
        continued = body.model in tuned_models(store) and base_of(body.model) in settings.base_models
        if body.model not in settings.base_models and not (continued and method.type == "dpo"):
            known = ", ".join(settings.base_models)
            more = " A tuned model here can be trained further with method 'dpo'." if continued else ""
            message = f"Model {body.model!r} cannot be fine-tuned here. Base models: {known}.{more}"
            raise APIError(400, message, param="model", code="model_not_available")
        check_file("training_file", body.training_file)
        if body.validation_file:
            check_file("validation_file", body.validation_file)
        if method.type not in ("supervised", "dpo"):
            message = f"Method '{method.type}' is not supported by the local provider; use 'supervised' or 'dpo'."
            raise APIError(400, message, param="method.type")
        if (method.supervised or method.dpo) is not None and body.hyperparameters is not None:
            message = f"Give hyperparameters in method.{method.type} or at the top level, not both."
            raise APIError(400, message, param="hyperparameters")
        if body.suffix is not None and (problem := suffix_problem(body.suffix)):
            raise APIError(400, problem, param="suffix")
        if method.type == "dpo":
            if body.hyperparameters is not None:
                raise APIError(400, "A DPO job takes its hyperparameters in method.dpo.", param="hyperparameters")
            chosen = (method.dpo or Dpo()).hyperparameters.model_dump()
            hyperparameters = {k: v for k, v in chosen.items() if k != "beta"}
            settings_of_method = {"type": "dpo", "dpo": {"hyperparameters": chosen}}
        else:
            asked = (
                method.supervised.hyperparameters if method.supervised else body.hyperparameters
            ) or Hyperparameters()
            if asked.early_stopping_patience is not None and not body.validation_file:
                message = "early_stopping_patience needs a validation_file: it watches the validation loss."
                raise APIError(400, message, param="hyperparameters.early_stopping_patience")
            hyperparameters = asked.model_dump(exclude_none=True)
            settings_of_method = {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}
        job: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": new_id("ftjob"),
            "created_at": now(),
            "model": body.model,
            "organization_id": ORGANIZATION,
            "training_file": body.training_file,
            "validation_file": body.validation_file,
            "hyperparameters": hyperparameters,
            "method": settings_of_method,
            "fine_tuned_model": None,
            "finished_at": None,
            "error": None,
            "result_files": [],
            "trained_tokens": None,
            "seed": body.seed if body.seed is not None else int(time.time()) % 2**31,
            "suffix": body.suffix,
            "estimated_finish": None,
            "integrations": [],
            "metadata": body.metadata,
        }
        job = lifecycle.create(store, job)
        background.add_task(lifecycle.validate, store, settings, job["id"])
        return job

    @router.get("/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = 20) -> dict[str, Any]:
        return list_page(*store.page("jobs", after, page_limit(limit)))

    @router.get("/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return get_job(job_id)

    def change(job_id: str, action: Any) -> dict[str, Any]:
        get_job(job_id)
        try:
            result: dict[str, Any] = action(store, job_id)
        except JobStateError as exc:
            raise APIError(400, str(exc), code="invalid_state") from exc
        return result

    @router.post("/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return change(job_id, lifecycle.cancel)

    @router.post("/fine_tuning/jobs/{job_id}/pause")
    def pause_job(job_id: str) -> dict[str, Any]:
        return change(job_id, lifecycle.pause)

    @router.post("/fine_tuning/jobs/{job_id}/resume")
    def resume_job(job_id: str) -> dict[str, Any]:
        return change(job_id, lifecycle.resume)

    @router.get("/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, after: str | None = None, limit: int = 20) -> dict[str, Any]:
        get_job(job_id)
        return list_page(*store.page("events", after, page_limit(limit), job_id=job_id))

    @router.get("/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, after: str | None = None, limit: int = 10) -> dict[str, Any]:
        get_job(job_id)
        return list_page(*store.page("checkpoints", after, page_limit(limit), job_id=job_id))

    return router
