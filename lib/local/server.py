"""The local OpenAI-compatible server: files, fine-tuning jobs, models and chat completions.

Same paths, object shapes, status codes, error body and cursor pages as OpenAI's API, so the
official ``openai`` SDK works unchanged with ``base_url="http://127.0.0.1:8765/v1"``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lib.local import jobs
from lib.local.jobs import ORGANIZATION, Settings, event, save_file, validate
from lib.local.models import BASE_MODELS, model_folder
from lib.local.serving import Engine, Piece, PromptTooLongError, Sampling, generate, prompt_ids
from lib.local.store import LocalStore, new_id, now

PURPOSES = ("fine-tune", "fine-tune-results", "batch", "assistants", "user_data", "evals", "vision")
MAX_PAGE = 100
BASE_MODEL_CREATED = 1730419200  # 2024-11-01, when SmolLM2 was published


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = "authentication_error" if status == 401 else "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def create_app(settings: Settings) -> FastAPI:
    """The server's FastAPI app; ``settings.base_models`` defaults to SmolLM2."""
    settings.base_models = settings.base_models or dict(BASE_MODELS)
    store = LocalStore(settings.store_path)
    engine = Engine(settings.models_dir, settings.base_models)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs.recover(store)
        for job in store.jobs_with_status("validating_files"):
            validate(store, settings, job["id"])
        worker = None
        if settings.start_worker:
            for model_id, preparer in settings.base_models.items():  # the one-time GGUF conversion, before serving
                model_folder(settings.models_dir, model_id, preparer)
            worker = jobs.start_worker(settings)
        yield
        engine.close()
        if worker is not None:
            worker.terminate()
            worker.join(timeout=10)

    app = FastAPI(title="Tuning Studio local provider", lifespan=lifespan)
    app.state.settings, app.state.store, app.state.engine = settings, store, engine

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        if settings.api_key:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {settings.api_key}".encode()):
                return error_body(
                    401,
                    "Incorrect API key provided. Give the local server's key as the API key.",
                    code="invalid_api_key",
                )
        response: Response = await call_next(request)
        return response

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_body(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_body(500, f"The local server failed on this request: {exc}")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or None
        return error_body(400, f"Invalid value for '{where}': {first['msg']}", param=where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            f"Unknown request URL: {request.method} {request.url.path}." if exc.status_code == 404 else str(exc.detail)
        )
        return error_body(exc.status_code, message, code="unknown_url" if exc.status_code == 404 else None)

    router = APIRouter(prefix="/v1")
    _files(router, store, settings)
    _jobs(router, store, settings)
    _models(router, store, settings)
    _chat(router, store, settings, engine)
    app.include_router(router)
    return app


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise APIError(400, f"limit must be between 1 and {MAX_PAGE}.", param="limit")
    return limit


def _existing(store: LocalStore, table: str, noun: str, shown: int = 5) -> str:
    """ "Files (newest first): file-a, file-b, ..." for an error message; says so when there are none."""
    newest, more = store.page(table, None, shown)
    if not newest:
        return f"There are no {noun.lower()} yet."
    return f"{noun} (newest first): {', '.join(o['id'] for o in newest)}{', …' if more else ''}."


def _files(router: APIRouter, store: LocalStore, settings: Settings) -> None:
    def get_file(file_id: str) -> dict[str, Any]:
        found = store.get("files", file_id)
        if found is None:
            raise APIError(404, f"No such File object: {file_id}. {_existing(store, 'files', 'Files')}", param="id")
        return found

    @router.post("/files")
    async def create_file(file: Annotated[UploadFile, File()], purpose: Annotated[str, Form()]) -> dict[str, Any]:
        if purpose not in PURPOSES:
            raise APIError(400, f"Invalid purpose '{purpose}'. Use one of: {', '.join(PURPOSES)}.", param="purpose")
        return save_file(store, settings, await file.read(), file.filename or "upload.jsonl", purpose)

    @router.get("/files")
    def list_files(
        purpose: str | None = None, after: str | None = None, limit: int = 10_000, order: str = "desc"
    ) -> dict[str, Any]:
        data, has_more = store.page("files", after, max(1, limit), newest_first=order != "asc")
        return list_page([f for f in data if purpose is None or f["purpose"] == purpose], has_more)

    @router.get("/files/{file_id}")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return get_file(file_id)

    @router.get("/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        found = get_file(file_id)
        return Response(jobs.file_path(settings, found["id"]).read_bytes(), media_type="application/octet-stream")

    @router.delete("/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        get_file(file_id)
        store.delete("files", file_id)
        jobs.file_path(settings, file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}


def _jobs(router: APIRouter, store: LocalStore, settings: Settings) -> None:
    def get_job(job_id: str) -> dict[str, Any]:
        found = store.get("jobs", job_id)
        if found is None:
            message = f"Fine-tuning job {job_id} not found. {_existing(store, 'jobs', 'Jobs')}"
            raise APIError(404, message, param="fine_tuning_job_id")
        return found

    @router.post("/fine_tuning/jobs")
    def create_job(body: dict[str, Any], background: BackgroundTasks) -> dict[str, Any]:
        model = body.get("model")
        if model not in settings.base_models:
            known = ", ".join(settings.base_models)
            raise APIError(
                400,
                f"Model {model!r} cannot be fine-tuned here. Base models: {known}.",
                param="model",
                code="model_not_available",
            )
        for param in ("training_file", "validation_file"):
            file_id = body.get(param)
            if param == "training_file" or file_id:
                found = store.get("files", str(file_id))
                if found is None:
                    raise APIError(
                        400,
                        f"Invalid {param}: no such file '{file_id}'. Upload it first with files.create.",
                        param=param,
                    )
                if found["purpose"] != "fine-tune":
                    raise APIError(
                        400, f"File {file_id} has purpose '{found['purpose']}'; it must be 'fine-tune'.", param=param
                    )
        method = body.get("method") or {"type": "supervised"}
        if method.get("type") != "supervised":
            raise APIError(
                400,
                f"Method '{method.get('type')}' is not supported by the local provider yet; use 'supervised'.",
                param="method.type",
            )
        asked = (method.get("supervised") or {}).get("hyperparameters") or body.get("hyperparameters") or {}
        hyperparameters = {
            key: _hyperparameter(asked, key) for key in ("n_epochs", "batch_size", "learning_rate_multiplier")
        }
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64 or ":" in suffix):
            raise APIError(400, "suffix must be text of up to 64 characters without ':'.", param="suffix")
        seed = body.get("seed")
        job = {
            "object": "fine_tuning.job",
            "id": new_id("ftjob"),
            "created_at": now(),
            "model": model,
            "organization_id": ORGANIZATION,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "hyperparameters": hyperparameters,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
            "status": "validating_files",
            "fine_tuned_model": None,
            "finished_at": None,
            "error": None,
            "result_files": [],
            "trained_tokens": None,
            "seed": int(seed) if isinstance(seed, int) else int(time.time()) % 2**31,
            "suffix": suffix,
            "estimated_finish": None,
            "integrations": [],
            "metadata": body.get("metadata"),
        }
        store.insert("jobs", job, status="validating_files")
        event(store, job["id"], f"Created fine-tuning job: {job['id']}")
        background.add_task(validate, store, settings, job["id"])
        return job

    @router.get("/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = 20) -> dict[str, Any]:
        return list_page(*store.page("jobs", after, _limit(limit)))

    @router.get("/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return get_job(job_id)

    @router.post("/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = get_job(job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            raise APIError(
                400, f"Job {job_id} has already {job['status']} and cannot be cancelled.", code="invalid_state"
            )
        store.request_stop(job_id, "cancel")  # a running job stops before its next step and says so in an event
        if job["status"] != "running":
            event(store, job_id, "Fine-tuning job cancelled")
        return store.update("jobs", job_id, status="cancelled", finished_at=now(), estimated_finish=None)

    @router.post("/fine_tuning/jobs/{job_id}/pause")
    def pause_job(job_id: str) -> dict[str, Any]:
        job = get_job(job_id)
        if job["status"] not in ("queued", "running"):
            raise APIError(
                400, f"Only a queued or running job can be paused; {job_id} is {job['status']}.", code="invalid_state"
            )
        if job["status"] == "running":
            store.request_stop(job_id, "pause")
            return job | {"status": "running"}
        event(store, job_id, "Fine-tuning job paused")
        return store.update("jobs", job_id, status="paused")

    @router.post("/fine_tuning/jobs/{job_id}/resume")
    def resume_job(job_id: str) -> dict[str, Any]:
        job = get_job(job_id)
        if job["status"] != "paused":
            raise APIError(400, f"Only a paused job can be resumed; {job_id} is {job['status']}.", code="invalid_state")
        event(store, job_id, "Fine-tuning job resumed: it trains again from its first step")
        return store.update("jobs", job_id, status="queued")

    @router.get("/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, after: str | None = None, limit: int = 20) -> dict[str, Any]:
        get_job(job_id)
        return list_page(*store.page("events", after, _limit(limit), job_id=job_id))

    @router.get("/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, after: str | None = None, limit: int = 10) -> dict[str, Any]:
        get_job(job_id)
        return list_page(*store.page("checkpoints", after, _limit(limit), job_id=job_id))


def _hyperparameter(asked: dict[str, Any], key: str) -> Any:
    value = asked.get(key, "auto")
    if value == "auto":
        return "auto"
    valid = {
        "n_epochs": isinstance(value, int) and 1 <= value <= 50,
        "batch_size": isinstance(value, int) and 1 <= value <= 256,
        "learning_rate_multiplier": isinstance(value, int | float) and 0 < value <= 100,
    }[key]
    if not valid or isinstance(value, bool):
        raise APIError(
            400, f'Invalid {key} {value!r}: use "auto" or a positive number.', param=f"hyperparameters.{key}"
        )
    return value


def _tuned_models(store: LocalStore) -> dict[str, dict[str, Any]]:
    """Tuned models and checkpoints that can answer: model id -> {"base", "adapter", "created"}."""
    deleted = store.deleted_models()
    found: dict[str, dict[str, Any]] = {}
    for job in store.jobs_with_status("succeeded"):
        found[job["fine_tuned_model"]] = {"base": job["model"], "created": job["finished_at"], "job": job["id"]}
    for checkpoint in store.all("checkpoints"):
        model = checkpoint["fine_tuned_model_checkpoint"]  # ft:{base}:local:{suffix}:{id}:ckpt-step-N
        found[model] = {
            "base": model.split(":")[1],
            "created": checkpoint["created_at"],
            "job": checkpoint["fine_tuning_job_id"],
        }
    return {k: v for k, v in found.items() if k not in deleted}


def _adapter(store: LocalStore, settings: Settings, model: str, info: dict[str, Any]) -> Path:
    checkpoint = store.checkpoint_by_model(model)
    return Path(checkpoint["path"]) if checkpoint else settings.adapters_dir / info["job"] / "final"


def _models(router: APIRouter, store: LocalStore, settings: Settings) -> None:
    def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}

    def all_models() -> dict[str, dict[str, Any]]:
        result = {m: model_object(m, BASE_MODEL_CREATED, "tuning-studio") for m in settings.base_models}
        for model_id, info in _tuned_models(store).items():
            result[model_id] = model_object(model_id, info["created"], ORGANIZATION)
        return result

    @router.get("/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": list(all_models().values())}

    @router.get("/models/{model_id:path}")
    def retrieve_model(model_id: str) -> dict[str, Any]:
        models = all_models()
        found = models.get(model_id)
        if found is None:
            raise APIError(
                404,
                f"The model '{model_id}' does not exist. Models: {', '.join(models)}.",
                param="model",
                code="model_not_found",
            )
        return found

    @router.delete("/models/{model_id:path}")
    def delete_model(model_id: str) -> dict[str, Any]:
        if model_id in settings.base_models:
            raise APIError(400, f"The base model '{model_id}' cannot be deleted.", param="model")
        if model_id not in _tuned_models(store):
            raise APIError(404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found")
        store.delete_model(model_id)
        return {"id": model_id, "object": "model", "deleted": True}


def _chat(router: APIRouter, store: LocalStore, settings: Settings, engine: Engine) -> None:
    @router.post("/chat/completions", response_model=None)
    def chat_completions(body: dict[str, Any]) -> dict[str, Any] | StreamingResponse:
        model = body.get("model")
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and "role" in m for m in messages)
        ):
            raise APIError(400, "messages must be a non-empty list of {role, content} objects.", param="messages")
        if model in settings.base_models:
            loaded = engine.base(model)
        else:
            tuned = _tuned_models(store)
            if model not in tuned:
                known = ", ".join([*settings.base_models, *tuned])
                raise APIError(
                    404, f"The model '{model}' does not exist. Models: {known}.", param="model", code="model_not_found"
                )
            loaded = engine.tuned(model, tuned[model]["base"], _adapter(store, settings, model, tuned[model]))
        sampling = _sampling(body)
        ids = prompt_ids(loaded, messages)
        try:
            answer = generate(loaded, ids, sampling)
        except PromptTooLongError as exc:
            raise APIError(400, str(exc), param="messages", code="context_length_exceeded") from exc
        completion_id, created = new_id("chatcmpl"), now()
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _stream(answer, len(ids), model, completion_id, created, usage), media_type="text/event-stream"
            )
        pieces = list(answer)
        completion_tokens = pieces[-1].tokens
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(p.text for p in pieces), "refusal": None},
                    "finish_reason": pieces[-1].finish_reason or "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": completion_tokens,
                "total_tokens": len(ids) + completion_tokens,
            },
        }


def _sampling(body: dict[str, Any]) -> Sampling:
    stop = body.get("stop") or ()
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 256
    temperature = body.get("temperature", 1.0)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise APIError(400, "max_tokens must be a positive whole number.", param="max_tokens")
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise APIError(400, "temperature must be between 0 and 2.", param="temperature")
    return Sampling(
        max_tokens=min(max_tokens, 4096),
        temperature=float(temperature),
        top_p=float(body.get("top_p", 1.0)),
        seed=body.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
    )


def _stream(
    answer: Iterator[Piece], prompt_tokens: int, model: str, completion_id: str, created: int, usage: bool
) -> Iterator[str]:
    def chunk(delta: dict[str, Any] | None, finish: str | None, **extra: Any) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}] if delta is not None else []
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        }
        return f"data: {json.dumps(body | extra)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    completion_tokens = 0
    for piece in answer:
        completion_tokens = piece.tokens
        if piece.text:
            yield chunk({"content": piece.text}, None)
        if piece.finish_reason:
            yield chunk({}, piece.finish_reason)
    if usage:
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        yield chunk(None, None, usage=counts | {"total_tokens": prompt_tokens + completion_tokens})
    yield "data: [DONE]\n\n"
