"""/v1/models: the base models and the tuned models (and checkpoints) that can answer; delete a tuned one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lib.local.config import ORGANIZATION, ServerSettings
from lib.local.routers.common import APIError
from lib.local.serving import Engine
from lib.local.store import LocalStore
from lib.local.tuned_models import tuned_models

BASE_MODEL_CREATED = 1730419200  # 2024-11-01, when SmolLM2 was published


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
        result = {m: model_object(m, BASE_MODEL_CREATED, "tuning-studio") for m in settings.base_models}
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

    @router.delete("/models/{model_id:path}")
    def delete_model(model_id: str) -> dict[str, Any]:
        if model_id in settings.base_models:
            raise APIError(400, f"The base model '{model_id}' cannot be deleted.", param="model")
        if model_id not in tuned_models(store):
            raise APIError(404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found")
        store.delete_model(model_id)
        return {"id": model_id, "object": "model", "deleted": True}

    return router
