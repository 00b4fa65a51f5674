"""/v1/models: the base models and the tuned models (and checkpoints) that can answer; delete a tuned one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from lib.local.base_models import BaseModelRefusedError, add, describe, forget, remembered
from lib.local.chat_templates import OWN
from lib.local.config import ORGANIZATION, ServerSettings
from lib.local.models import compute_device, compute_dtype, model_folder
from lib.local.routers.common import APIError
from lib.local.serving import Engine
from lib.local.store import LocalStore
from lib.local.tuned_models import tuned_models

BASE_MODEL_CREATED = 1730419200  # 2024-11-01, when SmolLM2 was published


class AddBaseModel(BaseModel):
    id: str  # the model id it is offered as
    path: str  # a Hugging Face model folder or a .gguf file on the server's machine


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
