"""The registry of tuned models that can answer: each succeeded job's model and the checkpoints kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.local.config import ServerSettings
from lib.local.store import LocalStore


def base_of(model: str) -> str:
    """The base model under a model id: itself, or the base named in a tuned id (ft:{base}:local:...)."""
    return model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 2 else model


def tuned_models(store: LocalStore) -> dict[str, dict[str, Any]]:
    """Tuned models and checkpoints that can answer: model id -> {"base", "created", "job"}."""
    deleted = store.deleted_models()
    found: dict[str, dict[str, Any]] = {}
    for job in store.jobs_with_status("succeeded"):
        found[job["fine_tuned_model"]] = {
            "base": base_of(job["model"]),
            "created": job["finished_at"],
            "job": job["id"],
        }
    failed = {job["id"] for job in store.jobs_with_status("failed")}
    for checkpoint in store.all("checkpoints"):
        if checkpoint["fine_tuning_job_id"] in failed:
            continue  # a failed job's checkpoints are not offered as models
        model = checkpoint["fine_tuned_model_checkpoint"]  # ft:{base}:local:{suffix}:{id}:ckpt-step-N
        found[model] = {
            "base": base_of(model),
            "created": checkpoint["created_at"],
            "job": checkpoint["fine_tuning_job_id"],
        }
    return {k: v for k, v in found.items() if k not in deleted}


def adapter_path(store: LocalStore, settings: ServerSettings, model: str, info: dict[str, Any]) -> Path:
    """Where a tuned model's (or checkpoint's) LoRA adapter is saved."""
    checkpoint = store.checkpoint_by_model(model)
    return Path(checkpoint["path"]) if checkpoint else settings.adapters_dir / info["job"] / "final"
