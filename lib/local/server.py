"""The local OpenAI-compatible server: files, fine-tuning jobs, models and chat completions.

Same paths, object shapes, status codes, error body and cursor pages as OpenAI's API, so the
official ``openai`` SDK works unchanged with ``base_url="http://127.0.0.1:8765/v1"``.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lib.local import lifecycle
from lib.local.base_models import offered
from lib.local.config import ServerSettings
from lib.local.models import BASE_MODELS, model_folder
from lib.local.routers.chat import chat_router
from lib.local.routers.common import APIError, error_body
from lib.local.routers.files import files_router
from lib.local.routers.fine_tuning import fine_tuning_router
from lib.local.routers.models import models_router
from lib.local.serving import Engine
from lib.local.store import LocalStore
from lib.local.worker import Supervisor

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings) -> FastAPI:
    """The server's FastAPI app; ``settings.base_models`` defaults to SmolLM2."""
    settings.base_models = offered(settings.base_models or dict(BASE_MODELS), settings.data_dir)
    store = LocalStore(settings.store_path)
    engine = Engine(settings.models_dir, settings.base_models, settings.llama_child)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lifecycle.recover(store)
        for job in store.jobs_with_status("validating_files"):  # never let a user's file stop the server starting
            try:
                lifecycle.validate(store, settings, job["id"])
            except Exception as exc:
                log.exception("validating %s at startup failed", job["id"])
                lifecycle.fail(store, job["id"], "invalid_training_file", f"The file could not be validated: {exc}")
        supervisor = None
        if settings.start_worker:
            for model_id, preparer in settings.base_models.items():  # the one-time GGUF conversion, before serving
                model_folder(settings.models_dir, model_id, preparer)
            supervisor = Supervisor(settings)
            # Test llama.cpp on this CPU now, in a child process, so the first answer need not wait for it.
            threading.Thread(target=_check_decoder, args=(engine,), daemon=True, name="decoder-check").start()
        app.state.supervisor = supervisor
        yield
        engine.close()
        if supervisor is not None:
            supervisor.stop()

    app = FastAPI(title="Tuning Studio local provider", lifespan=lifespan)
    app.state.settings, app.state.store, app.state.engine = settings, store, engine

    own_hosts = {
        "127.0.0.1",
        "localhost",
        "[::1]",
        "::1",
        settings.host.lower(),
        *(h.lower() for h in settings.public_hosts),
    }

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        # Any web page the user opens can send requests to 127.0.0.1 (and, by DNS rebinding, read the
        # answers): serve only requests addressed to this server's own name, and none sent by another site.
        asked = request.headers.get("host", "")
        if _hostname(asked) not in own_hosts:
            return error_body(403, f"Requests for host '{asked[:100]}' are not served here.", code="forbidden_host")
        origin = request.headers.get("origin")
        if origin is not None and _origin_host(origin) not in own_hosts:
            return error_body(403, "Requests from web pages of other sites are refused.", code="forbidden_origin")
        if settings.api_key:
            scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                given.strip().encode(), settings.api_key.encode()
            ):
                return error_body(
                    401,
                    "Incorrect API key provided. Give the local server's key as the API key.",
                    code="invalid_api_key",
                )
        response: Response = await call_next(request)
        return response

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_body(exc.status, exc.message, exc.param, exc.code, exc.retry_after)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_body(500, f"The local server failed on this request: {exc}")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_body(400, *_invalid(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            f"Unknown request URL: {request.method} {request.url.path}." if exc.status_code == 404 else str(exc.detail)
        )
        return error_body(exc.status_code, message, code="unknown_url" if exc.status_code == 404 else None)

    for router in (
        files_router(store, settings),
        fine_tuning_router(store, settings),
        models_router(store, settings, engine),
        chat_router(store, settings, engine),
    ):
        app.include_router(router, prefix="/v1")
    return app


def _check_decoder(engine: Engine) -> None:
    try:
        status = engine.check_decoder()
    except Exception:
        log.exception("checking llama.cpp failed")
        return
    log.warning("answers are decoded with %s%s", status.name, f" ({status.note})" if status.note else "")


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")  # a name or [IPv6], an optional port; no more


def _hostname(netloc: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '[::1]', 'LocalHost' -> 'localhost'; '' for anything that is
    not exactly a host and a port ('127.0.0.1:1@evil.com', '[::1].evil.com', 'localhost/evil')."""
    found = _HOST.fullmatch(netloc.strip().lower())
    return found.group(1) if found else ""


def _origin_host(origin: str) -> str:
    """The host of an Origin header ('http://127.0.0.1:8501' -> '127.0.0.1'); '' unless it is exactly
    scheme://host[:port] (no user, no path: 'http://[::1]@evil.com' names evil.com)."""
    scheme, separator, netloc = origin.strip().partition("://")
    return _hostname(netloc) if separator and scheme.lower() in ("http", "https") else ""


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none"}


def _path(loc: Sequence[Any]) -> list[str]:
    """A parameter's path ("messages.0.role") from pydantic's location, without union member tags ("list[str]")."""
    return [
        str(part)
        for part in loc[1:]
        if isinstance(part, int) or (str(part).isidentifier() and str(part) not in _TYPE_TAGS)
    ]


def _invalid(errors: Sequence[Any]) -> tuple[str, str | None]:
    """A request that does not fit its typed model, in one sentence, and the parameter at fault.

    Pydantic reports one error per member of a union ("auto" or a number): they share the field's path.
    """
    first = errors[0]
    path = _path(first["loc"])
    where = ".".join(path) or None
    if first["type"] == "missing":
        return f"Missing required parameter '{where}'.", where
    reasons = " or ".join(
        dict.fromkeys(e["msg"].removeprefix("Input should be ") for e in errors if _path(e["loc"]) == path)
    )
    given = "" if isinstance(first.get("input"), dict) else f" {first['input']!r}"
    return f"Invalid value{given} for '{where}': it should be {reasons}.", where
