"""/v1/models: the base models and the tuned models (and checkpoints) that can answer; delete a tuned one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from lib.local import lifecycle
from lib.local.base_models import BaseModelRefusedError, add, describe, forget, offered, remembered
from lib.local.chat_templates import OWN
from lib.local.config import ORGANIZATION, ServerSettings
from lib.local.files import read_examples
from lib.local.model_export import (
    FORMATS,
    QUANTS,
    ExportError,
    merged,
    shared_system,
    write_gguf,
    write_hf,
    write_ollama,
    zip_folder,
)
from lib.local.models import compute_device, compute_dtype, model_folder
from lib.local.routers.common import APIError
from lib.local.serving import Engine
from lib.local.store import LocalStore, new_id
from lib.local.tuned_models import adapter_path, base_of, tuned_models

BASE_MODEL_CREATED = 1730419200  # 2024-11-01, when SmolLM2 was published


class AddBaseModel(BaseModel):
    id: str  # the model id it is offered as
    path: str  # a Hugging Face model folder or a .gguf file on the server's machine


def exported(store: LocalStore, settings: ServerSettings, model_id: str, format: str, quant: str) -> Path:
    """Write the export into a folder of its own under the data folder (removed once it has been sent)."""
    tuned = tuned_models(store).get(model_id)
    base_id = base_of(model_id)
    adapter = adapter_path(store, settings, model_id, tuned) if tuned else None
    found = merged(settings.models_dir, base_id, offered(settings.base_models, settings.data_dir)[base_id], adapter)
    work = settings.data_dir / "exports" / new_id("export")
    work.mkdir(parents=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")
    try:
        if format == "hf":
            return zip_folder(write_hf(found, work / name), work / f"{name}.zip")
        if format == "gguf":
            return write_gguf(found, work / f"{name}.gguf", quant)
        system = None
        if tuned is not None and (job := store.get("jobs", tuned["job"])) is not None:
            examples, _ = read_examples(settings, job["training_file"], minimum=0, method=lifecycle.method_of(job))
            system = shared_system(examples)
        return write_ollama(found, work / f"{name}-ollama.zip", name, system, quant)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def models_router(store: LocalStore, settings: ServerSettings, engine: Engine) -> APIRouter:
    router = APIRouter()

    def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
        # Our extension: which code decodes the answers ("llama.cpp", "PyTorch" or "checking") and why.
        decoder = engine.decoder_status()
        return {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": owned_by,
            "decoder": decoder.name,
            "decoder_note": decoder.note,
        }

    def all_models() -> dict[str, dict[str, Any]]:
        brought = remembered(settings.data_dir)
        result = {}
        for model_id in settings.base_models:
            result[model_id] = model_object(model_id, BASE_MODEL_CREATED, "tuning-studio")
            result[model_id] |= describe(brought[model_id]) if model_id in brought else {"chat_template": OWN}
        for model_id, info in tuned_models(store).items():
            result[model_id] = model_object(model_id, info["created"], ORGANIZATION)
        return result

    @router.get("/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": list(all_models().values())}

    @router.get("/models/{model_id:path}/export")
    def export_model(model_id: str, format: str = "gguf", quant: str = "q8_0") -> FileResponse:
        """Our extension: the model as a GGUF file, a zipped Hugging Face folder or an Ollama bundle, streamed."""
        if model_id not in all_models():
            raise APIError(404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found")
        if format not in FORMATS:
            raise APIError(400, f"format must be one of {', '.join(FORMATS)}, not '{format}'.", param="format")
        if quant not in QUANTS:
            raise APIError(400, f"quant must be one of {', '.join(QUANTS)}, not '{quant}'.", param="quant")
        try:
            path = exported(store, settings, model_id, format, quant)
        except ExportError as exc:
            raise APIError(400, str(exc), param="format", code="export_unsupported") from exc
        return FileResponse(path, media_type="application/octet-stream", filename=path.name,
                            background=BackgroundTask(shutil.rmtree, path.parent, True))  # fmt: skip

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

    @router.post("/models")
    def add_base_model(body: AddBaseModel) -> dict[str, Any]:
        """Our extension: offer a model folder or GGUF file on this machine as a base model."""
        bytes_per_weight = compute_dtype(compute_device()).itemsize
        try:
            added = add(settings.data_dir, body.id, Path(body.path), set(settings.base_models), bytes_per_weight)
            model_folder(settings.models_dir, added.name, added.reference)  # a GGUF is dequantised now, once
        except BaseModelRefusedError as exc:
            raise APIError(400, str(exc), param="path", code="model_refused") from exc
        except Exception as exc:  # transformers may still fail on a model it described as loadable
            forget(settings.data_dir, body.id)
            raise APIError(
                400, f"'{body.id}' could not be prepared: {exc}", param="path", code="model_refused"
            ) from exc
        settings.base_models[added.name] = added.reference
        return all_models()[added.name]

    @router.delete("/models/{model_id:path}")
    def delete_model(model_id: str) -> dict[str, Any]:
        if model_id in settings.base_models:
            raise APIError(400, f"The base model '{model_id}' cannot be deleted.", param="model")
        if model_id not in tuned_models(store):
            raise APIError(404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found")
        store.delete_model(model_id)
        return {"id": model_id, "object": "model", "deleted": True}

    return router
